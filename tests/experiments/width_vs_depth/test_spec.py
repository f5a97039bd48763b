"""width_vs_depth's budget-matched shapes, jobs and config checks."""

import dataclasses

import pytest

from overparam.experiments import get
from overparam.experiments.width_vs_depth import (
    DepthJob,
    OnePassJob,
    matched_width,
    mlp_params,
    nearest_width,
)
from overparam.models import MLPSpec, num_params

from ...conftest import validated
from .conftest import PAPER, QUICK, TINY

EXP = get("width_vs_depth")
TEST = validated(".test/config.yaml")["width_vs_depth"]


@pytest.mark.parametrize("depth", [1, 2, 3, 6])
@pytest.mark.parametrize("width", [1, 7, 58, 392])
def test_closed_form_counts_the_models_parameters(width, depth):
    assert mlp_params(width, depth) == num_params(MLPSpec(40, (width,) * depth, 10))


@pytest.mark.parametrize("cfg", [QUICK, PAPER, TEST, TINY], ids=["quick", "paper", "test", "tiny"])
def test_every_configured_shape_is_within_one_percent_of_its_budget(cfg):
    jobs = EXP.parts(cfg)
    assert len(jobs) == len(cfg["budgets"]) * (len(cfg["depths"]) + 1)  # + one onepass each
    assert cfg["budget_tolerance"] <= 0.01  # issue 13's bound holds in every shipped config
    for j in jobs.values():
        shapes = zip(j.depths, j.widths) if isinstance(j, OnePassJob) else [(j.depth, j.width)]
        for depth, width in shapes:
            p = num_params(MLPSpec(40, (width,) * depth, 10))
            assert abs(p - j.budget) <= 0.01 * j.budget, (j.id, width, p)


def test_nearest_width_is_the_closest_count():
    for budget in (500, 20_000, 40_000, 123_457):
        for depth in range(1, 7):
            w = nearest_width(budget, depth)
            err = abs(mlp_params(w, depth) - budget)
            for other in range(max(1, w - 3), w + 4):
                assert err <= abs(mlp_params(other, depth) - budget)
    assert nearest_width(20_000, 1) == 392 and mlp_params(392, 1) == 20_002
    assert nearest_width(40_000, 6) == 84 and mlp_params(84, 6) == 39_994


def test_a_budget_too_small_for_depth_6_is_a_clear_error():
    with pytest.raises(ValueError, match=r"budget 10000 cannot be matched at depth 6 within 1\.0%"):
        matched_width(10_000, 6, 0.01)
    assert matched_width(10_000, 1, 0.01) == 196  # depth 1 moves in steps of 51: fine
    cfg = dict(QUICK, budgets=[10_000, 20_000])
    msgs = list(EXP.problems(cfg))  # the one-pass depths 2-6 are among the fit runs' 1-6
    assert len(msgs) == 3 and all("width_vs_depth.budgets" in m for m in msgs)
    assert {m.split("depth ")[1][0] for m in msgs} == {"4", "5", "6"}
    assert "nearest width 39 has 9799 parameters (-2.01%)" in msgs[-1]
    with pytest.raises(ValueError, match="cannot be matched"):
        EXP.parts(cfg)


def test_jobs_of_the_quick_config():
    jobs = EXP.parts(QUICK)
    assert list(jobs)[:2] == ["b20000_d1", "b20000_d2"] and list(jobs)[11] == "b40000_d6"
    assert list(jobs)[12:] == ["onepass_b20000", "onepass_b40000"]
    assert all(isinstance(j, DepthJob) and j.trains for j in list(jobs.values())[:12])
    one = jobs["onepass_b20000"]
    assert isinstance(one, OnePassJob) and one.trains and one.depths == (2, 3, 4, 5, 6)
    assert one.widths == (118, 88, 73, 64, 58) and one.lrs == (0.0016, 0.005, 0.016)
    # one pass over 50,000 training samples; 4000 validate, 6000 test; fresh data (its own file)
    assert one.data.n_train - one.val_samples == 50_000 and one.epochs == 1
    assert one.data.num_samples - one.data.n_train == 6000 and one.data != jobs["b20000_d1"].data
    assert {j.seeds for j in jobs.values()} == {(0, 1, 2, 3)}  # both protocols
    assert [j.width for j in list(jobs.values())[:6]] == [392, 118, 88, 73, 64, 58]
    with pytest.raises(dataclasses.FrozenInstanceError):
        jobs["b20000_d1"].width = 3  # type: ignore[misc]
    assert jobs["b20000_d1"].params()["data"] == {
        "num_samples": 5000, "train_split": 0.8, "seed": 42
    }  # fmt: skip


def test_a_shared_setting_reaches_every_job(tiny):
    tiny["lr"] = 0.123
    assert {j.lr for j in EXP.parts(tiny).values() if isinstance(j, DepthJob)} == {0.123}
    tiny["seeds"] = [5, 6]
    assert {j.seeds for j in EXP.parts(tiny).values()} == {(5, 6)}


def test_problems_name_their_key(tiny):
    assert not list(EXP.problems(TINY))
    tiny["claims_setup"]["reference_depth"] = 3  # the deepest: nothing to compare with
    (msg,) = EXP.problems(tiny)
    assert "width_vs_depth.claims_setup.reference_depth" in msg
    tiny["claims_setup"].update(reference_depth=2, shape_min_depth=3)
    (msg,) = EXP.problems(tiny)
    assert "width_vs_depth.claims_setup.shape_min_depth" in msg


def test_one_pass_problems_name_their_key(tiny):
    tiny["onepass"]["val_samples"] = 480  # the whole training part of 600 at 80%
    (msg,) = EXP.problems(tiny)
    assert "width_vs_depth.onepass.val_samples" in msg and "480" in msg
    tiny["onepass"].update(val_samples=400, batch_size=100)  # 80 left to train
    (msg,) = EXP.problems(tiny)
    assert "width_vs_depth.onepass.batch_size" in msg
    tiny["onepass"].update(batch_size=50, depths=[2, 9])  # 20000 at depth 9: no width within 1%
    tiny["budgets"] = [20000]
    assert any("depth 9" in m for m in EXP.problems(tiny))
