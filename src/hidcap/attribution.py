"""Attribution patching: a first-order estimate of activation patching from one forward and one backward.

Activation patching runs the model on a *corrupt* input once per module, replacing that module's output
by its output on a *clean* input, and measures how a scalar ``metric`` of the model output changes.
Attribution patching (Nanda 2023, "Attribution patching: activation patching at industrial scale";
Syed, Rager & Conmy 2023, "Attribution patching outperforms automated circuit discovery") estimates all
of those effects at once by linearising the metric around the corrupt run:

    metric(corrupt with a_m := a_m^clean) − metric(corrupt) ≈ Σ (a_m^clean − a_m^corrupt) · ∂metric/∂a_m |corrupt

:func:`attribution_patching` returns that estimate per element (sum it for the module total);
:func:`activation_patching` returns the exact effects it estimates. See ``docs/tracing.md``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn

from hidcap.tracing import Tracer, resolve_modules

__all__ = ["attribution_patching", "activation_patching"]


def _args(inputs: Any) -> tuple:
    return inputs if isinstance(inputs, tuple) else (inputs,)


def _scalar(metric: Callable[[Any], Tensor], output: Any) -> Tensor:
    value = metric(output)
    if not isinstance(value, Tensor) or value.numel() != 1:
        raise ValueError(f"metric must return a scalar tensor, got {type(value).__name__} "
                         f"{tuple(value.shape) if isinstance(value, Tensor) else ''}")
    return value.reshape(())


def attribution_patching(
    model: nn.Module,
    sites: str | Iterable[str],
    clean: Any,
    corrupt: Any,
    metric: Callable[[Any], Tensor],
) -> dict[str, Tensor]:
    """First-order estimate of patching each module's clean output into the corrupt run.

    model: any module; sites: names/globs of modules with tensor outputs; clean, corrupt: the model's
    arguments (a tuple, or one tensor) for the two runs, with equal shapes; metric: ``metric(output)``
    -> scalar tensor. Two forward passes and one backward pass in total, whatever the number of sites.

    Returns ``{name: (n_calls, *output_shape)}``: ``(a_clean − a_corrupt) · ∂metric/∂a`` at the corrupt
    run, per call of the module and per element. ``.sum()`` estimates
    ``activation_patching(...)[name]``; exact when the metric is linear in the module's output.
    """
    names = resolve_modules(model, sites)
    with torch.no_grad(), Tracer(model, names) as clean_tr:
        model(*_args(clean))
    with torch.enable_grad(), Tracer(model, names, grad=True) as tr:
        _scalar(metric, model(*_args(corrupt))).backward()
    out = {}
    for n in names:
        a_clean, a_corrupt = clean_tr.stack(n), tr.stack(n)
        if a_clean.shape != a_corrupt.shape:
            raise ValueError(
                f"module {n!r} has output shape {tuple(a_clean.shape)} (calls first) on the clean run and "
                f"{tuple(a_corrupt.shape)} on the corrupt run; give both runs inputs of the same shapes"
            )
        out[n] = (a_clean - a_corrupt) * tr.stack_grad(n)
    return out


@torch.no_grad()
def activation_patching(
    model: nn.Module,
    sites: str | Iterable[str],
    clean: Any,
    corrupt: Any,
    metric: Callable[[Any], Tensor],
) -> dict[str, float]:
    """Exact effect of patching each module's clean output (every call) into the corrupt run.

    Same arguments as :func:`attribution_patching`. Returns ``{name: metric(patched) − metric(corrupt)}``;
    one forward pass per site plus two.
    """
    names = resolve_modules(model, sites)
    with Tracer(model, names) as clean_tr:
        model(*_args(clean))
    base = float(_scalar(metric, model(*_args(corrupt))))
    effects = {}
    for n in names:
        with Tracer(model, replace={n: clean_tr.records(n)}):
            effects[n] = float(_scalar(metric, model(*_args(corrupt)))) - base
    return effects
