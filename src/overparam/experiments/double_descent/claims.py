"""Claims of double_descent: each panel's claims, in panel order, with their config entries."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import pandas as pd

from ...claims import Claim
from .. import CheckContext
from .batched import panel_batch
from .common import NAME, PanelClaim
from .linear import linear_claims
from .mlp import MLP_CLAIMS, mlp_claims
from .random_features import RF_CLAIMS, RFF_CLAIMS, rf_claims, rff_claims


def _values(claims_of: Callable[..., list[PanelClaim]], c, runs: pd.DataFrame) -> dict:
    return {key: value for key, value, _ in claims_of(runs, c)}


PANELS = {
    "linear": linear_claims,
    "random_features": rf_claims,
    "mlp": mlp_claims,
    "random_fourier": rff_claims,
}


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    """Each panel's claims with intervals from resampling that panel's seeds (the panels have
    their own seeds)."""
    out = []
    for panel, claims_of in PANELS.items():
        runs = metrics[metrics["panel"] == panel]
        c = cfg[panel]
        found = claims_of(runs, c)
        batch = panel_batch(panel, runs, c)
        est = ctx.estimates(partial(_values, claims_of, c), runs, batch=batch)
        specs = {key: key for key, _, _ in found}
        out += ctx.claims(NAME, specs, est, {key: note for key, _, note in found})
    return out


def rows(cfg: Mapping[str, Any]) -> dict[str, str]:
    """The metrics rows each claim's value is computed from (a pandas query per claim id;
    ``overparam explain`` shows them): its panel (and estimator, in the linear panel)."""
    min_norm = 'panel == "linear" and estimator == "min_norm"'
    ridge = 'panel == "linear" and estimator == "optimal_ridge"'
    band = float(cfg["linear"]["exclude_band"])  # as in linear_claims
    out = {
        "linear_matches_hastie_under": f"{min_norm} and gamma <= {1 / band!r}",
        "linear_matches_hastie_over": f"{min_norm} and gamma >= {band!r}",
        "linear_peak_at_one": min_norm,
    }
    out.update(dict.fromkeys(("optimal_ridge_monotone", "optimal_ridge_matches_theory"), ridge))
    out.update(dict.fromkeys(RF_CLAIMS, 'panel == "random_features"'))
    out.update(dict.fromkeys(RFF_CLAIMS, 'panel == "random_fourier"'))
    out.update(dict.fromkeys(MLP_CLAIMS, 'panel == "mlp"'))
    return out
