"""Small inputs shared by the double_descent tests."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from overparam.data import MNIST1D, save_npz
from overparam.experiments import RunContext
from overparam.experiments.double_descent import RandomFeaturesJob

# a random-features job on a synthetic 40 / 260-sample dataset (see ``rf_ctx``)
RF_JOB = RandomFeaturesJob(
    data=MNIST1D(num_samples=300, train_split=0.2, seed=0),
    kind="relu",
    bandwidth=1.0,
    n_train=40,
    n_test=200,
    ratio_min=0.25,
    ratio_max=4.0,
    num_ratios=5,
    num_seeds=2,
    label_noise=0.0,
    noise_seed=0,
)

# the same on random Fourier features, bandwidth by the median heuristic
RFF_JOB = replace(RF_JOB, kind="fourier", bandwidth="median", panel="random_fourier")

# final MLP errors of a double-descent curve: underfit, minimum at 8, peak at interpolation (32)
CURVE = pd.DataFrame(
    {
        "width": [4, 8, 16, 32, 64, 128],
        "train_error": [0.6, 0.5, 0.3, 0.0, 0.0, 0.0],
        "test_error": [0.7, 0.5, 0.52, 0.56, 0.5, 0.45],
    }
)


@pytest.fixture(scope="package")
def rf_ctx(tmp_path_factory):
    """A RunContext whose ``data`` input is a synthetic 4-class dataset file (6 features)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((300, 6)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + 2 * (x[:, 1] > 0)
    path = tmp_path_factory.mktemp("rf") / "data.npz"
    save_npz(path, {"x": x[:40], "y": y[:40], "x_test": x[40:], "y_test": y[40:]})
    return RunContext(inputs={"data": path}, log=lambda s: None)
