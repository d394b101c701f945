"""Temporarily copy submodules' weights from another model, state dict, checkpoint file or step: :func:`patch`."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor, nn

from hidcap.tracing import resolve_modules

__all__ = ["patch"]


class _StateDictSeries(Protocol):
    def state_dict(self, step: int) -> Mapping[str, Tensor]: ...


def _source_state(source: Any, series: _StateDictSeries | None) -> Mapping[str, Any]:
    if isinstance(source, nn.Module):
        return source.state_dict()
    if isinstance(source, Mapping):
        return source
    if isinstance(source, (str, os.PathLike)):
        from hidcap.checkpoints import load_state_dict  # lazy: keeps import hidcap light

        return load_state_dict(source)
    if isinstance(source, (int, np.integer)) and not isinstance(source, bool):  # numpy steps too
        if series is None:
            raise ValueError(
                f"source={source} is a checkpoint step; pass series= (an object with .state_dict(step), "
                "e.g. a CheckpointSeries) to load it"
            )
        return series.state_dict(int(source))
    raise ValueError(
        "source must be an nn.Module, a state dict (Mapping[str, Tensor]), a checkpoint path or an int step, "
        f"got {type(source).__name__}"
    )


@contextmanager
def patch(
    model: nn.Module,
    pattern: str | Iterable[str],
    source: nn.Module | Mapping[str, Tensor] | str | os.PathLike | int,
    *,
    series: _StateDictSeries | None = None,
    strict: bool = True,
) -> Iterator[list[str]]:
    """Copy the parameters and buffers of the modules matching ``pattern`` from ``source``; undo on exit.

    ``pattern``: exact module names or fnmatch globs (see ``resolve_modules``); every tensor of
    ``model.state_dict()`` at or below a matched module is patched (persistent buffers included).
    ``source``: an ``nn.Module`` (its ``state_dict()``), a ``Mapping[str, Tensor]`` keyed like
    ``model.state_dict()`` (full names from the model root), a checkpoint path (read with
    ``hidcap.checkpoints.load_state_dict``), or an int step read with ``series.state_dict(step)``.
    Extra source keys are ignored.

    Tensors are copied in place under ``torch.no_grad()``, so the model's tensors keep their identity,
    device and dtype (source values are moved/cast to them). The originals are restored on exit, also
    when the body raises. Missing keys raise ``KeyError`` (unless ``strict=False``, which skips them),
    shape mismatches raise ``ValueError``; both list every offending name. Yields the patched names.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    prefixes = resolve_modules(model, pattern)
    state = _source_state(source, series)
    roots = tuple(p + "." for p in prefixes if p)
    whole = "" in prefixes
    targets = {
        name: t for name, t in model.state_dict(keep_vars=True).items() if whole or name.startswith(roots)
    }
    if not targets:
        raise ValueError(f"modules {prefixes} matched by {pattern!r} hold no parameters or buffers to patch")

    missing = [n for n in targets if n not in state]
    if missing and strict:
        raise KeyError(f"source lacks {len(missing)} tensor(s) needed to patch {pattern!r}: {missing}")
    names = [n for n in targets if n in state]
    not_tensor = [n for n in names if not isinstance(state[n], Tensor)]
    if not_tensor:
        raise ValueError(f"source values must be tensors; not tensors: {not_tensor}")
    mismatched = [
        f"{n}: model {tuple(targets[n].shape)} vs source {tuple(state[n].shape)}"
        for n in names
        if targets[n].shape != state[n].shape
    ]
    if mismatched:
        raise ValueError(f"shape mismatch for {len(mismatched)} tensor(s): {mismatched}")

    originals: dict[str, Tensor] = {}
    try:
        with torch.no_grad():
            for n in names:
                dst = targets[n]
                originals[n] = dst.detach().clone()
                dst.copy_(state[n].detach().to(device=dst.device, dtype=dst.dtype))
        yield list(names)
    finally:
        with torch.no_grad():
            for n, original in reversed(originals.items()):
                targets[n].copy_(original)
