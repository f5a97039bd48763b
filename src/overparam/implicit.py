"""Implicit bias of gradient descent: the points plain GD converges to when many solutions
fit the data (issue 12).

- Underdetermined least squares (p > n): GD on ||X w - y||^2 / (2 n) from w0 stays in
  w0 + row(X) and converges to ``ls_limit(X, y, w0)`` = X^+ y + (I - X^+ X) w0 (from w0 = 0:
  the minimum-norm interpolant X^+ y). ``gd_least_squares`` runs it in float64 and records the
  relative distance to that point.
- Separable logistic regression (Soudry, Hoffer, Nacson, Gunasekar & Srebro 2018, JMLR): the
  direction w_t / ||w_t|| of GD on the logistic loss converges to the hard-margin SVM direction
  (``svm_direction``: the exact QP min ||w||^2 s.t. y_i x_i.w >= 1 by dual coordinate ascent,
  checked by its KKT conditions, ``kkt_residual``), slowly: the angle falls like 1/log t and
  ||w_t|| grows like log t. ``gd_logistic`` runs many problems at once (vectorised, float64,
  overflow-safe: logaddexp for the loss, expit for its derivative).

numpy only (no torch): these are solve jobs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit


def ls_limit(X: np.ndarray, y: np.ndarray, w0: np.ndarray) -> np.ndarray:
    """X^+ y + (I - X^+ X) w0: where GD on least squares from w0 converges."""
    pinv = np.linalg.pinv(X)
    return pinv @ y + w0 - pinv @ (X @ w0)


def log_steps(steps: int, points: int) -> np.ndarray:
    """About ``points`` distinct integer steps in [1, steps], log-spaced, ``steps`` included."""
    return np.unique(np.round(np.geomspace(1, steps, points)).astype(np.int64))


@dataclass(frozen=True)
class LSTrace:
    steps: np.ndarray  # (T,) recorded steps
    rel_dist: np.ndarray  # (T,) ||w_t - w_lim|| / ||w_lim||
    loss: np.ndarray  # (T,) ||X w_t - y||^2 / (2 n)
    norm: np.ndarray  # (T,) ||w_t||
    w: np.ndarray  # the last iterate
    limit: np.ndarray  # ls_limit(X, y, w0)


def gd_least_squares(
    X: np.ndarray,
    y: np.ndarray,
    w0: np.ndarray,
    steps: int,
    lr: float | None = None,
    points: int = 60,
) -> LSTrace:
    """Full-batch GD on ||X w - y||^2 / (2 n) from ``w0`` (float64); ``lr`` defaults to
    1 / L, L = sigma_max(X)^2 / n the loss's smoothness."""
    X, y, w = (np.asarray(a, dtype=np.float64) for a in (X, y, w0))
    n = X.shape[0]
    if lr is None:
        lr = n / np.linalg.norm(X, 2) ** 2
    limit = ls_limit(X, y, w)
    record = set(log_steps(steps, points).tolist())
    rec_steps, dist, loss, norm = [], [], [], []
    w = w.copy()
    for t in range(1, steps + 1):
        w -= lr * (X.T @ (X @ w - y)) / n
        if t in record:
            rec_steps.append(t)
            dist.append(np.linalg.norm(w - limit) / np.linalg.norm(limit))
            loss.append(np.sum((X @ w - y) ** 2) / (2 * n))
            norm.append(np.linalg.norm(w))
    arr = [np.array(a) for a in (rec_steps, dist, loss, norm)]
    return LSTrace(arr[0], arr[1], arr[2], arr[3], w, limit)


def svm_direction(
    X: np.ndarray, y: np.ndarray, tol: float = 1e-12, max_sweeps: int = 100_000
) -> tuple[np.ndarray, np.ndarray]:
    """The hard-margin SVM without bias, min ||w||^2 / 2 s.t. y_i x_i.w >= 1, by exact dual
    coordinate ascent on max sum(a) - ||sum a_i y_i x_i||^2 / 2, a >= 0 (each coordinate
    maximised in closed form). Returns (w, a); w = sum a_i y_i x_i. The data must be
    linearly separable through the origin."""
    Z = np.asarray(y, dtype=np.float64)[:, None] * np.asarray(X, dtype=np.float64)
    Q = Z @ Z.T
    a = np.zeros(len(Z))
    w = np.zeros(Z.shape[1])
    for _ in range(max_sweeps):
        change = 0.0
        for i in range(len(Z)):
            new = max(0.0, a[i] + (1.0 - Z[i] @ w) / Q[i, i])
            if new != a[i]:
                w += (new - a[i]) * Z[i]
                change = max(change, abs(new - a[i]))
                a[i] = new
        if change < tol * max(1.0, a.max()):
            break
    return Z.T @ a, a


def kkt_residual(X: np.ndarray, y: np.ndarray, w: np.ndarray, a: np.ndarray) -> float:
    """Largest violation of the SVM's KKT conditions: primal feasibility (margins >= 1),
    dual feasibility (a >= 0), complementary slackness a_i (margin_i - 1) = 0 and
    stationarity w = sum a_i y_i x_i (relative to ||w||)."""
    Z = np.asarray(y, dtype=np.float64)[:, None] * np.asarray(X, dtype=np.float64)
    m = Z @ w
    return float(
        max(
            np.max(np.maximum(0.0, 1.0 - m)),
            np.max(np.maximum(0.0, -a)),
            np.max(np.abs(a * (m - 1.0))),
            np.linalg.norm(w - Z.T @ a) / np.linalg.norm(w),
        )
    )


def angle(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Angle (radians) between the last-axis vectors u and v, accurate for small angles
    (2 arcsin of half the distance between the unit vectors)."""
    un = u / np.linalg.norm(u, axis=-1, keepdims=True)
    vn = v / np.linalg.norm(v, axis=-1, keepdims=True)
    return 2.0 * np.arcsin(np.clip(np.linalg.norm(un - vn, axis=-1) / 2.0, 0.0, 1.0))


@dataclass(frozen=True)
class LogisticTrace:
    steps: np.ndarray  # (T,)
    angle: np.ndarray  # (S, T) angle to the reference direction (radians)
    norm: np.ndarray  # (S, T) ||w_t||
    loss: np.ndarray  # (S, T) mean logistic loss
    w: np.ndarray  # (S, d) last iterates


def gd_logistic(
    X: np.ndarray,
    y: np.ndarray,
    ref: np.ndarray,
    steps: int,
    lr: np.ndarray,
    points: int = 60,
) -> LogisticTrace:
    """Full-batch GD from 0 on the mean logistic loss of S problems at once: X (S, n, d),
    y (S, n) in {-1, 1}, ``ref`` (S, d) the directions to measure the angle to, ``lr`` (S,)."""
    Z = np.asarray(y, dtype=np.float64)[..., None] * np.asarray(X, dtype=np.float64)
    S, n, d = Z.shape
    ZT = np.ascontiguousarray(Z.transpose(0, 2, 1))
    step = (np.asarray(lr, dtype=np.float64) / n)[:, None]
    w = np.zeros((S, d))
    record = log_steps(steps, points)
    ang, nrm, loss = (np.empty((S, len(record))) for _ in range(3))
    k = 0
    for t in range(1, steps + 1):
        m = np.einsum("snd,sd->sn", Z, w)
        w += step * np.einsum("sdn,sn->sd", ZT, expit(-m))
        if t == record[k]:
            m = np.einsum("snd,sd->sn", Z, w)
            ang[:, k] = angle(w, ref)
            nrm[:, k] = np.linalg.norm(w, axis=1)
            loss[:, k] = np.logaddexp(0.0, -m).mean(axis=1)
            k += 1
    return LogisticTrace(record, ang, nrm, loss, w)


def separable_data(n: int, d: int, seed: int, margin: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """n points x ~ N(0, I_d / d) labelled by a random direction w*, y = sign(x.w*); points
    closer than ``margin`` to the separating hyperplane are redrawn (separable through 0)."""
    rng = np.random.default_rng(seed)
    w_star = rng.standard_normal(d)
    w_star /= np.linalg.norm(w_star)
    xs: list[np.ndarray] = []
    while sum(len(x) for x in xs) < n:
        x = rng.standard_normal((2 * n, d)) / np.sqrt(d)
        xs.append(x[np.abs(x @ w_star) > margin])
    X = np.concatenate(xs)[:n]
    return X, np.sign(X @ w_star)
