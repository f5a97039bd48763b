"""Configuration checks, run before any job starts.

1. The JSON schema: the workflow's base schema (global keys) with every experiment's own
   fragment (``experiments/<name>/schema.yaml``) as the schema of its section. Types, ranges,
   unknown keys; each error names the key path and what is allowed. Values given as strings
   on the command line (``--config 'sec={key: 0.02}'`` reaches us as ``'0.02'``) are read as
   YAML first where the schema wants another type.
2. Checks the schema cannot express: a CUDA device on a machine without one, and each
   experiment's ``problems(cfg)`` (sizes that make it impossible).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from . import experiments


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
    schema = err.schema if isinstance(err.schema, dict) else {}
    instance: Any = err.instance
    if v == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed)) if isinstance(err.instance, dict) else []
        hint = f"; allowed keys: {allowed}" if allowed else ""
        return f"config key '{key}': unknown key(s) {extra}{hint}"
    if v == "enum":
        return f"config key '{key}': {err.instance!r} is not one of the allowed values {err.validator_value}"
    if v == "type":
        return f"config key '{key}': {err.instance!r} should be of type {err.validator_value}"
    if v in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        rel = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[
            v
        ]
        return f"config key '{key}': {err.instance!r} is out of range (must be {rel} {err.validator_value})"
    if v == "minItems":
        return f"config key '{key}': list must have at least {err.validator_value} item(s), got {len(instance)}"
    if v == "required":
        return f"config key '{key}': {err.message}"
    return f"config key '{key}': {err.message}"


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` over ``base`` as Snakemake merges a ``--configfile`` over the Snakefile's
    ``configfile:``: mappings are updated key by key (recursively), every other value (a
    number, a string, a list) is replaced. Neither argument is changed."""
    out = copy.deepcopy(dict(base))
    for k, v in overlay.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def read_config(*paths: str | Path) -> dict[str, Any]:
    """The config files ``paths`` deep-merged in order (:func:`deep_merge`), as
    ``snakemake --configfile B`` reads them with ``A`` as the Snakefile's configfile: e.g.
    ``read_config("config/config.yaml", "config/paper.yaml")`` is the paper scale (an overlay
    of the quick one). Not validated: see :func:`validate`."""
    out: dict[str, Any] = {}
    for p in paths:
        with open(p) as f:
            data = yaml.safe_load(f) or {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"{p}: a config file is a mapping of keys, got {type(data).__name__}")
        out = deep_merge(out, data)
    return out


def load_schema(base_path: str | Path, names: list[str] | None = None) -> dict[str, Any]:
    """The base schema at ``base_path`` with the fragment of every experiment in ``names``
    (default: all) as the schema of its config section."""
    with open(base_path) as f:
        schema = dict(yaml.safe_load(f))
    schema = copy.deepcopy(schema)
    props = schema.setdefault("properties", {})
    shared = schema.get("definitions", {}).get("job_resources", {}).get("properties", {})
    for name in experiments.names() if names is None else names:
        e = experiments.get(name)
        section = with_job_resources(e.schema_fragment(), shared)
        section["properties"]["claim_thresholds"] = claim_thresholds_schema(list(e.definitions()))
        props[name] = section
    return schema


def claim_thresholds_schema(keys: list[str]) -> dict[str, Any]:
    """The schema of an experiment's ``claim_thresholds``: a threshold that depends on the
    scale, for a claim its ``claims.yaml`` defines (a mistyped id is an error), with the
    reason it differs."""
    return {
        "description": "thresholds that differ at this scale: {claim: {threshold, reason}}",
        "type": "object",
        "propertyNames": {"enum": keys},
        "additionalProperties": {
            "type": "object",
            "additionalProperties": False,
            "required": ["threshold", "reason"],
            "properties": {
                "threshold": {"type": "number"},
                "reason": {"type": "string", "minLength": 1},
            },
        },
    }


def with_job_resources(fragment: dict[str, Any], shared: Mapping[str, Any]) -> dict[str, Any]:
    """An experiment's section schema that also accepts the scheduler keys of the base
    schema's ``definitions.job_resources`` (threads, mem_mb, runtime), each a ``$ref`` there.
    A key the fragment declares itself is kept as it is."""
    out = dict(fragment)
    props = dict(out.get("properties", {}))
    for key in shared:
        props.setdefault(key, {"$ref": f"#/definitions/job_resources/properties/{key}"})
    out["properties"] = props
    return out


def _resolve(schema: dict, root: dict) -> dict:
    while "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def _wants_string(schema: dict) -> bool:
    types = schema.get("type")
    if types is not None:
        return "string" in (types if isinstance(types, list) else [types])
    if "enum" in schema:
        return any(isinstance(v, str) for v in schema["enum"])
    return True  # no type: leave the value as given


def coerce_strings(instance: Any, schema: dict, root: dict) -> Any:
    """Read string values as YAML where the schema asks for a number, boolean or list
    (Snakemake's ``--config`` passes nested values as strings). Returns the new value."""
    schema = _resolve(schema, root)
    if isinstance(instance, str) and not _wants_string(schema):
        try:
            parsed = yaml.safe_load(instance)
        except yaml.YAMLError:
            return instance
        return instance if isinstance(parsed, str) else coerce_strings(parsed, schema, root)
    if isinstance(instance, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for k, v in instance.items():
            sub = props.get(k, extra if isinstance(extra, dict) else None)
            if sub is not None:
                instance[k] = coerce_strings(v, sub, root)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        return [coerce_strings(v, schema["items"], root) for v in instance]
    return instance


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
        "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool)
    )
    return jsonschema.validators.extend(cls, type_checker=checker)


def validate(config: dict, base_schema: str | Path) -> dict:
    """Validate ``config`` in place (command-line strings coerced, defaults filled in) and
    return it. ``base_schema`` is the path of the workflow's schema of the global keys.
    Raises ConfigError listing every problem, each naming its key."""
    if not isinstance(config, dict):
        raise ConfigError("config must be a mapping")
    schema = load_schema(base_schema)
    coerce_strings(config, schema, schema)
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


def semantic_problems(config: Mapping[str, Any]) -> Iterator[str]:
    """One message per impossible setting (each naming its key): the device, then every
    experiment's own ``problems``."""
    if config.get("device") == "cuda":
        from .device import cuda_visible

        if not cuda_visible():
            yield (
                "config key 'device': 'cuda' was requested but no CUDA device is available "
                "on this machine (allowed values: auto, cpu, cuda; 'auto' falls back to cpu)"
            )
    for name in experiments.names():
        if name in config:
            yield from experiments.get(name).problems(config[name])
