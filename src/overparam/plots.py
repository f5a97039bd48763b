"""Figure style and saving. Figures are drawn only from tables (see experiments/*.plot)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless; must precede pyplot
import matplotlib.pyplot as plt
import seaborn as sns

from .io import atomic_path

PALETTE = "colorblind"


def style() -> None:
    sns.set_theme(context="paper", style="whitegrid", palette=PALETTE, font_scale=1.1)
    plt.rcParams.update(
        {
            "figure.dpi": 110,
            "savefig.dpi": 160,
            "axes.titleweight": "bold",
            "legend.frameon": False,
            "svg.hashsalt": "overparam",
            "pdf.fonttype": 42,
        }
    )


def subplots(ncols: int, nrows: int = 1, width: float = 4.6, height: float = 3.6, **kw):
    style()
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(width * ncols, height * nrows),
        squeeze=False,
        layout="constrained",
        **kw,
    )
    return fig, axes.ravel()


def plain_log_ticks(ax, axis: str = "both") -> None:
    """Log axes with plain numbers (50, 100, 0.2) instead of 5x10^1."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    fmt = FuncFormatter(lambda v, _: f"{v:g}")
    for name in ("x", "y") if axis == "both" else (axis,):
        a = getattr(ax, f"{name}axis")
        a.set_major_formatter(fmt)
        a.set_minor_formatter(FuncFormatter(lambda v, _: ""))
        a.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))


def save(fig, png, pdf=None) -> None:
    """Save png (and pdf) atomically: a half-written figure never has the final name. The
    layout (constrained layout: a third of a figure job's time) is computed once, for the png;
    the pdf keeps it."""
    for i, path in enumerate([Path(p) for p in (png, pdf) if p is not None]):
        if i:
            fig.set_layout_engine("none")  # the axes stay where the first save put them
        with atomic_path(path) as tmp:
            fig.savefig(tmp, metadata={"CreationDate": None} if path.suffix == ".pdf" else None)
    plt.close(fig)
