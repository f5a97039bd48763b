"""End-to-end: `snakemake figures/all --report report.html` on the .test build shows every
figure with its caption and claims, every claim's value and verdict, and the config, grouped
by experiment; and building it re-runs nothing."""

import base64
import html
import json
import re

import pytest
import yaml

from overparam import experiments, report, tables
from overparam.claims import CLAIMS_SCHEMA, interval, verdict
from overparam.experiments import get

from ..conftest import TEST_CONFIG, snakemake

pytestmark = pytest.mark.e2e


def _script_var(page: str, script_id: str, name: str):
    """The JSON the report assigns to ``var <name>`` in its <script id="<script_id>">."""
    m = re.search(rf'<script id="{script_id}">\s*var {name} = (.*?);\s*</script>', page, re.S)
    assert m, f"no `var {name}` in the report"
    return json.loads(m.group(1))


def _decode(data_uri: str) -> str:
    head, _, data = data_uri.partition(",")
    assert head.endswith(";base64"), head
    return base64.b64decode(data).decode()


def _mtimes(root):
    return {
        str(p.relative_to(root)): p.stat().st_mtime_ns
        for d in ("results", "figures")
        for p in (root / d).rglob("*")
        if p.is_file()
    }


@pytest.fixture(scope="module")
def built(pipeline_run, tmp_path_factory):
    """The report of the shared .test build, with the outputs' mtimes before and after."""
    before = _mtimes(pipeline_run)
    path = tmp_path_factory.mktemp("report") / "report.html"
    snakemake(pipeline_run, "figures/all", "--report", str(path))
    page = path.read_text()
    return {
        "before": before,
        "after": _mtimes(pipeline_run),
        "results": _script_var(page, "results", "results"),
        "categories": _script_var(page, "categories", "categories"),
        "description": _script_var(page, "workflow-desc", "workflow_desc"),
    }


@pytest.fixture(scope="module")
def claims_table(pipeline_run):
    return tables.read_table(pipeline_run / "results/claims.parquet", CLAIMS_SCHEMA)


def _experiments():
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    return [e for e in cfg if e in experiments.names()]


def _item(results, path):
    hits = [v for k, v in results.items() if k.endswith(path)]
    assert len(hits) == 1, f"{path}: {sorted(results)}"
    return hits[0]


def test_building_the_report_runs_nothing(pipeline_run, built):
    assert built["after"] == built["before"]
    out = snakemake(pipeline_run, "-n", "figures/all")
    assert "Nothing to be done" in out.stdout + out.stderr


def test_every_figure_has_its_caption_with_every_claim(built, claims_table):
    for exp in _experiments():
        fig = _item(built["results"], f"figures/{exp}.png")
        assert fig["mime_type"] == "image/png"
        caption = html.unescape(fig["caption"])
        # the experiment's own description (its caption.rst's first words)
        first = " ".join(get(exp).caption_path().read_text().split()[:4])
        assert first in " ".join(caption.split()), (exp, caption[:300])
        rows = claims_table[claims_table["experiment"] == exp]
        assert f"Claims this figure supports: {report.tally(rows)}" in caption
        for r in rows.itertuples(index=False):
            assert r.claim in caption and verdict(r) in caption and interval(r) in caption
        # no other experiment's claims
        others = claims_table[claims_table["experiment"] != exp]
        assert not any(f"{c}<" in fig["caption"] for c in others["claim"])


def test_one_category_per_experiment_with_its_figure_and_claims(built, claims_table):
    cats = built["categories"]
    for exp in _experiments():
        items = [p for sub in cats[report.title(exp)].values() for p in sub]
        assert sorted(p.split("/")[-1] for p in items) == [f"{exp}.png", f"{exp}_claims.html"]
        page = _decode(_item(built["results"], f"{exp}_claims.html")["data_uri"])
        rows = claims_table[claims_table["experiment"] == exp]
        assert report.tally(rows) in page
        for r in rows.itertuples(index=False):
            assert html.escape(r.claim) in page and verdict(r) in page
            assert html.escape(interval(r)) in page
    overview = [p.split("/")[-1] for sub in cats["All experiments"].values() for p in sub]
    assert sorted(overview) == ["claims.html", "config.html"]


def test_all_claims_page_has_every_value_and_verdict(built, claims_table):
    page = _decode(_item(built["results"], "report/claims.html")["data_uri"])
    assert report.tally(claims_table) in page
    for r in claims_table.itertuples(index=False):
        value = html.escape(f"{r.metric} = {'NaN' if r.value != r.value else f'{r.value:.4g}'}")
        assert html.escape(r.claim) in page and value in page and verdict(r) in page


def test_config_is_a_readable_yaml_item(built):
    page = _decode(_item(built["results"], "report/config.html")["data_uri"])
    shown = yaml.safe_load(html.unescape(page.split("<pre>")[1].split("</pre>")[0]))
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    assert shown["scale"] == "test"
    # every setting of the config file, with its value (validation adds the schema's defaults)
    for exp in _experiments():
        assert _within(cfg[exp], shown[exp]), exp


def _within(small, big) -> bool:
    """Every key of ``small`` is in ``big`` with the same value (recursively)."""
    if isinstance(small, dict):
        return isinstance(big, dict) and all(
            k in big and _within(v, big[k]) for k, v in small.items()
        )
    return small == big


def test_the_report_opens_on_the_verdicts_then_the_workflow(built, claims_table):
    text = built["description"]
    assert "How to read this report" in text and "test" in text
    for exp in _experiments():
        assert report.title(exp) in text
    # the verdicts come first: the tally per tier, then every failing replication
    verdicts, how = text.index("Verdicts"), text.index("How to read this report")
    assert verdicts < how
    assert html.escape(report.tally(claims_table)) in text[:how]
    failing = claims_table[(claims_table["tier"] == "replication") & ~claims_table["holds"]]
    assert len(failing) and "Replications that do not hold" in text[:how]
    for claim in failing["claim"]:
        assert claim in text[verdicts:how], claim
