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


def test_limit_kernel_is_the_limit_of_each_kind():
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((5, 4)), rng.standard_normal((3, 4))
    np.testing.assert_array_equal(
        features.limit_kernel("relu", x, y), features.arccos1_kernel(x, y)
    )
    np.testing.assert_array_equal(
        features.limit_kernel("fourier", x, y, 1.5), features.gaussian_kernel(x, y, 1.5)
    )
    with pytest.raises(ValueError, match="unknown"):
        features.limit_kernel("tanh", x, y)
    # the unscaled features' Gram matrix / N: the scaled features' Gram matrix
    rf = features.draw("relu", 4, 100_000, np.random.default_rng(8))
    raw = np.maximum(x @ rf.w, 0.0)
    np.testing.assert_allclose(
        raw @ raw.T / rf.num_features, features.limit_kernel("relu", x, x), rtol=0.03, atol=0.005
    )


def test_median_bandwidth():
    x = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]])  # distances 5, 1, sqrt(18)
    assert features.median_bandwidth(x) == pytest.approx(np.sqrt(18))
    with pytest.raises(ValueError, match="two rows"):
        features.median_bandwidth(x[:1])
    with pytest.raises(ValueError, match="median distance"):
        features.median_bandwidth(np.zeros((3, 2)))


def test_kernel_min_norm_interpolates_and_is_the_wide_limit():
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((20, 5)), rng.standard_normal((20, 2))
    k = features.arccos1_kernel(x, x)
    a = features.kernel_min_norm(k, y)
    np.testing.assert_allclose(k @ a, y, atol=1e-8)
    # min-norm regression on many features predicts nearly what the kernel fit predicts
    xt = rng.standard_normal((10, 5))
    rf = features.draw("relu", 5, 200_000, np.random.default_rng(10))
    phi = rf(x)
    b = phi.T @ np.linalg.solve(phi @ phi.T, y)
    np.testing.assert_allclose(rf(xt) @ b, features.arccos1_kernel(xt, x) @ a, atol=0.05)
    # a singular kernel matrix (a repeated point with the same label): least squares
    k2 = features.arccos1_kernel(np.vstack([x, x[:1]]), np.vstack([x, x[:1]]))
    a2 = features.kernel_min_norm(k2, np.vstack([y, y[:1]]))
    np.testing.assert_allclose(k2 @ a2, np.vstack([y, y[:1]]), atol=1e-6)
