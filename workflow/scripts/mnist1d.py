"""Snakemake script: generate MNIST-1D offline (mnist1d.data.make_dataset) -> .npz cache."""

import sys
from pathlib import Path

ROOT = Path(snakemake.scriptdir).resolve().parents[1]  # this checkout: run its library
sys.path.insert(0, str(ROOT / "src"))

from overparam.data import MNIST1D, save_npz  # noqa: E402
from overparam.steps import logging_to  # noqa: E402

sm = snakemake
w = sm.wildcards
with logging_to(sm.log[0]) as log:
    ds = MNIST1D(int(w.num_samples), float(w.train_split), int(w.seed)).load()
    save_npz(sm.output[0], ds)
    log(f"MNIST-1D: {len(ds['y'])} train / {len(ds['y_test'])} test samples -> {sm.output[0]}")
