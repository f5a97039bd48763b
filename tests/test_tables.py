import numpy as np
import pandas as pd
import pytest

from overparam import claims, tables

from .claimdefs import definition

SCHEMA = tables.Schema(
    name="t",
    columns={"width": "int", "loss": "float", "ok": "bool", "name": "str"},
    nullable=frozenset({"loss"}),
)


def frame():
    return pd.DataFrame(
        {"width": [1, 2], "loss": [0.5, np.nan], "ok": [True, False], "name": ["a", "b"]}
    )


def test_roundtrip_with_provenance(tmp_path):
    p = tmp_path / "sub" / "t.parquet"
    tables.write_table(frame(), p, SCHEMA, tables.provenance({"a": 1}, seeds=[0, 1]))
    df = tables.read_table(p, SCHEMA)
    pd.testing.assert_frame_equal(df, frame(), check_dtype=False)
    prov = tables.read_provenance(p)
    assert prov["schema"] == "t" and prov["seeds"] == [0, 1]
    assert prov["config_hash"] == tables.config_hash({"a": 1})
    assert "torch" in prov["versions"]
    assert not list(p.parent.glob(".*tmp"))  # no temp file left behind


def test_missing_column_names_file_and_column(tmp_path):
    p = tmp_path / "t.parquet"
    tables.write_table(frame(), p, SCHEMA)
    other = tables.Schema(
        name="t2", columns={**SCHEMA.columns, "epoch": "int"}, nullable=SCHEMA.nullable
    )
    with pytest.raises(tables.TableError, match=r"t\.parquet.*missing column.*epoch"):
        tables.read_table(p, other)


def test_wrong_dtype_and_nulls_rejected_on_write(tmp_path):
    with pytest.raises(tables.TableError, match="'width'.*should be int"):
        tables.write_table(frame().assign(width=["x", "y"]), tmp_path / "a.parquet", SCHEMA)
    with pytest.raises(tables.TableError, match="'name'.*1 missing value"):
        tables.write_table(frame().assign(name=["a", None]), tmp_path / "b.parquet", SCHEMA)
    with pytest.raises(tables.TableError, match="unexpected column"):
        tables.write_table(frame().assign(extra=1), tmp_path / "c.parquet", SCHEMA)
    assert not list(tmp_path.iterdir())


def test_truncated_file_is_a_clear_error(tmp_path):
    p = tmp_path / "t.parquet"
    tables.write_table(frame(), p, SCHEMA)
    data = p.read_bytes()
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises(tables.TableError, match=r"t\.parquet: not a readable parquet"):
        tables.read_table(p, SCHEMA)
    with pytest.raises(tables.TableError, match="does not exist"):
        tables.read_table(tmp_path / "nope.parquet")


def test_config_hash_is_order_independent():
    assert tables.config_hash({"a": 1, "b": [1, 2]}) == tables.config_hash({"b": [1, 2], "a": 1})
    assert tables.config_hash({"a": 1}) != tables.config_hash({"a": 2})


def spec(comparison="<=", threshold=0.5):
    return definition(comparison, threshold)


def test_claims_verdicts_and_nan():
    kw = dict(experiment="e", figure="figures/e.png", scale="test")
    exact = claims.Estimate.exact
    c_ok = claims.make_claim(spec(), claim="a", estimate=exact(0.4), **kw)
    c_no = claims.make_claim(spec(">"), claim="b", estimate=exact(0.4), **kw)
    c_nan = claims.make_claim(spec(), claim="c", estimate=exact(float("nan")), **kw)
    assert c_ok.holds and not c_no.holds and not c_nan.holds
    df = claims.claims_frame([c_ok, c_no, c_nan])
    claims.CLAIMS_SCHEMA.validate(df, "test")
    assert list(df["holds"]) == [True, False, False]
    assert df.loc[2, "note"] == "metric could not be computed (NaN)"
    assert df.loc[0, "claim"] == "e.a"
    md = claims.to_markdown(df)
    assert "replications: 1 of 3 hold" in md and "**DOES NOT HOLD**" in md
