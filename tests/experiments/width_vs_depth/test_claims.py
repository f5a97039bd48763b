"""width_vs_depth's per-run summaries and claims, on metrics tables built to hold or not."""

import numpy as np
import pandas as pd
import pytest

from overparam.experiments import get
from overparam.experiments.width_vs_depth import RUN_SCHEMA, mlp_params, nearest_width
from overparam.experiments.width_vs_depth.claims import CLAIMS, per_run, per_shape
from overparam.experiments.width_vs_depth.onepass import chosen_lr, onepass_runs

from .. import check_claims, holds_by_id
from .conftest import QUICK

EXP = get("width_vs_depth")
BUDGETS, DEPTHS, SEEDS, EPOCHS = (20000, 40000), (1, 2, 3, 4, 5, 6), (0, 1, 2, 3), 30
ONE_DEPTHS, LRS, STEPS = (2, 3, 4, 5, 6), (0.0016, 0.005, 0.016), tuple(range(0, 501, 50))
LR_FACTOR = {0.0016: 1.05, 0.005: 1.0, 0.016: 1.1}  # the middle lr validates best


def onepass(val=lambda b, L, lr: (1.0 + 0.004 * L) * LR_FACTOR[lr], test_shift=lambda b, L, lr: 0.0,
            test_at=lambda b, L, lr: 400, diverged=()) -> pd.DataFrame:  # fmt: skip
    """One-pass rows: the validation loss a parabola over steps with minimum ``val(b, L, lr)``
    at step 400; the test loss the same parabola shifted by ``test_shift`` with its minimum at
    ``test_at`` (400: where validation stops); seeds differ by 0.2%. ``diverged``: (budget,
    depth, lr, seed) runs that diverge at step 250 (NaN metrics from then on)."""
    rows = []
    for b in BUDGETS:
        for L in ONE_DEPTHS:
            w = nearest_width(b, L)
            for lr in LRS:
                for s in SEEDS:
                    f = 1 + 0.002 * (s - 1.5)
                    for t in STEPS:
                        v = val(b, L, lr) * f + 1e-6 * (t - 400) ** 2
                        te = (val(b, L, lr) + test_shift(b, L, lr)) * f + 1e-6 * (
                            t - test_at(b, L, lr)
                        ) ** 2
                        div = (b, L, lr, s) in diverged and t >= 250
                        nan = np.nan if div else None
                        end = t in (0, STEPS[-1])
                        rows.append(("onepass", b, L, w, mlp_params(w, L), s, lr, t // 500, t,
                                     nan or (v - 0.01 if end else np.nan), nan or v, nan or te,
                                     nan or (0.7 if end else np.nan), nan or 0.7, nan or 0.7,
                                     div))  # fmt: skip
    return pd.DataFrame(rows, columns=list(RUN_SCHEMA.columns))


def metrics(fit_epoch=lambda b, L: 8 + 2 * L, best_loss=lambda b, L: 1.0 + 0.004 * L,
            diverged=(), one=None) -> pd.DataFrame:  # fmt: skip
    """Fit rows: train accuracy rising linearly to 1 at ``fit_epoch(budget, depth)`` (None:
    it stops at 0.95), test loss a parabola with minimum ``best_loss(budget, depth)`` at epoch
    10; seeds differ by one epoch and 0.2% of the loss. ``diverged``: (budget, depth, seed)
    runs that diverge at epoch 12 (NaN metrics from then on). Then the one-pass rows ``one``
    (default: ``onepass()``, on which the shape claim holds)."""
    rows = []
    for b in BUDGETS:
        for L in DEPTHS:
            w = nearest_width(b, L)
            for s in SEEDS:
                f, best = fit_epoch(b, L), best_loss(b, L) * (1 + 0.002 * (s - 1.5))
                for e in range(0, EPOCHS + 1, 2):
                    acc = (
                        0.1 + 0.85 * e / EPOCHS if f is None else min(1.0, 0.1 + 0.9 * e / (f + s))
                    )
                    loss = best + 0.002 * (e - 10) ** 2
                    div = (b, L, s) in diverged and e >= 12
                    nan = np.nan if div else None
                    rows.append(("fit", b, L, w, mlp_params(w, L), s, 0.005, e, 40 * e,
                                 nan or 2.0 - acc, np.nan, nan or loss, nan or acc, np.nan,
                                 nan or 0.6, div))  # fmt: skip
    fit = pd.DataFrame(rows, columns=list(RUN_SCHEMA.columns))
    return pd.concat([fit, onepass() if one is None else one], ignore_index=True)


def check(m, cfg=None):
    return check_claims(EXP, m, cfg or QUICK)


def holds(m) -> dict:
    return holds_by_id(check(m))


def test_per_run_summaries():
    r = per_run(metrics(), fit_train_acc=0.99)
    assert len(r) == len(BUDGETS) * len(DEPTHS) * len(SEEDS)
    one = r[(r["budget"] == 20000) & (r["depth"] == 2) & (r["seed"] == 0)].iloc[0]
    # acc 0.1 + 0.9 e / 12 >= 0.99 first at e = 12 (recorded every 2 epochs)
    assert one["epochs_to_fit"] == 12 and one["max_epoch"] == EPOCHS
    assert one["best_test_loss"] == pytest.approx(1.008 * (1 - 0.003))
    assert one["final_test_acc"] == 0.6 and one["width"] == 118
    never = per_run(metrics(fit_epoch=lambda b, L: None), 0.99)
    assert never["epochs_to_fit"].isna().all()
    s = per_shape(never)
    assert (s["median_epochs"] == EPOCHS + 1).all() and (s["fitted"] == 0).all()


def test_both_claims_hold_on_a_table_built_for_them():
    assert holds(metrics()) == dict.fromkeys(CLAIMS, True)
    df = check(metrics())
    assert (df["n_seeds"] == len(SEEDS)).all()
    # deepest (L=6: 20 epochs + seed) over L=2 (12 + seed): medians 21.5 -> 22, 13.5 -> 14
    assert df.loc["width_vs_depth.deeper_slower_to_fit", "value"] == pytest.approx(22 / 14)
    # best losses 1.008 .. 1.024 over depths 2..6: spread 1.6%, in both protocols
    for c in ("shape_insensitive", "shape_insensitive_small_data"):
        assert df.loc[f"width_vs_depth.{c}", "value"] == pytest.approx(1.024 / 1.008 - 1, rel=1e-3)
    assert (df["ci_low"] <= df["value"]).all() and (df["value"] <= df["ci_high"]).all()
    assert "L=6 (w=58) 22 [4/4 fit]" in df.loc["width_vs_depth.deeper_slower_to_fit", "note"]


def test_depth_one_is_left_out_of_the_shape_comparison():
    m = metrics(best_loss=lambda b, L: 1.5 if L == 1 else 1.0)
    assert holds(m)["shape_insensitive_small_data"]
    note = check(m).loc["width_vs_depth.shape_insensitive_small_data", "note"]
    assert "L=1 1.500 (not compared)" in note


@pytest.mark.parametrize(
    "kw,claim",
    [
        # deeper fits faster
        (dict(fit_epoch=lambda b, L: 20 - 2 * L), "deeper_slower_to_fit"),
        # slower at the small budget only: the claim must hold at every budget
        (dict(fit_epoch=lambda b, L: 8 + 2 * L if b == 20000 else 14), "deeper_slower_to_fit"),
        # nobody fits: the deepest and the reference are tied at the censoring value
        (dict(fit_epoch=lambda b, L: None), "deeper_slower_to_fit"),
        # the deepest network's early-stopped test loss is 10% above the best shape
        (dict(best_loss=lambda b, L: 1.1 if L == 6 else 1.0), "shape_insensitive_small_data"),
        # a 4% spread at the larger budget only
        (
            dict(best_loss=lambda b, L: 1.0 + 0.01 * L * (b == 40000)),
            "shape_insensitive_small_data",
        ),  # fmt: skip
        # one pass: the deepest network is 10% worse on validation and test
        (
            dict(one=onepass(val=lambda b, L, lr: (1.1 if L == 6 else 1.0) * LR_FACTOR[lr])),
            "shape_insensitive",
        ),  # fmt: skip
        # one pass: a 4% spread at the larger budget only
        (
            dict(one=onepass(val=lambda b, L, lr: (1.0 + 0.01 * L * (b == 40000)) * LR_FACTOR[lr])),
            "shape_insensitive",
        ),  # fmt: skip
    ],
)
def test_each_claim_fails_on_a_table_where_it_does_not_hold(kw, claim):
    h = holds(metrics(**kw))
    assert h[claim] is False
    assert all(v for k, v in h.items() if k != claim)


def test_a_diverged_run_makes_the_shape_claim_nan():
    df = check(metrics(diverged={(40000, 6, 1)}))
    row = df.loc["width_vs_depth.shape_insensitive_small_data"]
    assert np.isnan(row["value"]) and not row["holds"]
    assert "1 of 48 runs diverged" in row["note"]
    # a diverged run never fits: it counts as censored, and the deepest is still slower
    assert df.loc["width_vs_depth.deeper_slower_to_fit", "holds"]


def test_one_pass_summaries_stop_on_validation():
    r = onepass_runs(metrics())
    assert len(r) == len(BUDGETS) * len(ONE_DEPTHS) * len(LRS) * len(SEEDS)
    assert (r["stop_step"] == 400).all() and (r["total_steps"] == 500).all()
    c = chosen_lr(r)
    assert (c["lr"] == 0.005).all() and not c["at_edge"].any()
    assert c.set_index(["budget", "depth"]).loc[(20000, 2), "test_loss"] == pytest.approx(1.008)
    note = check(metrics()).loc["width_vs_depth.shape_insensitive", "note"]
    assert "L=2 lr 0.005 test 1.008 (stop 400/500" in note
    # mid-pass (step 250) the validation loss is 1e-6 150^2 higher, at the end 1e-6 100^2
    mid, end = 1.008 + 0.0225, 1.008 + 0.01
    assert f"val {end:.3f}, {1 - end / mid:.0%} below mid-pass" in note


def test_the_shape_claim_reads_the_test_loss_where_validation_stops():
    # depth 6's test loss has its minimum (1.014, within 1% of the best shape) at step 100, and
    # at the validation-chosen step 400 it is 1.014 + 1e-6 (400 - 100)^2 = 1.104 (+9.5%): the
    # minimum over the test set would pass, the claim must not
    one = onepass(test_shift=lambda b, L, lr: -0.01 if L == 6 else 0.0,
                  test_at=lambda b, L, lr: 100 if L == 6 else 400)  # fmt: skip
    r = onepass_runs(metrics(one=one))
    assert (r[r["depth"] == 6]["stop_step"] == 400).all()
    m = metrics(one=one)
    test_min = m[(m["protocol"] == "onepass") & (m["depth"] == 6)]["test_loss"].min()
    assert test_min < 1.03 * 1.008  # a test-set stop would have passed
    assert holds(m)["shape_insensitive"] is False


def test_the_learning_rate_is_chosen_on_validation_not_on_test():
    # at depth 6 lr 0.016 is the best on the test set but the worst on validation; at lr 0.005
    # (validation's choice) the test loss is 10% above the other depths
    def shift(b, L, lr):
        if L != 6:
            return 0.0
        return 0.1 if lr == 0.005 else (-0.1 if lr == 0.016 else 0.2)

    m = metrics(one=onepass(test_shift=shift))
    c = chosen_lr(onepass_runs(m))
    assert (c["lr"] == 0.005).all()
    assert holds(m)["shape_insensitive"] is False


def test_a_learning_rate_with_a_diverged_seed_is_not_eligible():
    # lr 0.005 diverges for one seed at depth 3: the next best on validation (0.0016) is taken
    m = metrics(one=onepass(diverged={(20000, 3, 0.005, 1)}))
    c = chosen_lr(onepass_runs(m)).set_index(["budget", "depth"])
    assert c.loc[(20000, 3), "lr"] == 0.0016 and c.loc[(20000, 3), "at_edge"]
    assert c.loc[(20000, 2), "lr"] == 0.005
    df = check(m)
    assert "1 of 120 one-pass runs diverged" in df.loc["width_vs_depth.shape_insensitive", "note"]
    assert "L=3 lr 0.0016!" in df.loc["width_vs_depth.shape_insensitive", "note"]
    # every lr diverged at one depth: no value, the claim fails
    every = {(40000, 4, lr, 0) for lr in LRS}
    row = check(metrics(one=onepass(diverged=every))).loc["width_vs_depth.shape_insensitive"]
    assert np.isnan(row["value"]) and not row["holds"]
    assert "L=4 no eligible lr" in row["note"]
