"""flat_minima's trends and claims on metrics tables built to hold or not, and the figure of a
tiny run."""

import numpy as np
import pandas as pd
import pytest

from overparam.experiments import get
from overparam.experiments.flat_minima import RUN_SCHEMA
from overparam.experiments.flat_minima.claims import CLAIMS, means, slope, trends

from .. import check_claims, holds_by_id
from .conftest import QUICK

EXP = get("flat_minima")
BATCHES = (16, 32, 64, 128, 256)
EPS = QUICK["claims_setup"]["eps"]


def metrics(seeds=3, eig=(3.0, 0.5, 2.0, 0.0), acc=(0.56, -0.01, 0.55, 0.0), reached=None):
    """Per rule: top eigenvalue c B^s (eps-sharpness proportional to it), test accuracy
    a + s log2(B / 16); (c_fixed, s_fixed, c_scaled, s_scaled) and (a, s, a, s); lr 0.1 (fixed)
    and 0.1 B / 64 (scaled). ``reached``: {(rule, B): 0} marks runs that missed the target."""
    rows = []
    for i, rule in enumerate(("fixed", "scaled")):
        for b in BATCHES:
            lr = 0.1 if rule == "fixed" else 0.1 * b / 64
            for seed in range(seeds):
                j = 1 + 0.02 * (seed - 1)
                top = eig[2 * i] * (b / 16) ** eig[2 * i + 1] * j
                ok = (reached or {}).get((rule, b), 1)
                q = {"reached": ok, "steps": 1000, "train_loss": 0.09, "train_acc": 0.97,
                     "test_loss": 1.5, "test_acc": acc[2 * i] + acc[2 * i + 1] * np.log2(b / 16)
                     + 0.002 * (seed - 1), "top_eig": top, "stability_limit": 2 / lr}  # fmt: skip
                for name, v in q.items():
                    rows.append((rule, b, lr, seed, name, np.nan, float(v)))
                for eps in (5e-4, 1e-3):
                    rows.append((rule, b, lr, seed, "eps_sharpness", eps, top * eps * 100))
            for seed in range(seeds):
                for a in (0.0, 0.5, 1.0):
                    rows.append((rule, b, lr, seed, "slice_train_loss", a, 0.1 + a * (1 - a)))
    return pd.DataFrame(rows, columns=list(RUN_SCHEMA.columns))


def check(m, cfg=None):
    return check_claims(EXP, m, cfg or QUICK)


def holds(m) -> dict:
    return holds_by_id(check(m))


def test_slope():
    x = np.log([16, 32, 64])
    assert slope(x, 2 * np.exp(x) ** 0.5, log_y=True) == pytest.approx(0.5)
    assert slope(x, [1.0, 2.0, 3.0]) == pytest.approx(1 / np.log(2))
    assert np.isnan(slope(x, [1.0, np.nan, -1.0], log_y=True))


def test_trends_of_power_laws_and_reached_filter():
    t = trends(means(metrics(), EPS))
    assert t["fixed.eig"] == pytest.approx(0.5) and t["fixed.eps"] == pytest.approx(0.5)
    assert t["fixed.acc"] == pytest.approx(-0.01) and t["scaled.eig"] == pytest.approx(0.0)
    # runs that missed the target are left out of the means
    m = metrics(reached={("fixed", 256): 0})
    assert 256 not in means(m, EPS).loc["fixed"].index


def test_every_claim_holds_on_a_table_built_for_it():
    assert holds(metrics()) == dict.fromkeys(CLAIMS, True)
    df = check(metrics())
    assert (df["n_seeds"] == 3).all()
    assert df.loc["flat_minima.fixed_sharper_with_batch", "value"] == pytest.approx(0.5, abs=0.01)
    assert df.loc["flat_minima.sharpness_follows_lr_over_b", "value"] == pytest.approx(0, abs=0.01)
    # largest top eigenvalue / (2 / lr): the fixed rule at B 256, 12 x 0.1 / 2
    assert df.loc["flat_minima.below_stability_limit", "value"] == pytest.approx(0.6, rel=0.03)
    assert "B=256" in df.loc["flat_minima.fixed_sharper_with_batch", "note"]
    assert (df["ci_low"] <= df["value"]).all() and (df["value"] <= df["ci_high"]).all()


@pytest.mark.parametrize("kw,claim", [
    (dict(eig=(3.0, -0.2, 2.0, -0.05)), "fixed_sharper_with_batch"),  # flatter when larger
    (dict(acc=(0.55, 0.005, 0.55, 0.0)), "fixed_worse_test_with_batch"),  # better when larger
    (dict(eig=(3.0, 0.5, 0.5, 0.4)), "sharpness_follows_lr_over_b"),  # effect stays with B
    (dict(acc=(0.56, -0.01, 0.56, -0.008)), "accuracy_follows_lr_over_b"),
    (dict(eig=(3.0, 0.5, 30.0, 0.0)), "below_stability_limit"),  # scaled B 256: 30 x 0.4 / 2
])  # fmt: skip
def test_each_claim_fails_on_a_table_where_it_does_not_hold(kw, claim):
    got = holds(metrics(**kw))
    assert not got[claim]
    others = {c: v for c, v in got.items() if c != claim}
    if claim == "fixed_sharper_with_batch":  # eps-sharpness follows it, and there is no effect
        assert not got["fixed_eps_sharper_with_batch"] and not got["sharpness_follows_lr_over_b"]
        others = {c: v for c, v in others.items() if "sharp" not in c}
    if claim == "fixed_worse_test_with_batch":  # no accuracy loss to follow
        assert not got["accuracy_follows_lr_over_b"]
        others.pop("accuracy_follows_lr_over_b")
    assert all(others.values()), got


def test_eps_sharpness_claim_fails_on_its_own():
    m = metrics()
    e = (m["quantity"] == "eps_sharpness") & (m["rule"] == "fixed")
    m.loc[e, "value"] = m.loc[e, "value"] / (m.loc[e, "batch_size"] / 16)  # falls as B^-0.5
    got = holds(m)
    assert not got["fixed_eps_sharper_with_batch"]
    assert all(v for c, v in got.items() if c != "fixed_eps_sharper_with_batch"), got


def test_no_run_reaching_the_target_gives_nan_not_errors():
    m = metrics(reached={(r, b): 0 for r in ("fixed", "scaled") for b in BATCHES})
    df = check(m)
    assert not df["holds"].any() and df["value"].isna().all()
    assert "no run reached" in df.loc["flat_minima.fixed_sharper_with_batch", "note"]


def test_figure_of_the_tiny_run(tiny_run, tmp_path):
    m = EXP.aggregate(list(tiny_run.values()), QUICK)
    RUN_SCHEMA.validate(m, "metrics")
    EXP.plot(m, QUICK, tmp_path / "f.png", tmp_path / "f.pdf")
    assert (tmp_path / "f.png").stat().st_size > 0 and (tmp_path / "f.pdf").stat().st_size > 0
