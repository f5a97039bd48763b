import numpy as np
import pytest

from overparam import linear, theory
from overparam.data import excess_risk


def test_min_norm_matches_pinv_overparameterized():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 80))
    y = rng.standard_normal(30)
    b = linear.min_norm(x, y)
    np.testing.assert_allclose(b, np.linalg.pinv(x) @ y, atol=1e-10)
    np.testing.assert_allclose(x @ b, y, atol=1e-10)  # interpolates


def test_min_norm_is_least_squares_underparameterized():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((80, 10))
    y = rng.standard_normal(80)
    np.testing.assert_allclose(linear.min_norm(x, y), np.linalg.pinv(x) @ y, atol=1e-10)


@pytest.mark.parametrize("shape", [(30, 80), (80, 30)])
def test_ridge_matches_normal_equations(shape):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    y = rng.standard_normal(shape[0])
    lam = 0.3
    n, p = shape
    expect = np.linalg.solve(x.T @ x + n * lam * np.eye(p), x.T @ y)
    np.testing.assert_allclose(linear.ridge(x, y, lam), expect, atol=1e-10)
    np.testing.assert_allclose(linear.ridge(x, y, 0.0), np.linalg.pinv(x) @ y, atol=1e-10)
    with pytest.raises(ValueError):
        linear.ridge(x, y, -1.0)


def test_chunked_min_norm_equals_dense_solution():
    """min_norm_diag_gaussian never forms x; check it against a dense fit of the same draw."""
    n, p, chunk = 40, 300, 64
    eigs = np.linspace(2.0, 0.1, p)
    beta = np.r_[np.ones(3), np.zeros(p - 3)]
    fit = linear.min_norm_diag_gaussian(n, eigs, beta, noise_sd=0.5, seed=7, chunk=chunk)
    # rebuild the same design with the same seed streams
    starts = list(range(0, p, chunk))
    ch = np.random.SeedSequence(7).spawn(len(starts) + 1)
    x = np.concatenate(
        [
            np.random.default_rng(ch[j]).standard_normal((n, min(chunk, p - s)))
            for j, s in enumerate(starts)
        ],
        axis=1,
    ) * np.sqrt(eigs)
    y = x @ beta + 0.5 * np.random.default_rng(ch[-1]).standard_normal(n)
    b = np.linalg.pinv(x) @ y
    assert fit.excess_risk == pytest.approx(excess_risk(b, beta, eigs), rel=1e-8)
    assert fit.norm == pytest.approx(np.linalg.norm(b), rel=1e-8)
    assert fit.train_mse < 1e-20
    assert fit.null_risk == pytest.approx(3 * 2.0, rel=0.01)
    with pytest.raises(ValueError, match="p > n"):
        linear.min_norm_diag_gaussian(400, eigs, beta, 0.5, seed=0)


def test_min_norm_kept_chunks_equal_regenerated_ones():
    """Keeping the design's chunks for pass 2 (small designs) gives the fit of regenerating
    them, bit for bit."""
    n, p = 30, 500
    eigs = np.linspace(1.0, 0.01, p)
    beta = np.r_[np.ones(4), np.zeros(p - 4)]
    kept = linear.min_norm_diag_gaussian(n, eigs, beta, 0.5, seed=[3, 30], chunk=128)
    regen = linear.min_norm_diag_gaussian(n, eigs, beta, 0.5, seed=[3, 30], chunk=128,
                                          keep_bytes=0)  # fmt: skip
    assert kept == regen
    other = linear.min_norm_diag_gaussian(n, eigs, beta, 0.5, seed=[4, 30], chunk=128)
    assert other.excess_risk != kept.excess_risk


def test_isotropic_monte_carlo_matches_exact_finite_n_risk():
    """Average over draws of the min-norm excess risk vs the inverse-Wishart closed form."""
    n, p, s2 = 50, 150, 0.25
    beta = np.zeros(p)
    beta[0] = 1.0
    risks = [
        linear.min_norm_diag_gaussian(n, np.ones(p), beta, np.sqrt(s2), seed=s).excess_risk
        for s in range(200)
    ]
    expect = theory.isotropic_min_norm_risk_finite(n, p, 1.0, s2)
    assert np.mean(risks) == pytest.approx(expect, rel=0.03)
