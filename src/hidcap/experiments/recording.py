"""Recording over a checkpoint series x a label grid: sample one image per label at a checkpoint while a
:class:`~hidcap.tracing.Tracer` records one layer at the final sampling step."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from hidcap.diffusion import model_device
from hidcap.rng import torch_generator
from hidcap.runs import SeriesLike
from hidcap.tracing import Tracer

__all__ = ["measured_steps", "record_samples"]


def measured_steps(steps: Sequence[int], every: int = 1) -> list[int]:
    """Every ``every``-th of ``steps``, always ending with the last one."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    steps = list(steps)
    if not steps:
        raise ValueError("no checkpoint steps to measure")
    picked = steps[::every]
    if picked[-1] != steps[-1]:
        picked.append(steps[-1])
    return picked


def record_samples(
    series: SeriesLike,
    step: int,
    labels: np.ndarray | torch.Tensor,
    *,
    sample_steps: int,
    seed: int,
    layer: str | None = None,
    batch: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sample one image per label ``(K, 2)`` (e.g. bump centres (x, y)) from checkpoint ``step`` of ``series``;
    with ``layer``, record that module's output at the final sampling step.

    Returns images ``(K, 1, N, N)`` on the CPU in [0, 1] and activations ``(K, D)`` (flattened) or ``None``.
    Labels go through in chunks of ``batch``; the noise comes from one generator seeded with ``seed``.
    """
    if batch < 1:
        raise ValueError(f"batch must be positive, got {batch}")
    model = series.load(step).eval()
    diffusion = series.diffusion(step)
    device = model_device(model)
    lab = torch.as_tensor(np.asarray(labels), dtype=torch.float32)
    if lab.ndim != 2 or lab.shape[1] != 2:
        raise ValueError(f"labels must be (K, 2), got shape {tuple(lab.shape)}")
    gen = torch_generator(seed, device)
    images, acts = [], []
    for start in range(0, lab.shape[0], batch):
        chunk = lab[start:start + batch].to(device)
        if layer is None:
            images.append(diffusion.sample(model, chunk, gen, steps=sample_steps).cpu())
            continue
        with Tracer(model, [layer], calls=-1) as tr:
            images.append(diffusion.sample(model, chunk, gen, steps=sample_steps).cpu())
        acts.append(tr[layer].flatten(1).float().cpu())
    return torch.cat(images), (torch.cat(acts) if layer is not None else None)
