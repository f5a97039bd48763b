"""Editing the library re-runs exactly the jobs that execute the edited code (a param per
library module, overparam.codehash), on the real DAG of the .test build: a copy of the
repository is edited and its workflow dry-run against a copy of the shared run."""

import re
import shutil

import pytest

from ..conftest import ROOT, job_counts, snakemake

pytestmark = pytest.mark.e2e

IGNORE = shutil.ignore_patterns(".git", ".venv", ".snakemake", "results", "figures", "logs",
                                "__pycache__", "*.egg-info", ".*_cache", "tests", "docs")  # fmt: skip


@pytest.fixture(scope="module")
def repo_and_run(pipeline_run, tmp_path_factory):
    base = tmp_path_factory.mktemp("code_edits")
    repo = base / "repo"
    shutil.copytree(ROOT, repo, ignore=IGNORE)
    run = base / "run"
    shutil.copytree(pipeline_run, run, symlinks=True)
    return repo, run


def planned(repo, run, edit: str | None = None):
    """The dry run's output after appending a comment line to ``edit`` (a library file), the
    edit undone afterwards."""
    path = repo / "src" / "overparam" / edit if edit else None
    text = path.read_text() if path else ""
    try:
        if path:
            path.write_text(text + "\n# an edit\n")
        return snakemake(run, "-n", "figures/all", repo=repo).stdout
    finally:
        if path:
            path.write_text(text)


def jobs_of(out: str, rule_message: str) -> set[str]:
    """The experiments (or exp/job) of the planned jobs whose message matches."""
    return set(re.findall(rf"(?m)^Job \d+: {rule_message}$", out))


def test_an_unedited_copy_plans_nothing(repo_and_run):
    out = planned(*repo_and_run)
    assert "Nothing to be done" in out, out


def test_editing_the_trainer_reruns_the_jobs_that_train_with_it(repo_and_run):
    out = planned(*repo_and_run, edit="train.py")
    counts = job_counts(out)
    trained = jobs_of(out, r"(\w+): (?:train|solve) job (\S+)")
    experiments = {e for e, _ in trained}
    # the experiments that train with train_ensemble, all their train jobs
    for exp in ("optimization_ease", "lottery_ticket", "mode_connectivity", "random_labels",
                "width_vs_depth", "flat_minima", "double_descent"):  # fmt: skip
        assert exp in experiments, exp
    # not the closed forms, nor the loops of their own, nor the datasets
    assert not experiments & {"benign_overfitting", "implicit_bias", "lazy_training"}
    assert "mnist1d" not in counts
    assert "before: 'overparam.train=" in out and "now: 'overparam.train=" in out
    assert counts["check"] == len(experiments) and counts["claims"] == 1


def test_editing_a_figure_redraws_only_that_figure(repo_and_run):
    out = planned(*repo_and_run, edit="experiments/random_labels/figure.py")
    counts = job_counts(out)
    assert jobs_of(out, r"(\w+): draw the figure") == {"random_labels"}
    # the figure job's benchmark file is collected again, the manifest lists the figure
    assert counts == {"figure": 1, "benchmarks": 1, "manifest": 1, "total": 3}, counts
    assert "overparam.experiments.random_labels.figure=" in out


def test_editing_an_experiments_claims_rechecks_only_that_experiment(repo_and_run):
    out = planned(*repo_and_run, edit="experiments/lazy_training/claims.py")
    counts = job_counts(out)
    assert jobs_of(out, r"(\w+): check the claims") == {"lazy_training"}
    assert not {"train", "solve", "aggregate", "mnist1d"} & set(counts), counts
    # its figure imports helpers from claims.py: it is redrawn, no other figure is
    assert jobs_of(out, r"(\w+): draw the figure") <= {"lazy_training"}
    assert counts["claims"] == 1 and counts["manifest"] == 1
