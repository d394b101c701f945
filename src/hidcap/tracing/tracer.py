"""Record, edit and replace module outputs with forward hooks: :class:`Tracer`.

Conventions (see ``docs/tracing.md``):

- modules are named as in ``model.named_modules()``; patterns are exact names or fnmatch globs
  (``*`` crosses dots, so ``"*.cond_embed"`` matches ``downs.0.res.1.cond_embed``); a glob skips
  containers (modules without ``forward``), and a name or glob that matches only containers is refused;
- a tensor output is recorded as a tensor; a tuple/list/dict output is recorded as a *tuple of its
  tensor leaves* (depth first, dict values in insertion order; non-tensor leaves are dropped);
- what is recorded is the output the rest of the model sees, i.e. after this tracer's replacement
  and edits.

Every hooked module gets the same forward hook (:meth:`Tracer._hook`): count the call, replace, edit,
record; each option only switches a step on.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from hidcap.tracing.disk import Recording, RecordWriter
from hidcap.tracing.names import TraceError, _closest, _stack, uncompiled
from hidcap.tracing.options import TracerOptions, make_processor
from hidcap.tracing.sites import (
    Site,
    apply_replace,
    build_sites,
    check_edit,
    in_model_order,
    leaves,
)

__all__ = ["Tracer"]


class _StopForward(Exception):
    """Raised by a hook of a ``Tracer(..., stop=True)`` once every recorded module has run; the
    Tracer's ``__exit__`` swallows it."""


def _change(site: Site, output: Any, i: int) -> Any:
    """``output`` of call ``i`` of ``site`` after its replacement, then its edits in order."""
    name = site.name
    if site.replace is not None:
        output = apply_replace(name, site.replace, output, i)
    for fn, wants_name in site.edits:
        new = fn(output, i, name=name) if wants_name else fn(output, i)
        if new is None:
            raise ValueError(f"edit for module {name!r} returned None at call {i}; return the new output")
        check_edit(name, i, output, new)
        output = new
    return output


class Tracer:
    """Context manager that records, edits and replaces module outputs of any ``nn.Module``.

    ``Tracer(model, patterns, *, edits=None, replace=None, record_inputs=False, detach=True,
    device=None, dtype=None, calls=None, reduce=None, grad=False, stop=False, to=None, shard_mb=64)``

    - ``patterns``: names/globs of the modules to *record* (see :func:`resolve_modules`). A glob
      skips containers (``ModuleList``, classes without ``forward``: a forward pass never calls them);
      a name or glob matching only containers raises :class:`TraceError` naming the modules below.
      ``tr.names`` lists exactly the recorded modules.
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

    The keyword flags are validated together into ``tr.options``, a frozen
    :class:`~hidcap.tracing.TracerOptions`. Call indices count from 0 for each module, from entering
    the ``with`` block. Records are reset on each entry and stay readable after exit. Names are
    resolved, and errors raised, at construction, against the model as it is then (exact names along
    their path; globs by one walk of ``named_modules()``). On a ``torch.compile``d model (or a model
    whose compiled wrapper is called), the block runs compiled code eagerly
    (``torch.compiler.set_stance("force_eager")``), so hooks fire; names are those of the original
    module (``_orig_mod`` is looked through).
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
        self.options = TracerOptions(record_inputs=record_inputs, detach=detach, device=device, dtype=dtype,
                                     calls=calls, reduce=reduce, grad=grad, stop=stop, to=to, shard_mb=shard_mb)
        self.model = model
        patterns = [patterns] if isinstance(patterns, str) else list(patterns)
        self._sites: dict[str, Site] = build_sites(uncompiled(model), patterns, edits or {}, replace or {})
        self._ordered = len(self._sites) < 2  # sites are put in model order when first listed (_order)
        self._process = make_processor(self.options)
        self._process_in = make_processor(self.options, with_reduce=False)
        self._writer: RecordWriter | None = None
        self.recording: Recording | None = None
        self._handles: list[Any] = []
        self._stance: Any = None
        self._pending: set[str] = set()
        self._active = False

    # -- hooks ---------------------------------------------------------------------------------
    def _store_value(self, output: Any) -> Any:
        process = self._process
        if isinstance(output, Tensor):
            return output if process is None else process(output)
        out_leaves = leaves(output)
        return tuple(out_leaves) if process is None else tuple(process(t) for t in out_leaves)

    def _hook(self, site: Site) -> Callable:
        """The forward hook of ``site``, the same for every option: count the call, apply the
        replacement and the edits, then keep the record (in memory or on disk) with its call index,
        watch its gradient, and stop the pass once every recorded module has recorded."""
        options = self.options
        keep_all = options.policy.kind != "pred"
        members = options.policy.members
        changes = site.replace is not None or bool(site.edits)
        record = site.record
        process = self._process
        writer = self._writer
        add_record = site.records.append
        add_index = site.indices.append
        watch = self._grad_watcher(site) if options.grad and record else None
        stop = options.stop and record

        def hook(module, args, output):
            i = site.ncalls
            site.ncalls = i + 1
            if changes:
                output = _change(site, output, i)
            if record and (keep_all or i in members):
                value = (output if process is None else process(output)) if type(output) is Tensor else \
                    self._store_value(output)
                if writer is None:
                    add_record(value)
                else:
                    writer.add(site.name, i, value)
                add_index(i)
                if watch is not None:
                    watch(output, i)
                if stop:
                    self._pending.discard(site.name)
                    if not self._pending:
                        raise _StopForward(self)
            return output if changes else None

        return hook

    def _grad_watcher(self, site: Site) -> Callable[[Any, int], None]:
        process = self._process
        bounded = self.options.policy.kind == "last"
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

    def _input_hook(self, site: Site) -> Callable:
        policy = self.options.policy
        keep_all = policy.kind != "pred"
        members = policy.members
        process = self._process_in

        def pre_hook(module, args, kwargs):
            i = site.ncalls  # the forward hook counts this call after it ran
            if keep_all or i in members:
                call_leaves = leaves(args) + leaves(kwargs)
                site.inputs.append(tuple(call_leaves) if process is None else tuple(process(t) for t in call_leaves))

        return pre_hook

    # -- context manager -----------------------------------------------------------------------
    def __enter__(self) -> Tracer:
        if self._active:
            raise RuntimeError("this Tracer is already active; create a new Tracer to nest")
        options = self.options
        for s in self._sites.values():
            s.reset(options.policy)
        self._pending.clear()
        self._pending.update(n for n, s in self._sites.items() if s.record)
        if options.to is not None:
            self._writer = RecordWriter(options.to, options.shard_mb)
            self.recording = None
        try:
            for s in self._sites.values():
                if s.record and options.record_inputs:
                    self._handles.append(s.module.register_forward_pre_hook(self._input_hook(s), with_kwargs=True))
                self._handles.append(s.module.register_forward_hook(self._hook(s)))
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
        if self.options.to is not None:
            raise RuntimeError("clear() is not available when recording to disk (to=...)")
        for s in self._sites.values():
            if not self._active:
                s.reset(self.options.policy)
                continue
            s.records.clear()  # in place: the hooks hold these lists
            s.indices.clear()
            s.inputs.clear()
            s.grads.clear()
            s.ncalls = 0

    def save(self, path: str | os.PathLike, shard_mb: float = 64.0) -> Recording:
        """Write every kept record to ``path`` (safetensors shards + ``index.json``, see
        :mod:`hidcap.tracing.disk`) and return the lazily read :class:`~hidcap.tracing.Recording`."""
        if self.options.to is not None:
            raise RuntimeError(f"this Tracer already records to {str(self.options.to)!r}")
        writer = RecordWriter(path, shard_mb)
        for n in self._order():
            s = self._sites[n]
            for i, r in zip(self.call_indices(n), self.options.policy.kept(list(s.records)), strict=True):
                writer.add(n, i, r)
            writer.entries.setdefault(n, [])
        writer.close()
        return Recording(path)

    # -- reading -------------------------------------------------------------------------------
    def _order(self) -> list[str]:
        """Names of the recorded modules in model order. Sites are sorted into model order the first time
        they are listed (not at construction: building and entering a Tracer stays cheap when nothing
        lists its names)."""
        if not self._ordered:
            self._sites = in_model_order(uncompiled(self.model), self._sites)
            self._ordered = True
        return [n for n, s in self._sites.items() if s.record]

    @property
    def names(self) -> list[str]:
        """Names of the recorded modules (those ``patterns`` selected; never a container), in model order."""
        return self._order()

    @property
    def hooked_names(self) -> list[str]:
        """Names of every hooked module (recorded, edited or replaced), in model order."""
        self._order()
        return list(self._sites)

    def calls(self, name: str) -> int:
        """How many times module ``name`` was called since the ``with`` block was entered."""
        s = self._site(name, recorded=False)
        return s.ncalls

    def call_indices(self, name: str) -> list[int]:
        """Call indices of the records that were kept for ``name`` (what ``stack`` stacks)."""
        if self.options.to is not None:
            return self._disk().call_indices(name)
        s = self._site(name)
        return self.options.policy.kept(list(s.indices))

    def records(self, name: str) -> list[Any]:
        """The kept records of ``name`` as a list (one tensor, or tuple of tensor leaves, per call)."""
        if self.options.to is not None:
            self._site(name)
            return self._disk().records(name)
        s = self._site(name)
        kept = self.options.policy.kept(list(s.records))
        if not kept:
            self._raise_empty(s)
        return kept

    def __getitem__(self, name: str) -> Any:
        """Output of the most recent kept call of ``name`` (a tensor, or a tuple of tensor leaves)."""
        if self.options.to is not None:
            self._site(name)
            return self._disk()[name]
        return self.records(name)[-1]

    def __contains__(self, name: object) -> bool:
        s = self._sites.get(name) if isinstance(name, str) else None
        return s is not None and s.record

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
        if not self.options.grad:
            raise TraceError(f"gradients were not recorded; create the Tracer with grad=True to read {name!r}")
        s = self._site(name)
        indices = self.options.policy.kept(list(s.indices))
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
        if not self.options.record_inputs:
            raise TraceError(f"inputs were not recorded; create the Tracer with record_inputs=True to read {name!r}")
        s = self._site(name)
        kept = self.options.policy.kept(list(s.inputs))
        if not kept:
            self._raise_empty(s)
        return kept

    def _disk(self) -> Recording:
        if self.recording is None:
            raise RuntimeError(
                f"records stream to {str(self.options.to)!r} and are readable after the with block exits"
            )
        return self.recording

    def _site(self, name: str, recorded: bool = True) -> Site:
        s = self._sites.get(name) if isinstance(name, str) else None
        if s is None:
            raise TraceError(
                f"module {name!r} is not traced by this Tracer; traced names: {self._order()}"
                + (f"; closest: {_closest(name, self._order())}" if isinstance(name, str) else "")
            )
        if recorded and not s.record:
            raise TraceError(
                f"module {name!r} is edited/replaced but not recorded; add it to the Tracer's patterns to read it"
            )
        return s

    def _raise_empty(self, s: Site) -> None:
        n = s.ncalls
        if n == 0:
            children = [f"{s.name}.{c}" for c in s.module._modules]
            hint = (
                f"; if the forward pass did run inside the with block, the model calls {s.name!r}'s children "
                f"directly, not {s.name!r} itself: trace them instead: {children[:8]}"
                if children else " (run the forward pass inside the with block)"
            )
            raise TraceError(f"module {s.name!r} was traced but never called{hint}")
        raise TraceError(f"module {s.name!r} was called {n} times but calls={self.options.calls!r} kept none of them")

    def __repr__(self) -> str:
        return (
            f"Tracer({type(self.model).__name__}, names={self._order()}, hooked={len(self._sites)}, "
            f"active={self._active})"
        )


