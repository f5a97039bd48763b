"""A claim definition for tests: every field of a claims.yaml entry, with values that say
they are test values (overparam.claims.Definition validates them as a real entry)."""

from typing import Any


def definition(comparison: str = "<=", threshold: float = 0.5, **fields: Any) -> dict[str, Any]:
    """The mapping of one claims.yaml entry; ``fields`` override the defaults (tier,
    statement, ...)."""
    out = {
        "tier": "replication",
        "tier_reason": "a test claim",
        "source": "paper",
        "statement": "s",
        "metric": "m",
        "comparison": comparison,
        "threshold": threshold,
        "threshold_basis": "project choice: a test value",
        "protocol": "the source's setup (test)",
        "deviations": "none",
        "published": "none reported",
    }
    out.update(fields)
    return out
