"""Frozen-dataclass configs <-> JSON, so every artefact can carry the config that produced it."""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def config_to_dict(config: Any) -> dict[str, Any]:
    """Dataclass instance -> plain JSON-able dict (tuples become lists, nested dataclasses dicts)."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise ValueError(f"expected a dataclass instance, got {type(config).__name__}")
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _coerce(tp: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if isinstance(value, dict):
            # a union of dataclasses: take the first whose fields cover every key
            for option in options:
                if dataclasses.is_dataclass(option) and set(value) <= {f.name for f in dataclasses.fields(option)}:
                    return config_from_dict(option, value)
        return _coerce(options[0], value) if len(options) == 1 else value
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        return config_from_dict(tp, value)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v) for v in value)
        if args:
            return tuple(_coerce(a, v) for a, v in zip(args, value))
        return tuple(value)
    if origin is list:
        (arg,) = typing.get_args(tp) or (Any,)
        return [_coerce(arg, v) for v in value]
    if origin is dict:
        _, varg = typing.get_args(tp) or (Any, Any)
        return {k: _coerce(varg, v) for k, v in value.items()}
    return value


def config_from_dict(cls: type[T], data: dict[str, Any]) -> T:
    """Build dataclass ``cls`` from a dict made by :func:`config_to_dict`; unknown keys raise ``KeyError``."""
    if not dataclasses.is_dataclass(cls):
        raise ValueError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise KeyError(f"unknown field(s) for {cls.__name__}: {unknown}; known: {sorted(names)}")
    return cls(**{k: _coerce(hints[k], v) for k, v in data.items()})


def save_config(config: Any, path: str | Path) -> Path:
    """Write ``config`` as indented JSON to ``path`` and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config_to_dict(config), indent=2, sort_keys=True) + "\n")
    return path


def load_config(cls: type[T], path: str | Path) -> T:
    """Read a JSON file written by :func:`save_config` back into ``cls``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no config file at {path}")
    return config_from_dict(cls, json.loads(path.read_text()))
