"""double_descent: job specs (ids, fields, which config keys they read) and config problems."""

import copy

import pytest

from overparam import experiments
from overparam.data import MNIST1D
from overparam.experiments import RunContext
from overparam.experiments.double_descent import LinearJob, MLPJob, RandomFeaturesJob

from ...conftest import validated, with_defaults

EXP = experiments.get("double_descent")
CFG = validated("config/config.yaml")["double_descent"]


def changed(**edits):
    """A deep copy of CFG with ``section__key=value`` (or top-level ``key=value``) edits."""
    cfg = copy.deepcopy(CFG)
    for k, v in edits.items():
        *path, last = k.split("__")
        d = cfg
        for p in path:
            d = d[p]
        d[last] = v
    return cfg


def test_job_ids_and_kinds():
    jobs = EXP.parts(CFG)
    assert list(jobs) == [
        "linear",
        "random_features",
        "random_fourier",
        *(f"mlp_h{w}" for w in CFG["mlp"]["widths"]),
    ]
    assert isinstance(jobs["linear"], LinearJob)
    assert isinstance(jobs["random_features"], RandomFeaturesJob)
    assert isinstance(jobs["random_fourier"], RandomFeaturesJob)
    assert all(isinstance(jobs[f"mlp_h{w}"], MLPJob) for w in CFG["mlp"]["widths"])
    # only the MLP jobs train with torch
    assert [j for j, s in jobs.items() if s.trains] == [f"mlp_h{w}" for w in CFG["mlp"]["widths"]]


def test_spec_fields_carry_the_config():
    jobs = EXP.parts(CFG)
    lc, rc, mc = CFG["linear"], CFG["random_features"], CFG["mlp"]
    assert jobs["linear"] == LinearJob(
        n=lc["n"],
        snr_r2=lc["snr_r2"],
        noise_sd=lc["noise_sd"],
        gamma_min=lc["gamma_min"],
        gamma_max=lc["gamma_max"],
        num_gammas=lc["num_gammas"],
        num_seeds=lc["num_seeds"],
    )
    data = MNIST1D(**CFG["data"])
    rf = jobs["random_features"]
    assert (rf.data, rf.kind, rf.n_train, rf.n_test, rf.num_seeds) == (
        data,
        rc["kind"],
        rc["n_train"],
        rc["n_test"],
        rc["num_seeds"],
    )
    ff, fc = jobs["random_fourier"], CFG["random_fourier"]
    assert (ff.panel, ff.kind, ff.bandwidth, ff.n_train, ff.n_test, ff.num_seeds) == (
        "random_fourier",
        "fourier",
        "median",
        fc["n_train"],
        fc["n_test"],
        fc["num_seeds"],
    )
    assert rf.panel == "random_features"
    # a fixed bandwidth is a number
    assert EXP.parts(changed(random_fourier__bandwidth=3))["random_fourier"].bandwidth == 3.0
    w = mc["widths"][1]
    m = jobs[f"mlp_h{w}"]
    assert (m.data, m.width, m.seeds, m.lr, m.epochs, m.label_noise) == (
        data,
        w,
        tuple(CFG["seeds"]),
        mc["lr"],
        mc["epochs"],
        mc["label_noise"],
    )
    # the datasets a job reads: none for the linear panel, MNIST-1D for the others
    assert jobs["linear"].inputs() == {}
    assert rf.inputs() == {"data": data} and m.inputs() == {"data": data}


def test_defaults_of_optional_keys():
    cfg = copy.deepcopy(CFG)
    for k in ("bandwidth", "label_noise", "noise_seed"):
        cfg["random_features"].pop(k, None)
    for k in ("depth", "n_train", "momentum", "eval_every", "noise_seed"):
        cfg["mlp"].pop(k, None)
    jobs = EXP.parts(with_defaults("double_descent", cfg))  # the schema's, as validate fills them
    rf, m = jobs["random_features"], jobs[f"mlp_h{CFG['mlp']['widths'][0]}"]
    assert (rf.bandwidth, rf.label_noise, rf.noise_seed) == (1.0, 0.0, 0)
    assert (m.depth, m.n_train, m.momentum, m.eval_every, m.noise_seed) == (2, 0, 0.9, 25, 0)


def test_adding_a_width_adds_exactly_one_spec():
    old = EXP.parts(CFG)
    new = EXP.parts(changed(mlp__widths=[*CFG["mlp"]["widths"], 1000]))
    assert set(new) - set(old) == {"mlp_h1000"} and len(new) == len(old) + 1
    assert all(new[j] == old[j] for j in old)


@pytest.mark.parametrize(
    "edit, changes",
    [
        ({"mlp__lr": 0.02}, "mlp"),
        ({"mlp__epochs": 7}, "mlp"),
        ({"seeds": [5, 6]}, "mlp"),
        ({"linear__num_seeds": 3}, "linear"),
        ({"random_features__kind": "fourier"}, "random_features"),
        ({"random_fourier__num_seeds": 2}, "random_fourier"),
        (
            {"data": {"num_samples": 500, "train_split": 0.5, "seed": 1}},
            "random_features random_fourier mlp",
        ),
    ],
)
def test_a_shared_setting_changes_exactly_the_jobs_that_read_it(edit, changes):
    old, new = EXP.parts(CFG), EXP.parts(changed(**edit))
    assert list(new) == list(old)
    differ = {j.split("_h")[0] for j in old if new[j] != old[j]}
    assert differ == set(changes.split())
    if changes == "mlp":  # every width re-runs
        assert all(new[j] != old[j] for j in old if j.startswith("mlp_h"))


@pytest.mark.parametrize(
    "edit",
    [
        {"linear__exclude_band": 2.0},
        {"mlp__interp_train_error": 0.05},
        {"mlp__max_diverged_fraction": 0.5},
        {"mlp__reference": {**CFG["mlp"]["reference"], "peak_width": 60}},
        {"claim_thresholds": {"rf_error_peak": {"threshold": 3.0, "reason": "a test"}}},
        {"threads": 4},
    ],
)
def test_claim_and_plot_settings_change_no_spec(edit):
    assert EXP.parts(changed(**edit)) == EXP.parts(CFG)


def test_run_rejects_a_foreign_spec():
    with pytest.raises(TypeError, match="not a job of this experiment"):
        EXP.run(experiments.JobSpec(), RunContext())


# ----------------------------------------------------------------------------- problems


def test_the_quick_config_has_no_problems():
    assert list(EXP.problems(CFG)) == []


@pytest.mark.parametrize(
    "key, lo, hi",
    [
        ("linear", "gamma_min", "gamma_max"),
        ("random_features", "ratio_min", "ratio_max"),
        ("random_fourier", "ratio_min", "ratio_max"),
    ],
)
def test_problem_grid_must_cross_the_threshold(key, lo, hi):
    assert list(EXP.problems(changed(**{f"{key}__{lo}": 1.0}))) == [
        f"config key 'double_descent.{key}': need {lo} < 1 < {hi} to cross the "
        f"interpolation threshold, got 1.0 and {CFG[key][hi]}"
    ]
    assert list(EXP.problems(changed(**{f"{key}__{hi}": 0.5}))) == [
        f"config key 'double_descent.{key}': need {lo} < 1 < {hi} to cross the "
        f"interpolation threshold, got {CFG[key][lo]} and 0.5"
    ]


def test_problem_random_features_exceed_the_dataset():
    cfg = changed(data={"num_samples": 1000, "train_split": 0.3, "seed": 0})  # 300 / 700
    assert list(EXP.problems(cfg)) == [
        f"config key 'double_descent.{k}': n_train={CFG[k]['n_train']}"
        f" / n_test={CFG[k]['n_test']} exceed the dataset's 300 / 700 samples"
        for k in ("random_features", "random_fourier")
    ]
    cfg = changed(random_fourier__n_train=4001)
    assert list(EXP.problems(cfg)) == [
        "config key 'double_descent.random_fourier': n_train=4001"
        f" / n_test={CFG['random_fourier']['n_test']} exceed the dataset's 4000 / 12000 samples"
    ]
    cfg = changed(random_features__n_test=12001)  # 4000 / 12000
    assert list(EXP.problems(cfg)) == [
        f"config key 'double_descent.random_features': n_train={CFG['random_features']['n_train']}"
        " / n_test=12001 exceed the dataset's 4000 / 12000 samples"
    ]


def test_problem_mlp_n_train_exceeds_the_dataset():
    assert list(EXP.problems(changed(mlp__n_train=4001))) == [
        "config key 'double_descent.mlp.n_train': 4001 exceeds the dataset's 4000 training samples"
    ]
    assert list(EXP.problems(changed(mlp__n_train=4000))) == []
