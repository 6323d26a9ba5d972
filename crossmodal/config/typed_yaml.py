"""Typed dataclasses from YAML mappings, `key.sub=value` overrides, and the way back to YAML.

Generic: it knows dataclasses and their annotations, not the sections of the config. Every error is a ConfigError
naming the dotted key.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Mapping

import yaml

from crossmodal.errors import ConfigError


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce_union(value: Any, tp: Any, key: str) -> Any:
    """Return `value` as the first option of the union `tp` it fits; the last option's error otherwise."""
    errors = []
    for option in typing.get_args(tp):
        if option is type(None) and value is None:
            return None
        try:
            return coerce(value, option, key)
        except ConfigError as err:
            errors.append(str(err))
    raise ConfigError(errors[-1])


def _coerce_container(value: Any, tp: Any, key: str) -> Any:
    """Return the dict or list `value` with each item coerced to the annotation `tp` gives it."""
    if typing.get_origin(tp) is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}' must be a mapping, got {value!r}")
        key_tp, value_tp = typing.get_args(tp)
        return {coerce(k, key_tp, f"{key} (a key)"): coerce(v, value_tp, f"{key}.{k}") for k, v in value.items()}
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"config key '{key}' must be a list, got {value!r}")
    (item_tp,) = typing.get_args(tp)
    return [coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against the annotation `tp`, allowing int -> float; raise ConfigError naming `key`."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}' must be a mapping of "
                              f"{sorted(f.name for f in dataclasses.fields(tp))}, got {value!r}")
        return build(tp, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        return _coerce_union(value, tp, key)
    if origin in (dict, list):
        return _coerce_container(value, tp, key)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"config key '{key}' must be true or false, got {value!r}")
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"config key '{key}' must be an integer, got {value!r}")
    if not isinstance(value, tp):
        raise ConfigError(f"config key '{key}' must be {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    return value


def build(cls: type, values: Mapping[str, Any], prefix: str = "") -> Any:
    """Make dataclass `cls` from `values`, rejecting unknown keys with the nearest valid names.

    A field whose metadata has "expects" reports that text, instead of the type's, when its value does not fit.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    names = list(fields)
    kwargs = {}
    for key, value in values.items():
        if key not in hints:
            near = difflib.get_close_matches(str(key), names, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(prefix + n for n in near)}?" if near else ""
            raise ConfigError(f"unknown config key '{prefix}{key}'{hint} (valid keys here: {', '.join(names)})")
        try:
            kwargs[key] = coerce(value, hints[key], prefix + key)
        except ConfigError:
            expects = fields[key].metadata.get("expects")
            if not expects:
                raise
            raise ConfigError(f"config key '{prefix}{key}' must be {expects}, got {value!r}") from None
    return cls(**kwargs)


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"command-line override '{dotted}': '{part}' is not a section")
    node[parts[-1]] = value


def parse_overrides(pairs: list[str]) -> dict:
    """Turn ['a.b=1', 'c=x'] into a nested dict, values parsed as YAML scalars/lists."""
    tree: dict = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"command-line override '{pair}' must look like key.sub=value")
        key, raw = pair.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"command-line override '{pair}': cannot parse value: {err}") from err
        _set_dotted(tree, key.strip(), value)
    return tree


def merge(base: dict, update: Mapping) -> dict:
    """Return `update` over `base`, section by section; an empty mapping (`tune.trials={}`) clears what it replaces."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and value and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def to_dict(cfg: Any) -> dict:
    """Return the resolved config as plain data (what is saved with every run and checkpoint)."""
    return dataclasses.asdict(cfg)


def dump_yaml(cfg: Any) -> str:
    """Return the config as YAML text, keys in the order of the dataclasses."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)
