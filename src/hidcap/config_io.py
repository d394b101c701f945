"""Frozen-dataclass configs <-> JSON, so every artefact can carry the config that produced it.

Loading is strict: every section must hold exactly its dataclass's fields. An unknown key, a missing key or a
bad value raises an error naming the file (when there is one), the section (``diffusion``,
``data.held_out`` …) and the key.

**Kinds.** :func:`config_to_dict` writes each dataclass's kind under the key ``"@kind"`` (the class name, or
the class attribute ``config_kind`` where one is declared). A field typed as a union of dataclasses
(``diffusion: DDPMConfig | VDMConfig``, ``data: ConceptDataSpec | BumpDataSpec | None``, …) is read back as
the option whose kind is ``"@kind"``; a new config class only has to appear in the union. Files written
before kinds existed have no ``"@kind"``: the option is then the one whose field names match the keys
exactly (fields with a documented old-file default may be missing); no match or more than one is an error.

**Old files.** A dataclass may list in the class attribute ``config_defaults_for_old_files`` (a tuple of
field names) the fields that files written before they existed may lack; those take the dataclass default.
Every other field must be present: a missing key is never silently filled in.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["ConfigKeyError", "KIND_KEY", "config_from_dict", "config_kind", "config_to_dict", "load_config",
           "save_config"]

T = TypeVar("T")

#: Key under which :func:`config_to_dict` records each dataclass's kind (not a valid field name, so it never
#: collides with one, e.g. ``BumpDataSpec.kind``).
KIND_KEY = "@kind"


class ConfigKeyError(KeyError):
    """An unknown or missing key in a config; ``str()`` is the plain message (``KeyError`` would quote it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def config_kind(cls: type) -> str:
    """The kind written for dataclass ``cls``: its ``config_kind`` class attribute, else its class name."""
    return str(getattr(cls, "config_kind", cls.__name__))


def config_to_dict(config: Any) -> dict[str, Any]:
    """Dataclass instance -> plain JSON-able dict (tuples become lists, nested dataclasses dicts); every
    dataclass dict carries its kind under ``"@kind"``."""
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise ValueError(f"expected a dataclass instance, got {type(config).__name__}")
    return json.loads(json.dumps(_to_plain(config)))


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {KIND_KEY: config_kind(type(value))}
        out.update({f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)})
        return out
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    return value


class _Where:
    """Where a value sits: the file (if any) and the dotted section path, for error messages."""

    def __init__(self, source: str | None, section: str):
        self.source, self.section = source, section

    def child(self, name: str) -> _Where:
        return _Where(self.source, f"{self.section}.{name}" if self.section else name)

    def __str__(self) -> str:
        sec = f"section {self.section!r}" if self.section else "top level"
        return f"{self.source}: {sec}" if self.source else sec


def _required(cls: type) -> set[str]:
    optional = set(getattr(cls, "config_defaults_for_old_files", ()))
    return {f.name for f in dataclasses.fields(cls) if f.init} - optional


def _fits(cls: type, keys: set[str]) -> bool:
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    return _required(cls) <= keys <= names


def _pick_option(options: list[type], value: dict, where: _Where) -> type:
    """The dataclass among a union's ``options`` that a dict describes: by ``"@kind"``, else by its keys."""
    kinds = {config_kind(o): o for o in options}
    if KIND_KEY in value:
        kind = value[KIND_KEY]
        if kind not in kinds:
            raise ConfigKeyError(f"{where}: unknown {KIND_KEY} {kind!r}; expected one of {sorted(kinds)}")
        return kinds[kind]
    keys = set(value)
    matches = [o for o in options if _fits(o, keys)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        def names(o: type) -> set[str]:
            return {f.name for f in dataclasses.fields(o) if f.init}

        best = max(options, key=lambda o: len(keys & names(o)) - len(keys - names(o)))
        raise ConfigKeyError(
            f"{where}: keys fit none of {sorted(kinds)}; closest is {config_kind(best)} with unknown key(s) "
            f"{sorted(keys - names(best))} and missing key(s) {sorted(_required(best) - keys)}"
        )
    raise ConfigKeyError(f"{where}: keys fit several of {sorted(config_kind(m) for m in matches)}; add {KIND_KEY!r}")


def _coerce(tp: Any, value: Any, where: _Where) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        classes = [o for o in options if dataclasses.is_dataclass(o)]
        if isinstance(value, dict) and classes:
            return _from_dict(_pick_option(classes, value, where), value, where)
        return _coerce(options[0], value, where) if len(options) == 1 else value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object for {tp.__name__}, got {type(value).__name__}")
        return _from_dict(tp, value, where)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, where.child(str(i))) for i, v in enumerate(value))
        if args:
            return tuple(_coerce(a, v, where.child(str(i))) for i, (a, v) in enumerate(zip(args, value)))
        return tuple(value)
    if origin is list:
        (arg,) = typing.get_args(tp) or (Any,)
        return [_coerce(arg, v, where.child(str(i))) for i, v in enumerate(value)]
    if origin is dict:
        _, varg = typing.get_args(tp) or (Any, Any)
        return {k: _coerce(varg, v, where.child(str(k))) for k, v in value.items()}
    return value


def _from_dict(cls: type[T], data: dict[str, Any], where: _Where) -> T:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object for {cls.__name__}, got {type(data).__name__}")
    data = dict(data)
    kind = data.pop(KIND_KEY, None)
    if kind is not None and kind != config_kind(cls):
        raise ConfigKeyError(f"{where}: {KIND_KEY} is {kind!r}, expected {config_kind(cls)!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigKeyError(f"{where}: unknown key(s) {unknown} for {cls.__name__}; known: {sorted(names)}")
    missing = sorted(_required(cls) - set(data))
    if missing:
        raise ConfigKeyError(f"{where}: missing key(s) {missing} for {cls.__name__} (no default for old files)")
    values = {k: _coerce(hints[k], v, where.child(k)) for k, v in data.items()}
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{where}: {exc}") from exc


def config_from_dict(cls: type[T], data: dict[str, Any], *, source: str | None = None) -> T:
    """Build dataclass ``cls`` from a dict made by :func:`config_to_dict`.

    Unknown or missing keys raise :class:`ConfigKeyError` (a ``KeyError``), bad values ``ValueError``; both
    name ``source`` (e.g. the file), the section and the key. See the module docstring for ``"@kind"`` and
    old-file defaults.
    """
    if not dataclasses.is_dataclass(cls):
        raise ValueError(f"{cls!r} is not a dataclass")
    return _from_dict(cls, data, _Where(source, ""))


def save_config(config: Any, path: str | Path) -> Path:
    """Write ``config`` as indented JSON to ``path`` and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config_to_dict(config), indent=2, sort_keys=True) + "\n")
    return path


def load_config(cls: type[T], path: str | Path) -> T:
    """Read a JSON file written by :func:`save_config` back into ``cls`` (strictly; errors name the file)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no config file at {path}")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    return config_from_dict(cls, data, source=str(path))
