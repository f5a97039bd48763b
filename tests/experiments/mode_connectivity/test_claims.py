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


def _path(panel, method, width, spawn, seed, bump, err_bump=0.0, alphas=(0.0, 0.5, 1.0),
          lr=0.05, selected=False, err_ends=(0.2, 0.2)):  # fmt: skip
    """A path linear from 0.1 (alpha 0) to 0.3 (alpha 1) in train loss but for a bump of
    ``bump`` at alpha 0.5 (its chord barrier); test error linear between ``err_ends`` but for
    a bump of ``err_bump`` at alpha 0.5 (equal ends: both of its barriers are the bump)."""
    a = np.asarray(alphas)
    base = 0.1 + 0.2 * a  # linear between the endpoints: no barrier of its own
    hump = np.where(a == 0.5, 1.0, 0.0)
    err = err_ends[0] + (err_ends[1] - err_ends[0]) * a
    return pd.DataFrame({
        "panel": panel, "method": method, "width": width, "spawn_step": spawn, "seed": seed,
        "alpha": a, "demo_alpha": np.isin(a, DEMO_ALPHAS), "train_loss": base + bump * hump,
        "test_loss": base, "train_err": base, "test_err": err + err_bump * hump,
        "perm_max_abs_diff": 1e-6 if method == "aligned" else np.nan, "lr": lr,
        "selected_lr": selected, "val_err": np.nan,
    })  # fmt: skip


STEPS = (0, 40, 400, 2000)  # spawn steps of the tables below (quick: 4000 steps in all)


def metrics(demo_max=0.5, demo_pairs=(0.5, 0.1), linear=(2.0, 2.0, 2.0), aligned=(0.5, 0.3, 0.2),
            bezier=0.05, bezier_err=0.01, stab=(0.05, 0.03, 0.01, 0.01), old=(0.05,) * 4,
            widths=(16, 64, 256), pairs=3, err_ends=(0.2, 0.2), lr=0.0125) -> pd.DataFrame:  # fmt: skip
    """A table where every claim holds (but the demo's as-written one, unless demo_max < 0.1).
    ``demo_pairs``: (unaligned, aligned) MSE barriers of the demo's pairs 1, 2; ``stab`` the
    chosen lr's instabilities at STEPS, ``old`` those at the former lr 0.05 (not chosen)."""
    parts = []
    a = np.asarray(DEMO_ALPHAS)
    for p in range(3):
        for method, top in zip(("linear", "aligned"), demo_pairs):
            top = demo_max if p == 0 and method == "linear" else top * (1 + 0.05 * p)
            parts.append(pd.DataFrame({
                "panel": "demo", "method": method, "width": 200, "spawn_step": -1, "seed": p,
                "alpha": a, "demo_alpha": True, "train_loss": top * np.sin(np.pi * a) ** 2,
                "test_loss": np.nan, "train_err": np.nan, "test_err": np.nan,
                "perm_max_abs_diff": 1e-6 if method == "aligned" else np.nan, "lr": 0.01,
                "selected_lr": False, "val_err": np.nan,
            }))  # fmt: skip
    for x, e in ((0.0125, 0.2), (0.05, 0.25), (0.2, 0.3)):
        parts.append(pd.DataFrame({
            "panel": "lr_select", "method": "endpoint", "width": 64, "spawn_step": -1,
            "seed": [0, 1], "alpha": 0.0, "demo_alpha": False, "train_loss": 0.01,
            "test_loss": np.nan, "train_err": 0.0, "test_err": np.nan, "perm_max_abs_diff": np.nan,
            "lr": x, "selected_lr": x == lr, "val_err": e,
        }))  # fmt: skip
    for p in range(pairs):
        jitter = 1 + 0.05 * (p - 1)  # pairs differ a little: the bootstrap has something to do
        for w, lb, ab in zip(widths, linear, aligned):
            parts.append(_path("width", "linear", w, -1, p, lb * jitter))
            parts.append(_path("width", "aligned", w, -1, p, ab * jitter))
        parts.append(_path("width", "bezier", QUICK["bezier"]["width"], -1, p, bezier * jitter,
                           err_bump=bezier_err * jitter))  # fmt: skip
        for k, b, o in zip(STEPS, stab, old):
            parts.append(_path("stability", "linear", 64, k, p, 0.0, err_bump=b * jitter,
                               lr=lr, selected=True, err_ends=err_ends))  # fmt: skip
            parts.append(_path("stability", "linear", 64, k, p, 0.0, err_bump=o * jitter,
                               lr=0.05))  # fmt: skip
    return pd.concat(parts, ignore_index=True)[list(RUN_SCHEMA.columns)]


def check(m, cfg=None):
    return check_claims(EXP, m, cfg or QUICK)


def holds(m, cfg=None) -> dict:
    df = check(m, cfg)
    return {c.split(".", 1)[1]: bool(h) for c, h in df["holds"].items()}


def test_barriers_are_heights_above_the_chord_and_the_mean():
    b = barriers(metrics(err_ends=(0.1, 0.3)))
    b = b.set_index(["panel", "method", "width", "lr", "spawn_step", "seed"])
    assert b.loc[("width", "linear", 16, 0.05, -1, 1), "barrier_train_loss"] == pytest.approx(2.0)
    assert b.loc[("width", "aligned", 256, 0.05, -1, 1), "barrier_train_loss"] == pytest.approx(0.2)
    st = b.loc[("stability", "linear", 64, 0.0125, 0, 1)]
    assert st["barrier_test_err"] == pytest.approx(0.05) and st["barrier_train_loss"] == 0.0
    # endpoints 0.1 and 0.3: the chord is 0.2 at alpha 0.5 (barrier = the bump 0.05), their
    # mean 0.2 too, but the mean reference also sees the higher endpoint: 0.3 - 0.2 = 0.1
    assert st["barrier_mean_test_err"] == pytest.approx(0.1)
    assert st["selected_lr"] and not b.loc[("stability", "linear", 64, 0.05, 0, 1), "selected_lr"]
    assert b.loc[("width", "linear", 16, 0.05, -1, 1), "max_endpoint_loss"] == pytest.approx(0.3)
    assert "lr_select" not in set(b.reset_index()["panel"])


def test_every_claim_holds_on_a_table_built_for_it():
    got = holds(metrics(demo_max=0.05))
    assert got == dict.fromkeys(CLAIMS, True)
    df = check(metrics(demo_max=0.05))
    assert df.loc["mode_connectivity.demo_linearly_connected", "n_seeds"] == 1
    assert (df["n_seeds"].drop("mode_connectivity.demo_linearly_connected") == 3).all()
    note = df.loc["mode_connectivity.stable_after_early_point", "note"]
    assert "chosen lr 0.0125" in note and "from k = 400 of 4000 steps" in note
    assert (
        "former protocol (lr 0.05, chord): k = 0 0.05 ["
        in (df.loc["mode_connectivity.unstable_at_init", "note"])
    )


@pytest.mark.parametrize("kw,claim", [
    (dict(demo_max=0.5), "demo_linearly_connected"),
    # the demo's pairs 1 and 2 low, so the mean over the three pairs is under 0.1
    (dict(demo_max=0.05, demo_pairs=(0.05, 0.01)), "demo_independent_barrier"),
    (dict(demo_pairs=(0.5, 0.4)), "demo_aligned_shrinks"),  # matching barely helps
    (dict(aligned=(0.5, 1.5, 0.2)), "aligned_below_unaligned"),  # one width: ratio 0.75
    (dict(aligned=(0.2, 0.3, 0.5)), "aligned_shrinks_with_width"),  # grows with width
    # close to the endpoints, but over a third of a low straight line's barrier
    (dict(bezier=0.15, linear=(0.4,) * 3, aligned=(0.1, 0.08, 0.05)), "bezier_low_loss"),
    (dict(bezier=0.3, linear=(4.0, 4.0, 4.0)), "bezier_near_endpoints"),  # low, not flat
    (dict(bezier_err=0.05), "bezier_test_error"),  # low loss, but 5 points of test error
    (dict(stab=(0.01,) * 4), "unstable_at_init"),  # stable from the start (as LeNet)
    (dict(stab=(0.05, 0.04, 0.03, 0.03)), "stable_after_early_point"),  # never stable
    (dict(stab=(0.05, 0.05, 0.05, 0.01)), "stable_after_early_point"),  # only from half-way
    (dict(stab=(0.03, 0.01, 0.05, 0.01)), "stable_after_early_point"),  # unstable again at 400
])  # fmt: skip
def test_each_claim_fails_on_a_table_where_it_does_not_hold(kw, claim):
    base = {"demo_max": 0.05, **kw}
    got = holds(metrics(**base))
    assert not got[claim]
    others = {c: v for c, v in got.items() if c != claim}
    if claim == "unstable_at_init":  # stable everywhere: the onset claim holds (at k = 0)
        assert others["stable_after_early_point"]
    assert all(others.values()), got


def test_instability_is_measured_above_the_endpoints_mean():
    # endpoints' test errors 0.1 and 0.3, no bump: nothing above the chord, but the line's
    # end is 0.1 above the endpoints' mean (Frankle et al.'s reference): unstable everywhere
    df = check(metrics(demo_max=0.05, stab=(0.0,) * 4, err_ends=(0.1, 0.3)))
    assert df.loc["mode_connectivity.unstable_at_init", "value"] == pytest.approx(0.1)
    assert not df.loc["mode_connectivity.stable_after_early_point", "holds"]
    assert "above the chord: k=0: 0," in df.loc["mode_connectivity.unstable_at_init", "note"]


def test_stability_claims_read_the_chosen_lr_only():
    # the former lr's copies are unstable throughout, the chosen lr's stable from k = 40
    got = check(metrics(demo_max=0.05, stab=(0.05, 0.01, 0.01, 0.01), old=(0.2,) * 4))
    r = got.loc["mode_connectivity.stable_after_early_point"]
    assert r["holds"] and r["value"] == pytest.approx(40 / 4000)
    assert got.loc["mode_connectivity.unstable_at_init", "value"] == pytest.approx(0.05)
    # the other way round: the verdicts follow the chosen lr's rows
    got = check(metrics(demo_max=0.05, stab=(0.2,) * 4, old=(0.05, 0.01, 0.01, 0.01)))
    assert not got.loc["mode_connectivity.stable_after_early_point", "holds"]


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


def test_stable_onset_is_the_step_from_which_every_later_one_is_stable():
    from overparam.experiments.mode_connectivity.claims import stable_onset

    s = pd.Series([0.05, 0.01, 0.03, 0.01, 0.0], index=[0, 40, 80, 400, 2000])
    assert stable_onset(s, 0.02, 4000) == 400  # 40 is stable, but 80 is not again
    assert stable_onset(s * 0, 0.02, 4000) == 0
    assert stable_onset(s + 0.05, 0.02, 4000) == 4000  # never: the end of training
    assert np.isnan(stable_onset(s.iloc[:0], 0.02, 4000))
