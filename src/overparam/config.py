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
    lt = config.get("lottery_ticket")
    if lt:
        n_train = int(lt["data"]["num_samples"] * lt["data"]["train_split"])
        if not 0 < lt["val_size"] < n_train:
            yield (f"config key 'lottery_ticket.val_size': {lt['val_size']} must be smaller than "
                   f"the {n_train} MNIST-1D training samples it is carved from")
        else:
            n_fit = n_train - lt["val_size"]
            total = lt["epochs"] * -(-n_fit // min(lt["batch_size"], n_fit))
            for k in lt["rewind_steps"]:
                if k > total:
                    yield (f"config key 'lottery_ticket.rewind_steps': step {k} is beyond the "
                           f"{total} optimizer steps of a run")
        a, b = lt["claims_setup"]["early_stop_remaining"]
        if a > b:
            yield (f"config key 'lottery_ticket.claims_setup.early_stop_remaining': [{a}, {b}] "
                   "must be [low, high]")

    dd = config.get("double_descent")
    if dd:
        yield from _double_descent_problems(dd)


def _double_descent_problems(dd: dict):
    n_train = int(round(dd["data"]["num_samples"] * dd["data"]["train_split"]))
    n_test = dd["data"]["num_samples"] - n_train
    for key, lo, hi in (("linear", "gamma_min", "gamma_max"),
                        ("random_features", "ratio_min", "ratio_max")):
        c = dd[key]
        if not c[lo] < 1 < c[hi]:
            yield (f"config key 'double_descent.{key}': need {lo} < 1 < {hi} to cross the "
                   f"interpolation threshold, got {c[lo]} and {c[hi]}")
    rf = dd["random_features"]
    if rf["n_train"] > n_train or rf["n_test"] > n_test:
        yield (f"config key 'double_descent.random_features': n_train={rf['n_train']} / "
               f"n_test={rf['n_test']} exceed the dataset's {n_train} / {n_test} samples")
    if dd["mlp"]["n_train"] > n_train:
        yield (f"config key 'double_descent.mlp.n_train': {dd['mlp']['n_train']} exceeds the "
               f"dataset's {n_train} training samples")
