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

**Values from text.** :func:`set_field` sets one dotted field (``optimizer.lr``) of a config from a
command-line string or a JSON value, read to the field's type by the same walk that loads files
(``'0.003'`` -> 0.003, ``'none'`` -> None, ``'[0.9, 0.99]'`` -> a tuple).

**Notes.** :func:`save_config` may write top-level entries whose keys begin with ``"@"`` beside the fields
(``extra``; e.g. the training loop's record of a run's extensions); they are not config fields, loading skips
them, and :func:`load_config_extras` reads them.
"""
from __future__ import annotations

import dataclasses
import json
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["ConfigKeyError", "KIND_KEY", "config_from_dict", "config_kind", "config_to_dict", "load_config",
           "load_config_extras", "save_config", "set_field"]

T = TypeVar("T")

#: Key under which :func:`config_to_dict` records each dataclass's kind (not a valid field name, so it never
#: collides with one, e.g. ``BumpDataSpec.kind``).
KIND_KEY = "@kind"
_NONE_WORDS = ("none", "null")
_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "yes": True, "no": False}


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


def _coerce(tp: Any, value: Any, where: _Where, text: bool = False) -> Any:
    """``value`` as type ``tp``. text: ``value`` comes from a command line (strings are read as the type asks,
    scalars are type-checked); else from a JSON file (the dataclasses validate their own values)."""
    if text and isinstance(value, str) and value.lower() in _NONE_WORDS and _allows_none(tp):
        return None
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        classes = [o for o in options if dataclasses.is_dataclass(o)]
        if isinstance(value, dict) and classes:
            return _from_dict(_pick_option(classes, value, where), value, where)
        if text:
            if classes:
                raise ValueError(f"{where.section} is a config section, not a value; set its fields instead, "
                                 f"e.g. {where.section}.<field>")
            errors = []
            for option in options:
                try:
                    return _coerce(option, value, where, text)
                except ValueError as exc:
                    errors.append(str(exc))
            raise ValueError(errors[0] if len(errors) == 1 else f"{where.section}: cannot read {value!r} as {tp}")
        return _coerce(options[0], value, where) if len(options) == 1 else value
    if dataclasses.is_dataclass(tp):
        if text and not isinstance(value, dict):
            fields = [f.name for f in dataclasses.fields(tp)]
            raise ValueError(f"{where.section} is a config section ({tp.__name__}), not a value; set its fields "
                             f"instead, e.g. {where.section}.{fields[0]} (its fields: {fields})")
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected an object for {tp.__name__}, got {type(value).__name__}")
        return _from_dict(tp, value, where)
    if origin is tuple:
        if text:
            value = _list_from_text(tp, value, where)
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, where.child(str(i)), text) for i, v in enumerate(value))
        if args:
            if text and len(args) != len(value):
                raise ValueError(f"{where.section} takes {len(args)} values, got {len(value)}: {value!r}")
            return tuple(_coerce(a, v, where.child(str(i)), text) for i, (a, v) in enumerate(zip(args, value)))
        return tuple(value)
    if origin is list:
        (arg,) = typing.get_args(tp) or (Any,)
        if text:
            value = _list_from_text(tp, value, where)
        return [_coerce(arg, v, where.child(str(i)), text) for i, v in enumerate(value)]
    if origin is dict:
        _, varg = typing.get_args(tp) or (Any, Any)
        return {k: _coerce(varg, v, where.child(str(k)), text) for k, v in value.items()}
    return _scalar_from_text(tp, value, where) if text else value


def _allows_none(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)


def _list_from_text(tp: Any, value: Any, where: _Where) -> list[Any]:
    """A tuple or list field's value given as a JSON list (or the text of one)."""
    items = value
    if isinstance(value, str):
        try:
            items = json.loads(value)
        except json.JSONDecodeError:
            items = None
    if not isinstance(items, (list, tuple)):
        name, kind = where.section, typing.get_origin(tp).__name__
        raise ValueError(f"{name} is a {kind}: give it as a JSON list such as [1, 2] (a grid axis takes a list of "
                         f"them, e.g. {name}=[[1,2],[3,4]]), got {value!r}")
    return list(items)


def _scalar_from_text(tp: Any, raw: Any, where: _Where) -> Any:
    """``raw`` (a command-line string or a JSON value) as the scalar type ``tp``; ValueError names the field."""
    name = where.section
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in _BOOL_WORDS:
            return _BOOL_WORDS[raw.lower()]
        raise ValueError(f"{name} takes true/false, got {raw!r}")
    if tp in (int, float):
        if isinstance(raw, (int, float)) and not isinstance(raw, bool) and (tp is float or isinstance(raw, int)):
            return tp(raw)
        if isinstance(raw, str):
            try:
                return tp(raw)
            except ValueError:
                pass
        raise ValueError(f"{name} takes {'an integer' if tp is int else 'a number'}, got {raw!r}")
    if tp is str:
        if isinstance(raw, str):
            return raw
        raise ValueError(f"{name} takes a string, got {raw!r}")
    if tp is Any:
        return raw
    raise ValueError(f"{name} has type {tp}, which cannot be set from text")


def _from_dict(cls: type[T], data: dict[str, Any], where: _Where) -> T:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object for {cls.__name__}, got {type(data).__name__}")
    data = dict(data)
    if not where.section:  # top-level notes (save_config's extra) are not fields
        data = {k: v for k, v in data.items() if not (k.startswith("@") and k != KIND_KEY)}
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


def save_config(config: Any, path: str | Path, *, extra: dict[str, Any] | None = None) -> Path:
    """Write ``config`` as indented JSON to ``path`` and return the path. extra: JSON-able top-level notes
    whose keys begin with ``"@"`` (not ``"@kind"``), written beside the fields (see :func:`load_config_extras`)."""
    extra = dict(extra or {})
    bad = [k for k in extra if not isinstance(k, str) or not k.startswith("@") or k == KIND_KEY]
    if bad:
        raise ValueError(f"extra keys must begin with '@' and not be {KIND_KEY!r}, got {bad}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**config_to_dict(config), **extra}, indent=2, sort_keys=True) + "\n")
    return path


def _read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no config file at {path}")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc


def load_config(cls: type[T], path: str | Path) -> T:
    """Read a JSON file written by :func:`save_config` back into ``cls`` (strictly; errors name the file)."""
    return config_from_dict(cls, _read_json(path), source=str(path))


def load_config_extras(path: str | Path) -> dict[str, Any]:
    """The top-level notes (keys beginning with ``"@"``, ``"@kind"`` aside) of a file written by :func:`save_config`."""
    data = _read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return {k: v for k, v in data.items() if k.startswith("@") and k != KIND_KEY}


def set_field(config: Any, dotted: str, raw: Any) -> Any:
    """A copy of the frozen dataclass ``config`` with field ``dotted`` (e.g. ``'optimizer.lr'``) set to ``raw``,
    a command-line string or a JSON value read to the field's type (``'0.003'`` -> 0.003, ``'none'`` -> None,
    ``'[0.9, 0.99]'`` -> a tuple). :class:`ConfigKeyError` names an unknown field (and the sections that hold a
    field of that name, e.g. ``optimizer.lr`` for ``lr``); ValueError a value that does not fit."""
    parts = dotted.split(".")
    chain = [config]  # config, config.<p0>, config.<p0>.<p1>, ...
    for i, part in enumerate(parts):
        obj, where = chain[-1], ".".join(parts[:i]) or type(config).__name__
        if not dataclasses.is_dataclass(obj):
            raise ConfigKeyError(f"cannot set {dotted!r}: {where} is a {type(obj).__name__}, not a config section")
        known = sorted(f.name for f in dataclasses.fields(obj) if f.init)
        if part not in known:
            hint = _paths_ending_in(obj, part, ".".join(parts[:i]))
            raise ConfigKeyError(f"unknown config field {'.'.join(parts[: i + 1])!r}; {where} has fields {known}"
                                 + (f" (did you mean {' or '.join(hint)}?)" if hint else ""))
        if i < len(parts) - 1:
            chain.append(getattr(obj, part))
    value = _coerce(typing.get_type_hints(type(chain[-1]))[parts[-1]], raw, _Where(None, dotted), text=True)
    for obj, part in zip(reversed(chain), reversed(parts)):
        value = dataclasses.replace(obj, **{part: value})
    return value


def _paths_ending_in(config: Any, name: str, prefix: str) -> list[str]:
    """Dotted paths of the fields called ``name`` in the config sections below ``config``."""
    found = []
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.init and dataclasses.is_dataclass(value) and not isinstance(value, type):
            path = f"{prefix}.{f.name}" if prefix else f.name
            if name in {g.name for g in dataclasses.fields(value) if g.init}:
                found.append(f"{path}.{name}")
            found += _paths_ending_in(value, name, path)
    return found
