"""lazy_training's slopes and claims on metrics tables built to hold or not, and the figure
of a tiny run."""

import numpy as np
import pandas as pd
import pytest

from overparam.claims import slope as loglog_slope
from overparam.experiments import get
from overparam.experiments.lazy_training import RUN_SCHEMA
from overparam.experiments.lazy_training.claims import CLAIMS, slopes

from .. import check_claims, holds_by_id
from .conftest import QUICK

EXP = get("lazy_training")
WIDTHS = (64, 128, 256, 512, 1024)
# (regime, quantity) -> (value at width 64, log-log slope): every claim holds
LAZY = {
    ("ntk", "weight_change_l1"): (0.1, -0.5), ("ntk", "weight_change_l2"): (0.04, -1.0),
    ("ntk", "weight_change_l3"): (0.3, -0.5), ("ntk", "ntk_change"): (0.3, -0.9),
    ("ntk", "lin_gap"): (0.1, -0.6), ("ntk", "kr_gap"): (0.1, -0.6),
    ("ntk", "train_loss"): (1e-5, 0.0),
    ("scaled", "weight_change_l1"): (0.1, 0.0), ("scaled", "weight_change_l2"): (0.04, -0.5),
    ("scaled", "weight_change_l3"): (0.3, 0.0), ("scaled", "ntk_change"): (0.3, 0.0),
    ("scaled", "lin_gap"): (0.1, -0.3), ("scaled", "kr_gap"): (0.1, -0.3),
    ("scaled", "train_loss"): (1e-5, 0.0),
}  # fmt: skip


def metrics(seeds=3, **change) -> pd.DataFrame:
    """Power laws c w^s per (regime, quantity), seeds differing by a few percent;
    ``change``: '<regime>__<quantity>' = (c, s)."""
    laws = dict(LAZY)
    for k, v in change.items():
        laws[tuple(k.split("__"))] = v  # type: ignore[index]
    rows = []
    for (regime, q), (c, s) in laws.items():
        for w in WIDTHS:
            alpha = 1.0 if regime == "ntk" else np.sqrt(64 / w)
            for seed in range(seeds):
                jitter = 1 + 0.03 * (seed - 1)
                v = c * (w / 64) ** s * jitter
                rows.append((regime, w, alpha, 1.0 / alpha**2, seed, q, v))
    return pd.DataFrame(rows, columns=list(RUN_SCHEMA.columns))


def check(m, cfg=None):
    return check_claims(EXP, m, cfg or QUICK)


def holds(m) -> dict:
    return holds_by_id(check(m))


def test_loglog_slope():
    w = np.array([64, 128, 256, 512])
    assert loglog_slope(w, 3 * w**-0.5) == pytest.approx(-0.5)
    assert np.isnan(loglog_slope(w, [1.0, np.nan, 0.0, -1.0]))


def test_slopes_of_power_laws():
    s = slopes(metrics())
    assert s["ntk.weight_change_l2"] == pytest.approx(-1.0, abs=1e-9)
    assert s["scaled.ntk_change"] == pytest.approx(0.0, abs=1e-9)


def test_every_claim_holds_on_a_table_built_for_it():
    assert holds(metrics()) == dict.fromkeys(CLAIMS, True)
    df = check(metrics())
    assert (df["n_seeds"] == 3).all()
    # the slowest layer is claimed, every layer's slope is in the note
    assert df.loc["lazy_training.weight_change_vanishes", "value"] == pytest.approx(-0.5, abs=0.01)
    assert "weight_change_l2 -1" in df.loc["lazy_training.weight_change_vanishes", "note"]
    assert (df["ci_low"] <= df["value"]).all() and (df["value"] <= df["ci_high"]).all()


@pytest.mark.parametrize("change,claim", [
    (dict(ntk__weight_change_l3=(0.3, -0.2)), "weight_change_vanishes"),  # one layer lags
    (dict(ntk__ntk_change=(0.3, -0.3)), "ntk_change_vanishes"),
    (dict(ntk__lin_gap=(0.1, -0.1)), "linearisation_gap_vanishes"),
    (dict(ntk__kr_gap=(0.5, -0.3)), "kernel_regression_match"),  # 0.22 at the widest
    (dict(scaled__ntk_change=(0.3, -0.5)), "scaled_leaves_lazy"),  # still lazy
])  # fmt: skip
def test_each_claim_fails_on_a_table_where_it_does_not_hold(change, claim):
    got = holds(metrics(**change))
    assert not got[claim]
    assert all(v for c, v in got.items() if c != claim), got


def test_missing_regime_gives_nan_not_errors():
    m = metrics()
    r = check(m[m["regime"] == "ntk"]).loc["lazy_training.scaled_leaves_lazy"]
    assert np.isnan(r["value"]) and not r["holds"]


def test_figure_of_a_tiny_run(tiny_run, tmp_path):
    from .conftest import TINY

    m = EXP.aggregate(list(tiny_run.values()), TINY)
    EXP.metrics_schema.validate(m, "metrics")
    EXP.plot(m, TINY, tmp_path / "f.png", tmp_path / "f.pdf")
    assert (tmp_path / "f.png").stat().st_size > 10_000
    check(m, TINY)  # runs on real rows (verdicts at this size mean nothing)
