import numpy as np
import pytest

from overparam import features


@pytest.mark.parametrize("kind", features.KINDS)
def test_draw_is_seeded_and_nested(kind):
    x = np.random.default_rng(0).standard_normal((7, 5))
    a = features.draw(kind, 5, 300, np.random.default_rng(1))
    b = features.draw(kind, 5, 300, np.random.default_rng(1))
    np.testing.assert_array_equal(a(x), b(x))
    assert a(x).shape == (7, 300)
    # the first N features of the big map are the features of an N-map, up to the 1/sqrt(N) scale
    np.testing.assert_allclose(a(x, 40) * np.sqrt(40), a(x)[:, :40] * np.sqrt(300))


def test_relu_features_converge_to_arccos_kernel():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 8))
    rf = features.draw("relu", 8, 200_000, np.random.default_rng(3))
    phi = rf(x)
    k = features.arccos1_kernel(x, x)
    np.testing.assert_allclose(phi @ phi.T, k, rtol=0.03, atol=0.01 * k.max())
    # diagonal in closed form: |x|^2 / (2 d)
    np.testing.assert_allclose(np.diag(k), (x * x).sum(1) / 16)


def test_fourier_features_converge_to_gaussian_kernel():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 3))
    rf = features.draw("fourier", 3, 200_000, np.random.default_rng(5), bandwidth=2.0)
    phi = rf(x)
    np.testing.assert_allclose(phi @ phi.T, features.gaussian_kernel(x, x, 2.0), atol=0.015)


def test_bad_arguments():
    rf = features.draw("relu", 4, 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="num must be"):
        rf(np.zeros((2, 4)), 11)
    with pytest.raises(ValueError, match="expected"):
        rf(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="unknown"):
        features.draw("tanh", 4, 10, np.random.default_rng(0))


def test_standardize_uses_training_statistics():
    rng = np.random.default_rng(6)
    a = rng.normal(3.0, 2.0, (500, 4))
    a[:, 2] = 1.0  # constant column: sd 0 -> divided by 1
    tr, te = features.standardize(a, a[:10] + 1.0)
    np.testing.assert_allclose(tr.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(tr[:, [0, 1, 3]].std(0), 1)
    np.testing.assert_allclose(te, tr[:10] + 1.0 / np.where(a.std(0) > 0, a.std(0), 1.0))
