"""optimization_ease: claim helpers, job specs and config problems (no Snakemake)."""

import copy
import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
import torch

from overparam import experiments
from overparam.experiments import CheckContext, RunContext
from overparam.experiments.optimization_ease import DemoJob
from overparam.experiments.optimization_ease.claims import (
    KERNEL_CLAIMS,
    _violations,
    kernel_per_run,
    kernel_values,
    per_run,
    per_width,
)
from overparam.experiments.optimization_ease.run import demo_draws, run

from ...conftest import validated, with_defaults

EXP = experiments.get("optimization_ease")
CFG = validated("config/config.yaml")["optimization_ease"]


def test_violation_counting():
    assert _violations([5, 3, 1]) == 0
    assert _violations([5, 5, 1]) == 1
    assert _violations([5, float("nan"), 1]) == 2
    # below the floor values tie; going back above it is a violation
    assert _violations([1e-3, 1e-13, 2e-13], floor=1e-8) == 0
    assert _violations([1e-3, 1e-13, 1e-6], floor=1e-8) == 1


def test_epochs_to_threshold_and_censoring():
    rows = []
    for seed, losses in [(0, [1.0, 0.1, 0.01]), (1, [1.0, 0.5, 0.2]), (2, [1.0, 0.04, 0.01])]:
        for epoch, loss in zip([0, 10, 20], losses):
            rows.append(
                {"width": 8, "seed": seed, "epoch": epoch, "train_loss": loss, "diverged": False}
            )
    m = pd.DataFrame(rows)
    r = per_run(m, 0.05).set_index("seed")
    assert r.loc[0, "epochs_to_threshold"] == 20 and r.loc[2, "epochs_to_threshold"] == 10
    assert math.isnan(r.loc[1, "epochs_to_threshold"])
    w = per_width(m, 0.05)
    assert w.loc[0, "median_epochs"] == 20 and w.loc[0, "reached"] == 2
    # when no seed reaches it, the median is censored at budget + 1
    assert per_width(m, 0.005).loc[0, "median_epochs"] == 21


def test_one_job_per_width_with_the_shared_settings():
    jobs = EXP.parts(CFG)
    assert [j for j in jobs if not j.startswith("demo")] == [f"w{w}" for w in CFG["widths"]]
    j = jobs[f"w{CFG['widths'][0]}"]
    assert j.trains and j.width == CFG["widths"][0] and j.lr == CFG["lr"]
    assert j.seeds == tuple(CFG["seeds"])


def test_adding_a_width_adds_one_job_and_a_shared_setting_changes_all():
    more = copy.deepcopy(CFG)
    more["widths"] = [*CFG["widths"], 1000]
    old, new = EXP.parts(CFG), EXP.parts(more)
    assert set(new) - set(old) == {"w1000"}  # (the demo has its own widths)
    assert all(new[j] == old[j] for j in old)
    lr = copy.deepcopy(CFG)
    lr["lr"] = 0.02
    assert all(EXP.parts(lr)[j] != old[j] for j in old if not j.startswith("demo"))
    thr = copy.deepcopy(CFG)
    thr["loss_threshold"] = 0.5  # read by the claims only
    assert EXP.parts(thr) == old


def test_problems():
    cfg = copy.deepcopy(CFG)
    assert list(EXP.problems(cfg)) == []
    cfg["batch_size"] = cfg["n"] + 1
    assert list(EXP.problems(cfg)) == [
        f"config key 'optimization_ease.batch_size': {cfg['n'] + 1} exceeds the number of "
        f"samples n={cfg['n']}"
    ]


# ----------------------------------------------------------------------------- the demo

CTX = CheckContext(scale="test", figure="figures/optimization_ease.png", resamples=50)
DEMO_KEYS = ["epochs_decrease", "final_loss_decreases", "ntk_epochs_decrease"]
DEMO_KEYS.append("ntk_final_loss_decreases")
SMALL = with_defaults(  # a hand-made section, the schema's defaults filled in as validate does
    "optimization_ease",
    {
        "n": 10,
        "d": 2,
        "lr": 0.01,
        "loss_threshold": 0.05,
        "loss_floor": 1e-8,
        "demo": {"lr": {"standard": 0.01, "ntk": 1.0}},
    },
)


def _table(curves: dict, seeds=(42, 0, 1)) -> pd.DataFrame:
    """Metrics rows: curves[(setup, parametrization, width)] = losses at epochs 0, 10, 20,
    the same for every seed up to a small seed-dependent factor."""
    rows = []
    for (setup, param, width), losses in curves.items():
        for s in seeds:
            for epoch, loss in zip((0, 10, 20), losses):
                rows.append(
                    {
                        "setup": setup,
                        "parametrization": param,
                        "lr": 0.01,
                        "width": width,
                        "depth": 2,
                        "num_params": 3 * width,
                        "seed": s,
                        "epoch": epoch,
                        "step": epoch,
                        "train_loss": loss * (1 + 0.01 * (s % 7)),
                        "test_loss": np.nan,
                        "diverged": False,
                    }
                )
    return pd.DataFrame(rows)


FAST, SLOW = [1.0, 0.01, 0.001], [1.0, 0.5, 0.04]  # below 0.05 at epoch 10 / at epoch 20
NEVER = [1.0, 0.5, 0.2]


def _by_id(claims) -> dict:
    """Claims by id without the experiment's prefix."""
    return {c.claim.removeprefix("optimization_ease."): c for c in claims}


def _claims(curves: dict) -> dict:
    return _by_id(EXP.check(_table(curves), SMALL, CTX))


def test_every_claim_holds_when_wider_is_faster_and_lower():
    curves = {}
    for setup, param in [("extension", "standard"), ("demo", "standard"), ("demo", "ntk")]:
        curves |= {(setup, param, 10): NEVER, (setup, param, 50): SLOW, (setup, param, 200): FAST}
    c = _claims(curves)
    assert list(c) == [
        "epochs_decrease",
        "final_loss_decreases",
        *(f"demo.{k}" for k in DEMO_KEYS),
        *(f"demo.{k}" for k in KERNEL_CLAIMS),
    ]
    # these tables have no kernel limit: its claims are NaN (see the kernel tests below)
    assert all(np.isnan(c[f"demo.{k}"].value) for k in KERNEL_CLAIMS)
    c = {k: v for k, v in c.items() if k.removeprefix("demo.") not in KERNEL_CLAIMS}
    for claim in c.values():
        assert claim.value == 0 and claim.holds and claim.confident, claim
        assert claim.estimate.n_seeds == 3
    assert (
        "w=10: 21 (censored) (0/3 reached); w=50: 20 (3/3 reached)"
        in c["demo.epochs_decrease"].note
    )


@pytest.mark.parametrize("param", ["standard", "ntk"])
def test_demo_claims_fail_when_wider_is_slower(param):
    """The demo's claims in one parametrization fail when the wider network fits later and
    ends higher; the other parametrization's and the extension's claims are unaffected."""
    curves = {}
    for setup, p in [("extension", "standard"), ("demo", "standard"), ("demo", "ntk")]:
        bad = setup == "demo" and p == param
        curves |= {(setup, p, 10): FAST if bad else SLOW, (setup, p, 50): SLOW if bad else FAST}
    c = _claims(curves)
    prefix = "" if param == "standard" else "ntk_"
    for claim in ("epochs_decrease", "final_loss_decreases"):
        bad = c[f"demo.{prefix}{claim}"]
        assert bad.value == 1 and not bad.holds and not bad.confident
    held = [k for k, v in c.items() if v.holds]
    assert len(held) == 4 and all(not k.startswith(f"demo.{prefix}e") for k in held)


def test_extension_claims_fail_when_wider_is_slower():
    c = _claims({("extension", "standard", 10): FAST, ("extension", "standard", 50): SLOW})
    assert [(k, v.value, v.holds) for k, v in c.items()][:2] == [
        ("epochs_decrease", 1, False),
        ("final_loss_decreases", 1, False),
    ]
    # no demo rows: the demo claims are NaN, and do not hold
    assert all(np.isnan(c[f"demo.{k}"].value) and not c[f"demo.{k}"].holds for k in DEMO_KEYS)


def test_demo_divergence_makes_only_the_demo_claims_nan():
    curves = {}
    for setup, param in [("extension", "standard"), ("demo", "standard"), ("demo", "ntk")]:
        curves |= {(setup, param, 10): SLOW, (setup, param, 50): FAST}
    m = _table(curves)
    hit = (m["setup"] == "demo") & (m["parametrization"] == "ntk") & (m["width"] == 50)
    hit &= (m["seed"] == 0) & (m["epoch"] > 0)
    m.loc[hit, "diverged"] = True
    m.loc[hit, "train_loss"] = np.nan
    c = _by_id(EXP.check(m, SMALL, CTX))
    assert c["epochs_decrease"].holds and c["demo.epochs_decrease"].holds
    for k in ("demo.ntk_epochs_decrease", "demo.ntk_final_loss_decreases"):
        assert np.isnan(c[k].value) and not c[k].holds
        assert "1 of 6 runs diverged (width, seed): (50, 0); " in c[k].note


def test_figure_draws_the_demo_panels(tmp_path):
    curves = {}
    for setup, param in [("extension", "standard"), ("demo", "standard"), ("demo", "ntk")]:
        curves |= {(setup, param, 10): SLOW, (setup, param, 50): FAST}
    EXP.plot(_table(curves), SMALL, tmp_path / "f.png", None)
    from PIL import Image

    w, h = Image.open(tmp_path / "f.png").size
    assert h > 0.5 * w  # two rows of panels: the extension and the demo
    # with the kernel limit recorded, a third row: the gaps to the kernel limit
    m = pd.concat([_table(curves), _kernel_table({10: 0.4, 50: 0.2, 200: 0.1})])
    EXP.plot(m, SMALL, tmp_path / "k.png", None)
    w2, h2 = Image.open(tmp_path / "k.png").size
    assert h2 > 1.3 * h


def test_demo_jobs():
    jobs = EXP.parts(CFG)
    demo = CFG["demo"]
    ids = [f"demo_{p}_w{w}" for p in ("sp", "ntk") for w in demo["widths"]]
    assert list(jobs) == [f"w{w}" for w in CFG["widths"]] + ids
    sp, ntk = jobs[f"demo_sp_w{demo['widths'][0]}"], jobs[f"demo_ntk_w{demo['widths'][0]}"]
    assert sp.order == tuple(demo["widths"]) and ntk.order == ()
    assert (sp.lr, ntk.lr) == (demo["lr"]["standard"], demo["lr"]["ntk"])
    assert sp.seeds[0] == 42 and sp.depth == 2 and sp.epochs == 2000 and sp.noise_sd == 0.1
    # the NTK lr re-runs the NTK jobs only; without a demo section only the sweep runs
    more = copy.deepcopy(CFG)
    more["demo"]["lr"]["ntk"] = 0.5
    changed = {j for j, s in EXP.parts(more).items() if s != jobs[j]}
    assert changed == {j for j in ids if j.startswith("demo_ntk")}
    none = copy.deepcopy(CFG)
    del none["demo"]
    assert list(EXP.parts(none)) == [f"w{w}" for w in CFG["widths"]]


def test_demo_problems(monkeypatch):
    assert list(EXP.problems(CFG)) == []
    defs = EXP.definitions()
    del defs["demo.ntk_epochs_decrease"]
    monkeypatch.setattr(EXP, "definitions", lambda cfg=None: defs)
    assert list(EXP.problems(CFG)) == [
        "config key 'optimization_ease.demo.lr.ntk': its claim demo.ntk_epochs_decrease is not "
        "defined in claims.yaml; every parametrization in optimization_ease.demo.lr needs its "
        "two claims"
    ]


def test_demo_draws_follow_the_demo_stream():
    """Seed 42's data and first networks are those of the demo's own script: one torch stream
    for x, the noise, then nn.Linear stacks of each width in order."""
    data, nets = demo_draws(42, 100, 20, 0.1, (10, 50), 2)
    torch.manual_seed(42)
    x = torch.randn(100, 20)
    y = torch.sin(x[:, :5].sum(1)) + 0.5 * torch.cos(x[:, 5:10].sum(1))
    y = y[:, None] + 0.1 * torch.randn(100, 1)
    ref = {
        w: torch.nn.Sequential(
            torch.nn.Linear(20, w), torch.nn.ReLU(), torch.nn.Linear(w, w), torch.nn.ReLU(),
            torch.nn.Linear(w, 1),
        )
        for w in (10, 50)
    }  # fmt: skip
    np.testing.assert_array_equal(data["x"], x.numpy())
    np.testing.assert_array_equal(data["y"], y.numpy())
    for w, net in ref.items():
        for a, b in zip(nets[w], net.parameters()):
            assert torch.equal(a, b.detach())


def test_demo_run_matches_torch_optim_sgd():
    """The batched trainer on the demo's data and networks follows the demo's loop
    (nn.Sequential, torch.optim.SGD, nn.MSELoss): the loss after i steps is its losses[i]."""
    job = DemoJob(
        width=50, parametrization="standard", lr=0.01, seeds=(42,), order=(10, 50), n=100,
        d=20, noise_sd=0.1, depth=2, epochs=200,
    )  # fmt: skip
    got = run(job, RunContext(threads=1, log=None))
    assert list(got["epoch"]) == list(range(201)) and (got["setup"] == "demo").all()
    data, nets = demo_draws(42, 100, 20, 0.1, (10, 50), 2)
    net = torch.nn.Sequential(
        torch.nn.Linear(20, 50), torch.nn.ReLU(), torch.nn.Linear(50, 50), torch.nn.ReLU(),
        torch.nn.Linear(50, 1),
    )  # fmt: skip
    with torch.no_grad():
        for p, v in zip(net.parameters(), nets[50]):
            p.copy_(v)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x, y = torch.as_tensor(data["x"]), torch.as_tensor(data["y"])
    losses = []
    for _ in range(200):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    np.testing.assert_allclose(got["train_loss"].to_numpy()[:200], losses, rtol=1e-4)
    assert got["num_params"].iloc[0] == 20 * 50 + 50 + 50 * 50 + 50 + 50 + 1


def test_demo_ntk_run_uses_the_ntk_parametrization():
    job = DemoJob(
        width=10, parametrization="ntk", lr=1.0, seeds=(0, 1), order=(), n=100, d=20,
        noise_sd=0.1, depth=2, epochs=5,
    )  # fmt: skip
    got = run(job, RunContext(threads=1, log=None))
    assert set(got["parametrization"]) == {"ntk"} and sorted(got["seed"].unique()) == [0, 1]
    assert len(got) == 2 * 6 and not got["diverged"].any()
    # an N(0, 1) init scaled by 1/sqrt(fan_in): the first loss differs from the standard one
    std = run(dataclasses.replace(job, parametrization="standard", order=(10,)), RunContext())
    assert got["train_loss"].iloc[0] != std["train_loss"].iloc[0]


# ------------------------------------------------------------- the NTK runs' kernel limit

TAU = 50.0  # kernel GD's loss exp(-t / TAU): below 0.05 first at epoch 150


def _kernel_table(gaps: dict, seeds=(42, 0, 1, 2), limit_tau=TAU, epochs=400) -> pd.DataFrame:
    """NTK demo rows, every epoch: the kernel limit's loss exp(-t / TAU) and the network's
    exp(-t / (TAU (1 + gap))), gaps[width] the network's relative slow-down (a seed-dependent
    wiggle of 2%); the infinite-width draw decays with ``limit_tau``."""
    t = np.arange(epochs + 1)
    frames = []
    for w, g in gaps.items():
        for s in seeds:
            gs = g * (1 + 0.02 * (s % 5))
            frames.append(
                pd.DataFrame(
                    {
                        "setup": "demo",
                        "parametrization": "ntk",
                        "lr": 1.0,
                        "width": w,
                        "depth": 2,
                        "num_params": 3 * w,
                        "seed": s,
                        "epoch": t,
                        "step": t,
                        "train_loss": np.exp(-t / (TAU * (1 + gs))),
                        "test_loss": np.nan,
                        "diverged": False,
                        "kernel_loss": np.exp(-t / TAU),
                        "limit_loss": np.exp(-t / limit_tau),
                        "lr_over_critical": 0.2,
                    }
                )
            )
    return pd.concat(frames, ignore_index=True)


def _kernel_claims(m: pd.DataFrame) -> dict:
    return {k: v for k, v in _by_id(EXP.check(m, SMALL, CTX)).items() if k[5:] in KERNEL_CLAIMS}


def test_kernel_per_run_times_and_gaps():
    kr = kernel_per_run(_kernel_table({10: 1.0, 500: 0.0}), 0.05).set_index(["width", "seed"])
    assert (kr["t_kernel"] == 150).all() and (kr["t_limit"] == 150).all()
    assert kr.loc[(10, 0), "t_net"] == 300  # twice as slow (seed 0: no wiggle): gap 1
    assert kr.loc[(10, 0), "time_gap"] == pytest.approx(1.0)
    # identical curves: the time gap is floored at half an epoch, the curve gap is 0
    assert kr.loc[(500, 42), "time_gap"] == pytest.approx(0.5 / 150)
    assert kr.loc[(500, 42), "curve_gap"] == 0
    # a network that never fits counts as epochs + 1
    kr = kernel_per_run(_kernel_table({10: 5.0}, epochs=200), 0.05)
    assert (kr["t_net"] == 201).all()


def test_kernel_claims_hold_when_the_gap_shrinks_like_one_over_sqrt_width():
    c = _kernel_claims(_kernel_table({w: 1.0 / np.sqrt(w) for w in (10, 50, 200, 500)}))
    assert list(c) == [f"demo.{k}" for k in KERNEL_CLAIMS]
    assert all(v.holds for v in c.values()), c
    assert c["demo.ntk_time_gap_rate"].value == pytest.approx(-0.5, abs=0.1)
    assert "lr / eta_critical 0.2-0.2" in c["demo.ntk_time_gap_widest"].note


def test_kernel_claims_fail_when_the_gap_does_not_shrink():
    """A network 30% slower than its kernel limit at every width (no convergence): the widest
    gap exceeds 0.1, both rates are flat, and the unpaired check fails too."""
    c = _kernel_claims(_kernel_table({w: 0.3 for w in (10, 50, 200, 500)}))
    assert not any(v.holds for v in c.values())
    assert c["demo.ntk_time_gap_widest"].value == pytest.approx(0.3, abs=0.03)
    assert abs(c["demo.ntk_time_gap_rate"].value) < 0.05
    assert abs(c["demo.ntk_curve_gap_rate"].value) < 0.05


def test_kernel_claims_fail_when_the_gap_grows_with_width():
    c = _kernel_claims(_kernel_table({10: 0.01, 50: 0.05, 200: 0.2}))
    assert c["demo.ntk_time_gap_rate"].value > 0 and not c["demo.ntk_time_gap_rate"].holds
    assert not c["demo.ntk_curve_gap_rate"].holds and not c["demo.ntk_time_gap_widest"].holds


def test_unpaired_limit_check_fails_when_the_infinite_width_network_is_slower():
    """Paired gaps that shrink, but an infinite-width draw that fits 50% later: only the
    unpaired extension row fails."""
    m = _kernel_table({w: 1.0 / np.sqrt(w) for w in (10, 50, 200, 500)}, limit_tau=1.5 * TAU)
    c = _kernel_claims(m)
    assert not c["demo.ntk_median_time_vs_limit"].holds
    assert c["demo.ntk_median_time_vs_limit"].value == pytest.approx(1 / 3, abs=0.05)
    assert all(v.holds for k, v in c.items() if k != "demo.ntk_median_time_vs_limit")


def test_kernel_claims_are_nan_when_a_run_diverged():
    m = _kernel_table({w: 1.0 / np.sqrt(w) for w in (10, 50, 200)})
    hit = (m["width"] == 50) & (m["seed"] == 0) & (m["epoch"] > 3)
    m.loc[hit, "diverged"] = True
    m.loc[hit, "train_loss"] = np.nan
    assert all(np.isnan(v) for v in kernel_values(kernel_per_run(m, 0.05)).values())
    c = _kernel_claims(m)
    assert not any(v.holds for v in c.values())
    assert "1 of 12 runs diverged" in c["demo.ntk_time_gap_rate"].note


def test_ntk_widths_extend_only_the_ntk_sweep():
    cfg = copy.deepcopy(CFG)
    cfg["demo"]["ntk_widths"] = [*cfg["demo"]["widths"], 1000]
    new, old = EXP.parts(cfg), EXP.parts(CFG)
    assert set(new) - set(old) == {"demo_ntk_w1000"}
    assert all(new[j] == old[j] for j in old)


def test_demo_ntk_run_records_its_kernel_limit():
    """The kernel GD starts at the network's own initial loss; the infinite-width draw is the
    same for every width of a seed; standard runs have no kernel columns."""
    job = DemoJob(
        width=10, parametrization="ntk", lr=1.0, seeds=(0,), order=(), n=100, d=20,
        noise_sd=0.1, depth=2, epochs=5,
    )  # fmt: skip
    a = run(job, RunContext(threads=1, log=None))
    b = run(dataclasses.replace(job, width=20), RunContext(threads=1, log=None))
    assert a["kernel_loss"].iloc[0] == pytest.approx(a["train_loss"].iloc[0], rel=1e-5)
    assert a["kernel_loss"].notna().all() and (np.diff(a["kernel_loss"]) < 0).all()
    np.testing.assert_array_equal(a["limit_loss"], b["limit_loss"])
    assert 0 < a["lr_over_critical"].iloc[0] < 1
    std = run(dataclasses.replace(job, parametrization="standard", order=(10,)), RunContext())
    assert std[["kernel_loss", "limit_loss", "lr_over_critical"]].isna().all().all()
