"""flat_minima's trends and claims on metrics tables built to hold or not, and the figure of a
tiny run."""

import numpy as np
import pandas as pd
import pytest

from overparam.experiments import get
from overparam.experiments.flat_minima import RUN_SCHEMA
from overparam.experiments.flat_minima.claims import CLAIMS, gd_runs, means, slope, trends

from .. import check_claims, holds_by_id
from .conftest import QUICK

EXP = get("flat_minima")
BATCHES = (16, 32, 64, 128, 256)
EPS = QUICK["claims_setup"]["eps"]


LRS = (0.1, 0.2, 0.4)


def gd_rows(seeds=3, lam0=0.5, reach=None, level=None, drop=None, stop=300, arrive_at=100):
    """Full-batch GD trajectories per lr (rule gd), a check every 10 steps up to ``stop``: the
    sharpness climbs linearly from ``lam0`` to ``reach[lr]`` x 2 / lr by step ``arrive_at``,
    then sits at ``level[lr]`` x 2 / lr (``drop[lr]``: from the check after arrival on);
    defaults: reach 1, level 1.02 (just above the limit)."""
    rows = []
    for lr in LRS:
        lim = 2 / lr
        top = (reach or {}).get(lr, 1.0) * lim
        lvl = (level or {}).get(lr, 1.02 if (reach or {}).get(lr, 1.0) >= 1 else None)
        for seed in range(seeds):
            j = 1 + 0.005 * (seed - 1)
            for t in range(0, stop + 1, 10):
                if t <= arrive_at:
                    lam = lam0 + (top - lam0) * t / arrive_at
                else:
                    lam = (lvl if lvl is not None else top / lim) * lim
                    if drop and lr in drop:
                        lam = drop[lr] * lim
                lam *= j
                for name, v in (("gd_sharpness", lam), ("gd_train_loss", 2.3 * 0.99**t),
                                ("gd_train_acc", min(0.99, 0.1 + t / stop))):  # fmt: skip
                    rows.append(("gd", 500, lr, seed, name, float(t), float(v)))
    return rows


def metrics(seeds=3, eig=(3.0, 0.5, 2.0, 0.0), acc=(0.56, -0.01, 0.55, 0.0), reached=None,
            gd=None):  # fmt: skip
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
    rows += gd_rows(seeds, **(gd or {}))
    return pd.DataFrame(rows, columns=list(RUN_SCHEMA.columns))


def check(m, cfg=None):
    return check_claims(EXP, m, cfg or QUICK)


def holds(m) -> dict:
    return holds_by_id(check(m))


def test_slope():
    x = np.log([16, 32, 64])
    assert slope(x, 2 * np.exp(x) ** 0.5, log_x=False) == pytest.approx(0.5)
    assert slope(x, [1.0, 2.0, 3.0], log_x=False, log_y=False) == pytest.approx(1 / np.log(2))
    assert np.isnan(slope(x, [1.0, np.nan, -1.0], log_x=False))


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
    # the GD runs climb the whole gap (rise 1.02: the level just above the limit) and sit at
    # 1.02 x 2 / lr
    assert df.loc["flat_minima.gd_progressive_sharpening", "value"] == pytest.approx(1.02, abs=0.01)
    assert df.loc["flat_minima.gd_edge_of_stability", "value"] == pytest.approx(0.02, abs=0.01)
    # the former below_stability_limit, in the note: the fixed rule at B 256, 12 x 0.1 / 2
    assert "0.6 [" in df.loc["flat_minima.gd_edge_of_stability", "note"]
    assert "B=256" in df.loc["flat_minima.fixed_sharper_with_batch", "note"]
    assert (df["ci_low"] <= df["value"]).all() and (df["value"] <= df["ci_high"]).all()


@pytest.mark.parametrize("kw,claim", [
    (dict(eig=(3.0, -0.2, 2.0, -0.05)), "fixed_sharper_with_batch"),  # flatter when larger
    (dict(acc=(0.55, 0.005, 0.55, 0.0)), "fixed_worse_test_with_batch"),  # better when larger
    (dict(eig=(3.0, 0.5, 0.5, 0.4)), "sharpness_follows_lr_over_b"),  # effect stays with B
    (dict(acc=(0.56, -0.01, 0.56, -0.008)), "accuracy_follows_lr_over_b"),
    # GD at lr 0.1 climbs only 60% of the way to 2 / lr before training ends
    (dict(gd=dict(reach={0.1: 0.6})), "gd_progressive_sharpening"),
    # GD starts above 2 / lr at every lr: no rise to the limit to speak of (NaN)
    (dict(gd=dict(lam0=30.0)), "gd_progressive_sharpening"),
    # the sharpness overshoots and sits 30% above 2 / lr at lr 0.2
    (dict(gd=dict(level={0.2: 1.3})), "gd_edge_of_stability"),
    # it reaches 2 / lr and then falls back to 60% of it at lr 0.4
    (dict(gd=dict(drop={0.4: 0.6})), "gd_edge_of_stability"),
    # every run stops within 4 checks of arriving: hovering cannot be judged (NaN)
    (dict(gd=dict(stop=120)), "gd_edge_of_stability"),
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
    if kw.get("gd", {}).get("lam0") == 30.0:  # started above the limit: arrives at once, and
        others.pop("gd_edge_of_stability")  # sits at 1.02 (holds) or not: either is fine here
    assert all(others.values()), got


def test_gd_runs_arrival_and_level():
    m = metrics(gd=dict(level={0.4: 1.05}))
    r = gd_runs(m[m["rule"] == "gd"], arrive=0.9, min_checks=5).set_index(["lr", "seed"])
    one = r.loc[(0.4, 1)]
    assert one["limit"] == pytest.approx(5.0) and one["lam0"] == pytest.approx(0.5)
    # the linear climb to 5 by step 100 crosses 0.9 x 5 = 4.5 at step 90 (a check)
    assert one["arrival"] == 90 and one["checks"] == 22  # steps 90..300
    assert one["level"] == pytest.approx(1.05) and one["rise"] == pytest.approx((5.25 - 0.5) / 4.5)
    # too few checks after arrival: no level
    m = metrics(gd=dict(stop=120))
    r = gd_runs(m[m["rule"] == "gd"], arrive=0.9, min_checks=5)
    assert r["level"].isna().all() and r["checks"].between(3, 4).all()


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
    sweep = ~df.index.str.contains(".gd_")
    assert not df.loc[sweep, "holds"].any() and df.loc[sweep, "value"].isna().all()
    # without the edge-of-stability job's rows its claims are NaN and do not hold
    df = check(m[m["rule"] != "gd"])
    assert not df["holds"].any() and df["value"].isna().all()
    assert "no gd rows" in df.loc["flat_minima.gd_edge_of_stability", "note"]
    assert "no run reached" in df.loc["flat_minima.fixed_sharper_with_batch", "note"]


def test_figure_of_the_tiny_run(tiny_run, tmp_path):
    m = EXP.aggregate(list(tiny_run.values()), QUICK)
    RUN_SCHEMA.validate(m, "metrics")
    EXP.plot(m, QUICK, tmp_path / "f.png", tmp_path / "f.pdf")
    assert (tmp_path / "f.png").stat().st_size > 0 and (tmp_path / "f.pdf").stat().st_size > 0
