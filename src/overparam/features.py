"""Random feature maps (Rahimi & Recht 2007) for random-features regression.

A map is drawn once from an explicit generator and then applied to any input set, so the
training and test points see the same features, and the first N features of a map with
N_max features are exactly the features of the map with N (nested sweeps over N).

- ``relu``:    phi_j(x) = max(0, w_j . x) / sqrt(N),          w_j ~ N(0, I_d / d)
  E[phi(x) . phi(y)] (N -> inf) is the first-order arc-cosine kernel (Cho & Saul 2009):
  |x||y| (sin t + (pi - t) cos t) / (2 pi d), t the angle between x and y.
- ``fourier``: phi_j(x) = sqrt(2 / N) cos(w_j . x / s + b_j),  w_j ~ N(0, I_d), b_j ~ U[0, 2 pi)
  E[phi(x) . phi(y)] is the Gaussian kernel exp(-|x - y|^2 / (2 s^2)) of bandwidth s.

The 1/sqrt(N) factor makes phi(x) . phi(y) converge as N grows, so the norm of a fitted
coefficient vector is comparable across N (it approaches the kernel's RKHS norm).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KINDS = ("relu", "fourier")


@dataclass(frozen=True)
class RandomFeatures:
    kind: str
    w: np.ndarray  # (d, N_max)
    b: np.ndarray  # (N_max,) phases (fourier); zeros for relu
    bandwidth: float = 1.0  # fourier only

    @property
    def num_features(self) -> int:
        return self.w.shape[1]

    def __call__(self, x: np.ndarray, num: int | None = None) -> np.ndarray:
        """Features (n, num) of the rows of ``x`` using the first ``num`` features."""
        return transform(self, x, num)


def draw(
    kind: str, in_dim: int, num_features: int, rng: np.random.Generator, bandwidth: float = 1.0
) -> RandomFeatures:
    """Draw a random feature map with ``num_features`` features from ``rng``."""
    if kind not in KINDS:
        raise ValueError(f"unknown random-feature kind {kind!r}; choose from {KINDS}")
    if in_dim < 1 or num_features < 1:
        raise ValueError(f"in_dim and num_features must be >= 1, got {in_dim}, {num_features}")
    if bandwidth <= 0:
        raise ValueError(f"bandwidth must be > 0, got {bandwidth}")
    if kind == "relu":
        w = rng.standard_normal((in_dim, num_features)) / np.sqrt(in_dim)
        b = np.zeros(num_features)
    else:
        w = rng.standard_normal((in_dim, num_features))
        b = rng.uniform(0.0, 2 * np.pi, num_features)
    return RandomFeatures(kind=kind, w=w, b=b, bandwidth=float(bandwidth))


def transform(rf: RandomFeatures, x: np.ndarray, num: int | None = None) -> np.ndarray:
    num = rf.num_features if num is None else int(num)
    if not 1 <= num <= rf.num_features:
        raise ValueError(f"num must be in [1, {rf.num_features}], got {num}")
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != rf.w.shape[0]:
        raise ValueError(f"x has shape {x.shape}, expected (n, {rf.w.shape[0]})")
    w = rf.w[:, :num]
    if rf.kind == "relu":
        return np.maximum(x @ w, 0.0) / np.sqrt(num)
    return np.sqrt(2.0 / num) * np.cos(x @ w / rf.bandwidth + rf.b[:num])


def arccos1_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The limit kernel of ``relu`` features: E_w[relu(w.x) relu(w.y)], w ~ N(0, I/d)."""
    x, y = np.atleast_2d(x), np.atleast_2d(y)
    d = x.shape[1]
    nx = np.linalg.norm(x, axis=1)[:, None]
    ny = np.linalg.norm(y, axis=1)[None, :]
    cos = np.clip((x @ y.T) / (nx * ny), -1.0, 1.0)
    t = np.arccos(cos)
    return nx * ny * (np.sin(t) + (np.pi - t) * cos) / (2 * np.pi * d)


def gaussian_kernel(x: np.ndarray, y: np.ndarray, bandwidth: float = 1.0) -> np.ndarray:
    """The limit kernel of ``fourier`` features: exp(-|x - y|^2 / (2 bandwidth^2))."""
    x, y = np.atleast_2d(x), np.atleast_2d(y)
    d2 = (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T
    return np.exp(-np.maximum(d2, 0.0) / (2 * bandwidth**2))


def standardize(x_train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """Center and scale every coordinate by the training set's mean and sd (sd 0 -> 1)."""
    mu = x_train.mean(0)
    sd = x_train.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return [(a - mu) / sd for a in (x_train, *others)]


def limit_kernel(kind: str, x: np.ndarray, y: np.ndarray, bandwidth: float = 1.0) -> np.ndarray:
    """The N -> infinity limit of ``phi(x) . phi(y)`` for the features ``draw(kind, ...)``
    makes: ``arccos1_kernel`` (relu) or ``gaussian_kernel`` of that bandwidth (fourier). The
    features carry the 1/sqrt(N) factor, so this is the limit of their Gram matrix itself (of
    the unscaled features' Gram matrix / N)."""
    if kind not in KINDS:
        raise ValueError(f"unknown random-feature kind {kind!r}; choose from {KINDS}")
    if kind == "relu":
        return arccos1_kernel(x, y)
    return gaussian_kernel(x, y, bandwidth)


def median_bandwidth(x: np.ndarray) -> float:
    """The median heuristic for a Gaussian kernel's bandwidth: the median Euclidean distance
    between pairs of distinct rows of ``x``."""
    from scipy.spatial.distance import pdist

    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"need at least two rows of a 2-d array, got shape {x.shape}")
    s = float(np.median(pdist(x)))
    if not s > 0:
        raise ValueError("the median distance between the rows is 0: no bandwidth")
    return s


def kernel_min_norm(k_train: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Dual coefficients ``a`` of ridgeless (minimum-RKHS-norm) kernel regression: K a = y, by
    Cholesky, or the least-squares solution if K is numerically singular. The fit at x is
    k(x, X) a and its RKHS norm sqrt(tr(a^T K a)): the N -> infinity limits of the min-norm
    random-features fit and of its coefficient norm."""
    import scipy.linalg

    k_train = np.asarray(k_train, dtype=float)
    y = np.asarray(y, dtype=float)
    try:
        c = scipy.linalg.cho_factor(k_train, lower=True, check_finite=False)
        return scipy.linalg.cho_solve(c, y, check_finite=False)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(k_train, y, rcond=None)[0]
