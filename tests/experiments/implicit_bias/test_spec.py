"""implicit_bias's jobs and config problems."""

from overparam.experiments import get
from overparam.experiments.implicit_bias import LeastSquaresJob, LogisticJob, NeuralJob

from .conftest import QUICK

EXP = get("implicit_bias")


def test_jobs_of_the_quick_config():
    jobs = EXP.jobs(QUICK)
    dims = QUICK["logistic"]["dims"]
    assert list(jobs) == ["least_squares", *[f"logistic_d{d}" for d in dims], "neural"]
    assert isinstance(jobs["least_squares"], LeastSquaresJob)
    assert isinstance(jobs["logistic_d20"], LogisticJob) and jobs["logistic_d20"].d == 20
    assert isinstance(jobs["neural"], NeuralJob)
    # numpy jobs are solve jobs; only the networks train
    assert [j.trains for j in jobs.values()] == [False] * (1 + len(dims)) + [True]
    assert EXP.problems(QUICK) is not None and list(EXP.problems(QUICK)) == []
    assert "per init scale" in EXP.seed_summary(QUICK)


def test_a_shared_setting_changes_only_its_jobs(tiny):
    before = EXP.jobs(tiny)
    tiny["neural"]["steps"] += 1
    after = EXP.jobs(tiny)
    assert [k for k in before if before[k] != after[k]] == ["neural"]


def test_problems_name_their_keys(tiny):
    tiny["least_squares"]["p"] = tiny["least_squares"]["n"]
    tiny["logistic"]["dims"] = [2]
    tiny["logistic"]["fit_from_step"] = tiny["logistic"]["steps"]
    tiny["neural"]["init_scales"] = [1.0]
    msgs = list(EXP.problems(tiny))
    for key in ("least_squares.p", "logistic.dims", "logistic.fit_from_step",
                "neural.init_scales"):  # fmt: skip
        assert any(f"implicit_bias.{key}" in m for m in msgs), (key, msgs)
