"""The HTML report's pages and captions (overparam.report, steps.report_pages): what a reader
sees for each verdict, and that the captions template gives each figure its own caption."""

import jinja2
import pandas as pd
import pytest
import yaml
from docutils.core import publish_parts

from overparam import claims, experiments, report, steps
from overparam.claims import Estimate

from .claimdefs import definition


def claim(name, value, lo, hi, threshold=1.0, experiment="e", statement="s", n=4):
    return claims.make_claim(
        definition("<", threshold, source="Paper 2020", statement=statement, metric="ratio"),
        claim=f"{experiment}.{name}",
        experiment=experiment,
        estimate=Estimate(value, n, lo, hi),
        figure=f"figures/{experiment}.png",
        scale="test",
        note="a note",
    )


def frame():
    """Three verdicts: holds confidently, holds without confidence, does not hold; the
    statement of the last has markup characters (HTML and reStructuredText)."""
    return claims.claims_frame(
        [
            claim("sure", 0.5, 0.4, 0.6),
            claim("shaky", 0.9, 0.8, 1.1),
            claim("fails", 1.46, 1.44, 1.47, statement="||w|| < 1 & <b>x</b> *y* `z`_"),
            claim("other", 0.1, 0.1, 0.1, experiment="f"),
        ]
    )


def render(template: str, exp: str) -> str:
    """Render a caption as Snakemake 9.27 does (jinja2 Environment with trim_blocks and
    lstrip_blocks, `snakemake` holding the job's wildcards)."""

    class Wildcards:
        pass

    class Snakemake:
        wildcards = Wildcards()

    Snakemake.wildcards.exp = exp
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(snakemake=Snakemake)


def to_html(rst: str) -> str:
    """reStructuredText -> HTML as the report renders captions; a warning is an error here."""
    return publish_parts(rst, writer="html", settings_overrides={"halt_level": 2})["body"]


def test_claims_table_shows_every_verdict_and_escapes_markup():
    html = report.claims_table(frame())
    assert html.count("<tr>") == 1 + 4
    assert "holds (confident)" in html and "background:#d9f2d9" in html
    assert "holds (not confident: CI crosses the threshold)" in html
    assert "DOES NOT HOLD" in html and "background:#f8d0d0" in html
    # values, intervals and thresholds as the claims table gives them
    assert "ratio = 1.46" in html and "[1.44, 1.47] over 4 seeds" in html and "&lt; 1" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html


def test_caption_lists_the_claims_and_renders_as_rst():
    df = frame()
    rst = report.caption("Panel (a) plots *x*.", df[df.experiment == "e"], "4 seeds", "quick")
    html = to_html(rst)
    assert "Panel (a) plots <em>x</em>." in html
    assert "Scale <tt" in html or "Scale <code" in html
    assert "from 4 seeds: points and bands show the spread over seeds" in html
    assert "Claims this figure supports: replications: 2 of 3 hold (1 confidently)." in html
    for name in ("e.sure", "e.shaky", "e.fails"):
        assert name in html
    assert "e.other" not in html and "DOES NOT HOLD" in html


def test_captions_template_gives_each_figure_its_own():
    captions = {"e": "caption of e {{ not jinja }} {% raw %}", "f": "caption of f {#x#}"}
    template = report.captions_template(captions)
    assert render(template, "e").strip() == captions["e"]
    assert render(template, "f").strip() == captions["f"]
    assert render(template, "g").strip().startswith("No caption")
    assert render(report.captions_template({}), "e").strip().startswith("No caption")


def test_pages_say_how_many_claims_hold():
    df = frame()
    page = report.experiment_page("e", df[df.experiment == "e"], "Description.")
    assert "<title>E: claims</title>" in page
    assert "replications: 2 of 3 hold (1 confidently)" in page
    everything = report.all_claims_page(df)
    assert "replications: 3 of 4 hold (2 confidently)" in everything
    assert "<li>E: replications: 2 of 3 hold (1 confidently)</li>" in everything
    assert "<li>F: replications: 1 of 1 hold (1 confidently)</li>" in everything


def test_config_page_is_yaml_with_the_global_keys_first():
    cfg = {"a_exp": {"lr": 0.1, "claims": {"c": {"threshold": 1}}}, "scale": "quick"}
    page = report.config_page(cfg)
    text = page.split("<pre>")[1].split("</pre>")[0]
    assert yaml.safe_load(text) == cfg
    assert text.startswith("scale: quick")


def test_report_pages_write_one_page_per_experiment(tmp_path, monkeypatch):
    monkeypatch.setattr(steps, "description", lambda e: f"About {e}.")
    df = frame()
    steps.report_pages(
        df,
        {"scale": "test"},
        {"e": "4 seeds", "f": "3 seeds", "g": "2 seeds"},
        captions_out=tmp_path / "captions.rst",
        pages_dir=tmp_path / "pages",
        all_claims_out=tmp_path / "claims.html",
        config_out=tmp_path / "config.html",
        log=lambda m: None,
    )
    assert sorted(p.name for p in (tmp_path / "pages").iterdir()) == [
        "e_claims.html",
        "f_claims.html",
        "g_claims.html",
    ]
    template = (tmp_path / "captions.rst").read_text()
    e = to_html(render(template, "e"))
    assert "About e." in e and "from 4 seeds" in e and "e.fails" in e and "f.other" not in e
    # an experiment without claims still gets its description
    g = to_html(render(template, "g"))
    assert "About g." in g and "no claims" in g


@pytest.mark.parametrize("name", experiments.names())
def test_every_experiment_has_a_caption(name):
    """Each experiment folder holds caption.rst: what its figure plots and which paper and
    figure it reproduces, valid reStructuredText of a few lines."""
    path = experiments.get(name).caption_path()
    assert path.is_file(), f"{path} is missing: describe the figure for the HTML report"
    text = path.read_text()
    assert 3 <= len(text.strip().splitlines()) <= 8, f"{path}: 3 to 8 lines"
    assert to_html(text).strip()


def test_claims_frame_empty_is_zero_of_zero():
    df = frame().iloc[0:0]
    assert report.tally(pd.DataFrame(df)) == "no claims"
