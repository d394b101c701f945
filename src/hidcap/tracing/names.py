"""Module names: :func:`resolve_modules`, :class:`TraceError` and a per-model cache of the module tree.

Resolving names walks ``model.named_modules()``; a :class:`Tracer` is often built many times on the same
model (once per sampling call, per checkpoint, per site), so the walk is cached per model and re-done
when the module tree changes: a submodule registered anywhere (``setattr``, ``add_module``,
``ModuleList.append``; seen through torch's global module-registration hook), or a resolved name that no
longer leads to its cached module (``del``, ``ModuleList`` renumbering after ``del``/``pop``; checked by
walking the ``_modules`` path of each resolved name, a few dict lookups).
"""
from __future__ import annotations

import difflib
import fnmatch
import re
import weakref
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

__all__ = ["TraceError", "resolve_modules", "resolve_all", "module_index", "is_uncallable", "uncompiled"]

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


def uncompiled(model: nn.Module) -> nn.Module:
    """The module a ``torch.compile`` wrapper (``OptimizedModule``) wraps, else ``model`` itself."""
    while hasattr(model, "_orig_mod") and type(model).__name__ == "OptimizedModule":
        model = model._orig_mod
    return model


# ---------------------------------------------------------------------------------------------
# the cache
_generation = 0  # bumped whenever any module registers a submodule


def _on_registration(module: nn.Module, name: str, submodule: nn.Module | None) -> None:
    global _generation
    _generation += 1


_registration_handle = None


def _install_registration_hook() -> None:
    global _registration_handle
    if _registration_handle is None:
        _registration_handle = nn.modules.module.register_module_module_registration_hook(_on_registration)


class ModuleIndex:
    """The module tree of one model: names in model order, name -> module, and resolved patterns."""

    __slots__ = ("names", "modules", "order", "containers", "_generation", "_patterns", "_fresh", "__weakref__")

    def __init__(self, model: nn.Module):
        self.modules = dict(model.named_modules())
        self.names = list(self.modules)
        self.order = {n: i for i, n in enumerate(self.names)}
        self.containers = frozenset(n for n, m in self.modules.items() if is_uncallable(m))
        self._generation = _generation
        self._patterns: dict[str, tuple[str, ...]] = {}
        self._fresh = True  # just built: nothing to check

    def valid(self) -> bool:
        return self._generation == _generation

    def resolve(self, model: nn.Module, pat: str) -> tuple[str, ...]:
        hit = self._patterns.get(pat)
        if hit is None:
            hit = self._patterns[pat] = tuple(self._resolve(model, pat))
        return hit

    def reachable(self, model: nn.Module, names: Iterable[str]) -> bool:
        """Whether each name still leads from ``model`` to the module cached under it."""
        modules = self.modules
        for name in names:
            m = model
            if name:
                for part in name.split("."):
                    m = m._modules.get(part)
                    if m is None:
                        return False
            if m is not modules[name]:
                return False
        return True

    def _resolve(self, model: nn.Module, pat: str) -> list[str]:
        if not isinstance(pat, str):
            raise ValueError(f"module patterns must be strings, got {type(pat).__name__}: {pat!r}")
        if pat in self.modules:
            return [pat]
        if _GLOB_CHARS.intersection(pat):
            match = re.compile(fnmatch.translate(pat)).match
            hits = [n for n in self.names if n and match(n)]
            if hits:
                return hits
        aliases = dict(model.named_modules(remove_duplicate=False))
        if pat in aliases:
            first = next(n for n, m in self.modules.items() if m is aliases[pat])
            raise TraceError(
                f"module {pat!r} is shared with {first!r} and is listed once by named_modules(); use {first!r}"
            )
        raise TraceError(
            f"pattern {pat!r} matches no module of {type(model).__name__}; "
            f"closest names: {_closest(pat, self.names)}"
        )


_indices: weakref.WeakKeyDictionary[nn.Module, ModuleIndex] = weakref.WeakKeyDictionary()


def module_index(model: nn.Module, fresh: bool = False) -> ModuleIndex:
    """The cached :class:`ModuleIndex` of ``model``, rebuilt when a submodule was registered since
    (or when ``fresh``). Callers check their resolved names with :meth:`ModuleIndex.reachable`."""
    _install_registration_hook()
    idx = None if fresh else _indices.get(model)
    if idx is None or not idx.valid():
        idx = _indices[model] = ModuleIndex(model)
    return idx


def resolve_all(model: nn.Module, patterns: Iterable[str]) -> tuple[ModuleIndex, list[tuple[str, ...]]]:
    """``(index, [names matched by each pattern])`` from the cache, rebuilding the index once when a
    cached name no longer leads to its module or a pattern matches nothing in a stale cache."""
    patterns = list(patterns)
    idx = module_index(model)
    fresh, idx._fresh = idx._fresh, False
    try:
        hits = [idx.resolve(model, p) for p in patterns]
        if fresh or idx.reachable(model, {n for h in hits for n in h}):
            return idx, hits
    except TraceError:
        if fresh:
            raise
    idx = module_index(model, fresh=True)
    return idx, [idx.resolve(model, p) for p in patterns]


def resolve_modules(model: nn.Module, patterns: str | Iterable[str]) -> list[str]:
    """Resolve exact module names and fnmatch globs to module names of ``model``, in model order.

    ``patterns`` is one string or an iterable of strings. An exact name (``""`` is the root) wins
    over glob interpretation; globs never match the root. A module registered under several names
    (shared) is known by its first name only, as in ``named_modules()``. A pattern matching nothing raises
    :class:`TraceError` (a ``KeyError``) naming the pattern and the closest existing names (difflib).
    Duplicates are merged. Resolution is cached per model until its module tree changes.
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    idx, hits = resolve_all(model, patterns)
    selected = {n for h in hits for n in h}
    return sorted(selected, key=idx.order.__getitem__)


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
