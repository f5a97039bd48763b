"""Fast checks of the guards behind the reliability tests: the config schema covers every key
of the shipped configs, fraction-like keys are bounded, random mutations of a valid config
fail only with ConfigError, random frames round-trip or fail only with TableError, and
optimization_ease reports diverged runs instead of skipping them."""

import copy
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overparam import config, tables
from overparam.experiments import CheckContext, get

from .conftest import BASE_SCHEMA, SHIPPED, shipped_config, with_defaults

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = list(SHIPPED)
SCHEMA = config.load_schema(BASE_SCHEMA)
OE = get("optimization_ease")
CTX = CheckContext(scale="test", figure="figures/optimization_ease.png", resamples=50)


# ----------------------------------------------------------------------------- schema coverage


def _resolve(node: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        target = SCHEMA
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def _child(node: dict, key) -> dict | None:
    """The schema of ``key`` under ``node`` (properties, allOf branches, additionalProperties,
    array items), or None when the schema does not declare it."""
    node = _resolve(node)
    if isinstance(key, int):
        items = node.get("items")
        return _resolve(items) if isinstance(items, dict) else None
    if key in node.get("properties", {}):
        return _resolve(node["properties"][key])
    for sub in node.get("allOf", []):
        found = _child(sub, key)
        if found is not None:
            return found
    extra = node.get("additionalProperties")
    return _resolve(extra) if isinstance(extra, dict) else None


def undeclared_keys(cfg, node=SCHEMA, path="") -> list[str]:
    out = []
    items = (
        cfg.items() if isinstance(cfg, dict) else enumerate(cfg) if isinstance(cfg, list) else []
    )
    for k, v in items:
        sub = _child(node, k)
        where = f"{path}[{k}]" if isinstance(k, int) else (f"{path}.{k}" if path else k)
        if sub is None:
            out.append(where)
        else:
            out += undeclared_keys(v, sub, where)
    return out


@pytest.mark.parametrize(
    "path", CONFIGS, ids=[Path(p).name if p.startswith("config") else ".test" for p in CONFIGS]
)
def test_schema_declares_every_key_of_the_shipped_configs(path):
    cfg = shipped_config(path)
    assert undeclared_keys(cfg) == []
    config.validate(copy.deepcopy(cfg) | {"device": "cpu"}, BASE_SCHEMA)


def test_coverage_walker_finds_undeclared_keys():
    cfg = {
        "optimization_ease": {
            "widths": [1, 2],
            "claim_thresholds": {"epochs_decrease": {"threshold": 1, "foo": 1}},
        },
        "nope": 1,
    }
    assert undeclared_keys(cfg) == [
        "optimization_ease.claim_thresholds.epochs_decrease.foo",
        "nope",
    ]


def _objects(node, path="$"):
    """Every object node of the schema with its path."""
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield path, node
        for k, v in node.items():
            yield from _objects(v, f"{path}.{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _objects(v, f"{path}[{i}]")


def test_every_schema_object_rejects_unknown_keys():
    loose = [p for p, node in _objects(SCHEMA) if node.get("additionalProperties", True) is True]
    assert loose == []


FRACTION = re.compile(r"label_noise|fraction|frac$|_prob", re.IGNORECASE)


def unbounded_fractions(node=SCHEMA, path="$") -> list[str]:
    """Numeric keys named like a fraction (label_noise, *fraction*, *_prob) whose schema does
    not keep them in [0, 1] (also list items: label_noise: [0.0, 0.2])."""
    out = []
    if not isinstance(node, dict):
        return out
    for name, sub in node.get("properties", {}).items():
        sub = _resolve(sub)
        leaf = _resolve(sub.get("items", {})) if sub.get("type") == "array" else sub
        if FRACTION.search(name) and leaf.get("type") in ("number", "integer"):
            lo = leaf.get("minimum", leaf.get("exclusiveMinimum"))
            hi = leaf.get("maximum", leaf.get("exclusiveMaximum"))
            if lo is None or hi is None or lo < 0 or hi > 1:
                out.append(f"{path}.{name}")
    for k, v in node.items():
        if isinstance(v, dict):
            out += unbounded_fractions(v, f"{path}.{k}")
        elif isinstance(v, list):
            out += [x for i, s in enumerate(v) for x in unbounded_fractions(s, f"{path}.{k}[{i}]")]
    return out


def test_fraction_keys_are_bounded_to_unit_interval():
    assert unbounded_fractions() == []
    bad = {
        "properties": {
            "label_noise": {"type": "array", "items": {"type": "number", "minimum": 0}},
            "drop_fraction": {"type": "number", "minimum": 0, "maximum": 1},
            "vanishing_fraction": {"type": "object"},
        }
    }
    assert unbounded_fractions(bad) == ["$.label_noise"]


# ----------------------------------------------------------------------------- config fuzzing

VALID = yaml.safe_load((ROOT / ".test/config.yaml").read_text()) | {"device": "cpu"}


def _paths(cfg, prefix=()):
    items = (
        cfg.items() if isinstance(cfg, dict) else enumerate(cfg) if isinstance(cfg, list) else []
    )
    for k, v in items:
        yield prefix + (k,)
        yield from _paths(v, prefix + (k,))


PATHS = list(_paths(VALID))
VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**6),
    st.floats(),
    st.text(max_size=6),
    st.lists(st.integers(-3, 3), max_size=3),
    st.lists(st.floats(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
    st.sampled_from(["cuda", "cpu", "auto", "spiked", "<=", "sgd", "adam", ""]),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(PATHS),
    op=st.sampled_from(["set", "delete", "add"]),
    value=VALUES,
    extra=st.text(min_size=1, max_size=8),
)
def test_mutated_config_is_accepted_or_names_a_key(path, op, value, extra):
    cfg = copy.deepcopy(VALID)
    parent = cfg
    for k in path[:-1]:
        parent = parent[k]
    last = path[-1]
    if op == "set":
        parent[last] = value
    elif op == "delete":
        del parent[last]
    elif isinstance(parent, dict):
        parent[extra] = value
    try:
        config.validate(cfg, BASE_SCHEMA)
    except config.ConfigError as e:
        assert re.search(r"config key '[^']+'", str(e)), str(e)


def test_integer_keys_reject_floats():
    # YAML `widths: [10.0, 100]` would name a job w10.0; integers must be written as integers
    cfg = copy.deepcopy(VALID)
    cfg["optimization_ease"]["widths"] = [10.0, 100]
    with pytest.raises(
        config.ConfigError,
        match=r"'optimization_ease\.widths\[0\]': 10\.0 should be of type integer",
    ):
        config.validate(cfg, BASE_SCHEMA)


# ----------------------------------------------------------------------------- table fuzzing

TSCHEMA = tables.Schema(
    name="fuzz",
    columns={"width": "int", "loss": "float", "ok": "bool", "name": "str"},
    nullable=frozenset({"loss", "name"}),
)
CELLS = {
    "int": st.integers(-(2**62), 2**62),
    "float": st.floats(),
    "bool": st.booleans(),
    "str": st.text(max_size=4),
    "none": st.none(),
    "mixed": st.one_of(st.integers(-5, 5), st.text(max_size=2), st.none(), st.floats()),
}


@st.composite
def frames(draw):
    n = draw(st.integers(0, 4))
    cols = draw(
        st.lists(
            st.sampled_from(["width", "loss", "ok", "name", "extra"]),
            min_size=1,
            max_size=5,
            unique=True,
        )
    )
    data = {}
    for c in cols:
        kind = draw(st.sampled_from(list(CELLS)))
        data[c] = pd.Series(
            draw(st.lists(CELLS[kind], min_size=n, max_size=n)),
            dtype=object if kind in ("mixed", "none") else None,
        )
    return pd.DataFrame(data)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(df=frames())
def test_random_frames_round_trip_or_raise_table_error(tmp_path, df):
    p = tmp_path / "f.parquet"
    if p.exists():
        p.unlink()
    try:
        tables.write_table(df, p, TSCHEMA)
    except tables.TableError as e:
        assert "f.parquet" in str(e) or "schema 'fuzz'" in str(e), str(e)
        assert not p.exists()
    else:
        back = tables.read_table(p, TSCHEMA)
        pd.testing.assert_frame_equal(back, df[list(TSCHEMA.columns)], check_dtype=False)
    assert not list(tmp_path.glob(".*.tmp"))


def test_mixed_object_column_is_a_table_error(tmp_path):
    df = pd.DataFrame(
        {
            "width": [1, 2],
            "loss": [0.1, 0.2],
            "ok": [True, False],
            "name": pd.Series(["a", 3], dtype=object),
        }
    )
    with pytest.raises(tables.TableError, match=r"m\.parquet: cannot store column"):
        tables.write_table(df, tmp_path / "m.parquet", TSCHEMA)
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- divergence


def _metrics(diverged_run=None) -> pd.DataFrame:
    rows = []
    for w, base in ((10, 1.0), (100, 0.1)):
        for s in (0, 1, 2):
            for e in (0, 10, 20):
                loss = base / (1 + e)
                div = diverged_run == (w, s) and e > 0
                rows.append(
                    {
                        "width": w,
                        "depth": 1,
                        "num_params": 3 * w,
                        "seed": s,
                        "epoch": e,
                        "step": 10 * e,
                        "train_loss": np.nan if div else loss,
                        "test_loss": np.nan if div else loss,
                        "diverged": div,
                    }
                )
    return pd.DataFrame(rows)


CFG = with_defaults(
    "optimization_ease",
    {
        "loss_threshold": 0.05,
        "loss_floor": 1e-8,
        "lr": 0.01,
        "n": 10,
        "d": 2,
        "claims": {
            "epochs_decrease": {
                "source": "s",
                "statement": "s",
                "metric": "m",
                "comparison": "<=",
                "threshold": 0,
            },
            "final_loss_decreases": {
                "source": "s",
                "statement": "s",
                "metric": "m",
                "comparison": "<=",
                "threshold": 0,
            },
        },
    },
)  # as validate fills it


def test_check_without_divergence_holds():
    claims = OE.check(_metrics(), CFG, CTX)
    assert [c.value for c in claims] == [0, 0] and all(c.holds for c in claims)
    assert all("diverged" not in c.note for c in claims)


def test_one_diverged_seed_makes_claims_nan_and_is_named(tmp_path):
    m = _metrics(diverged_run=(100, 1))
    claims = OE.check(m, CFG, CTX)
    for c in claims:
        assert np.isnan(c.value) and not c.holds
        assert c.note.startswith("1 of 6 runs diverged (width, seed): (100, 1); ")
    OE.plot(m, CFG, tmp_path / "f.png", tmp_path / "f.pdf")  # NaN losses do not crash the figure
    assert (tmp_path / "f.png").stat().st_size > 0


def test_all_diverged_figure_still_draws(tmp_path):
    m = _metrics()
    m = m.assign(diverged=m["epoch"] > 0)
    m.loc[m["diverged"], ["train_loss", "test_loss"]] = np.nan
    OE.plot(m, CFG, tmp_path / "f.png", None)
    assert (tmp_path / "f.png").stat().st_size > 0
