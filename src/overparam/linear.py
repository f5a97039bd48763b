"""Linear estimators: min-norm interpolation and ridge, with the n x n kernel when p > n.

All pure functions of arrays (plus explicit seeds where data is generated).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg


def _solve_psd(K: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Solve K a = y for symmetric PSD K; Cholesky, falling back to least squares if K is
    numerically singular (then the min-norm solution of the system)."""
    try:
        c = scipy.linalg.cho_factor(K, lower=True, check_finite=False)
        return scipy.linalg.cho_solve(c, y, check_finite=False)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(K, y, rcond=None)[0]


def min_norm(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """argmin ||b|| s.t. x b = y (p > n), or the least-squares solution (p <= n).
    For p > n it solves the n x n system (x x^T) a = y and returns x^T a: O(n^2 p)."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n, p = x.shape
    if p > n:
        return x.T @ _solve_psd(x @ x.T, y)
    return np.linalg.lstsq(x, y, rcond=None)[0]


def ridge(x: np.ndarray, y: np.ndarray, lam: float) -> np.ndarray:
    """argmin (1/n)||y - x b||^2 + lam ||b||^2, via the cheaper of the n x n and p x p systems.
    lam = 0 gives min_norm."""
    if lam < 0:
        raise ValueError(f"ridge penalty must be >= 0, got {lam}")
    if lam == 0:
        return min_norm(x, y)
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n, p = x.shape
    if p > n:
        return x.T @ scipy.linalg.solve(x @ x.T + n * lam * np.eye(n), y, assume_a="pos")
    return scipy.linalg.solve(x.T @ x + n * lam * np.eye(p), x.T @ y, assume_a="pos")


@dataclass(frozen=True)
class MinNormFit:
    excess_risk: float  # E_x[(x^T(b_hat - b))^2], exact
    train_mse: float
    norm: float  # ||b_hat||
    null_risk: float  # excess risk of predicting 0: b^T Sigma b


def min_norm_diag_gaussian(
    n: int,
    eigs: np.ndarray,
    beta: np.ndarray,
    noise_sd: float,
    seed: int | list[int],
    chunk: int = 8192,
    keep_bytes: int = 1 << 30,
) -> MinNormFit:
    """Draw x ~ N(0, diag(eigs)) (n rows), y = x beta + noise, fit the min-norm interpolator
    and return its exact excess risk -- without ever holding the n x p design in memory.

    The columns are generated in chunks, each from its own child of ``SeedSequence(seed)``;
    pass 1 accumulates the kernel x x^T and y, pass 2 forms b_hat = x^T a chunk by chunk, from
    the chunks pass 1 kept if the design takes at most ``keep_bytes`` (1 GiB: n = 1600,
    p = 64000 is 0.8 GB), else regenerated from their seeds: the same numbers either way.
    Memory O(n^2 + n * chunk) beyond what is kept, time O(n^2 p). Requires p > n."""
    eigs = np.asarray(eigs, dtype=float)
    beta = np.asarray(beta, dtype=float)
    p = eigs.size
    if beta.shape != (p,):
        raise ValueError(f"beta has shape {beta.shape}, expected ({p},)")
    if p <= n:
        raise ValueError(f"min-norm interpolation needs p > n, got p={p}, n={n}")
    starts = list(range(0, p, chunk))
    children = np.random.SeedSequence(seed).spawn(len(starts) + 1)

    def block(j: int) -> tuple[slice, np.ndarray]:
        s = slice(starts[j], min(starts[j] + chunk, p))
        z = np.random.default_rng(children[j]).standard_normal((n, s.stop - s.start))
        z *= np.sqrt(eigs[s])
        return s, z

    kept: list[tuple[slice, np.ndarray]] | None = [] if n * p * 8 <= keep_bytes else None
    K = np.zeros((n, n))
    y = np.random.default_rng(children[-1]).standard_normal(n) * noise_sd
    for j in range(len(starts)):
        s, xb = block(j)
        K += xb @ xb.T
        y += xb @ beta[s]
        if kept is not None:
            kept.append((s, xb))
    a = _solve_psd(K, y)
    excess = 0.0
    norm2 = 0.0
    for j in range(len(starts)):
        s, xb = kept[j] if kept is not None else block(j)
        bh = xb.T @ a
        d = bh - beta[s]
        excess += float(np.sum(eigs[s] * d * d))
        norm2 += float(bh @ bh)
    train_mse = float(np.mean((K @ a - y) ** 2))
    return MinNormFit(
        excess_risk=excess,
        train_mse=train_mse,
        norm=float(np.sqrt(norm2)),
        null_risk=float(np.sum(eigs * beta * beta)),
    )
