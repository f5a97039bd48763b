"""width_vs_depth's per-run summaries and claims, on metrics tables built to hold or not."""

import numpy as np
import pandas as pd
import pytest

from overparam.experiments import get
from overparam.experiments.width_vs_depth import RUN_SCHEMA, mlp_params, nearest_width
from overparam.experiments.width_vs_depth.claims import CLAIMS, per_run, per_shape

from .. import check_claims, holds_by_id
from .conftest import QUICK

EXP = get("width_vs_depth")
BUDGETS, DEPTHS, SEEDS, EPOCHS = (20000, 40000), (1, 2, 3, 4, 5, 6), (0, 1, 2, 3), 30


def metrics(fit_epoch=lambda b, L: 8 + 2 * L, best_loss=lambda b, L: 1.0 + 0.004 * L,
            diverged=()) -> pd.DataFrame:  # fmt: skip
    """Train accuracy rising linearly to 1 at ``fit_epoch(budget, depth)`` (None: it stops at
    0.95), test loss a parabola with minimum ``best_loss(budget, depth)`` at epoch 10; seeds
    differ by one epoch and 0.2% of the loss. ``diverged``: (budget, depth, seed) runs that
    diverge at epoch 12 (NaN metrics from then on)."""
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
                    rows.append((b, L, w, mlp_params(w, L), s, 0.005, e, 40 * e,
                                 nan or 2.0 - acc, nan or loss, nan or acc, nan or 0.6, div))  # fmt: skip
    return pd.DataFrame(rows, columns=list(RUN_SCHEMA.columns))


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
    # best losses 1.008 .. 1.024 over depths 2..6: spread 1.6%
    assert df.loc["width_vs_depth.shape_insensitive", "value"] == pytest.approx(
        1.024 / 1.008 - 1, rel=1e-3
    )
    assert (df["ci_low"] <= df["value"]).all() and (df["value"] <= df["ci_high"]).all()
    assert "L=6 (w=58) 22 [4/4 fit]" in df.loc["width_vs_depth.deeper_slower_to_fit", "note"]


def test_depth_one_is_left_out_of_the_shape_comparison():
    m = metrics(best_loss=lambda b, L: 1.5 if L == 1 else 1.0)
    assert holds(m)["shape_insensitive"]
    assert "L=1 1.500 (not compared)" in check(m).loc["width_vs_depth.shape_insensitive", "note"]


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
        (dict(best_loss=lambda b, L: 1.1 if L == 6 else 1.0), "shape_insensitive"),
        # a 4% spread at the larger budget only
        (dict(best_loss=lambda b, L: 1.0 + 0.01 * L * (b == 40000)), "shape_insensitive"),
    ],
)
def test_each_claim_fails_on_a_table_where_it_does_not_hold(kw, claim):
    h = holds(metrics(**kw))
    assert h[claim] is False
    assert all(v for k, v in h.items() if k != claim)


def test_a_diverged_run_makes_the_shape_claim_nan():
    df = check(metrics(diverged={(40000, 6, 1)}))
    row = df.loc["width_vs_depth.shape_insensitive"]
    assert np.isnan(row["value"]) and not row["holds"]
    assert "1 of 48 runs diverged" in row["note"]
    # a diverged run never fits: it counts as censored, and the deepest is still slower
    assert df.loc["width_vs_depth.deeper_slower_to_fit", "holds"]
