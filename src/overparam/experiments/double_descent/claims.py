"""Claims of double_descent: each panel's claims, in panel order, with their config entries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ...claims import Claim, make_claim
from .. import CheckContext
from .common import NAME
from .linear import linear_claims
from .mlp import mlp_claims
from .random_features import rf_claims


def check(metrics: pd.DataFrame, cfg: Mapping[str, Any], ctx: CheckContext) -> list[Claim]:
    found = [
        *linear_claims(metrics, cfg["linear"]),
        *rf_claims(metrics, cfg["random_features"]),
        *mlp_claims(metrics, cfg["mlp"]),
    ]
    return [
        make_claim(
            cfg["claims"][key],
            claim=key,
            experiment=NAME,
            value=value,
            figure=ctx.figure,
            scale=ctx.scale,
            note=note,
        )
        for key, value, note in found
    ]
