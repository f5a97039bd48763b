"""Snakemake script: generate MNIST-1D offline (mnist1d.data.make_dataset) -> .npz cache."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))  # noqa: F821

from overparam.data import mnist1d, save_npz
from overparam.steps import logging_to

sm = snakemake  # noqa: F821 -- injected by Snakemake
w = sm.wildcards
with logging_to(sm.log[0]) as log:
    ds = mnist1d(int(w.num_samples), float(w.train_split), int(w.seed))
    save_npz(sm.output[0], ds)
    log(f"MNIST-1D: {len(ds['y'])} train / {len(ds['y_test'])} test samples -> {sm.output[0]}")
