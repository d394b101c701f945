"""Time and conditioning embedders: fixed sinusoidal encodings and the small conditioning MLPs."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["sinusoidal_embedding", "SinusoidalEncoding", "TimeEmbedding", "ConditionMLP"]


def sinusoidal_embedding(x: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Transformer-style encoding of scalars: x (B,) -> (B, dim) = [cos(x·f_k), sin(x·f_k)].

    Frequencies ``f_k = max_period^(-k/(dim/2))`` for k < dim/2; ``dim`` must be even.
    """
    if dim <= 0 or dim % 2:
        raise ValueError(f"dim must be a positive even int, got {dim}")
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D (B,), got shape {tuple(x.shape)}")
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=x.device, dtype=torch.float32) / half)
    args = x.float()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class SinusoidalEncoding(nn.Module):
    """Fixed (parameter-free) sinusoidal encoding of every column of a (B, D) input -> (B, D·dim).

    Each column is multiplied by ``scale`` and encoded with :func:`sinusoidal_embedding`; the encodings are
    concatenated column by column (``[enc(x_0), enc(x_1), ...]``). A (B,) input is treated as (B, 1).
    """

    def __init__(self, dim: int, scale: float = 1.0, max_period: float = 10000.0):
        super().__init__()
        if dim <= 0 or dim % 2:
            raise ValueError(f"dim must be a positive even int, got {dim}")
        self.dim, self.scale, self.max_period = dim, float(scale), float(max_period)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise ValueError(f"input must be (B,) or (B, D), got shape {tuple(x.shape)}")
        b, d = x.shape
        enc = sinusoidal_embedding((x * self.scale).reshape(-1), self.dim, self.max_period)
        return enc.reshape(b, d * self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, scale={self.scale}, max_period={self.max_period}"


class TimeEmbedding(nn.Module):
    """Diffusion time t (B,) -> (B, out_dim): sinusoidal(t·time_scale, dim), then Linear→GELU→Linear.

    With ``mlp=False`` the fixed encoding itself is the output (``out_dim == dim``), as in the
    Gaussian-bump model whose conditioning carries no trainable embedder.
    """

    def __init__(self, dim: int, out_dim: int, time_scale: float = 1.0, mlp: bool = True):
        super().__init__()
        self.encode = SinusoidalEncoding(dim, scale=time_scale)
        self.mlp = nn.Sequential(nn.Linear(dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim)) if mlp else None
        self.out_dim = out_dim if mlp else dim

    def forward(self, t: Tensor) -> Tensor:
        e = self.encode(t)
        return e if self.mlp is None else self.mlp(e)


class ConditionMLP(nn.Module):
    """Conditioning vector (B, D) -> (B, out_dim): Linear→GELU→Linear→GELU (Park et al. 2024).

    Used once per residual block (mode ``'block_mlp'``, added as a per-channel bias) or once for the
    whole network (mode ``'shared'``).
    """

    def __init__(self, in_dim: int, hidden: int, out_dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim), nn.GELU())

    def forward(self, cond: Tensor) -> Tensor:
        return self.net(cond)
