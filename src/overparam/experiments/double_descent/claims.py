"""Claims of double_descent: each panel's claims, in panel order, with their config entries."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import pandas as pd

from ...claims import Claim
from .. import CheckContext
from .common import NAME, PanelClaim
from .linear import linear_claims
from .mlp import mlp_claims
from .random_features import rf_claims


def _values(claims_of: Callable[..., list[PanelClaim]], c, runs: pd.DataFrame) -> dict:
    return {key: value for key, value, _ in claims_of(runs, c)}


PANELS = {"linear": linear_claims, "random_features": rf_claims, "mlp": mlp_claims}


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    """Each panel's claims with intervals from resampling that panel's seeds (the panels have
    their own seeds)."""
    out = []
    for panel, claims_of in PANELS.items():
        runs = metrics[metrics["panel"] == panel]
        c = cfg[panel]
        found = claims_of(runs, c)
        est = ctx.estimates(partial(_values, claims_of, c), runs)
        specs = {key: cfg["claims"][key] for key, _, _ in found}
        out += ctx.claims(NAME, specs, est, {key: note for key, _, note in found})
    return out
