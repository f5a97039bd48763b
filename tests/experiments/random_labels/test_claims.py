"""random_labels' claims on metrics tables built to hold or not, and the figure of a tiny
run."""

import numpy as np
import pandas as pd
import pytest

from overparam.experiments import get
from overparam.experiments.random_labels import RUN_SCHEMA
from overparam.experiments.random_labels.claims import CLAIMS, finals, per_variant, values

from .. import check_claims, holds_by_id
from .conftest import QUICK

EXP = get("random_labels")
FRACTIONS = (0.0, 0.2, 0.5, 0.8, 1.0)
# (variant, fraction) -> (fit epoch, test accuracy): every claim holds (like the quick run)
HOLDS = {
    ("labels", 0.0): (30, 0.46), ("labels", 0.2): (35, 0.38), ("labels", 0.5): (36, 0.24),
    ("labels", 0.8): (38, 0.17), ("labels", 1.0): (39, 0.10), ("random_inputs", 1.0): (22, 0.10),
}  # fmt: skip


def metrics(seeds=3, final_acc=None, **change) -> pd.DataFrame:
    """Runs whose train accuracy rises linearly to 1.0 at their fit epoch (seeds +-1 epoch,
    test accuracy +-0.005); ``change``: '<variant>__<fraction>' = (fit epoch, test acc);
    ``final_acc``: {(variant, fraction): final train accuracy < 1} for runs that never fit."""
    laws = dict(HOLDS)
    for k, v in change.items():
        var, fr = k.rsplit("__", 1)
        laws[(var, float(fr))] = v
    final_acc = final_acc or {}
    end = int(max(e for e, _ in laws.values())) + 2
    rows = []
    for (var, fr), (fit, acc) in laws.items():
        for seed in range(seeds):
            fe = fit + (seed - 1)
            top = final_acc.get((var, fr), 1.0)
            for epoch in range(end + 1):
                tr = min(top, 0.1 + 0.9 * epoch / fe)
                rows.append(dict(
                    variant=var, label_fraction=fr, width=256, seed=seed, n_train=1000,
                    epoch=epoch, train_loss=1.0 - tr, train_acc=tr, changed_frac=0.9 * fr,
                    fitted=top >= 1.0, fit_epoch=float(fe) if top >= 1.0 else np.nan,
                    epochs_run=end, test_acc=acc + 0.005 * (seed - 1), test_loss=2.0,
                    diverged=False,
                ))  # fmt: skip
    df = pd.DataFrame(rows)[list(RUN_SCHEMA.columns)]
    RUN_SCHEMA.validate(df, "synthetic")
    return df


def check(m):
    return check_claims(EXP, m, QUICK)


def holds(m) -> dict:
    return holds_by_id(check(m))


def test_every_claim_holds_on_a_random_label_experiment():
    df = check(metrics())
    assert list(df.index) == [f"random_labels.{c}" for c in CLAIMS]
    assert df["holds"].all() and df["confident"].all()
    v = df["value"]
    assert v["random_labels.memorises"] == 1.0 and v["random_labels.test_acc_falls"] == 0
    assert v["random_labels.chance_at_random"] == pytest.approx(0.0, abs=1e-9)
    assert v["random_labels.slower_fit"] == pytest.approx(39 / 30)
    assert "labels.1 1.3" in df.loc["random_labels.slower_fit", "note"]


def test_memorises_fails_when_a_variant_does_not_fit():
    m = metrics(final_acc={("labels", 1.0): 0.95})
    assert holds(m) == dict(memorises=False, test_acc_falls=True, chance_at_random=True,
                            slower_fit=False)  # fmt: skip
    v = values(finals(m))
    assert v["memorises"] == pytest.approx(0.95)
    assert np.isnan(v["slower_fit"])  # a censored fit time: the factor is unknown
    assert per_variant(m).loc[(256, "labels", 1.0), "unfitted"] == 3


def test_test_acc_falls_fails_when_accuracy_rises_with_the_fraction():
    m = metrics(**{"labels__0.5": (36, 0.40)})
    h = holds(m)
    assert not h["test_acc_falls"] and h["memorises"] and h["chance_at_random"]
    assert values(finals(m))["test_acc_falls"] == 1  # 0.2 -> 0.5 rises


def test_chance_fails_when_random_labels_still_generalise():
    h = holds(metrics(**{"labels__1.0": (39, 0.15)}))
    assert not h["chance_at_random"] and h["test_acc_falls"]
    # random inputs count too
    m = metrics(**{"random_inputs__1.0": (22, 0.05)})
    assert not holds(m)["chance_at_random"]
    assert values(finals(m))["chance_at_random"] == pytest.approx(0.05)


def test_slower_fit_fails_when_random_labels_fit_as_fast():
    m = metrics(**{"labels__1.0": (28, 0.10)})
    assert not holds(m)["slower_fit"]
    assert values(finals(m))["slower_fit"] == pytest.approx(28 / 30)


def test_diverged_runs_make_every_claim_nan():
    m = metrics()
    m.loc[m["seed"] == 0, "diverged"] = True
    df = check(m)
    assert df["value"].isna().all() and not df["holds"].any()


def test_figure_of_the_tiny_run(tiny_run, tmp_path):
    m = EXP.aggregate([tiny_run], QUICK)
    EXP.plot(m, QUICK, tmp_path / "f.png", tmp_path / "f.pdf")
    assert (tmp_path / "f.png").stat().st_size > 0 and (tmp_path / "f.pdf").stat().st_size > 0
