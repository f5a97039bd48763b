"""mode_connectivity's barriers and claims on metrics tables built to hold or not, and the
figure of a tiny run."""

import numpy as np
import pandas as pd
import pytest

from overparam.experiments import get
from overparam.experiments.mode_connectivity import RUN_SCHEMA
from overparam.experiments.mode_connectivity.claims import CLAIMS, barriers

from .. import check_claims
from .conftest import QUICK

EXP = get("mode_connectivity")
DEMO_ALPHAS = [0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 1.0]


def _path(panel, method, width, spawn, seed, bump, err_bump=0.0, alphas=(0.0, 0.5, 1.0)):
    """A path linear from 0.1 (alpha 0) to 0.3 (alpha 1) but for a bump of ``bump`` (train
    loss) and ``err_bump`` (test error) at alpha 0.5: its chord barriers are the bumps."""
    a = np.asarray(alphas)
    base = 0.1 + 0.2 * a  # linear between the endpoints: no barrier of its own
    hump = np.where(a == 0.5, 1.0, 0.0)
    return pd.DataFrame({
        "panel": panel, "method": method, "width": width, "spawn_step": spawn, "seed": seed,
        "alpha": a, "demo_alpha": np.isin(a, DEMO_ALPHAS), "train_loss": base + bump * hump,
        "test_loss": base, "train_err": base, "test_err": base + err_bump * hump,
        "perm_max_abs_diff": 1e-6 if method == "aligned" else np.nan,
    })  # fmt: skip


def metrics(demo_max=0.5, linear=(2.0, 2.0, 2.0), aligned=(0.5, 0.3, 0.2), bezier=0.05,
            stab=(0.05, 0.03, 0.01), widths=(16, 64, 256), pairs=3) -> pd.DataFrame:  # fmt: skip
    parts = []
    a = np.asarray(DEMO_ALPHAS)
    parts.append(pd.DataFrame({
        "panel": "demo", "method": "linear", "width": 200, "spawn_step": -1, "seed": 0,
        "alpha": a, "demo_alpha": True, "train_loss": demo_max * np.sin(np.pi * a) ** 2,
        "test_loss": np.nan, "train_err": np.nan, "test_err": np.nan, "perm_max_abs_diff": np.nan,
    }))  # fmt: skip
    for p in range(pairs):
        jitter = 1 + 0.05 * (p - 1)  # pairs differ a little: the bootstrap has something to do
        for w, lb, ab in zip(widths, linear, aligned):
            parts.append(_path("width", "linear", w, -1, p, lb * jitter))
            parts.append(_path("width", "aligned", w, -1, p, ab * jitter))
        parts.append(_path("width", "bezier", 64, -1, p, bezier * jitter))
        for k, b in zip((0, 40, 400), stab):
            parts.append(_path("stability", "linear", 64, k, p, 0.0, err_bump=b * jitter))
    return pd.concat(parts, ignore_index=True)[list(RUN_SCHEMA.columns)]


def check(m, cfg=None):
    return check_claims(EXP, m, cfg or QUICK)


def holds(m, cfg=None) -> dict:
    df = check(m, cfg)
    return {c.split(".", 1)[1]: bool(h) for c, h in df["holds"].items()}


def test_barriers_are_heights_above_the_chord():
    b = barriers(metrics()).set_index(["panel", "method", "width", "spawn_step", "seed"])
    assert b.loc[("width", "linear", 16, -1, 1), "barrier_train_loss"] == pytest.approx(2.0)
    assert b.loc[("width", "aligned", 256, -1, 1), "barrier_train_loss"] == pytest.approx(0.2)
    assert b.loc[("stability", "linear", 64, 0, 1), "barrier_test_err"] == pytest.approx(0.05)
    assert b.loc[("stability", "linear", 64, 0, 1), "barrier_train_loss"] == pytest.approx(0.0)
    # endpoints 0.1 and 0.3: the chord, not their mean, is the reference (no barrier here)
    assert b.loc[("width", "linear", 16, -1, 1), "max_endpoint_loss"] == pytest.approx(0.3)


def test_every_claim_holds_on_a_table_built_for_it():
    got = holds(metrics(demo_max=0.05))
    assert got == dict.fromkeys(CLAIMS, True)
    df = check(metrics(demo_max=0.05))
    assert (df["n_seeds"].drop("mode_connectivity.demo_linearly_connected") == 3).all()
    assert df.loc["mode_connectivity.demo_linearly_connected", "n_seeds"] == 1
    assert "k = 400" in df.loc["mode_connectivity.stable_late", "note"]


@pytest.mark.parametrize("kw,claim", [
    (dict(demo_max=0.5), "demo_linearly_connected"),
    (dict(aligned=(0.5, 1.5, 0.2)), "aligned_below_unaligned"),  # one width: ratio 0.75
    (dict(aligned=(0.2, 0.3, 0.5)), "aligned_shrinks_with_width"),  # grows with width
    # close to the endpoints, but over a third of a low straight line's barrier
    (dict(bezier=0.15, linear=(0.4,) * 3, aligned=(0.1, 0.08, 0.05)), "bezier_low_loss"),
    (dict(bezier=0.3, linear=(4.0, 4.0, 4.0)), "bezier_near_endpoints"),  # low, not flat
    (dict(stab=(0.01, 0.01, 0.01)), "unstable_at_init"),  # stable from the start (as LeNet)
    (dict(stab=(0.05, 0.04, 0.03)), "stable_late"),  # never within the tolerance
])  # fmt: skip
def test_each_claim_fails_on_a_table_where_it_does_not_hold(kw, claim):
    base = {"demo_max": 0.05, **kw}
    got = holds(metrics(**base))
    assert not got[claim]
    assert all(v for c, v in got.items() if c != claim), got


def test_missing_panels_give_nan_not_errors():
    m = metrics(demo_max=0.05)
    df = check(m[m["method"] != "bezier"])
    r = df.loc["mode_connectivity.bezier_low_loss"]
    assert np.isnan(r["value"]) and not r["holds"]


def test_figure_of_a_tiny_run(tiny_run, tmp_path):
    from .conftest import TINY

    m = EXP.aggregate(list(tiny_run.values()), TINY)
    EXP.metrics_schema.validate(m, "metrics")
    EXP.plot(m, TINY, tmp_path / "f.png", tmp_path / "f.pdf")
    assert (tmp_path / "f.png").stat().st_size > 10_000
    check(m, TINY)  # runs on real rows (verdicts at this size mean nothing)
