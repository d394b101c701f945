"""Module names: :func:`resolve_modules`, :class:`TraceError` and :class:`ModuleNames`, the names of one
model's modules as they are at the moment of asking.

There is no cache and no global state: each :class:`~hidcap.tracing.Tracer` (and each
:func:`resolve_modules` call) resolves its own patterns against the model as it is then. An exact name is
followed along its ``_modules`` path (a few dict lookups, so building a Tracer per sampling call or per
checkpoint stays cheap); the model is walked with ``named_modules()`` only when a glob, or an error message
listing the closest names, needs every name, and then once.
"""
from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["TraceError", "resolve_modules", "ModuleNames", "is_uncallable", "uncompiled", "callable_children"]

_GLOB_CHARS = frozenset("*?[")


class TraceError(KeyError):
    """A module name that matches nothing, or a traced module that cannot be read (never called,
    not recorded, a container that forward never calls). A ``KeyError`` whose message prints without
    the quotes ``KeyError`` adds."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _closest(name: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    return difflib.get_close_matches(name, [c for c in candidates if c], n=n, cutoff=0.3)


def is_uncallable(module: nn.Module) -> bool:
    """True for a pure container (``ModuleList``, ``ModuleDict``, a class without ``forward``): calling
    it raises, so a forward pass never calls it and hooks on it never fire."""
    return type(module).forward is nn.Module.forward


def callable_children(name: str, module: nn.Module) -> list[str]:
    """Names of the modules below container ``name`` that a forward pass can call: its children, with each
    child that is itself a container replaced by its own callable children (depth first)."""
    out = []
    for part, sub in module._modules.items():
        if sub is None:
            continue
        full = f"{name}.{part}" if name else part
        out.extend(callable_children(full, sub) if is_uncallable(sub) else [full])
    return out


def uncompiled(model: nn.Module) -> nn.Module:
    """The module a ``torch.compile`` wrapper (``OptimizedModule``) wraps, else ``model`` itself."""
    while hasattr(model, "_orig_mod") and type(model).__name__ == "OptimizedModule":
        model = model._orig_mod
    return model


class ModuleNames:
    """The module names of ``model`` as they are now, for one resolution (one Tracer, one call).

    ``locate(name)`` follows an exact name along its path; ``walk()`` lists every module as
    ``named_modules()`` does (a shared module once, under its first name), made on first use and kept
    for the life of this object only.
    """

    __slots__ = ("model", "_walk")

    def __init__(self, model: nn.Module):
        self.model = model
        self._walk: dict[str, nn.Module] | None = None

    def walk(self) -> dict[str, nn.Module]:
        """``dict(model.named_modules())``, walked once."""
        if self._walk is None:
            self._walk = dict(self.model.named_modules())
        return self._walk

    def locate(self, name: str) -> nn.Module | None:
        """The module called ``name`` (an exact name, followed along its path), or ``None``. Any name
        leading to a module works, including a second name of a shared module."""
        m = self.model
        if name:
            for part in name.split("."):
                m = m._modules.get(part)
                if m is None:
                    return None
        return m

    def order_key(self, name: str) -> tuple[int, ...]:
        """Each path segment's position among its parent's children: sorting names by this key gives the
        pre-order of ``named_modules()``. ``name`` must lead to a module."""
        m = self.model
        key = []
        if name:
            for part in name.split("."):
                children = m._modules
                key.append(list(children).index(part))
                m = children[part]
        return tuple(key)

    def find(self, pat: str, *, first_names_only: bool = False) -> list[tuple[str, nn.Module]]:
        """``(name, module)`` for each module matched by ``pat``: the exact name if a module has it, else
        the fnmatch glob (never the root ``""``; in model order). With ``first_names_only``, an exact name
        must be the one ``named_modules()`` lists (a shared module's other names raise). Matching nothing
        raises :class:`TraceError` naming the closest names."""
        if not isinstance(pat, str):
            raise ValueError(f"module patterns must be strings, got {type(pat).__name__}: {pat!r}")
        if first_names_only:
            m = self.walk().get(pat)
        else:
            m = self.locate(pat)
        if m is not None:
            return [(pat, m)]
        if _GLOB_CHARS.intersection(pat):
            match = re.compile(fnmatch.translate(pat)).match
            hits = [(n, m) for n, m in self.walk().items() if n and match(n)]
            if hits:
                return hits
        m = self.locate(pat)
        if m is not None:  # only reached with first_names_only: a second name of a shared module
            first = next(n for n, other in self.walk().items() if other is m)
            raise TraceError(
                f"module {pat!r} is shared with {first!r} and is listed once by named_modules(); use {first!r}"
            )
        raise TraceError(
            f"pattern {pat!r} matches no module of {type(self.model).__name__}; "
            f"closest names: {_closest(pat, self.walk())}"
        )


def resolve_modules(model: nn.Module, patterns: str | Iterable[str]) -> list[str]:
    """Resolve exact module names and fnmatch globs to module names of ``model``, in model order.

    ``patterns`` is one string or an iterable of strings. An exact name (``""`` is the root) wins
    over glob interpretation; globs never match the root. A module registered under several names
    (shared) is known by its first name only, as in ``named_modules()``. A pattern matching nothing raises
    :class:`TraceError` (a ``KeyError``) naming the pattern and the closest existing names (difflib).
    Duplicates are merged. Containers (``ModuleList`` ...) are listed like any module. The model is
    walked anew on every call, so the result always reflects its current module tree.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    names = ModuleNames(model)
    selected = {n for p in patterns for n, _ in names.find(p, first_names_only=True)}
    order = {n: i for i, n in enumerate(names.walk())}
    return sorted(selected, key=order.__getitem__)


def _stack(name: str, items: list) -> Any:
    try:
        if isinstance(items[0], Tensor):
            return torch.stack(items)
        return tuple(torch.stack(parts) for parts in zip(*items, strict=True))
    except (RuntimeError, ValueError) as err:
        shapes = [tuple(x.shape) if isinstance(x, Tensor) else tuple(tuple(t.shape) for t in x) for x in items]
        raise ValueError(
            f"cannot stack the calls of module {name!r}: shapes differ across calls {shapes}; use records()"
        ) from err
