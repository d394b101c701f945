"""Oracle 'models' for diffusion tests: exact ε-predictors for simple data distributions."""
from __future__ import annotations

import torch
from torch import nn


class CallCounter(nn.Module):
    """Wraps a model, counting calls and recording batch sizes."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner
        self.batches: list[int] = []
        self.config = getattr(inner, "config", None)

    def forward(self, x, t, cond):
        self.batches.append(x.shape[0])
        return self.inner(x, t, cond)


class GaussianOracle(nn.Module):
    """Exact E[ε | z_t] for data x ~ N(mean, std²) i.i.d. per pixel (model space), given α(t), σ(t).

    ``alpha_sigma(t) -> (α, σ)`` per batch element. z = αx + σε  =>  E[ε|z] = σ (z − α·mean) / (α² std² + σ²).
    """

    def __init__(self, alpha_sigma, mean: float = 0.0, std: float = 1.0, shape=(1, 8, 8)):
        super().__init__()
        self.alpha_sigma, self.mean, self.std = alpha_sigma, mean, std
        self.dummy = nn.Parameter(torch.zeros(()))
        self.shape = shape

    def forward(self, x, t, cond):
        a, s = self.alpha_sigma(t)
        a, s = a.view(-1, 1, 1, 1), s.view(-1, 1, 1, 1)
        return s * (x - a * self.mean) / (a**2 * self.std**2 + s**2)


class CondPointOracle(nn.Module):
    """Exact ε for a point mass at x* = cond[:, :1] (broadcast over pixels), in model space."""

    def __init__(self, alpha_sigma):
        super().__init__()
        self.alpha_sigma = alpha_sigma
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x, t, cond):
        a, s = self.alpha_sigma(t)
        target = cond[:, :1, None, None]
        return (x - a.view(-1, 1, 1, 1) * target) / s.view(-1, 1, 1, 1)
