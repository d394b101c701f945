"""Embedding disentanglement (Park et al. 2024, Sec. 4.4): how orthogonal the two concept steps of the
conditioning embeddings are, read from the embeddings alone."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hidcap.diffusion import model_device
from hidcap.evaluation.concept_scores import class_targets
from hidcap.evaluation.protocols import CONDITION_SITES
from hidcap.tracing import resolve_modules

__all__ = ["EmbeddingDisentanglement", "disentanglement", "embedding_disentanglement"]


def disentanglement(e00: Tensor, e01: Tensor, e10: Tensor) -> Tensor:
    """``1 − |cos(e01 − e00, e10 − e00)|`` along the last axis: 1 when the two concept steps are
    orthogonal, 0 when parallel. Inputs (..., C); returns (...). A zero step -> ``ValueError``."""
    e00, e01, e10 = (torch.as_tensor(e).float() for e in (e00, e01, e10))
    if not (e00.shape == e01.shape == e10.shape) or e00.ndim == 0:
        raise ValueError(f"embeddings must share one shape (..., C), got {e00.shape}, {e01.shape}, {e10.shape}")
    a, b = e01 - e00, e10 - e00
    na, nb = torch.linalg.vector_norm(a, dim=-1), torch.linalg.vector_norm(b, dim=-1)
    if bool((na == 0).any() or (nb == 0).any()):
        raise ValueError("an embedding difference is zero: the two classes embed identically")
    return 1 - ((a * b).sum(-1) / (na * nb)).abs()


@dataclass(frozen=True)
class EmbeddingDisentanglement:
    """Per-site disentanglement (site -> value) and the mean over sites."""

    per_site: dict[str, float]
    mean: float


@torch.no_grad()
def embedding_disentanglement(
    model: nn.Module,
    spec: Any,
    classes: tuple[str, str, str] | None = None,
    sites: str | Iterable[str] = CONDITION_SITES,
) -> EmbeddingDisentanglement:
    """Disentanglement of the conditioning embeddings, from the embeddings alone (no generation).

    Each site's module (e.g. every ``cond_embed`` MLP) is called on the prompts of ``classes`` =
    ``(c00, c01, c10)``: the base class and the classes flipping one concept each (default: all-zero
    base, flipping the first and the second concept; needs >= 2 concepts).
    """
    n = len(spec.concepts)
    if classes is None:
        if n < 2:
            raise ValueError("embedding_disentanglement needs a spec with at least two concepts")
        base = "0" * n
        classes = (base, "01" + base[2:], "10" + base[2:])
    if len(classes) != 3:
        raise ValueError(f"classes must be (c00, c01, c10), got {classes!r}")
    classes, _ = class_targets(spec, classes)
    prompts = spec.prompts(classes).to(model_device(model))
    per_site = {}
    for s in resolve_modules(model, sites):
        e = model.get_submodule(s)(prompts)
        if not isinstance(e, Tensor) or e.shape[0] != 3:
            raise ValueError(f"module {s!r} must map (3, D) prompts to a (3, C) tensor, got {type(e).__name__}")
        e = e.reshape(3, -1)
        per_site[s] = float(disentanglement(e[0], e[1], e[2]))
    return EmbeddingDisentanglement(per_site, float(np.mean(list(per_site.values()))))
