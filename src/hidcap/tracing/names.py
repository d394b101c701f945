"""Module names: :func:`resolve_modules`, :class:`TraceError` and a per-model cache of the module tree.

Resolving names walks ``model.named_modules()``; a :class:`Tracer` is often built many times on the same
model (once per sampling call, per checkpoint, per site), so the walk is cached per model and re-done
only when the module tree changes: a submodule registered anywhere (``setattr``, ``add_module``,
``ModuleList.append``; seen through torch's global module-registration hook) or a ``_modules`` dict of
the cached tree changing size (``del``, ``pop``).
"""
from __future__ import annotations

import difflib
import fnmatch
import re
import weakref
from collections.abc import Iterable

from torch import nn

__all__ = ["TraceError", "resolve_modules", "module_index", "is_uncallable", "uncompiled"]

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

    __slots__ = ("names", "modules", "order", "_sizes", "_generation", "_patterns", "__weakref__")

    def __init__(self, model: nn.Module):
        self.modules = dict(model.named_modules())
        self.names = list(self.modules)
        self.order = {n: i for i, n in enumerate(self.names)}
        self._sizes = [(m._modules, len(m._modules)) for m in self.modules.values()]
        self._generation = _generation
        self._patterns: dict[str, tuple[str, ...]] = {}

    def valid(self) -> bool:
        return self._generation == _generation and all(len(d) == n for d, n in self._sizes)

    def resolve(self, model: nn.Module, pat: str) -> tuple[str, ...]:
        hit = self._patterns.get(pat)
        if hit is None:
            hit = self._patterns[pat] = tuple(self._resolve(model, pat))
        return hit

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


def module_index(model: nn.Module) -> ModuleIndex:
    """The cached :class:`ModuleIndex` of ``model``, rebuilt when its module tree changed."""
    _install_registration_hook()
    idx = _indices.get(model)
    if idx is None or not idx.valid():
        idx = _indices[model] = ModuleIndex(model)
    return idx


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
    idx = module_index(model)
    selected: set[str] = set()
    for pat in patterns:
        selected.update(idx.resolve(model, pat))
    return sorted(selected, key=idx.order.__getitem__)
