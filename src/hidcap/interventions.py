"""Linear latent interventions, concept directions and overprompting (capability elicitation).

The paper's intervention inside a conditioning MLP output ``e`` is
``e' = e + α(e·b̂)b̂``, ``e'' = e' − β(e'·l̂)l̂``: two projection steps applied in order, the second
with scale ``−β``. :class:`LinearIntervention` holds such a list of steps and is usable as a
:class:`~hidcap.tracing.Tracer` edit.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from hidcap.tracing import resolve_modules

__all__ = ["LinearIntervention", "concept_direction", "overprompt"]

_MODES = ("project", "add")


def _as_vector(x: Any, what: str) -> Tensor:
    t = torch.as_tensor(x)
    if t.ndim != 1 or t.numel() == 0:
        raise ValueError(f"{what} must be a non-empty 1-D vector, got shape {tuple(t.shape)}")
    if not (t.is_floating_point() or t.is_complex()):
        t = t.to(torch.get_default_dtype())
    return t


def _unit(x: Any, what: str) -> Tensor:
    t = _as_vector(x, what)
    norm = torch.linalg.vector_norm(t)
    if not torch.isfinite(norm) or norm == 0:
        raise ValueError(f"{what} must have a finite, non-zero norm, got {norm.item()}")
    return t / norm


class LinearIntervention:
    """Apply ``steps`` of ``(direction, scale, mode)`` in order along the channel axis ``dim``.

    - ``'project'``: ``e <- e + scale * (e·d̂) d̂``  (``scale=-1`` removes the component along ``d̂``);
    - ``'add'``: ``e <- e + scale * d̂``.

    Directions are 1-D of length ``C`` and normalised on construction. Works on tensors shaped
    ``(B, C)`` or ``(B, C, H, W)`` (any rank; ``dim`` selects the channel axis, default ``-1``; use
    ``dim=1`` for ``(B, C, H, W)``). Call it as ``li(e)`` or pass it as a Tracer edit
    (``li(output, call_index)``); it returns a new tensor and leaves the input untouched.
    A 2-tuple ``(direction, scale)`` means ``'project'``.
    """

    def __init__(self, steps: Iterable[Sequence[Any]], dim: int = -1):
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise ValueError(f"dim must be an int, got {dim!r}")
        parsed: list[tuple[Tensor, float, str]] = []
        for k, step in enumerate(steps):
            if not isinstance(step, (tuple, list)) or len(step) not in (2, 3):
                raise ValueError(f"steps[{k}] must be (direction, scale) or (direction, scale, mode), got {step!r}")
            direction, scale = step[0], step[1]
            mode = step[2] if len(step) == 3 else "project"
            if mode not in _MODES:
                raise ValueError(f"steps[{k}] mode must be one of {_MODES}, got {mode!r}")
            try:
                scale = float(scale)
            except (TypeError, ValueError):
                raise ValueError(f"steps[{k}] scale must be a number, got {scale!r}") from None
            parsed.append((_unit(direction, f"steps[{k}] direction"), scale, mode))
        if not parsed:
            raise ValueError("LinearIntervention needs at least one step")
        sizes = {d.numel() for d, _, _ in parsed}
        if len(sizes) != 1:
            raise ValueError(f"all step directions must have the same length, got lengths {sorted(sizes)}")
        self.steps = tuple(parsed)
        self.dim = dim
        self.channels = sizes.pop()

    @classmethod
    def amplify_suppress(cls, b: Any, alpha: float, l: Any, beta: float, dim: int = -1) -> LinearIntervention:  # noqa: E741
        """The paper's form: ``e' = e + α(e·b̂)b̂`` then ``e'' = e' − β(e'·l̂)l̂``."""
        return cls([(b, alpha, "project"), (l, -beta, "project")], dim=dim)

    def __call__(self, output: Tensor, call_index: int | None = None) -> Tensor:
        """Return the intervened tensor; ``call_index`` is accepted for use as a Tracer edit."""
        if not isinstance(output, Tensor):
            raise ValueError(
                f"LinearIntervention expects a tensor output, got {type(output).__name__}; "
                "wrap it in an edit that picks the tensor"
            )
        if output.ndim == 0:
            raise ValueError("LinearIntervention expects a tensor with a channel axis, got a scalar")
        if not -output.ndim <= self.dim < output.ndim:
            raise ValueError(f"dim={self.dim} is out of range for an output of shape {tuple(output.shape)}")
        axis = self.dim % output.ndim
        if output.shape[axis] != self.channels:
            raise ValueError(
                f"direction length {self.channels} does not match the output's size {output.shape[axis]} "
                f"along dim={self.dim} (output shape {tuple(output.shape)})"
            )
        view = [1] * output.ndim
        view[axis] = self.channels
        e = output
        for direction, scale, mode in self.steps:
            d = direction.to(device=e.device, dtype=e.dtype).reshape(view)
            if mode == "project":
                e = e + scale * (e * d).sum(dim=axis, keepdim=True) * d
            else:
                e = e + scale * d
        return e

    def __repr__(self) -> str:
        steps = ", ".join(f"({mode}, scale={scale:g})" for _, scale, mode in self.steps)
        return f"LinearIntervention([{steps}], dim={self.dim}, channels={self.channels})"


@torch.no_grad()
def concept_direction(model: nn.Module, site: str, inputs: Tensor, baseline: Tensor | None = None) -> Tensor:
    """Normalised mean output of submodule ``site`` of ``model`` on ``inputs``, minus ``baseline``'s.

    ``inputs`` and ``baseline``: conditioning vectors ``(B, D_in)`` (or one ``(D_in,)``) fed directly to
    the submodule (e.g. a conditioning MLP). The submodule's output ``(B, C)`` is averaged over the
    batch; with ``baseline`` the baseline's mean is subtracted. Returns a unit vector ``(C,)``.
    """
    if not isinstance(site, str):
        raise ValueError(f"site must be a module name (str), got {type(site).__name__}")
    names = resolve_modules(model, [site])
    if names != [site]:
        raise ValueError(f"site must name exactly one module, {site!r} matches {names}")
    module = model.get_submodule(site)

    def mean_output(x: Tensor, what: str) -> Tensor:
        if not isinstance(x, Tensor):
            raise ValueError(f"{what} must be a tensor (B, D_in), got {type(x).__name__}")
        if x.ndim == 1:
            x = x.unsqueeze(0)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"{what} must be shaped (B, D_in) with B >= 1, got {tuple(x.shape)}")
        out = module(x)
        if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[0] != x.shape[0]:
            shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
            raise ValueError(f"module {site!r} must return a (B, C) tensor, got {shape}")
        return out.float().mean(dim=0)

    direction = mean_output(inputs, "inputs")
    if baseline is not None:
        direction = direction - mean_output(baseline, "baseline")
    norm = torch.linalg.vector_norm(direction)
    if not torch.isfinite(norm) or norm == 0:
        raise ValueError(f"the concept direction at {site!r} has zero or non-finite norm ({norm.item()})")
    return direction / norm


def overprompt(source: Any, target: Any, factors: Any) -> Tensor:
    """Extrapolate a conditioning vector: ``source + f·(target − source)`` for each factor ``f``.

    ``source``, ``target``: ``(D,)``; ``factors``: ``(F,)`` numbers (1 gives ``target``, > 1 goes
    beyond it). Returns ``(F, D)``.
    """
    s = _as_vector(source, "source")
    t = _as_vector(target, "target")
    if s.shape != t.shape:
        raise ValueError(f"source and target must have the same shape, got {tuple(s.shape)} and {tuple(t.shape)}")
    f = torch.as_tensor(factors)
    if f.ndim == 0:
        f = f.reshape(1)
    if f.ndim != 1 or f.numel() == 0:
        raise ValueError(f"factors must be a non-empty 1-D sequence of numbers, got shape {tuple(f.shape)}")
    dtype = torch.promote_types(torch.promote_types(s.dtype, t.dtype), torch.get_default_dtype())
    s, t = s.to(dtype), t.to(device=s.device, dtype=dtype)
    f = f.to(device=s.device, dtype=dtype)
    return s + f[:, None] * (t - s)
