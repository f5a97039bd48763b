"""docs/make_paper_scale.py: the paper-scale evidence is collected from a run's tables, and the
page is computed from that committed evidence alone."""

import importlib.util
import json

import pandas as pd
import pytest

from overparam import tables
from overparam.claims import CLAIMS_SCHEMA

from .conftest import ROOT

spec = importlib.util.spec_from_file_location("mps", ROOT / "docs" / "make_paper_scale.py")
mps = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mps)

TSV = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def _claim(claim, value, holds, lo, hi, tier="replication", scale="paper"):
    exp = claim.split(".")[0]
    row = {c: None for c in CLAIMS_SCHEMA.columns}
    row.update(claim=claim, experiment=exp, source="s", statement="st", metric="m",
               comparison="<=", threshold=1.0, figure=f"{exp}.png", scale=scale, note="",
               value=value, n_seeds=5, ci_low=lo, ci_high=hi, holds=holds,
               confident=holds and hi <= 1.0, tier=tier, published=f"published {claim}",
               threshold_basis="b", protocol="p", deviations="d")  # fmt: skip
    return row


def _fake_run(root, exp, jobs, done, commit="feedface0011", claims=None):
    """A paper run's checkout: benchmark files of the ``done`` jobs (seconds, rss), their run
    tables, and, with ``claims``, the experiment's claims, metrics, provenance and figure."""
    bench = root / "results" / "benchmarks" / "jobs" / exp
    runs = root / "results" / exp / "runs"
    bench.mkdir(parents=True)
    runs.mkdir(parents=True)
    schema = tables.Schema(name="t", columns={"x": "float"})
    for job, (s, rss) in done.items():
        (bench / f"train_{job}.tsv").write_text(TSV + f"{s}\t0\t{rss}\t1\t1\t1\t0\t0\t90\t{s}\n")
        tables.write_table(pd.DataFrame({"x": [1.0]}), runs / f"{job}.parquet", schema,
                           {"git_commit": commit, "device": "cpu"})  # fmt: skip
    if claims is not None:
        (bench / "check.tsv").write_text(TSV + "2.0\t0\t100\t1\t1\t1\t0\t0\t90\t1.5\n")
        res = root / "results" / exp
        tables.write_table(pd.DataFrame(claims), res / "claims.parquet", CLAIMS_SCHEMA, {})
        tables.write_table(pd.DataFrame({"x": [1.0]}), res / "metrics.parquet", schema, {})
        (res / "provenance.json").write_text(json.dumps({"runs": {j: {} for j in jobs}}))
        (root / "figures").mkdir(exist_ok=True)
        (root / "figures" / f"{exp}.png").write_bytes(b"png")


@pytest.fixture
def evidence(tmp_path):
    """Evidence of two experiments: lazy_training complete (its claim differs from the quick
    run), lottery_ticket partial (1 of 2 jobs)."""
    run, ev = tmp_path / "run", tmp_path / "evidence"
    _fake_run(run, "lazy_training", ["w64", "w128"], {"w64": (30.0, 500.0), "w128": (90.0, 900.0)},
              claims=[_claim("lazy_training.rate", 0.5, True, 0.4, 0.6),
                      _claim("lazy_training.sane", 0.0, True, 0.0, 0.0, tier="sanity")])  # fmt: skip
    _fake_run(run, "lottery_ticket", ["a", "b"], {"a": (4000.0, 2000.0)}, commit="deadbeef9999")
    assert mps.collect_one(run, "lazy_training", ["w64", "w128"], ev) == "complete"
    assert mps.collect_one(run, "lottery_ticket", ["a", "b"], ev) == "partial"
    assert mps.collect_one(run, "flat_minima", ["x"], ev) == "not started"
    return ev


def _quick():
    return pd.DataFrame([_claim("lazy_training.rate", 2.0, False, 1.5, 2.5, scale="quick"),
                         _claim("lazy_training.sane", 0.0, True, 0.0, 0.0, "sanity", "quick")])  # fmt: skip


def test_collect_copies_a_results_folder_layout(evidence):
    done = evidence / "lazy_training"
    assert {p.name for p in done.iterdir()} == {"claims.parquet", "metrics.parquet",
        "provenance.json", "jobs.parquet", "lazy_training.png", "run.json"}  # fmt: skip
    info = json.loads((done / "run.json").read_text())
    assert info["status"] == "complete" and info["planned_jobs"] == ["w64", "w128"]
    assert info["commits"] == ["feedface0011"]
    jobs = pd.read_parquet(done / "jobs.parquet")
    assert sorted(jobs["job"]) == ["", "w128", "w64"] and jobs["seconds"].sum() == 122.0
    partial = evidence / "lottery_ticket"
    assert {p.name for p in partial.iterdir()} == {"jobs.parquet", "run.json"}
    assert not (evidence / "flat_minima").exists()


def test_compact_copy_is_lossless(tmp_path):
    import numpy as np
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    df = pd.DataFrame({"setup": ["demo", "ext"] * 500, "epoch": np.arange(1000),
                       "loss": rng.lognormal(size=1000), "gap": [np.nan, 1.5] * 500,
                       "ok": [True, False] * 500})  # fmt: skip
    src = tmp_path / "src.parquet"
    schema = tables.Schema(
        name="t",
        columns={"setup": "str", "epoch": "int", "loss": "float", "gap": "float", "ok": "bool"},
        nullable=frozenset({"gap"}),
    )
    tables.write_table(df, src, schema, {"config": {"lr": 0.1}})
    dest = tmp_path / "dest.parquet"
    mps.compact_copy(src, dest)
    assert pq.read_table(dest).equals(pq.read_table(src))
    assert pq.read_table(dest).schema.metadata == pq.read_table(src).schema.metadata
    assert tables.read_provenance(dest) == tables.read_provenance(src)
    assert pq.ParquetFile(dest).metadata.row_group(0).column(2).compression == "ZSTD"
    assert not list(tmp_path.glob("*.tmp*"))  # the atomic write left no temporary file


def test_page_from_evidence(evidence):
    text = mps.render(mps.load_evidence(evidence), _quick(), {"lazy_training.rate": "Because."})
    lazy = next(ln for ln in text.splitlines() if ln.startswith("| lazy_training |"))
    assert "| complete | 2 / 2 | 2m 02s |" in lazy and "900 MB" in lazy and "`feedface00`" in lazy
    lot = next(ln for ln in text.splitlines() if ln.startswith("| lottery_ticket |"))
    assert "| partial | 1 / 2 | 1h 06m |" in lot and "`deadbeef99`" in lot
    assert "| **all** | | 3 / 4 | 1h 08m |" in text  # lazy_training's 2m 02s + lottery's 1h 06m
    assert "- **lottery_ticket**: a 1h 06m, b not run" in text
    rate = next(ln for ln in text.splitlines() if "`lazy_training.rate`" in ln)
    assert "| replication | 0.5 | [0.4, 0.6] over 5 seeds | holds (confident) |" in rate
    assert rate.endswith("| **differs**: 2: DOES NOT HOLD. Because. |")
    sane = next(ln for ln in text.splitlines() if "`lazy_training.sane`" in ln)
    assert "differs" not in sane and "### Sanity" in text and "### Extension" not in text
    assert "replication: 1 of 1 hold (1 confidently); sanity: 1 of 1 hold" in text
    assert "lottery_ticket" in text.split("Not yet at paper scale")[1]
    ev = mps.load_evidence(evidence)
    total = sum(b for e in ev.values() for b in e["bytes"].values())
    size = next(ln for ln in text.splitlines() if ln.startswith("The evidence in"))
    assert f"takes {total / 1e3:.0f} kB" in size


def test_every_difference_needs_one_current_sentence(evidence):
    ev = mps.load_evidence(evidence)
    with pytest.raises(mps.EvidenceError, match="no sentence for the differing"):
        mps.render(ev, _quick(), {})
    with pytest.raises(mps.EvidenceError, match="no longer differ"):
        mps.render(ev, _quick(), {"lazy_training.rate": "x", "lazy_training.sane": "y"})


def test_committed_page_matches_its_evidence():
    """docs/paper-scale.md is what the generator makes of docs/paper-scale/ today."""
    assert mps.PAGE.read_text() == mps.page(), "run: python docs/make_paper_scale.py"


def test_cli_reads_the_committed_evidence():
    from overparam import audit

    ev = mps.load_evidence()
    done = [n for n, e in ev.items() if e["claims"] is not None]
    if not done:
        pytest.skip("no experiment has paper-scale claims yet")
    claims = audit.load_claims(mps.EVIDENCE)
    assert sorted(set(claims["experiment"])) == sorted(done)
    assert set(claims["scale"]) == {"paper"}
    assert audit.commits(mps.EVIDENCE)  # the metrics tables' provenance is there


def test_committed_claims_follow_from_committed_metrics(tmp_path):
    """Every committed paper-scale claims table is what today's claims code computes from the
    committed metrics table and the config its provenance records: the evidence is
    self-consistent, and a change that moves a paper-scale value must re-collect it."""
    from overparam.config import read_config
    from overparam.steps import check

    cfg = read_config(ROOT / "config" / "config.yaml", ROOT / "config" / "paper.yaml")
    done = [n for n, e in mps.load_evidence().items() if e["claims"] is not None]
    if not done:
        pytest.skip("no experiment has paper-scale claims yet")
    cols = ["claim", "value", "n_seeds", "ci_low", "ci_high", "holds", "confident"]
    for n in done:
        d = mps.EVIDENCE / n
        section = tables.read_provenance(d / "metrics.parquet")["config"]
        got = check(n, section, d / "metrics.parquet", tmp_path / f"{n}.parquet", "paper",
                    f"figures/{n}.png", cfg["bootstrap"], log=lambda m: None)  # fmt: skip
        want = pd.read_parquet(d / "claims.parquet")
        pd.testing.assert_frame_equal(got[cols], want[cols], obj=f"{n} claims")


def test_job_lines_mark_a_resumed_job():
    jobs = pd.DataFrame({"rule": ["train", "train", "check"], "job": ["a", "b", ""],
                         "seconds": [60.0, 600.0, 2.0], "train_s": [3600.0, 500.0, float("nan")]})  # fmt: skip
    ev = {"lottery_ticket": {"jobs": jobs, "run": {"planned_jobs": ["a", "b", "c"]}}}
    (line,) = mps.job_lines(ev)
    assert line == (
        "- **lottery_ticket**: a 1m 00s (resumed: last attempt; 1h 00m of optimizer steps in "
        "all), b 10m 00s, c not run"
    )
