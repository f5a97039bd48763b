"""Claims of random_labels (Zhang et al. 2017, Sec. 2, Fig. 1 and Table 1).

Every value is a function of the run rows, recomputed by ``ctx.estimates`` on tables whose
seeds are resampled (the variants of a seed stay together, so comparisons stay paired). A
run's summary is its last row (``finals``); means are over seeds per variant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ...claims import Claim, Estimate
from .. import CheckContext
from . import NUM_CLASSES

NAME = "random_labels"
CLAIMS = ("memorises", "test_acc_falls", "chance_at_random", "slower_fit")
CHANCE = 1.0 / NUM_CLASSES
NAN = float("nan")


def finals(metrics: pd.DataFrame) -> pd.DataFrame:
    """One row per run (width, variant, label fraction, seed): its last epoch."""
    keys = ["width", "variant", "label_fraction", "seed"]
    last = metrics["epoch"] == metrics.groupby(keys)["epoch"].transform("max")
    return metrics[last]


def per_variant(metrics: pd.DataFrame) -> pd.DataFrame:
    """Means over seeds per (width, variant, label fraction) of the final train accuracy, test
    accuracy and fit epoch; ``unfitted``: runs that did not fit within the budget."""
    f = finals(metrics)
    g = f.groupby(["width", "variant", "label_fraction"])
    return g.agg(
        train_acc=("train_acc", "mean"), min_train_acc=("train_acc", "min"),
        test_acc=("test_acc", "mean"), fit_epoch=("fit_epoch", "mean"),
        unfitted=("fitted", lambda s: int((~s.astype(bool)).sum())),
        changed_frac=("changed_frac", "mean"), runs=("seed", "size"),
    )  # fmt: skip


def values(metrics: pd.DataFrame) -> dict[str, float]:
    """Every claim's value; worst case over widths where there are several."""
    f = finals(metrics)
    if f.empty or f["diverged"].any():
        return {c: NAN for c in CLAIMS}
    v = per_variant(metrics)
    out: dict[str, float] = {"memorises": float(f["train_acc"].min())}
    falls, chance, slow = [], [], []
    for _, vw in v.groupby(level="width"):
        lab = vw.xs("labels", level="variant").droplevel("width")["test_acc"].sort_index()
        falls.append(int((np.diff(lab.to_numpy()) >= 0).sum()))
        nolabel = [lab.get(1.0, NAN)]
        if "random_inputs" in vw.index.get_level_values("variant"):
            nolabel.append(float(vw.xs("random_inputs", level="variant")["test_acc"].iloc[0]))
        chance.append(max(abs(a - CHANCE) for a in nolabel))
        fit = vw.xs("labels", level="variant").droplevel("width")
        if 0.0 in fit.index and 1.0 in fit.index and fit.loc[[0.0, 1.0], "unfitted"].sum() == 0:
            slow.append(float(fit.loc[1.0, "fit_epoch"] / fit.loc[0.0, "fit_epoch"]))
        else:
            slow.append(NAN)  # a censored fit time: the factor is unknown
    out["test_acc_falls"] = float(max(falls))
    out["chance_at_random"] = float(max(chance))
    out["slower_fit"] = float(min(slow))
    for (w, var, fr), row in v.iterrows():  # for the notes: every variant's slowdown
        base = v.loc[(w, "labels", 0.0), "fit_epoch"] if (w, "labels", 0.0) in v.index else NAN
        out[f"slowdown.w{w}.{var}.{fr:g}"] = float(row["fit_epoch"] / base)
    return out


def _notes(est: Mapping[str, Estimate], metrics: pd.DataFrame) -> dict[str, str]:
    v = per_variant(metrics)

    def one(k: str) -> str:
        e = est[k]
        return f"{e.value:.3g} [{e.ci_low:.3g}, {e.ci_high:.3g}]"

    def row(fmt: str) -> str:
        return "; ".join(
            f"w{w} {var if var != 'labels' else 'fraction'} {fr:g}: " + fmt.format(**r)
            for (w, var, fr), r in v.iterrows()
        )

    unfit = int(v["unfitted"].sum())
    slow = ", ".join(f"{k.split('.', 2)[2]} {one(k)}" for k in est if k.startswith("slowdown."))
    return {
        "memorises": "mean (min) final train accuracy per variant: "
        + row("{train_acc:.4f} ({min_train_acc:.4f})")
        + f"; {unfit} run(s) did not reach 1.0 within the budget",
        "test_acc_falls": "mean test accuracy per variant: " + row("{test_acc:.3f}")
        + "; measured fraction of changed labels: " + row("{changed_frac:.3f}"),
        "chance_at_random": f"chance {CHANCE:g}; mean test accuracy at fraction 1 and with "
        "random inputs: " + "; ".join(
            f"w{w} {var} {r['test_acc']:.4f}" for (w, var, fr), r in v.iterrows() if fr == 1.0
        ),
        "slower_fit": "mean first epoch at train accuracy 1.0: " + row("{fit_epoch:.1f}")
        + f"; slowdown vs true labels (with intervals): {slow}"
        + (f"; {unfit} run(s) censored at the budget" if unfit else ""),
    }  # fmt: skip


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    est = ctx.estimates(values, metrics)
    return ctx.claims(NAME, {c: cfg["claims"][c] for c in CLAIMS}, est, _notes(est, metrics))
