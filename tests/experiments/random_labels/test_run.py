"""random_labels' data variants (the fraction of redrawn and changed labels, the moments of
random inputs) and the tiny run's table."""

import numpy as np
import pytest

from overparam.data import MNIST1D
from overparam.experiments import get
from overparam.experiments.random_labels import NUM_CLASSES, RUN_SCHEMA
from overparam.experiments.random_labels.run import (
    Member,
    first_fit_epoch,
    member_data,
    members,
)

from .conftest import TINY

EXP = get("random_labels")


@pytest.fixture(scope="module")
def train():
    d = MNIST1D(1000, 0.8, 42).load()
    return d["x"], d["y"]


@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_label_fraction_is_the_redrawn_fraction(train, fraction):
    """Zhang et al.'s corruption level p: round(p n) labels redrawn uniformly over the 10
    classes, so a redrawn label keeps its value with probability 1/10 and about 0.9 p of the
    labels change; the inputs are untouched."""
    x, y = train
    n = len(y)
    xs, ys, redrawn = member_data(x, y, Member(0, "labels", fraction, 1), label_seed=0)
    assert xs is x and ys.shape == y.shape and ys.dtype.kind == "i"
    assert redrawn.sum() == round(fraction * n)
    assert (ys[~redrawn] == y[~redrawn]).all()  # the others keep their true label
    changed = (ys != y).mean()
    expect, sd = 0.9 * fraction, np.sqrt(round(fraction * n) * 0.1 * 0.9) / n
    assert abs(changed - expect) <= 4 * sd + 1e-12, (changed, expect)
    if fraction:  # the redrawn labels are uniform over the classes
        counts = np.bincount(ys[redrawn], minlength=NUM_CLASSES) / redrawn.sum()
        assert np.abs(counts - 0.1).max() < 4 * np.sqrt(0.09 / redrawn.sum())


def test_label_draws_are_fixed_and_differ_between_seeds_and_variants(train):
    x, y = train
    a = member_data(x, y, Member(0, "labels", 0.5, 2), 0)[1]
    assert np.array_equal(a, member_data(x, y, Member(0, "labels", 0.5, 2), 0)[1])
    assert not np.array_equal(a, member_data(x, y, Member(1, "labels", 0.5, 2), 0)[1])
    assert not np.array_equal(a, member_data(x, y, Member(0, "labels", 0.5, 2), 1)[1])


def test_random_inputs_have_the_data_moments(train):
    """Gaussian inputs with the training inputs' per-position mean and variance, all labels
    uniform at random."""
    x, y = train
    xr, yr, redrawn = member_data(x, y, Member(3, "random_inputs", 1.0, 5), label_seed=0)
    n = len(y)
    assert xr.shape == x.shape and xr.dtype == x.dtype and redrawn.all()
    sd = x.std(0)
    np.testing.assert_allclose(xr.mean(0), x.mean(0), atol=float(4 * sd.max() / np.sqrt(n)))
    np.testing.assert_allclose(xr.std(0) / sd, 1.0, atol=4 / np.sqrt(2 * n))
    assert abs(np.corrcoef(xr[:, 0], x[:, 0])[0, 1]) < 4 / np.sqrt(n)  # unrelated to the data
    assert abs((yr != y).mean() - 0.9) < 4 * np.sqrt(0.09 / n)


def test_members_are_seed_major():
    job = EXP.jobs(TINY)["w64"]
    m = members(job)
    assert [(x.seed, x.variant, x.label_fraction) for x in m[:4]] == [
        (0, "labels", 0.0), (0, "labels", 0.5), (0, "labels", 1.0), (0, "random_inputs", 1.0)
    ]  # fmt: skip
    assert len(m) == 8 and [x.index for x in m[4:]] == [0, 1, 2, 3]


def test_first_fit_epoch():
    assert first_fit_epoch(np.arange(5), [0.1, 0.9, 1.0, 1.0, 1.0]) == 2
    assert np.isnan(first_fit_epoch(np.arange(3), [0.1, 0.99, np.nan]))


def test_tiny_run_table(tiny_run):
    df = tiny_run
    RUN_SCHEMA.validate(df, "tiny run")
    runs = df.groupby(["variant", "label_fraction", "seed"])
    assert runs.ngroups == 8 and set(runs.size()) == {df["epochs_run"].iloc[0] + 1}
    last = df[df["epoch"] == df["epochs_run"]]
    # every member fits its labels within the budget and stops there
    assert last["fitted"].all() and (last["train_acc"] == 1.0).all()
    assert (last["fit_epoch"] <= last["epochs_run"]).all()
    assert df["epochs_run"].iloc[0] == last["fit_epoch"].max()
    lab = last[last["variant"] == "labels"].set_index(["label_fraction", "seed"])
    assert (lab.loc[0.0, "changed_frac"] == 0).all()
    assert lab.loc[1.0, "changed_frac"].between(0.8, 1.0).all()
    # the true labels generalise above chance, random ones do not beat them
    assert lab.loc[0.0, "test_acc"].mean() > lab.loc[1.0, "test_acc"].mean() + 0.05
