"""Adding an experiment is one folder plus a config section, and every job runs the library
of the checkout it is in.

Two copies of the repository (each its own git repository) share this test's virtualenv.
Each gets the test-only experiment ``tests/e2e/toy`` as a new folder of
``src/overparam/experiments``; copy B edits the toy's ``MARKER``. The toy is not in the
installed package, so the run only works if the workflow imports each copy's own library;
the tables show each copy's marker, library folder and commit. Dry runs after config edits
then check what re-runs: exactly the new job, every job of a changed shared setting, no job
for a claim threshold.
"""

import shutil
import subprocess

import pytest
import yaml

from overparam import tables

from ..conftest import ROOT, job_counts, snakemake

pytestmark = pytest.mark.e2e

TOY = {
    "values": [1, 2, 3],
    "factor": 2.0,
    "seeds": [0, 1],
}


def _checkout(dest, marker):
    shutil.copytree(
        ROOT,
        dest,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            ".snakemake",
            "results",
            "figures",
            "logs",
            "__pycache__",
            "*.egg-info",
            ".pytest_cache",
            ".mypy_cache",
            ".ruff_cache",
            "tests",
        ),
    )
    toy = dest / "src" / "overparam" / "experiments" / "toy"
    shutil.copytree(ROOT / "tests" / "e2e" / "toy", toy)
    init = toy / "__init__.py"
    init.write_text(init.read_text().replace('MARKER = "original"', f'MARKER = "{marker}"'))
    git = ["git", "-C", str(dest), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", marker], check=True)
    head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True)
    return head.stdout.strip()


def _config(path, **toy):
    cfg = {"scale": "test", "device": "cpu", "threads": 1, "toy": {**TOY, **toy}}
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def copies(tmp_path_factory):
    base = tmp_path_factory.mktemp("checkouts")
    out = {}
    for marker in ("A", "B"):
        repo = base / marker
        commit = _checkout(repo, marker)
        # a run folder outside the checkout (in it, Snakemake would also load its
        # config/config.yaml, the `configfile:` of the Snakefile)
        run = base / f"run{marker}"
        snakemake(run, "figures/all", configfile=_config(base / f"{marker}.yaml"), repo=repo)
        out[marker] = (repo, commit, run)
    return out


@pytest.mark.parametrize("marker", ["A", "B"])
def test_each_checkout_runs_its_own_library(copies, marker):
    repo, commit, wd = copies[marker]
    run = wd / "results" / "toy" / "runs" / "v2.parquet"
    df = tables.read_table(run)
    assert df["marker"].tolist() == [marker, marker]
    assert df["y"].tolist() == [4.0, 5.0]
    prov = tables.read_provenance(run)
    assert prov["library"] == str((repo / "src" / "overparam").resolve())
    assert prov["git_commit"] == commit
    assert prov["config"] == {"value": 2, "factor": 2.0, "seeds": [0, 1]}


def test_the_new_experiment_is_a_full_target(copies):
    _, _, wd = copies["A"]
    claims = tables.read_table(wd / "results" / "claims.parquet")
    assert claims["claim"].tolist() == ["toy.positive", "toy.affine"]
    assert claims["tier"].tolist() == ["replication", "sanity"]
    assert claims["value"].tolist() == [2.0, 0.0] and claims["holds"].all()
    assert claims["figure"].tolist() == ["figures/toy.png"] * 2
    assert claims["protocol"].str.len().gt(0).all()
    assert (wd / "figures" / "toy.png").stat().st_size > 1000
    jobs = tables.read_table(wd / "results" / "benchmarks" / "jobs.parquet")
    assert sorted(jobs["rule"]) == sorted(["solve"] * 3 + ["aggregate", "figure", "check"])
    assert "toy: 6 jobs" in (wd / "figures" / "all").read_text()


def test_a_failing_sanity_check_fails_the_run_after_writing_every_result(copies, tmp_path):
    """A sanity check that does not hold is a bug: the run fails, naming it, whatever
    ``strict`` says, and keeps the claims table, the figure and the report pages. (A test can
    only make a correct sanity check fail by forcing its threshold.)"""
    repo, _, base = copies["A"]
    wd = tmp_path / "run"
    shutil.copytree(base, wd, symlinks=True)  # with .snakemake: a params change is seen
    thr = {"affine": {"threshold": -1.0, "reason": "a test forcing the failure"}}
    cfg = _config(tmp_path / "broken.yaml", claim_thresholds=thr)
    out = snakemake(wd, "figures/all", repo=repo, configfile=cfg, check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0
    assert "1 sanity check(s) of results/claims.parquet fail" in text and "toy.affine" in text
    claims = tables.read_table(wd / "results" / "claims.parquet").set_index("claim")
    assert not claims.loc["toy.affine", "holds"] and claims.loc["toy.positive", "holds"]
    assert (
        "At this scale -1: a test forcing the failure"
        in claims.loc["toy.affine", "threshold_basis"]
    )
    assert (wd / "results" / "claims.md").exists() and (wd / "figures" / "toy.png").exists()
    assert not (wd / "figures" / "all").exists()  # the manifest, the run's last step


def test_dry_runs_after_config_edits(copies, tmp_path):
    repo, _, wd = copies["A"]
    # adding one value plans one new job (and what depends on it)
    out = snakemake(
        wd,
        "-n",
        "figures/all",
        repo=repo,
        configfile=_config(tmp_path / "more.yaml", values=[1, 2, 3, 4]),
    )
    assert job_counts(out.stdout)["solve"] == 1
    # a shared setting re-runs every job, and the reason names the setting
    out = snakemake(
        wd, "-n", "figures/all", repo=repo, configfile=_config(tmp_path / "factor.yaml", factor=3.0)
    )
    assert job_counts(out.stdout)["solve"] == 3
    assert "before: 'factor=2.0' now: 'factor=3.0'" in out.stdout
    # a scale's claim threshold re-checks without re-running any job
    thr = {"positive": {"threshold": 1.0, "reason": "a test"}}
    out = snakemake(
        wd, "-n", "figures/all", repo=repo,
        configfile=_config(tmp_path / "thr.yaml", claim_thresholds=thr),
    )  # fmt: skip
    counts = job_counts(out.stdout)
    assert "solve" not in counts and counts["check"] == 1
    # so does an edit of the claim's definition (claims.yaml)
    defs = repo / "src" / "overparam" / "experiments" / "toy" / "claims.yaml"
    text = defs.read_text()
    try:
        defs.write_text(text.replace("statement: every y is positive", "statement: y > 0"))
        counts = job_counts(snakemake(wd, "-n", "figures/all", repo=repo,
                                      configfile=_config(tmp_path / "same.yaml")).stdout)  # fmt: skip
        assert "solve" not in counts and counts["check"] == 1
    finally:
        defs.write_text(text)
    # the experiment's own problems() stop the run before any job, naming the key
    out = snakemake(
        wd,
        "-n",
        "figures/all",
        repo=repo,
        check=False,
        configfile=_config(tmp_path / "bad.yaml", values=[0, 1]),
    )
    assert out.returncode != 0
    assert "config key 'toy.values': 0 is not allowed" in out.stdout + out.stderr
