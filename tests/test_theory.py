import math

import numpy as np
import pytest

from overparam import theory


def test_effective_ranks_hand_computed():
    # eigs 4, 2, 1, 1: r_0 = 8/4, r_1 = 4/2, r_2 = 2/1, r_3 = 1/1
    r, R = theory.effective_ranks([1, 4, 1, 2])  # order does not matter
    np.testing.assert_allclose(r, [2.0, 2.0, 2.0, 1.0])
    # R_0 = 8^2 / (16+4+1+1) = 64/22, R_1 = 16/6, R_2 = 4/2, R_3 = 1
    np.testing.assert_allclose(R, [64 / 22, 16 / 6, 2.0, 1.0])


def test_isotropic_effective_ranks_equal_remaining_dimension():
    p = 50
    r, R = theory.effective_ranks(np.ones(p))
    np.testing.assert_allclose(r, p - np.arange(p))
    np.testing.assert_allclose(R, p - np.arange(p))


def test_critical_index():
    eigs = np.r_[np.ones(5), np.full(1000, 1e-3)]
    # r_k for k < 5 is (5 - k + 1) / 1 < 100; r_5 = 1000 >= 100
    assert theory.critical_index(eigs, n=100, b=1.0) == 5
    assert theory.critical_index(np.ones(10), n=100) is None
    q = theory.bartlett_quantities(eigs, 100)
    assert q["k_star"] == 5 and q["R_k_star"] == pytest.approx(1000)
    assert q["n_over_R_k_star"] == pytest.approx(0.1)
    assert q["r0"] == pytest.approx(6.0)
    assert math.isnan(theory.bartlett_quantities(np.ones(10), 100)["k_star"])


def test_hastie_formula_closed_forms():
    s2, r2 = 0.25, 1.0
    assert theory.hastie_isotropic_risk(0.5, r2, s2) == pytest.approx(s2 * 0.5 / 0.5)
    assert theory.hastie_isotropic_risk(2.0, r2, s2) == pytest.approx(0.5 + 0.25)
    assert theory.hastie_isotropic_risk(1.0, r2, s2) == math.inf
    g = np.array([0.2, 0.9, 1.1, 5.0, 100.0])
    out = theory.hastie_isotropic_risk(g, r2, s2)
    assert out.shape == g.shape
    # large gamma -> null risk r^2 (the interpolator shrinks to 0)
    assert out[-1] == pytest.approx(r2, rel=0.02)
    with pytest.raises(ValueError):
        theory.hastie_isotropic_risk(0.0, r2, s2)


def test_finite_n_risk_converges_to_hastie():
    for gamma in (0.5, 2.0, 4.0):
        n = 20000
        p = int(gamma * n)
        finite = theory.isotropic_min_norm_risk_finite(n, p, 1.0, 0.5)
        assert finite == pytest.approx(theory.hastie_isotropic_risk(gamma, 1.0, 0.5), rel=1e-3)


def test_mp_stieltjes_against_eigenvalues():
    # m(-lam) = mean of 1/(s + lam) over the eigenvalues of X^T X / n (p x p), large n
    rng = np.random.default_rng(0)
    n, p, lam = 2000, 1000, 0.3
    x = rng.standard_normal((n, p))
    s = np.linalg.eigvalsh(x.T @ x / n)
    m, dm = theory.mp_stieltjes(lam, p / n)
    assert m == pytest.approx(np.mean(1 / (s + lam)), rel=5e-3)
    assert dm == pytest.approx(np.mean(1 / (s + lam) ** 2), rel=1e-2)


def test_optimal_ridge_risk_against_monte_carlo():
    from overparam.linear import ridge

    rng = np.random.default_rng(1)
    n, r2, s2 = 200, 1.0, 0.5
    for g in (0.5, 1.0, 2.0):
        p = int(g * n)
        lam = theory.optimal_ridge_lambda(g, r2, s2)
        risks = []
        for _ in range(30):
            beta = rng.standard_normal(p)
            beta *= np.sqrt(r2) / np.linalg.norm(beta)
            x = rng.standard_normal((n, p))
            y = x @ beta + np.sqrt(s2) * rng.standard_normal(n)
            b = ridge(x, y, lam)
            risks.append(np.sum((b - beta) ** 2))
        assert np.mean(risks) == pytest.approx(theory.optimal_ridge_risk(g, r2, s2), rel=0.05)
