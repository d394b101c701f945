"""The conditional U-Net of Park et al. 2024 ("Emergence of Hidden Capabilities"), as built in their code
(cfpark00/concept-learning, ``CUNet`` with ``v_conditioning_type: sep_mlp``); see docs/models.md for the
point-by-point comparison with hidcap's :class:`~hidcap.models.unet.UNet`.

Structure (``res_blocks=2``, channels (64, 128, 256)): 14 residual blocks — 2 per level on the way down,
2 in the bottleneck around one self-attention, 2 per level on the way up — and ONE skip per level: the
output of each down level but the last is kept before a 2×2 stride-2 conv and concatenated after the
2×2 transposed conv of the matching up level.

Module names (stable, for tracing / patching / interventions):

- ``time_embed``: sinusoidal encoding of ``t · time_scale`` -> Linear→GELU→Linear→GELU (width 4·time_dim);
- ``stem``: first 3×3 conv;
- ``downs.{i}.res.{j}`` residual blocks, ``downs.{i}.resample`` (2×2 stride-2 conv);
- ``mid.res.0``, ``mid.attn``, ``mid.res.1``;
- ``ups.{k}.res.{j}`` (level ``L-1-k``; block 0 takes the concatenated skip), ``ups.{k}.resample``
  (2×2 transposed conv to the next level's width);
- every block: ``emb_proj`` (its own time MLP, Linear→GELU→Linear→GELU with hidden width = block width) and
  ``cond_embed`` (its own conditioning MLP, same shape), both added as per-channel biases after the first
  conv, so ``"*.cond_embed"`` selects all 14 conditioning MLPs;
- ``out_norm``, ``out_conv`` (zero-initialised): ε̂ = out_conv(GELU(out_norm(h))) + x.

The original constructs a down conv on its last level and an up conv on its first up level that its forward
never calls; with ``unused_resamplers=True`` (the default, to match its parameter count) they exist here as
``downs.{L-1}.resample`` / ``ups.{L-1}.resample`` and are likewise never called.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["CUNetConfig", "CUNet", "CUNetBlock", "CUNetAttention", "timestep_embedding"]


@dataclass(frozen=True)
class CUNetConfig:
    """Architecture of :class:`CUNet` (defaults: Park et al. 2024's model on hidcap's 12-d conditioning).

    kind: config discriminator (always ``"cunet"``).
    channels / res_blocks: width per level and residual blocks per level (down and up alike).
    mid_attention, heads: bottleneck self-attention and its heads. groups, norm_eps: GroupNorm settings.
    dropout: before the second conv of every block. cond_dim: length of the conditioning vector
    (12 = ``hidcap.data.COND_DIM``; the original used 11). time_dim: sinusoidal size (the time MLP is
    4·time_dim wide); time_scale: t is encoded as sin/cos(t · time_scale · f_k) (1000: the original, which
    feeds the normalised γ in [0, 1]). init_scale: every parameter is multiplied by it after init (1.0 in the
    original's runs). residual_output: ε̂ = f(x) + x (so ε̂ = x at init). unused_resamplers: see the module
    docstring.
    """

    #: the kind config_io records for this class (its "@kind"); the `kind` field repeats it so a file
    #: names its class even where a loader matches union options by field names
    config_kind: ClassVar[str] = "cunet"

    kind: str = "cunet"
    image_size: int = 32
    in_channels: int = 3
    channels: tuple[int, ...] = (64, 128, 256)
    res_blocks: int = 2
    mid_attention: bool = True
    heads: int = 4
    groups: int = 8
    norm_eps: float = 1e-6
    dropout: float = 0.1
    cond_dim: int = 12
    time_dim: int = 64
    time_scale: float = 1000.0
    init_scale: float = 1.0
    residual_output: bool = True
    unused_resamplers: bool = True

    def __post_init__(self) -> None:
        if self.kind != self.config_kind:
            raise ValueError(f"CUNetConfig.kind must be {self.config_kind!r}, got {self.kind!r}")
        if not self.channels or any(c <= 0 or c % self.groups for c in self.channels):
            raise ValueError(f"channels must be positive multiples of groups={self.groups}, got {self.channels}")
        if self.mid_attention and self.channels[-1] % self.heads:
            raise ValueError(f"the last width {self.channels[-1]} must be divisible by heads={self.heads}")
        if self.res_blocks < 1:
            raise ValueError(f"res_blocks must be >= 1, got {self.res_blocks}")
        if self.image_size % 2 ** (len(self.channels) - 1):
            raise ValueError(f"image_size={self.image_size} must be divisible by {2 ** (len(self.channels) - 1)}")
        if self.in_channels <= 0 or self.cond_dim <= 0:
            raise ValueError(f"in_channels and cond_dim must be positive, got {self.in_channels}, {self.cond_dim}")
        if self.time_dim <= 2 or self.time_dim % 2:
            raise ValueError(f"time_dim must be an even int > 2, got {self.time_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    @property
    def conditioning(self) -> str:
        """Always ``'block_mlp'``: a conditioning MLP in every residual block."""
        return "block_mlp"


def timestep_embedding(t: Tensor, dim: int, scale: float = 1000.0, max_period: float = 10000.0) -> Tensor:
    """The VDM code's encoding: t (B,) -> (B, dim) = [sin(s·t·f_k), cos(s·t·f_k)], f_k log-spaced from 1 down
    to 1/max_period over dim/2 frequencies (both ends included)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / (half - 1))
    args = (t.float() * scale)[:, None] * freqs[None, :]
    return torch.cat([args.sin(), args.cos()], dim=-1)


def _mlp(c_in: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(c_in, width), nn.GELU(), nn.Linear(width, width), nn.GELU())


class CUNetBlock(nn.Module):
    """GroupNorm→GELU→conv3×3, + emb_proj(temb) + cond_embed(cond) per-channel biases, GroupNorm→GELU→
    dropout→conv3×3 (zero-initialised), plus a (1×1-projected) skip. x (B, C_in, H, W) -> (B, C_out, H, W)."""

    def __init__(self, c_in: int, c_out: int, time_width: int, cond_dim: int, groups: int, eps: float, dropout: float):
        super().__init__()
        self.c_out = c_out
        self.norm1 = nn.GroupNorm(groups, c_in, eps=eps)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb_proj = _mlp(time_width, c_out)
        self.cond_embed = _mlp(cond_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out, eps=eps)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, temb: Tensor, cond: Tensor) -> Tensor:
        h = self.conv1(F.gelu(self.norm1(x)))
        h = h + (self.emb_proj(temb) + self.cond_embed(cond))[:, :, None, None]
        h = self.conv2(self.dropout(F.gelu(self.norm2(h))))
        return self.skip(x) + h


class CUNetAttention(nn.Module):
    """Residual multi-head self-attention over pixels with 1×1-conv q, k, v and output projection.
    Head h holds channels ``h, h + heads, h + 2·heads, …`` (the original's interleaved split)."""

    def __init__(self, channels: int, heads: int, groups: int, eps: float):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels, eps=eps)
        self.q, self.k, self.v = (nn.Conv2d(channels, channels, 1) for _ in range(3))
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, hh, ww = x.shape
        h = self.norm(x)

        def split(t: Tensor) -> Tensor:  # (B, C, H, W) -> (B, heads, HW, C/heads), channel = j·heads + head
            return t.reshape(b, c // self.heads, self.heads, hh * ww).permute(0, 2, 3, 1)

        out = F.scaled_dot_product_attention(split(self.q(h)), split(self.k(h)), split(self.v(h)))
        out = out.permute(0, 3, 1, 2).reshape(b, c, hh, ww)
        return x + self.proj_out(out)


class _Level(nn.Module):
    def __init__(self, res: list[CUNetBlock], resample: nn.Module):
        super().__init__()
        self.res = nn.ModuleList(res)
        self.resample = resample


class _Mid(nn.Module):
    def __init__(self, res: list[CUNetBlock], attn: nn.Module):
        super().__init__()
        self.res = nn.ModuleList(res)
        self.attn = attn


class CUNet(nn.Module):
    """Park et al.'s conditional ε-prediction U-Net: ``model(x, t, cond)`` -> ε̂ with the shape of x.

    x: (B, C, H, W); t: (B,) or a scalar, the time input the diffusion passes (the faithful VDM passes the
    normalised γ in [0, 1]), encoded as ``t · config.time_scale``; cond: (B, cond_dim). Module names: see
    the module docstring.
    """

    def __init__(self, config: CUNetConfig):
        super().__init__()
        if not isinstance(config, CUNetConfig):
            raise ValueError(f"config must be a CUNetConfig, got {type(config).__name__}")
        self.config = cfg = config
        time_width = 4 * cfg.time_dim
        self.time_embed = _mlp(cfg.time_dim, time_width)

        def block(c_in: int, c_out: int) -> CUNetBlock:
            return CUNetBlock(c_in, c_out, time_width, cfg.cond_dim, cfg.groups, cfg.norm_eps, cfg.dropout)

        chans, last = cfg.channels, len(cfg.channels) - 1
        self.stem = nn.Conv2d(cfg.in_channels, chans[0], 3, padding=1)
        downs, c = [], chans[0]
        for i, ch in enumerate(chans):
            blocks = []
            for _ in range(cfg.res_blocks):
                blocks.append(block(c, ch))
                c = ch
            keep = i < last or cfg.unused_resamplers
            downs.append(_Level(blocks, nn.Conv2d(c, c, 2, stride=2) if keep else nn.Identity()))
        self.downs = nn.ModuleList(downs)
        attn = CUNetAttention(c, cfg.heads, cfg.groups, cfg.norm_eps) if cfg.mid_attention else nn.Identity()
        self.mid = _Mid([block(c, c), block(c, c)], attn)
        ups, skip = [], 0
        for i in reversed(range(len(chans))):
            ch, ch_next = chans[i], chans[max(i - 1, 0)]
            blocks = [block(ch + skip, ch)] + [block(ch, ch) for _ in range(cfg.res_blocks - 1)]
            keep = i > 0 or cfg.unused_resamplers
            ups.append(_Level(blocks, nn.ConvTranspose2d(ch, ch_next, 2, stride=2) if keep else nn.Identity()))
            skip = ch_next
        self.ups = nn.ModuleList(ups)
        self.out_norm = nn.GroupNorm(cfg.groups, chans[0], eps=cfg.norm_eps)
        self.out_conv = nn.Conv2d(chans[0], cfg.in_channels, 3, padding=1)
        nn.init.zeros_(self.out_conv.weight)
        nn.init.zeros_(self.out_conv.bias)
        if cfg.init_scale != 1.0:
            with torch.no_grad():
                for p in self.parameters():
                    p.mul_(cfg.init_scale)

    def forward(self, x: Tensor, t: Tensor | float, cond: Tensor | None = None) -> Tensor:
        cfg = self.config
        if x.ndim != 4 or x.shape[1:] != (cfg.in_channels, cfg.image_size, cfg.image_size):
            raise ValueError(
                f"x must be (B, {cfg.in_channels}, {cfg.image_size}, {cfg.image_size}), got {tuple(x.shape)}"
            )
        b = x.shape[0]
        t = torch.as_tensor(t, device=x.device)
        if t.ndim == 0:
            t = t.expand(b)
        if t.shape != (b,):
            raise ValueError(f"t must be a scalar or (B,)=({b},), got shape {tuple(t.shape)}")
        if cond is None or cond.shape != (b, cfg.cond_dim):
            got = None if cond is None else tuple(cond.shape)
            raise ValueError(f"cond must be (B, D)=({b}, {cfg.cond_dim}), got {got}")
        cond = cond.float()
        temb = self.time_embed(timestep_embedding(t, cfg.time_dim, cfg.time_scale))

        h = self.stem(x)
        skips = []
        last = len(self.downs) - 1
        for i, level in enumerate(self.downs):
            for blk in level.res:
                h = blk(h, temb, cond)
            if i < last:
                skips.append(h)
                h = level.resample(h)
        h = self.mid.res[0](h, temb, cond)
        h = self.mid.attn(h)
        h = self.mid.res[1](h, temb, cond)
        for k, level in enumerate(self.ups):
            for blk in level.res:
                h = blk(h, temb, cond)
            if k < last:
                h = torch.cat([level.resample(h), skips.pop()], dim=1)
        out = self.out_conv(F.gelu(self.out_norm(h)))
        return out + x if cfg.residual_output else out
