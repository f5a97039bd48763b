"""What the audit command relies on from every experiment, whatever is registered: each table
schema documents each of its columns, and each declared claim-row query is valid on the
experiment's metrics table under the shipped configs."""

import pandas as pd
import pytest

from overparam import audit, experiments
from overparam.claims import CLAIMS_SCHEMA
from overparam.steps import JOBS_SCHEMA
from overparam.tables import Schema

from .conftest import SHIPPED, shipped_config

NAMES = experiments.names()
CONFIGS = list(SHIPPED)


def schemas_of(name):
    e = experiments.get(name)
    return {e.run_schema.name: e.run_schema, e.metrics_schema.name: e.metrics_schema}


def undocumented(schema: Schema) -> list[str]:
    """Columns without a one-line meaning, and meanings of columns the schema lacks."""
    bad = [c for c in schema.columns if not str(schema.doc.get(c, "")).strip()]
    return bad + [f"{c} (not a column)" for c in schema.doc if c not in schema.columns]


@pytest.mark.parametrize("name", NAMES)
def test_every_experiment_documents_every_column(name):
    for schema in schemas_of(name).values():
        assert undocumented(schema) == [], f"{schema.name}: document these columns in `doc`"


def test_the_pipeline_tables_document_every_column():
    assert undocumented(CLAIMS_SCHEMA) == []
    assert undocumented(JOBS_SCHEMA) == []


def test_undocumented_is_caught():
    s = Schema("t", {"a": "int", "b": "float"}, doc={"a": "meaning", "c": "stale"})
    assert undocumented(s) == ["b", "c (not a column)"]


def test_known_schemas_cover_every_experiment():
    known = audit.known_schemas()
    for name in NAMES:
        for schema_name, schema in schemas_of(name).items():
            assert known[schema_name] is schema


def empty(schema: Schema) -> pd.DataFrame:
    dtypes = {"int": "int64", "float": "float64", "bool": "bool", "str": "object"}
    return pd.DataFrame({c: pd.Series(dtype=dtypes[k]) for c, k in schema.columns.items()})


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("name", NAMES)
def test_declared_claim_rows_are_valid_queries(name, config):
    """The queries use only the metrics table's columns and the config keys that the metrics
    table's provenance records (the section without claims and threads)."""
    cfg = shipped_config(config)
    if name not in cfg:
        pytest.skip(f"{name} not in {config.name}")
    section = {k: v for k, v in cfg[name].items() if k not in ("claims", "threads")}
    e = experiments.get(name)
    frame = empty(e.metrics_schema)
    for key, q in e.claim_rows(section).items():
        assert isinstance(key, str) and not key.startswith(f"{name}."), key
        audit.query(frame, q)  # raises AuditError on a bad query


def test_a_bad_query_is_an_audit_error():
    df = pd.DataFrame({"x": [1, 2, 3]})
    assert audit.query(df, "x >= 2")["x"].tolist() == [2, 3]
    for bad in ("y > 1", "x >", "x.nosuch()"):
        with pytest.raises(audit.AuditError, match="bad query"):
            audit.query(df, bad)


def test_config_changes_are_dotted_leaves():
    a = {"lr": 1.0, "data": {"n": 10, "seed": 0}, "widths": [1, 2]}
    b = {"lr": 1.0, "data": {"n": 20, "seed": 0}, "widths": [1, 2, 3], "new": True}
    got = [(k, repr(x), repr(y)) for k, x, y in audit.config_changes(a, b)]
    assert got == [
        ("data.n", "10", "20"),
        ("new", "(absent)", "True"),
        ("widths", "[1, 2]", "[1, 2, 3]"),
    ]
