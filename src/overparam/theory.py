"""Closed forms from the theory papers. Pure functions of numbers and arrays, no randomness.

- Bartlett, Long, Lugosi, Tsigler (2020), "Benign overfitting in linear regression", PNAS:
  effective ranks r_k, R_k and the critical index k*.
- Hastie, Montanari, Rosset, Tibshirani (2019/2022), "Surprises in high-dimensional ridgeless
  least squares interpolation", Ann. Statist.: isotropic min-norm risk (their Theorem 1).
"""

from __future__ import annotations

import math

import numpy as np


def _sorted_spectrum(eigs) -> np.ndarray:
    lam = np.sort(np.asarray(eigs, dtype=float))[::-1]
    if lam.ndim != 1 or lam.size == 0:
        raise ValueError("eigs must be a non-empty 1-d array")
    if np.any(lam < 0):
        raise ValueError("eigenvalues must be non-negative")
    return lam


def _tails(lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """tail1[k] = sum_{i>k} lam_i and tail2[k] = sum_{i>k} lam_i^2, k = 0..p-1 (0-based: i > k
    means indices k..p-1 in 0-based numbering, i.e. lam_{k+1}, lam_{k+2}, ... in 1-based)."""
    tail1 = np.cumsum(lam[::-1])[::-1]
    tail2 = np.cumsum((lam * lam)[::-1])[::-1]
    return tail1, tail2


def effective_ranks(eigs) -> tuple[np.ndarray, np.ndarray]:
    """(r, R) with r[k] = sum_{i>k} lam_i / lam_{k+1} and R[k] = (sum_{i>k} lam_i)^2 / sum_{i>k} lam_i^2
    for k = 0..p-1, eigenvalues sorted in decreasing order (1-based lam_1 >= lam_2 >= ...).
    Where lam_{k+1} = 0, r[k] = inf (and R[k] = nan, no mass left)."""
    lam = _sorted_spectrum(eigs)
    tail1, tail2 = _tails(lam)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(lam > 0, tail1 / lam, np.inf)
        R = np.where(tail2 > 0, tail1 * tail1 / tail2, np.nan)
    return r, R


def critical_index(eigs, n: int, b: float = 1.0) -> int | None:
    """k* = min{k >= 0 : r_k(Sigma) >= b n}; None if no such k < p."""
    if n <= 0 or b <= 0:
        raise ValueError("n and b must be positive")
    r, _ = effective_ranks(eigs)
    hits = np.nonzero(r >= b * n)[0]
    return int(hits[0]) if hits.size else None


def bartlett_quantities(eigs, n: int, b: float = 1.0) -> dict[str, float]:
    """The quantities of Bartlett et al.'s Theorem: r_0, k*, R_{k*}, k*/n, n/R_{k*}, r_0/n.
    Benign overfitting needs r_0 = o(n), k*/n -> 0 and n/R_{k*} -> 0."""
    r, R = effective_ranks(eigs)
    k = critical_index(eigs, n, b)
    out = {
        "r0": float(r[0]),
        "r0_over_n": float(r[0] / n),
        "k_star": math.nan,
        "k_star_over_n": math.nan,
        "R_k_star": math.nan,
        "n_over_R_k_star": math.nan,
    }
    if k is not None:
        out.update(
            k_star=float(k),
            k_star_over_n=k / n,
            R_k_star=float(R[k]),
            n_over_R_k_star=float(n / R[k]),
        )
    return out


def hastie_isotropic_risk(gamma, snr_r2: float, sigma2: float):
    """Asymptotic excess risk of min-norm least squares, isotropic features, ||beta||^2 = r^2:
        gamma < 1:  sigma^2 gamma / (1 - gamma)
        gamma > 1:  r^2 (1 - 1/gamma) + sigma^2 / (gamma - 1)
    (Hastie et al., Theorem 1). Infinite at gamma = 1. Vectorised over gamma."""
    g = np.asarray(gamma, dtype=float)
    if np.any(g <= 0):
        raise ValueError("gamma = p/n must be positive")
    with np.errstate(divide="ignore", invalid="ignore"):
        under = sigma2 * g / (1.0 - g)
        over = snr_r2 * (1.0 - 1.0 / g) + sigma2 / (g - 1.0)
        out = np.where(g < 1, under, np.where(g > 1, over, np.inf))
    return float(out) if np.ndim(out) == 0 else out


def isotropic_min_norm_risk_finite(n: int, p: int, snr_r2: float, sigma2: float) -> float:
    """Exact expected excess risk at finite (n, p) for Gaussian isotropic features:
    p > n + 1: r^2 (1 - n/p) + sigma^2 n / (p - n - 1);  n > p + 1: sigma^2 p / (n - p - 1).
    (Inverse-Wishart mean; the bias uses that the min-norm solution projects beta onto a
    uniformly random n-dim subspace.) Hastie's formula is its limit."""
    if p > n + 1:
        return snr_r2 * (1 - n / p) + sigma2 * n / (p - n - 1)
    if n > p + 1:
        return sigma2 * p / (n - p - 1)
    return math.inf


# ----------------------------------------------------------------------------- ridge, isotropic
# Ridge b = argmin (1/n)||y - X b||^2 + lam ||b||^2 (the convention of overparam.linear.ridge),
# x ~ N(0, I_p), ||beta||^2 = r^2, noise variance sigma^2, p/n -> gamma. m(z) is the Stieltjes
# transform of the Marchenko-Pastur law of X^T X / n: m(z) = int dF(s) / (s - z), the root of
#     gamma z m^2 - (1 - gamma - z) m + 1 = 0
# that is positive for z = -lam < 0. (Hastie et al. 2019, Theorem 5; Dobriban & Wager 2018.)


def mp_stieltjes(lam, gamma):
    """m(-lam) and its derivative m'(-lam) = int dF(s) / (s + lam)^2, for lam > 0."""
    lam = np.asarray(lam, dtype=float)
    g = np.asarray(gamma, dtype=float)
    if np.any(lam <= 0) or np.any(g <= 0):
        raise ValueError("need lam > 0 and gamma > 0")
    a = 1.0 - g + lam  # gamma lam m^2 + a m - 1 = 0
    m = (-a + np.sqrt(a * a + 4.0 * g * lam)) / (2.0 * g * lam)
    dm = (g * m * m + m) / (a + 2.0 * g * lam * m)
    return m, dm


def optimal_ridge_lambda(gamma, snr_r2: float, sigma2: float):
    """lam* = sigma^2 gamma / r^2: the Bayes-optimal penalty for a rotation-invariant beta
    (Dobriban & Wager 2018; Nakkiran et al. 2021), in the (1/n)||y - Xb||^2 convention."""
    if snr_r2 <= 0 or sigma2 <= 0:
        raise ValueError("optimal ridge needs r^2 > 0 and sigma^2 > 0")
    return sigma2 * np.asarray(gamma, dtype=float) / snr_r2


def optimal_ridge_risk(gamma, snr_r2: float, sigma2: float):
    """Asymptotic excess risk of optimally tuned ridge: at lam*, the bias term r^2 lam^2 m'
    equals sigma^2 gamma lam m', so the risk reduces to sigma^2 gamma m(-lam*). It increases
    smoothly from 0 (gamma -> 0) to r^2 (gamma -> inf): no peak at gamma = 1."""
    g = np.asarray(gamma, dtype=float)
    m, _ = mp_stieltjes(optimal_ridge_lambda(g, snr_r2, sigma2), g)
    out = sigma2 * g * m
    return float(out) if np.ndim(out) == 0 else out
