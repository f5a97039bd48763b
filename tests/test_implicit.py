"""overparam.implicit: the least-squares limit of GD, the exact SVM direction and its KKT
check, GD on separable logistic regression."""

import warnings

import numpy as np
import pytest

from overparam import implicit


def _problem(n=4, p=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, p)), rng.standard_normal(n), rng


def test_gd_reaches_the_min_norm_interpolant_from_zero():
    X, y, _ = _problem()
    tr = implicit.gd_least_squares(X, y, np.zeros(10), steps=3000)
    w_mn = np.linalg.pinv(X) @ y
    np.testing.assert_allclose(tr.limit, w_mn, atol=1e-12)
    np.testing.assert_allclose(tr.w, w_mn, atol=1e-9)
    assert tr.rel_dist[-1] < 1e-9 and tr.loss[-1] < 1e-18
    # any other interpolant (min norm plus a null-space vector) is longer
    v = np.linalg.svd(X)[2][-1]
    assert np.allclose(X @ (w_mn + v), y) and np.linalg.norm(w_mn + v) > np.linalg.norm(w_mn)


def test_gd_from_w0_keeps_its_null_space_component():
    X, y, rng = _problem(seed=1)
    w0 = rng.standard_normal(10)
    tr = implicit.gd_least_squares(X, y, w0, steps=3000)
    P = np.linalg.pinv(X) @ X  # projector onto row(X)
    np.testing.assert_allclose(tr.limit, np.linalg.pinv(X) @ y + (np.eye(10) - P) @ w0, atol=1e-12)
    np.testing.assert_allclose(tr.w, tr.limit, atol=1e-9)
    np.testing.assert_allclose((np.eye(10) - P) @ tr.w, (np.eye(10) - P) @ w0, atol=1e-12)
    assert np.linalg.norm(tr.w) > np.linalg.norm(np.linalg.pinv(X) @ y)


def test_svm_direction_by_hand_in_2d():
    # y_i x_i . w >= 1 for (1, 0) -> +1 and (0, 1) -> -1 forces w1 >= 1, w2 <= -1: w = (1, -1);
    # (3, 0) -> +1 has margin 3 and no dual weight
    X = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    y = np.array([1.0, -1.0, 1.0])
    w, a = implicit.svm_direction(X, y)
    np.testing.assert_allclose(w, [1.0, -1.0], atol=1e-10)
    np.testing.assert_allclose(a, [1.0, 1.0, 0.0], atol=1e-10)
    assert implicit.kkt_residual(X, y, w, a) < 1e-10
    # a feasible but not optimal w violates stationarity / complementary slackness
    assert implicit.kkt_residual(X, y, np.array([2.0, -1.0]), a) > 0.1


def test_svm_on_random_separable_data_satisfies_kkt():
    X, y = implicit.separable_data(30, 10, seed=3)
    assert len(X) == 30 and set(np.unique(y)) <= {-1.0, 1.0}
    w, a = implicit.svm_direction(X, y)
    assert implicit.kkt_residual(X, y, w, a) < 1e-8
    assert np.min(y * (X @ w)) == pytest.approx(1.0, abs=1e-8)  # the margin is attained


def test_angle_is_accurate_for_small_angles():
    u = np.array([1.0, 0.0])
    for th in (1e-9, 1e-4, 0.5, np.pi / 2):
        v = np.array([np.cos(th), np.sin(th)]) * 7.0
        assert implicit.angle(u, v) == pytest.approx(th, rel=1e-9)


def test_log_steps():
    s = implicit.log_steps(1000, 20)
    assert s[0] == 1 and s[-1] == 1000 and np.all(np.diff(s) > 0)


def test_gd_logistic_direction_approaches_the_svm_and_is_overflow_safe():
    X, y = implicit.separable_data(20, 5, seed=0)
    w, _ = implicit.svm_direction(X, y)
    lr = 4 * 20 / np.linalg.norm(X, 2) ** 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow in exp
        tr = implicit.gd_logistic(X[None], y[None], w[None], 20000, np.array([lr]), points=30)
    assert tr.angle.shape == (1, len(tr.steps)) and tr.steps[-1] == 20000
    assert tr.angle[0, -1] < tr.angle[0, 5] and tr.angle[0, -1] < 0.2
    assert np.all(np.diff(tr.norm[0]) > 0)  # ||w_t|| grows without bound
    assert np.all(np.diff(tr.loss[0]) < 0)
    # a huge iterate: the loss stays finite (logaddexp), the gradient underflows to 0
    big = implicit.gd_logistic(X[None] * 1e3, y[None], w[None], 5, np.array([lr]), points=3)
    assert np.all(np.isfinite(big.loss)) and np.all(np.isfinite(big.angle))
