"""Configuration checks, run before any job starts.

1. The JSON schema (workflow/schemas/config.schema.yaml): types, ranges, unknown keys. Each
   error names the key path and what is allowed.
2. Semantic checks the schema cannot express (sizes that make an experiment impossible, a
   CUDA device on a machine without one).
"""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """The configuration is invalid; the message names the key."""


def _key(path) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<top level>"


def _describe(err: jsonschema.ValidationError) -> str:
    key = _key(err.absolute_path)
    v = err.validator
    if v == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed)) if isinstance(err.instance, dict) else []
        hint = f"; allowed keys: {allowed}" if allowed else ""
        return f"config key '{key}': unknown key(s) {extra}{hint}"
    if v == "enum":
        return f"config key '{key}': {err.instance!r} is not one of the allowed values {err.validator_value}"
    if v == "type":
        return f"config key '{key}': {err.instance!r} should be of type {err.validator_value}"
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        rel = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[v]
        return f"config key '{key}': {err.instance!r} is out of range (must be {rel} {err.validator_value})"
    if v == "minItems":
        return f"config key '{key}': list must have at least {err.validator_value} item(s), got {len(err.instance)}"
    if v == "required":
        return f"config key '{key}': {err.message}"
    return f"config key '{key}': {err.message}"


def load_schema(path=SCHEMA_PATH) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def _fill_defaults(instance, schema, root) -> None:
    """Fill `default`s of the schema into dicts of the config, recursively (in place)."""
    if "$ref" in schema:
        ref = schema["$ref"].lstrip("#/").split("/")
        target = root
        for part in ref:
            target = target[part]
        _fill_defaults(instance, target, root)
        return
    for sub in schema.get("allOf", []):
        _fill_defaults(instance, sub, root)
    if isinstance(instance, dict):
        for k, sub in schema.get("properties", {}).items():
            if k not in instance and "default" in sub:
                instance[k] = sub["default"]
            if k in instance:
                _fill_defaults(instance[k], sub, root)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for k, v in instance.items():
                if k not in schema.get("properties", {}):
                    _fill_defaults(v, extra, root)


def _strict_integers(cls):
    """JSON schema counts 10.0 as an integer; a size written as 10.0 would name jobs 'w10.0'
    and reach range() as a float, so integers must be written as integers."""
    checker = cls.TYPE_CHECKER.redefine(
        "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool))
    return jsonschema.validators.extend(cls, type_checker=checker)


def validate(config: dict, schema_path=SCHEMA_PATH) -> dict:
    """Validate ``config`` in place (defaults filled in) and return it. Raises ConfigError
    listing every problem, each naming its key."""
    if not isinstance(config, dict):
        raise ConfigError("config must be a mapping")
    schema = load_schema(schema_path)
    cls = _strict_integers(jsonschema.validators.validator_for(schema))
    errors = sorted(cls(schema).iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        msgs = [_describe(jsonschema.exceptions.best_match([e])) for e in errors]
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(dict.fromkeys(msgs)))
    _fill_defaults(config, schema, schema)
    problems = list(semantic_problems(config))
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    return config


def semantic_problems(config: dict):
    """Yield one message per impossible setting (each naming its key)."""
    if config.get("device") == "cuda":
        import torch

        if not torch.cuda.is_available():
            yield ("config key 'device': 'cuda' was requested but no CUDA device is available "
                   "on this machine (allowed values: auto, cpu, cuda; 'auto' falls back to cpu)")
    bo = config.get("benign_overfitting")
    if bo:
        d = bo["demo"]
        if d["p"] <= d["n"]:
            yield (f"config key 'benign_overfitting.demo.p': p={d['p']} must exceed n={d['n']} "
                   "for min-norm interpolation")
        if d["signal_dims"] >= d["p"]:
            yield (f"config key 'benign_overfitting.demo.signal_dims': {d['signal_dims']} must be "
                   f"smaller than p={d['p']}")
        for name, fam in bo["families"].items():
            if fam["spectrum"] == "spiked" and fam["benign"]:
                if fam["bulk_trace_exponent"] >= 1:
                    yield (f"config key 'benign_overfitting.families.{name}.bulk_trace_exponent': "
                           f"{fam['bulk_trace_exponent']} >= 1 makes r_0 grow like n, so the family "
                           "cannot be benign; use a value < 1 or set benign: false")
    oe = config.get("optimization_ease")
    if oe and oe["batch_size"] > oe["n"]:
        yield (f"config key 'optimization_ease.batch_size': {oe['batch_size']} exceeds the "
               f"number of samples n={oe['n']}")
