"""Nested-dataclass configs: build from dicts and YAML, apply dotted ``key=value`` overrides,
and write back. One place does this for every config in ocrlab (synthetic data, model, training).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import OcrlabError

T = TypeVar("T")


class ConfigError(OcrlabError, ValueError):
    """A config key that does not exist, or a value of the wrong type."""


def to_dict(config: Any) -> Any:
    """A plain, YAML/JSON-ready copy of a (nested) dataclass config."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {f.name: to_dict(getattr(config, f.name)) for f in dataclasses.fields(config)}
    if isinstance(config, Mapping):
        return {str(k): to_dict(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [to_dict(v) for v in config]
    if isinstance(config, Path):
        return str(config)
    return config


def from_dict(cls: type[T], data: Mapping[str, Any] | None, *, where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; unknown keys are an error that names the key path.

    A class with a ``PRESETS`` table (name -> field values) also takes ``preset: NAME``: the
    preset's values, with the fields given beside it overriding them."""
    data = dict(data or {})
    presets = getattr(cls, "PRESETS", None)
    if isinstance(presets, Mapping) and "preset" in data:
        name = data.pop("preset")
        if name not in presets:
            raise ConfigError(
                f"{where}preset: unknown {cls.__name__} preset {name!r}; "
                f"choose one of {', '.join(presets)}"
            )
        data = {**presets[name], **data}
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(where + k for k in unknown)}; "
            f"known in {where or cls.__name__}: {', '.join(sorted(names))}"
        )
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, where=f"{where}{name}")
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, *, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        if len(args) == 1:
            return _coerce(args[0], value, where=where)
        return value
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return from_dict(tp, value, where=where + ".")
    if origin in (list, tuple, Sequence) and isinstance(value, (list, tuple)):
        (inner, *_) = typing.get_args(tp) or (Any,)
        items = [_coerce(inner, v, where=f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if tp in (int, float, str, bool) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``a.b.c=value`` strings to a nested dict (values parsed as YAML scalars)."""
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key.path=value")
        set_path(data, key, yaml.safe_load(raw), what=f"override {item!r}")
    return data


def set_path(data: dict[str, Any], key: str, value: Any, *, what: str) -> None:
    """Set ``a.b.c`` in a nested dict to ``value``, creating sections; ``what`` names the
    setting in the error when a parent is not a section."""
    node = data
    *parents, leaf = key.strip().split(".")
    for part in parents:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{what}: {part!r} is not a section")
    node[leaf] = value


def load_config(cls: type[T], path: str | Path | None = None, overrides: Sequence[str] = ()) -> T:
    """Read a YAML preset (or start from the defaults), apply overrides, build ``cls``."""
    data = read_yaml_mapping(path) if path is not None else {}
    return from_dict(cls, apply_overrides(data, overrides))


def read_yaml_mapping(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """The mapping at the top of YAML file ``path`` (empty file: ``{}``); a missing file,
    invalid YAML or another top-level type is a :class:`ConfigError` naming ``what`` and path."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{what} {path} must hold a mapping at the top level")
    return data


def save_config(config: Any, path: str | Path) -> None:
    """Write a config as YAML (the resolved config saved beside every run and dataset)."""
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8")
