"""Record, edit and replace module outputs with forward hooks: :class:`Tracer`.

Conventions (see ``docs/tracing.md``):

- modules are named as in ``model.named_modules()``; patterns are exact names or fnmatch globs
  (``*`` crosses dots, so ``"*.cond_embed"`` matches ``downs.0.res.1.cond_embed``);
- a tensor output is recorded as a tensor; a tuple/list/dict output is recorded as a *tuple of its
  tensor leaves* (depth first, dict values in insertion order; non-tensor leaves are dropped);
- what is recorded is the output the rest of the model sees, i.e. after this tracer's replacement
  and edits.
"""
from __future__ import annotations

import inspect
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from hidcap.tracing.disk import Recording, RecordWriter
from hidcap.tracing.names import TraceError, _closest, _stack, resolve_all, uncompiled

__all__ = ["Tracer"]


class _StopForward(Exception):
    """Raised by a hook of a ``Tracer(..., stop=True)`` once every recorded module has run; the
    Tracer's ``__exit__`` swallows it."""


# ---------------------------------------------------------------------------------------------
# output structures
def _leaves(obj: Any) -> list[Tensor]:
    """Tensor leaves of a (nested) tensor / tuple / list / dict, depth first."""
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (tuple, list)):
        return [t for o in obj for t in _leaves(o)]
    if isinstance(obj, Mapping):
        return [t for o in obj.values() for t in _leaves(o)]
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


# ---------------------------------------------------------------------------------------------
# which calls to keep
class _CallPolicy:
    """Normalised ``calls=`` option.

    kind ``"all"``: keep every call; ``"pred"``: keep call i when ``i in members``;
    ``"last"``: keep the last ``k`` calls (``exact``: only the k-th from the end).
    """

    __slots__ = ("kind", "members", "k", "exact", "spec")

    def __init__(self, calls: Any):
        self.spec = calls
        self.members: Any = None
        self.k = 0
        self.exact = False
        if calls is None:
            self.kind = "all"
        elif isinstance(calls, bool):
            raise ValueError(f"calls must be None, an int, a slice or a collection of ints, got {calls!r}")
        elif isinstance(calls, int):
            if calls >= 0:
                self.kind, self.members = "pred", frozenset([calls])
            else:
                self.kind, self.k, self.exact = "last", -calls, True
        elif isinstance(calls, slice):
            start, stop, step = calls.start, calls.stop, calls.step
            if step is not None and step <= 0:
                raise ValueError(f"calls slice needs a positive step, got {calls!r}")
            if start is not None and start < 0:
                if stop is not None or step not in (None, 1):
                    raise ValueError(
                        f"a negative calls slice must look like slice(-k, None) (the last k calls), got {calls!r}"
                    )
                self.kind, self.k = "last", -start
            elif stop is not None and stop < 0:
                raise ValueError(f"calls slice stop must be >= 0 (total call count is unknown), got {calls!r}")
            else:
                self.kind = "pred"
                self.members = _SliceMembers(start or 0, stop, step or 1)
        elif isinstance(calls, Iterable):
            items = list(calls)
            bad = [i for i in items if isinstance(i, bool) or not isinstance(i, int) or i < 0]
            if bad:
                raise ValueError(
                    f"calls collection must hold non-negative ints (use an int or slice(-k, None) "
                    f"for the last calls), got {bad}"
                )
            self.kind = "pred"
            self.members = calls if isinstance(calls, range) else frozenset(items)
        else:
            raise ValueError(f"calls must be None, an int, a slice or a collection of ints, got {calls!r}")

    def new_store(self) -> list | deque:
        return deque(maxlen=self.k) if self.kind == "last" else []


class _SliceMembers:
    __slots__ = ("start", "stop", "step")

    def __init__(self, start: int, stop: int | None, step: int):
        self.start, self.stop, self.step = start, stop, step

    def __contains__(self, i: int) -> bool:
        return i >= self.start and (self.stop is None or i < self.stop) and (i - self.start) % self.step == 0


# ---------------------------------------------------------------------------------------------
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


class _Site:
    """Per-module state: what to do in the hook and what has been stored."""

    __slots__ = ("name", "module", "record", "edits", "replace", "ncalls", "records", "indices", "inputs", "fast",
                 "grads", "container")

    def __init__(self, name: str, module: nn.Module):
        self.name = name
        self.module = module
        self.record = False
        self.edits: list[tuple[Callable, bool]] = []
        self.replace: tuple[str, Any] | None = None  # ("all", value) or ("per", {index: value})
        self.fast = False
        self.container = False  # a module without forward (ModuleList, ...): never hooked
        self.reset(None)

    def reset(self, policy: _CallPolicy | None) -> None:
        self.ncalls = 0
        self.grads: dict[int, Tensor] = {}
        if policy is None:
            self.records: list | deque = []
            self.indices: list | deque = []
            self.inputs: list | deque = []
        else:
            self.records, self.indices, self.inputs = policy.new_store(), policy.new_store(), policy.new_store()


def _container_message(name: str, module: nn.Module) -> str:
    children = [f"{name}.{c}" for c in module._modules]
    return (
        f"module {name!r} is a container ({type(module).__name__} without forward): a forward pass never calls "
        f"it, so it cannot be recorded, edited or replaced; trace its children instead: {children[:8]}"
        + (" ..." if len(children) > 8 else "")
    )


class Tracer:
    """Context manager that records, edits and replaces module outputs of any ``nn.Module``.

    ``Tracer(model, patterns, *, edits=None, replace=None, record_inputs=False, detach=True,
    device=None, dtype=None, calls=None, reduce=None, grad=False, stop=False, to=None, shard_mb=64)``

    - ``patterns``: names/globs of the modules to *record* (see :func:`resolve_modules`).
    - ``edits``: ``{name_or_glob: fn}``, ``fn(output, call_index) -> new_output`` for every call
      of every matched module (several matching keys apply in dict order). An edit with a parameter
      called ``name`` also gets the module name: ``fn(output, call_index, name=...)``. An edit must
      return an output of the same shape (else ``ValueError`` naming the module and the call).
    - ``replace``: ``{name_or_glob: value}`` replaces outputs (activation patching). ``value`` is a
      tensor (or, for a tuple/dict output, a tuple of its tensor leaves, as recorded) used at every
      call, or a ``list`` / ``Mapping[int, ...]`` of such values indexed by call index (calls without
      an entry are left alone). Shape or dtype mismatch -> ``ValueError``; values are moved to the
      output's device. Replacement is applied before edits; recording comes last.
    - ``record_inputs``: also record the tensor leaves of each call's positional and keyword
      arguments (``tr.inputs(name)``).
    - ``detach``, ``device``, ``dtype``, ``reduce``: how a recorded tensor is stored: detached
      (default; ``False`` keeps the autograd graph), passed through ``reduce(tensor) -> tensor``
      (outputs and gradients), then moved to ``device`` and, if floating point, cast to ``dtype``.
    - ``calls``: which call indices to keep: ``None`` all; an int ``i >= 0`` that call only; a
      negative int ``-k`` only the k-th call from the end (``-1``: the last); ``slice(a, b, s)`` with
      ``a, b >= 0``; ``slice(-k, None)`` the last k calls; or a set/range/list of indices >= 0.
      Negative forms keep a bounded buffer, so memory stays bounded over many sampling steps.
    - ``grad``: also record the gradient of each kept call's (tensor) output when ``backward()`` runs
      inside the block: ``tr.grad(name)``, ``tr.stack_grad(name)``.
    - ``stop``: stop the forward pass (by an exception the ``with`` block swallows) as soon as every
      recorded module has recorded a call; the rest of the block is skipped, as baukit's ``stop=True``.
    - ``to``: a directory; records stream there as safetensors shards of ``shard_mb`` MiB instead of
      staying in memory, and are read back lazily after the block (``tr.recording``,
      :func:`hidcap.tracing.load`).

    Call indices count from 0 for each module, from entering the ``with`` block. Records are reset
    on each entry and stay readable after exit. Resolution errors are raised at construction. On a
    ``torch.compile``d model (or a model whose compiled wrapper is called), the block runs compiled
    code eagerly (``torch.compiler.set_stance("force_eager")``), so hooks fire; names are those of
    the original module (``_orig_mod`` is looked through).
    """

    def __init__(
        self,
        model: nn.Module,
        patterns: str | Iterable[str] = (),
        *,
        edits: Mapping[str, Callable[..., Any]] | None = None,
        replace: Mapping[str, Any] | None = None,
        record_inputs: bool = False,
        detach: bool = True,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
        calls: Any = None,
        reduce: Callable[[Tensor], Tensor] | None = None,
        grad: bool = False,
        stop: bool = False,
        to: str | os.PathLike | None = None,
        shard_mb: float = 64.0,
    ):
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if reduce is not None and not callable(reduce):
            raise ValueError(f"reduce must be callable, got {type(reduce).__name__}")
        if dtype is not None and not isinstance(dtype, torch.dtype):
            raise ValueError(f"dtype must be a torch.dtype, got {dtype!r}")
        self.model = model
        self._policy = policy = _CallPolicy(calls)
        self._detach = bool(detach)
        self._device = torch.device(device) if device is not None else None
        self._dtype = dtype
        self._reduce = reduce
        self._record_inputs = bool(record_inputs)
        self._grad = bool(grad)
        self._stop = bool(stop)
        self._to = to
        self._shard_mb = float(shard_mb)
        self._writer: RecordWriter | None = None
        self.recording: Recording | None = None
        self._handles: list[Any] = []
        self._stance: Any = None
        self._pending: set[str] = set()
        self._active = False
        if to is not None and policy.kind == "last":
            raise ValueError(f"to= streams records to disk and cannot keep only the last calls (calls={calls!r})")
        if stop and policy.kind == "last":
            raise ValueError(f"stop=True cannot wait for the last calls (calls={calls!r}); use calls=None or indices")

        target = uncompiled(model)
        pattern_list = [patterns] if isinstance(patterns, str) else list(patterns)
        edits, replace = edits or {}, replace or {}
        idx, resolved = resolve_all(target, [*pattern_list, *edits, *replace])
        found = dict(zip([*pattern_list, *edits, *replace], resolved))
        modules, containers = idx.modules, idx.containers
        sites: dict[str, _Site] = {}

        def resolve(key: str, what: str) -> list[_Site]:
            hits = []
            for name in found[key]:
                s = sites.get(name)
                if s is None:
                    s = sites[name] = _Site(name, modules[name])
                    s.container = name in containers
                hits.append(s)
            callable_hits = [s for s in hits if not s.container]
            if not callable_hits and (what != "record" or key in modules):
                raise TraceError(_container_message(hits[0].name, hits[0].module))
            return hits if what == "record" else callable_hits

        for pat in pattern_list:
            for s in resolve(pat, "record"):
                s.record = True
        for key, fn in edits.items():
            if not callable(fn):
                raise ValueError(f"edits[{key!r}] must be callable as fn(output, call_index), got {type(fn).__name__}")
            entry = (fn, _wants_name(fn))
            for s in resolve(key, "edit"):
                s.edits.append(entry)
        for key, value in replace.items():
            spec = self._replace_spec(key, value)
            for s in resolve(key, "replace"):
                if s.replace is not None:
                    raise ValueError(f"module {s.name!r} is matched by more than one replace key (last: {key!r})")
                s.replace = spec

        order = idx.order
        self._sites = {n: sites[n] for n in sorted(sites, key=order.__getitem__)} if len(sites) > 1 else sites
        self._names = [n for n, s in self._sites.items() if s.record]
        self._process = self._make_processor(self._detach, self._device, self._dtype, self._reduce)
        self._process_in = self._make_processor(self._detach, self._device, self._dtype, None)
        lean = (policy.kind == "all" and not self._grad and not self._stop and to is None
                and (self._process is None or self._process is Tensor.detach))
        for s in self._sites.values():
            # the lean path: a call count equal to len(records) since storing cannot fail
            s.fast = lean and s.record and not s.edits and s.replace is None

    # -- construction helpers ------------------------------------------------------------------
    @staticmethod
    def _replace_spec(key: str, value: Any) -> tuple[str, Any]:
        def check(v: Any, where: str) -> None:
            ok = isinstance(v, Tensor) or (
                isinstance(v, tuple) and len(v) > 0 and all(isinstance(t, Tensor) for t in v)
            )
            if not ok:
                raise ValueError(
                    f"{where} must be a tensor or a tuple of tensors (the recorded tensor leaves), "
                    f"got {type(v).__name__}"
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

    @staticmethod
    def _make_processor(detach: bool, device: torch.device | None, dtype: torch.dtype | None,
                        reduce: Callable | None) -> Callable[[Tensor], Tensor] | None:
        if not detach and device is None and dtype is None and reduce is None:
            return None
        if detach and device is None and dtype is None and reduce is None:
            return Tensor.detach

        def process(t: Tensor) -> Tensor:
            if detach:
                t = t.detach()
            if reduce is not None:
                t = reduce(t)
                if not isinstance(t, Tensor):
                    raise ValueError(f"reduce must return a tensor, got {type(t).__name__}")
            if device is not None:
                t = t.to(device)
            if dtype is not None and t.is_floating_point():
                t = t.to(dtype)
            if reduce is not None and not t.requires_grad and t.numel() * t.element_size() <= _Arena.MAX_RECORD:
                t = arena.put(t)
            return t

        arena = _Arena()
        return process

    # -- hooks ---------------------------------------------------------------------------------
    def _store_value(self, output: Any) -> Any:
        process = self._process
        if isinstance(output, Tensor):
            return output if process is None else process(output)
        leaves = _leaves(output)
        return tuple(leaves) if process is None else tuple(process(t) for t in leaves)

    def _fast_hook(self, site: _Site) -> Callable:
        append = site.records.append
        process = self._process
        store = self._store_value
        if process is Tensor.detach:
            def hook(module, args, output):
                if type(output) is Tensor:
                    append(output.detach())
                else:
                    append(store(output))
        else:  # process is None
            def hook(module, args, output):
                append(output if type(output) is Tensor else store(output))
        return hook

    def _general_hook(self, site: _Site) -> Callable:
        policy = self._policy
        keep_all = policy.kind in ("all", "last")
        members = policy.members
        store = self._store_value
        replace = site.replace
        edits = tuple(site.edits)
        record = site.record
        name = site.name
        changes = replace is not None or bool(edits)
        writer = self._writer
        watch = self._grad_watcher(site) if self._grad and record else None
        pending = self._pending if self._stop and record else None

        def hook(module, args, output):
            i = site.ncalls
            site.ncalls = i + 1
            if replace is not None:
                output = _apply_replace(name, replace, output, i)
            for fn, wants_name in edits:
                new = fn(output, i, name=name) if wants_name else fn(output, i)
                if new is None:
                    raise ValueError(f"edit for module {name!r} returned None at call {i}; return the new output")
                _check_edit(name, i, output, new)
                output = new
            if record and (keep_all or i in members):
                if writer is not None:
                    writer.add(name, i, store(output))
                else:
                    site.records.append(store(output))
                site.indices.append(i)
                if watch is not None:
                    watch(output, i)
                if pending is not None:
                    pending.discard(name)
                    if not pending:
                        raise _StopForward(self)
            return output if changes else None

        return hook

    def _grad_watcher(self, site: _Site) -> Callable[[Any, int], None]:
        process = self._process
        bounded = self._policy.kind == "last"
        name = site.name

        def watch(output: Any, i: int) -> None:
            if not isinstance(output, Tensor):
                raise ValueError(
                    f"grad=True records gradients of tensor outputs; module {name!r} returns a "
                    f"{type(output).__name__}"
                )
            if not output.requires_grad:
                return

            def on_grad(g: Tensor) -> None:
                if bounded and i not in site.indices:  # dropped from the last-k buffer meanwhile
                    return
                site.grads[i] = g if process is None else process(g)

            output.register_hook(on_grad)
            if bounded:
                for k in [k for k in site.grads if k not in site.indices]:
                    del site.grads[k]

        return watch

    def _input_hook(self, site: _Site) -> Callable:
        policy = self._policy
        keep_all = policy.kind in ("all", "last")
        members = policy.members
        process = self._process_in
        fast = site.fast

        def pre_hook(module, args, kwargs):
            i = len(site.records) if fast else site.ncalls
            if keep_all or i in members:
                leaves = _leaves(args) + _leaves(kwargs)
                site.inputs.append(tuple(leaves) if process is None else tuple(process(t) for t in leaves))

        return pre_hook

    # -- context manager -----------------------------------------------------------------------
    def __enter__(self) -> Tracer:
        if self._active:
            raise RuntimeError("this Tracer is already active; create a new Tracer to nest")
        policy = self._policy
        for s in self._sites.values():
            s.reset(policy)
        self._pending.clear()
        self._pending.update(n for n in self._names if not self._sites[n].container)
        if self._to is not None:
            self._writer = RecordWriter(self._to, self._shard_mb)
            self.recording = None
        try:
            for s in self._sites.values():
                if s.container:
                    continue
                if s.record and self._record_inputs:
                    self._handles.append(
                        s.module.register_forward_pre_hook(self._input_hook(s), with_kwargs=True)
                    )
                hook = self._fast_hook(s) if s.fast else self._general_hook(s)
                self._handles.append(s.module.register_forward_hook(hook))
            if "torch._dynamo" in sys.modules:  # something may be compiled: its guards ignore new hooks
                self._stance = torch.compiler.set_stance("force_eager")
        except BaseException:
            self._remove_hooks()
            raise
        self._active = True
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        self._remove_hooks()
        self._active = False
        if self._writer is not None:
            self._writer.close()
            self.recording = Recording(self._writer.path)
            self._writer = None
        return exc_type is _StopForward and exc.args[0] is self  # only this tracer's own stop

    def _remove_hooks(self) -> None:
        handles, self._handles = self._handles, []
        for h in handles:
            h.remove()
        if self._stance is not None:
            stance, self._stance = self._stance, None
            stance.__exit__(None, None, None)

    def clear(self) -> None:
        """Drop everything recorded so far (hooks stay in place); call counters restart at 0."""
        if self._to is not None:
            raise RuntimeError("clear() is not available when recording to disk (to=...)")
        for s in self._sites.values():
            s.records.clear()
            s.indices.clear()
            s.inputs.clear()
            s.grads.clear()
            s.ncalls = 0

    def save(self, path: str | os.PathLike, shard_mb: float = 64.0) -> Recording:
        """Write every kept record to ``path`` (safetensors shards + ``index.json``, see
        :mod:`hidcap.tracing.disk`) and return the lazily read :class:`~hidcap.tracing.Recording`."""
        if self._to is not None:
            raise RuntimeError(f"this Tracer already records to {str(self._to)!r}")
        writer = RecordWriter(path, shard_mb)
        for n in self._names:
            s = self._sites[n]
            for i, r in zip(self.call_indices(n), self._kept(s, list(s.records)), strict=True):
                writer.add(n, i, r)
            writer.entries.setdefault(n, [])
        writer.close()
        return Recording(path)

    # -- reading -------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Names of the recorded modules (those selected by ``patterns``), in model order."""
        return list(self._names)

    @property
    def hooked_names(self) -> list[str]:
        """Names of every hooked module (recorded, edited or replaced), in model order."""
        return list(self._sites)

    def calls(self, name: str) -> int:
        """How many times module ``name`` was called since the ``with`` block was entered."""
        s = self._site(name, recorded=False)
        return len(s.records) if s.fast else s.ncalls

    def call_indices(self, name: str) -> list[int]:
        """Call indices of the records that were kept for ``name`` (what ``stack`` stacks)."""
        if self._to is not None:
            return self._disk().call_indices(name)
        s = self._site(name)
        return self._kept(s, list(range(len(s.records))) if s.fast else list(s.indices))

    def records(self, name: str) -> list[Any]:
        """The kept records of ``name`` as a list (one tensor, or tuple of tensor leaves, per call)."""
        if self._to is not None:
            self._site(name)
            return self._disk().records(name)
        s = self._site(name)
        kept = self._kept(s, list(s.records))
        if not kept:
            self._raise_empty(s)
        return kept

    def __getitem__(self, name: str) -> Any:
        """Output of the most recent kept call of ``name`` (a tensor, or a tuple of tensor leaves)."""
        if self._to is not None:
            self._site(name)
            return self._disk()[name]
        return self.records(name)[-1]

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def stack(self, name: str) -> Any:
        """All kept calls of ``name`` stacked on a new leading dim: ``(n_calls, *shape)``.

        For tuple records, a tuple with each leaf stacked.
        """
        return _stack(name, self.records(name))

    def grad(self, name: str) -> Tensor:
        """Gradient of the most recent kept call's output of ``name`` (needs ``grad=True`` and a
        ``backward()`` inside the block); processed like records (detach, reduce, device, dtype)."""
        return self._grad_records(name)[-1]

    def stack_grad(self, name: str) -> Tensor:
        """Gradients of every kept call of ``name`` stacked in call order: ``(n_calls, *shape)``."""
        return _stack(name, self._grad_records(name))

    def _grad_records(self, name: str) -> list[Tensor]:
        if not self._grad:
            raise TraceError(f"gradients were not recorded; create the Tracer with grad=True to read {name!r}")
        s = self._site(name)
        indices = self._kept(s, list(s.indices))
        if not indices:
            self._raise_empty(s)
        missing = [i for i in indices if i not in s.grads]
        if missing:
            raise TraceError(
                f"no gradient reached module {name!r} at calls {missing[:10]} (of {len(indices)} kept): run "
                f"backward() inside the with block, with grad enabled, on a loss that depends on that output"
            )
        return [s.grads[i] for i in indices]

    def inputs(self, name: str) -> tuple[Tensor, ...]:
        """Tensor leaves of the most recent kept call's arguments (positional, then keyword values).

        Needs ``record_inputs=True``.
        """
        return self._input_records(name)[-1]

    def stack_inputs(self, name: str) -> tuple[Tensor, ...]:
        """Each input leaf of ``name`` stacked over kept calls: a tuple of ``(n_calls, *shape)``."""
        return _stack(name, self._input_records(name))

    def _input_records(self, name: str) -> list[tuple[Tensor, ...]]:
        if not self._record_inputs:
            raise TraceError(f"inputs were not recorded; create the Tracer with record_inputs=True to read {name!r}")
        s = self._site(name)
        kept = self._kept(s, list(s.inputs))
        if not kept:
            self._raise_empty(s)
        return kept

    def _disk(self) -> Recording:
        if self.recording is None:
            raise RuntimeError(
                f"records stream to {str(self._to)!r} and are readable after the with block exits"
            )
        return self.recording

    def _kept(self, s: _Site, items: list) -> list:
        p = self._policy
        if p.kind == "last" and p.exact:
            return items[:1] if len(items) == p.k else []
        return items

    def _site(self, name: str, recorded: bool = True) -> _Site:
        s = self._sites.get(name) if isinstance(name, str) else None
        if s is None:
            raise TraceError(
                f"module {name!r} is not traced by this Tracer; traced names: {self._names}"
                + (f"; closest: {_closest(name, self._names)}" if isinstance(name, str) else "")
            )
        if recorded and not s.record:
            raise TraceError(
                f"module {name!r} is edited/replaced but not recorded; add it to the Tracer's patterns to read it"
            )
        return s

    def _raise_empty(self, s: _Site) -> None:
        if s.container:
            raise TraceError(_container_message(s.name, s.module))
        n = len(s.records) if s.fast else s.ncalls
        if n == 0:
            children = [f"{s.name}.{c}" for c in s.module._modules]
            hint = (
                f"; if the forward pass did run inside the with block, the model calls {s.name!r}'s children "
                f"directly, not {s.name!r} itself: trace them instead: {children[:8]}"
                if children else " (run the forward pass inside the with block)"
            )
            raise TraceError(f"module {s.name!r} was traced but never called{hint}")
        raise TraceError(f"module {s.name!r} was called {n} times but calls={self._policy.spec!r} kept none of them")

    def __repr__(self) -> str:
        return (
            f"Tracer({type(self.model).__name__}, names={self._names}, hooked={len(self._sites)}, "
            f"active={self._active})"
        )


def _apply_replace(name: str, spec: tuple[str, Any], output: Any, i: int) -> Any:
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
    old = _leaves(output)
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


def _check_edit(name: str, i: int, old: Any, new: Any) -> None:
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
    a, b = _leaves(old), _leaves(new)
    if len(a) != len(b) or any(x.shape != y.shape for x, y in zip(a, b)):
        raise ValueError(
            f"edit for module {name!r} at call {i} changed the output's tensor leaves from "
            f"{[tuple(x.shape) for x in a]} to {[tuple(y.shape) for y in b]}"
        )


class _Arena:
    """Small records (reduced activations and gradients) copied into a few large blocks.

    Keeping thousands of small tensors alive, each allocated between the large, short-lived
    activations of a forward pass, fragments the C heap: freed activation memory cannot be returned
    or coalesced, and peak resident memory grew by 1,279 MiB over 200 sampling steps of the paper-sized
    U-Net while 78 MiB were kept (118 MiB with blocks) (``benchmarks/tracer_memory.py``). Copying each small record into a slot of
    a preallocated block makes the long-lived allocations few and large; the temporary from
    ``reduce`` is freed at once. A record is then a view of its block (blocks are freed when all their
    records are). Records that are views of something larger (``reduce=lambda t: t[:, 0]``) are
    copied too, so they never keep a whole activation alive.
    """

    MAX_RECORD = 64 * 2**10  # bytes; larger records are their own (large) allocations
    MAX_BLOCK = 8 * 2**20  # bytes per block
    __slots__ = ("blocks",)

    def __init__(self) -> None:
        self.blocks: dict[tuple, list] = {}  # (shape, dtype, device) -> [block, next free slot]

    def put(self, t: Tensor) -> Tensor:
        key = (t.shape, t.dtype, t.device)
        entry = self.blocks.get(key)
        if entry is None or entry[1] == entry[0].shape[0]:
            size = max(t.numel() * t.element_size(), 1)
            grown = 2 * entry[0].shape[0] if entry is not None else 16
            slots = max(1, min(grown, self.MAX_BLOCK // size))
            entry = self.blocks[key] = [torch.empty((slots, *t.shape), dtype=t.dtype, device=t.device), 0]
        block, j = entry
        entry[1] = j + 1
        out = block[j]
        out.copy_(t)
        return out
