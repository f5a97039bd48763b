"""Job specs from config sections: ``from_section`` fills a dataclass's fields from the keys
of the same names, each value converted to the field's annotation (the types a YAML config
writes: numbers, strings, bools, lists, mappings), so an experiment's ``specs`` names only
what it computes. A missing key without a default is a :class:`MissingKey` naming it."""

from __future__ import annotations

import dataclasses
import functools
import numbers
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, Union

T = TypeVar("T")


class MissingKey(KeyError):
    """A config section lacks a key that a spec's field (without a default) needs."""

    def __str__(self) -> str:
        return str(self.args[0])


def from_section(cls: type[T], section: Mapping[str, Any], /, **overrides: Any) -> T:
    """The dataclass ``cls`` with each field ``overrides[name]``, else ``section[name]``, else
    its default; a field in neither without a default is a :class:`MissingKey` naming the key.
    Each value is converted to the field's annotation: ``int`` (an integral number, never a
    bool), ``float`` (any number but a bool), ``str``, ``bool`` (a bool only: 1 is not
    True), ``tuple[X, ...]`` and ``tuple[X, Y]`` (from a list or tuple, each item converted,
    nested tuples too), ``X | None``, a union such as ``float | str`` (the first member the
    value converts to, a member the value already is first), a dataclass (from a mapping,
    recursively, or an instance as it is), ``Mapping``/``dict`` (a shallow dict) and ``Any``
    (as it is); a value that does not convert is a ValueError naming the key. Keys of
    ``section`` that are not fields are always ignored (the config's schema rejects unknown
    keys; a section also holds keys for the claims and the scheduler)."""
    return _build(cls, section, overrides, "")


@functools.cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(cls: type[T], section: Mapping[str, Any], overrides: Mapping[str, Any], where: str) -> T:
    if not isinstance(section, Mapping):
        raise ValueError(
            f"config key '{where.rstrip('.') or '<section>'}': a mapping of {cls.__name__}'s "
            f"fields, got {section!r}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise TypeError(f"{cls.__name__} has no field(s) {unknown}")
    hints, kwargs = _hints(typing.cast(Any, cls)), {}
    for name, f in fields.items():
        if not f.init:
            continue
        if name in overrides:
            value = overrides[name]
        elif name in section:
            value = section[name]
        elif f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
            continue
        else:
            raise MissingKey(
                f"config key '{where}{name}' is missing: {cls.__name__} needs it (its field "
                f"{name!r} has no default; a config read from a file gets the schema's "
                "defaults from overparam.config.validate)"
            )
        kwargs[name] = _convert(value, hints[name], f"{where}{name}")
    return cls(**kwargs)


def _convert(value: Any, hint: Any, key: str) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        members = [a for a in args if a is not type(None)]
        exact = [m for m in members if typing.get_origin(m) is None and _is(value, m)]
        errors = []
        for member in exact + [m for m in members if m not in exact]:
            try:
                return _convert(value, member, key)
            except (ValueError, MissingKey) as e:
                errors.append(str(e))
        raise ValueError(f"config key '{key}': {value!r} is none of {hint} ({'; '.join(errors)})")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"config key '{key}': a list for {hint}, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            items = [args[0]] * len(value)
        elif len(args) != len(value):
            raise ValueError(f"config key '{key}': {len(args)} items for {hint}, got {value!r}")
        else:
            items = list(args)
        return tuple(_convert(v, h, f"{key}[{i}]") for i, (v, h) in enumerate(zip(value, items)))
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ValueError(f"config key '{key}': a mapping, got {value!r}")
        return dict(value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        return _build(hint, value, {}, f"{key}.")
    if hint in (int, float, str, bool):
        integral = isinstance(value, float) and value.is_integer()
        if not (
            _is(value, hint) or (hint is float and _is(value, int)) or (hint is int and integral)
        ):
            raise ValueError(f"config key '{key}': {value!r} is not of type {hint.__name__}")
        return hint(value)
    raise TypeError(f"config key '{key}': from_section cannot convert to {hint}")


def _is(value: Any, t: type) -> bool:
    """``value`` is a ``t`` as a config means it: a bool is not a number, nor 1 a bool."""
    if isinstance(value, bool) or t is bool:
        return t is bool and isinstance(value, bool)
    if t is int:
        return isinstance(value, numbers.Integral)
    if t is float:
        return isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
    return isinstance(value, t)
