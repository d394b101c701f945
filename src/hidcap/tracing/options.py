"""How a :class:`~hidcap.tracing.Tracer` records: :class:`TracerOptions` (every keyword flag, validated in
one place), the ``calls=`` policy, and the processor that stores a recorded tensor (detach, reduce,
device, dtype, small records packed into blocks)."""
from __future__ import annotations

import numbers
import os
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = ["TracerOptions", "CallPolicy", "make_processor"]


class CallPolicy:
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

    def kept(self, items: list) -> list:
        """The items a reader sees: for ``calls=-k``, only the k-th from the end."""
        if self.kind == "last" and self.exact:
            return items[:1] if len(items) == self.k else []
        return items


class _SliceMembers:
    __slots__ = ("start", "stop", "step")

    def __init__(self, start: int, stop: int | None, step: int):
        self.start, self.stop, self.step = start, stop, step

    def __contains__(self, i: int) -> bool:
        return i >= self.start and (self.stop is None or i < self.stop) and (i - self.start) % self.step == 0


@dataclass(frozen=True)
class TracerOptions:
    """The keyword flags of a :class:`~hidcap.tracing.Tracer`, validated once (``ValueError`` naming the
    flag). ``Tracer(model, patterns, **flags)`` builds one; ``tracer.options`` returns it.

    - ``record_inputs``: also record each kept call's argument tensors;
    - ``detach``, ``reduce``, ``device``, ``dtype``: how a recorded tensor is stored (in this order);
    - ``calls``: which call indices to keep (``policy`` holds the parsed form);
    - ``grad``: also record the gradient of each kept call's output;
    - ``stop``: end the forward pass once every recorded module has recorded a call;
    - ``to``, ``shard_mb``: stream records to a directory in shards of ``shard_mb`` MiB.
    """

    record_inputs: bool = False
    detach: bool = True
    device: torch.device | None = None
    dtype: torch.dtype | None = None
    calls: Any = None
    reduce: Callable[[Tensor], Tensor] | None = None
    grad: bool = False
    stop: bool = False
    to: Path | None = None
    shard_mb: float = 64.0
    policy: CallPolicy = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for flag in ("record_inputs", "detach", "grad", "stop"):
            value = getattr(self, flag)
            if not isinstance(value, bool):
                raise ValueError(f"{flag} must be True or False, got {value!r}")
        if self.device is not None:
            try:
                object.__setattr__(self, "device", torch.device(self.device))
            except (RuntimeError, TypeError) as err:
                raise ValueError(f"device must be a torch.device or a device string, got {self.device!r}") from err
        if self.dtype is not None and not isinstance(self.dtype, torch.dtype):
            raise ValueError(f"dtype must be a torch.dtype, got {self.dtype!r}")
        if self.reduce is not None and not callable(self.reduce):
            raise ValueError(f"reduce must be callable, got {type(self.reduce).__name__}")
        if self.to is not None:
            if not isinstance(self.to, (str, os.PathLike)):
                raise ValueError(f"to must be a directory path (str or PathLike), got {type(self.to).__name__}")
            object.__setattr__(self, "to", Path(self.to))
        if isinstance(self.shard_mb, bool) or not isinstance(self.shard_mb, numbers.Real) or not self.shard_mb > 0:
            raise ValueError(f"shard_mb must be a number > 0, got {self.shard_mb!r}")
        object.__setattr__(self, "shard_mb", float(self.shard_mb))
        policy = CallPolicy(self.calls)
        if self.to is not None and policy.kind == "last":
            raise ValueError(f"to= streams records to disk and cannot keep only the last calls (calls={self.calls!r})")
        if self.stop and policy.kind == "last":
            raise ValueError(f"stop=True cannot wait for the last calls (calls={self.calls!r}); use calls=None or indices")
        object.__setattr__(self, "policy", policy)


def make_processor(options: TracerOptions, *, with_reduce: bool = True) -> Callable[[Tensor], Tensor] | None:
    """``fn(tensor) -> stored tensor`` for ``options`` (detach -> reduce -> device -> dtype), ``None`` when a
    tensor is stored as it is, ``Tensor.detach`` in the default case. Inputs use ``with_reduce=False``."""
    detach, device, dtype = options.detach, options.device, options.dtype
    reduce = options.reduce if with_reduce else None
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
