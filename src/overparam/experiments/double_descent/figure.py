"""The figure of double_descent: nine panels, drawn by the panel modules."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ... import plots
from .linear import draw_linear
from .mlp import draw_mlp
from .rf_figure import draw_random_features, draw_summary


def plot(metrics: pd.DataFrame, cfg: Mapping[str, Any], png: Path, pdf: Path) -> None:
    fig, axes = plots.subplots(3, nrows=3, width=4.9, height=3.9)
    ax_lin, ax_rf, ax_norm, ax_mlp, ax_ep, ax_tr, ax_ff, ax_ffn, ax_sum = axes
    draw_linear(ax_lin, metrics, cfg["linear"])
    draw_random_features(ax_rf, ax_norm, metrics, cfg["random_features"])
    draw_mlp(ax_mlp, ax_ep, ax_tr, metrics, cfg["mlp"])
    draw_random_features(ax_ff, ax_ffn, metrics, cfg["random_fourier"], panel="random_fourier")
    draw_summary(ax_sum, metrics, cfg)
    plots.save(fig, png, pdf)
