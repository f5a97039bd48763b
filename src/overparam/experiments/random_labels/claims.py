"""Claims of random_labels (Zhang et al. 2017, Sec. 2, Fig. 1 and Table 1).

Every value is a function of the runs' last rows (``finals``: one row per run, which carries
the fit epoch and the test accuracy), recomputed by ``ctx.estimates`` on tables whose seeds are
resampled (the variants of a seed stay together, so comparisons stay paired); means are over
seeds per variant.
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
        train_acc=("train_acc", "mean"),
        min_train_acc=("train_acc", "min"),
        test_acc=("test_acc", "mean"),
        fit_epoch=("fit_epoch", "mean"),
        unfitted=("fitted", lambda s: int((~s.astype(bool)).sum())),
        changed_frac=("changed_frac", "mean"),
        runs=("seed", "size"),
    )


def _groups(f: pd.DataFrame) -> dict[tuple, dict[str, list]]:
    """{(width, variant, fraction): {column: values over seeds}} of a finals table, built in
    plain Python: the bootstrap calls ``values`` a thousand times on a few dozen rows."""
    cols = ("train_acc", "test_acc", "fit_epoch", "fitted")
    out: dict[tuple, dict[str, list]] = {}
    keys = zip(f["width"].tolist(), f["variant"].tolist(), f["label_fraction"].tolist())
    data = zip(*(f[c].tolist() for c in cols))
    for key, vals in zip(keys, data):
        g = out.setdefault(key, {c: [] for c in cols})
        for c, v in zip(cols, vals):
            g[c].append(v)
    return out


def values(runs: pd.DataFrame) -> dict[str, float]:
    """Every claim's value from the finals table (one row per run, ``finals``); worst case
    over widths where there are several."""
    if runs.empty or runs["diverged"].any():
        return {c: NAN for c in CLAIMS}
    g = _groups(runs)
    out: dict[str, float] = {"memorises": float(runs["train_acc"].min())}
    falls, chance, slow = [], [], []
    for w in sorted({k[0] for k in g}):
        lab = {fr: v for (ww, var, fr), v in g.items() if ww == w and var == "labels"}
        acc = [float(np.mean(lab[fr]["test_acc"])) for fr in sorted(lab)]
        falls.append(int((np.diff(acc) >= 0).sum()))
        nolabel = [float(np.mean(lab[1.0]["test_acc"]))] if 1.0 in lab else [NAN]
        if (w, "random_inputs", 1.0) in g:
            nolabel.append(float(np.mean(g[(w, "random_inputs", 1.0)]["test_acc"])))
        chance.append(max(abs(a - CHANCE) for a in nolabel))
        if 0.0 in lab and 1.0 in lab and all(lab[0.0]["fitted"] + lab[1.0]["fitted"]):
            slow.append(float(np.mean(lab[1.0]["fit_epoch"]) / np.mean(lab[0.0]["fit_epoch"])))
        else:
            slow.append(NAN)  # a censored fit time: the factor is unknown
        for (ww, var, fr), v in g.items():  # for the notes: every variant's slowdown
            if ww == w:
                base = np.mean(lab[0.0]["fit_epoch"]) if 0.0 in lab else NAN
                out[f"slowdown.w{w}.{var}.{fr:g}"] = float(np.mean(v["fit_epoch"]) / base)
    out["test_acc_falls"] = float(max(falls))
    out["chance_at_random"] = float(max(chance))
    out["slower_fit"] = float(min(slow))
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
        "test_acc_falls": "mean test accuracy per variant: "
        + row("{test_acc:.3f}")
        + "; measured fraction of changed labels: "
        + row("{changed_frac:.3f}"),
        "chance_at_random": f"chance {CHANCE:g}; mean test accuracy at fraction 1 and with "
        "random inputs: "
        + "; ".join(
            f"w{w} {var} {r['test_acc']:.4f}" for (w, var, fr), r in v.iterrows() if fr == 1.0
        ),
        "slower_fit": "mean first epoch at train accuracy 1.0: "
        + row("{fit_epoch:.1f}")
        + f"; slowdown vs true labels (with intervals): {slow}"
        + (f"; {unfit} run(s) censored at the budget" if unfit else ""),
    }


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    est = ctx.estimates(values, finals(metrics))
    return ctx.claims(NAME, {c: c for c in CLAIMS}, est, _notes(est, metrics))


def rows(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The metrics rows each claim's value is computed from (a pandas query per claim id;
    ``overparam explain`` shows them; ``memorises`` reads every run)."""
    return {
        "test_acc_falls": 'variant == "labels"',
        "chance_at_random": "label_fraction == 1.0",
        "slower_fit": 'variant == "labels" and label_fraction in [0.0, 1.0]',
    }
