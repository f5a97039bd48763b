"""The reference text's benign-overfitting demo, run the way its code runs it.

Its setup: x ~ N(0, I_p) (isotropic), p = 500, n = 100 training and 500 test points, the
first 10 weights drawn from N(0, 1), label noise sd 0.3. The training set is generated after
seeding the legacy global generator with 42, the test set after seeding it with 123 -- and
the test set's generator call draws its own weights, so the test labels come from other true
weights than the training labels. Both designs are standardised with the training columns'
mean and sd; centring n training rows puts the all-ones vector in the null space of X X^T
(rank <= n - 1), and the demo's solve of (X X^T + 1e-10 I) a = y then cannot fit the mean of
y: its training residual is mean(y) on every point.

We reproduce that computation (our own code, same arithmetic and random streams) and report
it twice: as written, and with the test labels made from the training weights (the only
change), which isolates the second problem from the first.
"""

from __future__ import annotations

import numpy as np


def _draw(n: int, p: int, signal_dims: int, noise_sd: float, seed: int):
    """(X, y, w) as the demo draws them: one legacy stream, X first, then w, then the noise."""
    rs = np.random.RandomState(seed)
    x = rs.standard_normal((n, p))
    w = np.zeros(p)
    w[:signal_dims] = rs.standard_normal(signal_dims)
    noise = rs.standard_normal(n) * noise_sd
    return x, x @ w + noise, w, noise


def run_as_written(
    n: int,
    n_test: int,
    p: int,
    signal_dims: int,
    noise_sd: float,
    train_seed: int,
    test_seed: int,
    ridge: float = 1e-10,
) -> dict[str, dict[str, float]]:
    """Train and test MSE of the demo's fit, keyed ``as_written`` and ``as_written_same_w``.

    Each entry: train_mse, test_mse, null_mse (test MSE of predicting 0), norm (||theta||),
    gram_rank (numerical rank of the standardised X X^T), signal_norm2 (||w||^2 of the weights
    that made the test labels)."""
    x, y, w, _ = _draw(n, p, signal_dims, noise_sd, train_seed)
    xt, yt_written, w_test, noise_test = _draw(n_test, p, signal_dims, noise_sd, test_seed)
    mean, sd = x.mean(axis=0), x.std(axis=0)  # StandardScaler: population sd, train stats
    xs, xts = (x - mean) / sd, (xt - mean) / sd
    gram = xs @ xs.T
    theta = xs.T @ np.linalg.solve(gram + ridge * np.eye(n), y)
    train_mse = float(np.mean((xs @ theta - y) ** 2))
    pred = xts @ theta
    rank = float(np.linalg.matrix_rank(gram))
    out = {}
    for key, yt, wt in [
        ("as_written", yt_written, w_test),
        ("as_written_same_w", xt @ w + noise_test, w),
    ]:
        out[key] = {
            "train_mse": train_mse,
            "test_mse": float(np.mean((pred - yt) ** 2)),
            "null_mse": float(np.mean(yt**2)),
            "norm": float(np.linalg.norm(theta)),
            "gram_rank": rank,
            "signal_norm2": float(wt @ wt),
        }
    return out
