import numpy as np
import pytest

from overparam import data


def test_mnist1d_is_seeded_and_side_effect_free():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    a = data.mnist1d(num_samples=200, train_split=0.5, seed=3)
    assert np.array_equal(np.random.get_state()[1], before)  # global state restored
    b = data.mnist1d(num_samples=200, train_split=0.5, seed=3)
    c = data.mnist1d(num_samples=200, train_split=0.5, seed=4)
    assert a["x"].shape == (100, 40) and a["x_test"].shape == (100, 40)
    assert a["x"].dtype == np.float32 and a["y"].dtype == np.int64
    assert set(np.unique(a["y"])) <= set(range(10))
    np.testing.assert_array_equal(a["x"], b["x"])
    assert not np.array_equal(a["x"], c["x"])
    with pytest.raises(ValueError):
        data.mnist1d(num_samples=200, train_split=1.5)


def test_npz_roundtrip_and_bad_file(tmp_path):
    arrays = {"x": np.arange(6.0).reshape(2, 3), "y": np.array([1, 2])}
    data.save_npz(tmp_path / "d.npz", arrays)
    back = data.load_npz(tmp_path / "d.npz")
    np.testing.assert_array_equal(back["x"], arrays["x"])
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.npz"):
        data.load_npz(tmp_path / "bad.npz")


def test_corrupt_labels_fraction_and_range():
    rng = np.random.default_rng(0)
    y = np.zeros(1000, dtype=np.int64)
    y2, mask = data.corrupt_labels(y, 0.15, 10, rng)
    assert mask.sum() == 150
    assert np.all(y2[~mask] == 0)
    # redrawn uniformly over 10 classes: ~90% of the redrawn ones change
    assert 0.8 < np.mean(y2[mask] != 0) < 0.97
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        data.corrupt_labels(y, 1.5, 10, rng)


def test_gaussian_design_covariance():
    rng = np.random.default_rng(0)
    x = data.gaussian_design(20000, np.array([4.0, 1.0, 0.25]), rng)
    np.testing.assert_allclose(x.var(axis=0), [4.0, 1.0, 0.25], rtol=0.05)
    assert data.excess_risk(np.ones(3), np.zeros(3), np.array([4.0, 1.0, 0.25])) == 5.25
