"""The modules a :class:`~hidcap.tracing.Tracer` hooks (its *sites*) and what a hook does to an output.

:func:`build_sites` resolves the record patterns and the ``edits`` / ``replace`` keys of one Tracer against
the model (:class:`~hidcap.tracing.names.ModuleNames`) and validates every value before anything is hooked.
A container (``ModuleList``, a class without ``forward``) is never a site: a forward pass never calls it.
"""
from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from torch import Tensor, nn

from hidcap.tracing.names import (
    ModuleNames,
    TraceError,
    callable_children,
    is_uncallable,
)
from hidcap.tracing.options import CallPolicy

__all__ = ["Site", "build_sites", "in_model_order", "leaves", "apply_replace", "check_edit"]


class Site:
    """Per-module state: what the hook does (record, edits, replace) and what it has stored."""

    __slots__ = ("name", "module", "record", "edits", "replace", "ncalls", "records", "indices", "inputs", "grads")

    def __init__(self, name: str, module: nn.Module):
        self.name = name
        self.module = module
        self.record = False
        self.edits: list[tuple[Callable, bool]] = []
        self.replace: tuple[str, Any] | None = None  # ("all", value) or ("per", {index: value})
        self.ncalls = 0
        self.records: list | deque = _NOTHING  # made by reset() on entering the with block
        self.indices: list | deque = _NOTHING
        self.inputs: list | deque = _NOTHING
        self.grads: dict[int, Tensor] = {}

    def reset(self, policy: CallPolicy) -> None:
        """Empty stores and a call count of 0 (on entering the ``with`` block)."""
        self.ncalls = 0
        self.grads = {}
        if policy.kind == "last":
            self.records, self.indices, self.inputs = policy.new_store(), policy.new_store(), policy.new_store()
        else:
            self.records, self.indices, self.inputs = [], [], []


_NOTHING: tuple = ()  # the stores of a Site that was never entered


def build_sites(
    model: nn.Module, patterns: Iterable[str], edits: Mapping[str, Callable[..., Any]], replace: Mapping[str, Any]
) -> dict[str, Site]:
    """Sites of one Tracer, in the order the patterns found them (:func:`in_model_order` sorts them):
    every module a record pattern, an edit key or a replace key matches. Raises :class:`TraceError` for a name or glob that matches nothing or only containers, and
    ``ValueError`` for an edit that is not callable, a malformed replace value, or a module matched by two
    replace keys."""
    names = ModuleNames(model)
    sites: dict[str, Site] = {}

    def resolve(key: str) -> list[Site]:
        hits = []
        containers = []
        for name, module in names.find(key):
            s = sites.get(name)
            if s is None:
                if is_uncallable(module):
                    containers.append((name, module))
                    continue
                s = sites[name] = Site(name, module)
            hits.append(s)
        if not hits:
            raise TraceError(_containers_message(key, containers))
        return hits

    for pat in patterns:
        for s in resolve(pat):
            s.record = True
    for key, fn in edits.items():
        if not callable(fn):
            raise ValueError(f"edits[{key!r}] must be callable as fn(output, call_index), got {type(fn).__name__}")
        entry = (fn, _wants_name(fn))
        for s in resolve(key):
            s.edits.append(entry)
    for key, value in replace.items():
        spec = _replace_spec(key, value)
        for s in resolve(key):
            if s.replace is not None:
                raise ValueError(f"module {s.name!r} is matched by more than one replace key (last: {key!r})")
            s.replace = spec
    return sites


def in_model_order(model: nn.Module, sites: dict[str, Site]) -> dict[str, Site]:
    """``sites`` sorted in the pre-order of ``model.named_modules()``, from the model as it is now (a
    name that no longer leads to a module goes last, in its previous order)."""
    names = ModuleNames(model)

    def key(name: str) -> tuple[float, ...]:
        try:
            return names.order_key(name)
        except (ValueError, KeyError, AttributeError):
            return (float("inf"),)

    return {n: sites[n] for n in sorted(sites, key=key)}


def _containers_message(key: str, containers: list[tuple[str, nn.Module]]) -> str:
    children = [c for name, module in containers for c in callable_children(name, module)]
    shown = f"{children[:8]}" + (" ..." if len(children) > 8 else "")
    if len(containers) == 1 and containers[0][0] == key:
        name, module = containers[0]
        what = (f"module {name!r} is a container ({type(module).__name__} without forward): a forward pass never "
                f"calls it, so it")
    else:
        what = (f"pattern {key!r} matches only containers ({[n for n, _ in containers][:8]}, without forward): a "
                f"forward pass never calls them, so they")
    return f"{what} cannot be recorded, edited or replaced; trace the modules below instead: {shown}"


_EDIT_WANTS_NAME: dict[Any, bool] = {}


def _wants_name(fn: Callable) -> bool:
    """Whether an edit function takes the module name: it has a parameter called ``name``."""
    key = getattr(fn, "__code__", None) or getattr(type(fn).__call__, "__code__", None) or fn
    hit = _EDIT_WANTS_NAME.get(key)
    if hit is None:
        try:
            p = inspect.signature(fn).parameters.get("name")
            hit = p is not None and p.kind is not inspect.Parameter.POSITIONAL_ONLY
        except (TypeError, ValueError):
            hit = False
        try:
            _EDIT_WANTS_NAME[key] = hit
        except TypeError:  # unhashable callable
            pass
    return hit


def _replace_spec(key: str, value: Any) -> tuple[str, Any]:
    def check(v: Any, where: str) -> None:
        ok = isinstance(v, Tensor) or (isinstance(v, tuple) and len(v) > 0 and all(isinstance(t, Tensor) for t in v))
        if not ok:
            raise ValueError(
                f"{where} must be a tensor or a tuple of tensors (the recorded tensor leaves), got {type(v).__name__}"
            )

    if isinstance(value, list):
        for i, v in enumerate(value):
            check(v, f"replace[{key!r}][{i}]")
        return ("per", dict(enumerate(value)))
    if isinstance(value, Mapping):
        for i, v in value.items():
            if isinstance(i, bool) or not isinstance(i, int) or i < 0:
                raise ValueError(f"replace[{key!r}] keys must be call indices >= 0, got {i!r}")
            check(v, f"replace[{key!r}][{i}]")
        return ("per", dict(value))
    check(value, f"replace[{key!r}]")
    return ("all", value)


# ---------------------------------------------------------------------------------------------
# output structures
def leaves(obj: Any) -> list[Tensor]:
    """Tensor leaves of a (nested) tensor / tuple / list / dict, depth first."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in leaves(o)]
    if isinstance(obj, Mapping):
        return [t for o in obj.values() for t in leaves(o)]
    return []


def _rebuild(obj: Any, new: Iterable[Tensor]) -> Any:
    """``obj`` with its tensor leaves replaced, in order, by the tensors of ``new``."""
    it = iter(new)

    def go(o: Any) -> Any:
        if isinstance(o, Tensor):
            return next(it)
        if isinstance(o, tuple):
            items = [go(x) for x in o]
            if hasattr(o, "_fields"):  # namedtuple
                return type(o)(*items)
            try:
                return type(o)(items)
            except TypeError:
                return tuple(items)
        if isinstance(o, list):
            return [go(x) for x in o]
        if isinstance(o, Mapping):
            items = {k: go(v) for k, v in o.items()}
            try:
                return type(o)(items)
            except TypeError:
                return items
        return o

    return go(obj)


def apply_replace(name: str, spec: tuple[str, Any], output: Any, i: int) -> Any:
    """``output`` of call ``i`` of module ``name`` replaced as ``spec`` says (unchanged when a per-call
    spec has no entry for ``i``); shapes and dtypes must match (``ValueError``)."""
    kind, value = spec
    if kind == "per":
        value = value.get(i)
        if value is None:
            return output
    if isinstance(output, Tensor):
        if not isinstance(value, Tensor):
            raise ValueError(
                f"replace for module {name!r}: the output is a tensor, got a {type(value).__name__} of "
                f"{len(value)} tensors"
            )
        _check_like(name, i, output, value)
        return value.to(output.device)
    old = leaves(output)
    new = (value,) if isinstance(value, Tensor) else value
    if len(new) != len(old):
        raise ValueError(
            f"replace for module {name!r} at call {i}: the output has {len(old)} tensor leaves, got {len(new)}"
        )
    for o, v in zip(old, new):
        _check_like(name, i, o, v)
    return _rebuild(output, (v.to(o.device) for o, v in zip(old, new)))


def _check_like(name: str, i: int, expected: Tensor, got: Tensor) -> None:
    if expected.shape != got.shape:
        raise ValueError(
            f"replace for module {name!r} at call {i}: shape mismatch, expected {tuple(expected.shape)}, "
            f"got {tuple(got.shape)}"
        )
    if expected.dtype != got.dtype:
        raise ValueError(
            f"replace for module {name!r} at call {i}: dtype mismatch, expected {expected.dtype}, got {got.dtype}"
        )


def check_edit(name: str, i: int, old: Any, new: Any) -> None:
    """An edit must keep the output's structure and shapes: fail here, naming the module and call,
    rather than deep inside the next layer."""
    if type(old) is Tensor or isinstance(old, Tensor):
        if not isinstance(new, Tensor):
            raise ValueError(f"edit for module {name!r} at call {i} returned a {type(new).__name__}, not a tensor")
        if new.shape != old.shape:
            raise ValueError(
                f"edit for module {name!r} at call {i} changed the output shape from {tuple(old.shape)} to "
                f"{tuple(new.shape)}; an edit must return the shape it was given"
            )
        return
    a, b = leaves(old), leaves(new)
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        raise ValueError(
            f"edit for module {name!r} at call {i} changed the output's tensor leaves from "
            f"{[tuple(x.shape) for x in a]} to {[tuple(y.shape) for y in b]}"
        )
