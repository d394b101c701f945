"""One configurable conditional U-Net for every experiment (Park et al. 2024; Liang et al. 2024).

Module names (stable; :class:`~hidcap.tracing.Tracer` and :func:`~hidcap.patching.patch` rely on them):

- ``time_embed``: time encoder (sinusoidal -> MLP, or the fixed encoding alone in ``'concat_pe'`` mode);
- ``cond_embed``: top-level conditioning embedder (``'shared'``: trainable MLP; ``'concat_pe'``: fixed
  sinusoidal encoding of the labels, no parameters); absent in ``'block_mlp'`` and ``'none'`` modes;
- ``stem``: first 3×3 convolution;
- ``downs.{i}``: level i (resolution ``image_size / 2**i``), with ``downs.{i}.res.{j}`` residual blocks,
  ``downs.{i}.attn.{j}`` attention after each block (``nn.Identity`` where the level has no attention) and
  ``downs.{i}.resample`` (stride-2 conv; ``nn.Identity`` on the last level);
- ``mid.res.0``, ``mid.attn``, ``mid.res.1``: bottleneck at the lowest resolution;
- ``ups.{k}``: level ``L-1-k`` on the way up, with ``res_blocks + 1`` blocks ``ups.{k}.res.{j}`` (each
  concatenates one skip), ``ups.{k}.attn.{j}`` and ``ups.{k}.resample`` (nearest ×2 + conv; Identity on the last);
- every residual block has ``emb_proj`` (time/encoding embedding -> per-channel bias) and, in
  ``'block_mlp'`` mode, its own conditioning MLP ``cond_embed`` (per-channel bias), so ``"*.cond_embed"``
  selects all of them;
- ``out_norm``, ``out_conv``: output head predicting ε (same shape as x).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hidcap.models.embeddings import ConditionMLP, SinusoidalEncoding, TimeEmbedding

__all__ = ["CONDITIONING_MODES", "UNetConfig", "UNet", "ResBlock", "Attention"]

#: ``block_mlp`` (a): a conditioning MLP in every res block; ``shared`` (b): one conditioning MLP added to
#: the time embedding; ``concat_pe`` (c): fixed sinusoidal encodings of the labels concatenated with the
#: time encoding; ``none``: unconditional.
CONDITIONING_MODES = ("block_mlp", "shared", "concat_pe", "none")


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of :class:`UNet`.

    channels: width of each resolution level (e.g. ``(64, 128, 256)``: 3 levels, 2 downsamplings).
    res_blocks: residual blocks per level on the way down (``res_blocks + 1`` on the way up).
    attention_resolutions: spatial sizes (e.g. ``(8,)``) whose levels get attention after each res block.
    mid_attention: self-attention in the bottleneck (``mid.attn``).
    heads, groups, dropout: attention heads, GroupNorm groups, dropout inside res blocks.
    cond_dim: length D of the conditioning vector (ignored in mode ``'none'``).
    conditioning: one of :data:`CONDITIONING_MODES`.
    time_dim: sinusoidal time-encoding size; emb_dim: time-MLP width (modes other than ``concat_pe``).
    cond_hidden: hidden width of the conditioning MLPs.
    time_scale: t is encoded as ``sin/cos(t · time_scale · f_k)``: 1 for integer DDPM steps, 1000 for
        continuous VDM times in [0, 1].
    cond_pe_dim, cond_scale: ``concat_pe`` mode encodes each label column ``c`` as
        ``sinusoidal(c · cond_scale, cond_pe_dim)``.
    """

    image_size: int = 32
    in_channels: int = 3
    channels: tuple[int, ...] = (64, 128, 256)
    res_blocks: int = 2
    attention_resolutions: tuple[int, ...] = ()
    mid_attention: bool = True
    heads: int = 4
    groups: int = 8
    dropout: float = 0.1
    cond_dim: int = 12
    conditioning: str = "block_mlp"
    time_dim: int = 64
    emb_dim: int = 256
    cond_hidden: int = 256
    time_scale: float = 1.0
    cond_pe_dim: int = 64
    cond_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.conditioning not in CONDITIONING_MODES:
            raise ValueError(f"conditioning must be one of {CONDITIONING_MODES}, got {self.conditioning!r}")
        if not self.channels or any(c <= 0 for c in self.channels):
            raise ValueError(f"channels must be a non-empty tuple of positive ints, got {self.channels}")
        for c in self.channels:
            if c % self.groups:
                raise ValueError(f"every channel count must be divisible by groups={self.groups}, got {self.channels}")
            if (self.attention_resolutions or self.mid_attention) and c % self.heads:
                raise ValueError(f"channels {self.channels} must be divisible by heads={self.heads}")
        if self.res_blocks < 1:
            raise ValueError(f"res_blocks must be >= 1, got {self.res_blocks}")
        if self.image_size % 2 ** (len(self.channels) - 1):
            raise ValueError(
                f"image_size={self.image_size} must be divisible by 2**(levels-1)={2 ** (len(self.channels) - 1)}"
            )
        if self.in_channels <= 0:
            raise ValueError(f"in_channels must be positive, got {self.in_channels}")
        if self.conditioning != "none" and self.cond_dim <= 0:
            raise ValueError(f"cond_dim must be positive for conditioning={self.conditioning!r}, got {self.cond_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("time_dim", "cond_pe_dim"):
            v = getattr(self, name)
            if v <= 0 or v % 2:
                raise ValueError(f"{name} must be a positive even int, got {v}")

    @property
    def resolutions(self) -> tuple[int, ...]:
        """Spatial size of each level."""
        return tuple(self.image_size // 2**i for i in range(len(self.channels)))


class ResBlock(nn.Module):
    """GroupNorm→GELU→conv3×3, + emb_proj(emb) [+ cond_embed(cond)] per-channel bias, GroupNorm→GELU→dropout
    →conv3×3, plus a (1×1-projected) skip. x (B, C_in, H, W) -> (B, C_out, H, W)."""

    def __init__(self, c_in: int, c_out: int, emb_dim: int, groups: int, dropout: float, cond: tuple[int, int] | None):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb_proj = nn.Sequential(nn.GELU(), nn.Linear(emb_dim, c_out))
        self.cond_embed = ConditionMLP(cond[0], cond[1], c_out) if cond is not None else None
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: Tensor, emb: Tensor, cond: Tensor | None) -> Tensor:
        h = self.conv1(F.gelu(self.norm1(x)))
        bias = self.emb_proj(emb)
        if self.cond_embed is not None:
            bias = bias + self.cond_embed(cond)
        h = h + bias[:, :, None, None].to(h.dtype)
        h = self.conv2(self.dropout(F.gelu(self.norm2(h))))
        return self.skip(x) + h


class Attention(nn.Module):
    """Multi-head self-attention over the H·W positions with a residual: (B, C, H, W) -> same shape."""

    def __init__(self, channels: int, heads: int, groups: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, h * w)
        q, k, v = qkv.transpose(-1, -2).unbind(1)  # each (B, heads, HW, C/heads)
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(-1, -2).reshape(b, c, h, w)
        return x + self.proj(out)


class _Level(nn.Module):
    def __init__(self, res: list[ResBlock], attn: list[nn.Module], resample: nn.Module):
        super().__init__()
        self.res = nn.ModuleList(res)
        self.attn = nn.ModuleList(attn)
        self.resample = resample


class _Mid(nn.Module):
    def __init__(self, res: list[ResBlock], attn: nn.Module):
        super().__init__()
        self.res = nn.ModuleList(res)
        self.attn = attn


class _Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class UNet(nn.Module):
    """Conditional ε-prediction U-Net: ``model(x, t, cond)`` -> ε̂ with the shape of x.

    x: (B, C, H, W) noisy images; t: (B,) diffusion time (integer steps for DDPM, continuous in [0, 1]
    for VDM; encoded as ``t · config.time_scale``), or a scalar broadcast to B; cond: (B, D) conditioning
    vectors (``None`` only in mode ``'none'``). Module names: see the module docstring.
    """

    def __init__(self, config: UNetConfig):
        super().__init__()
        if not isinstance(config, UNetConfig):
            raise ValueError(f"config must be a UNetConfig, got {type(config).__name__}")
        self.config = cfg = config
        mode = cfg.conditioning
        if mode == "concat_pe":
            self.time_embed = TimeEmbedding(cfg.time_dim, cfg.time_dim, cfg.time_scale, mlp=False)
            self.cond_embed = SinusoidalEncoding(cfg.cond_pe_dim, scale=cfg.cond_scale)
            emb_dim = cfg.time_dim + cfg.cond_dim * cfg.cond_pe_dim
        else:
            self.time_embed = TimeEmbedding(cfg.time_dim, cfg.emb_dim, cfg.time_scale, mlp=True)
            if mode == "shared":
                self.cond_embed = ConditionMLP(cfg.cond_dim, cfg.cond_hidden, cfg.emb_dim)
            emb_dim = cfg.emb_dim
        block_cond = (cfg.cond_dim, cfg.cond_hidden) if mode == "block_mlp" else None

        def res(c_in: int, c_out: int) -> ResBlock:
            return ResBlock(c_in, c_out, emb_dim, cfg.groups, cfg.dropout, block_cond)

        def attn(c: int, resolution: int) -> nn.Module:
            return Attention(c, cfg.heads, cfg.groups) if resolution in cfg.attention_resolutions else nn.Identity()

        chans, resos, last = cfg.channels, cfg.resolutions, len(cfg.channels) - 1
        self.stem = nn.Conv2d(cfg.in_channels, chans[0], 3, padding=1)
        skips = [chans[0]]
        downs, c = [], chans[0]
        for i, (ch, r) in enumerate(zip(chans, resos)):
            blocks, attns = [], []
            for _ in range(cfg.res_blocks):
                blocks.append(res(c, ch))
                attns.append(attn(ch, r))
                c = ch
                skips.append(c)
            down = nn.Conv2d(c, c, 3, stride=2, padding=1) if i < last else nn.Identity()
            if i < last:
                skips.append(c)
            downs.append(_Level(blocks, attns, down))
        self.downs = nn.ModuleList(downs)
        mid_attn = Attention(c, cfg.heads, cfg.groups) if cfg.mid_attention else nn.Identity()
        self.mid = _Mid([res(c, c), res(c, c)], mid_attn)
        ups = []
        for i in reversed(range(len(chans))):
            ch, r = chans[i], resos[i]
            blocks, attns = [], []
            for _ in range(cfg.res_blocks + 1):
                blocks.append(res(c + skips.pop(), ch))
                attns.append(attn(ch, r))
                c = ch
            ups.append(_Level(blocks, attns, _Upsample(c) if i > 0 else nn.Identity()))
        self.ups = nn.ModuleList(ups)
        self.out_norm = nn.GroupNorm(cfg.groups, c)
        self.out_conv = nn.Conv2d(c, cfg.in_channels, 3, padding=1)
        # the ε head starts at zero: the initial model predicts ε̂ = 0 (a stable start for both losses)
        nn.init.zeros_(self.out_conv.weight)
        nn.init.zeros_(self.out_conv.bias)

    def forward(self, x: Tensor, t: Tensor | float, cond: Tensor | None = None) -> Tensor:
        cfg = self.config
        if x.ndim != 4 or x.shape[1] != cfg.in_channels or x.shape[-1] != cfg.image_size or x.shape[-2] != cfg.image_size:
            raise ValueError(
                f"x must be (B, {cfg.in_channels}, {cfg.image_size}, {cfg.image_size}), got {tuple(x.shape)}"
            )
        b = x.shape[0]
        t = torch.as_tensor(t, device=x.device)
        if t.ndim == 0:
            t = t.expand(b)
        if t.shape != (b,):
            raise ValueError(f"t must be a scalar or (B,)=({b},), got shape {tuple(t.shape)}")
        if cfg.conditioning != "none":
            if cond is None or cond.ndim != 2 or cond.shape != (b, cfg.cond_dim):
                got = None if cond is None else tuple(cond.shape)
                raise ValueError(f"cond must be (B, D)=({b}, {cfg.cond_dim}), got {got}")
            cond = cond.float()
        else:
            cond = None
        emb = self.time_embed(t)
        if cfg.conditioning == "shared":
            emb = emb + self.cond_embed(cond)
        elif cfg.conditioning == "concat_pe":
            emb = torch.cat([emb, self.cond_embed(cond)], dim=-1)
        block_cond = cond if cfg.conditioning == "block_mlp" else None

        h = self.stem(x)
        hs = [h]
        for level in self.downs:
            for block, attn in zip(level.res, level.attn):
                h = attn(block(h, emb, block_cond))
                hs.append(h)
            if not isinstance(level.resample, nn.Identity):
                h = level.resample(h)
                hs.append(h)
        h = self.mid.res[0](h, emb, block_cond)
        h = self.mid.attn(h)
        h = self.mid.res[1](h, emb, block_cond)
        for level in self.ups:
            for block, attn in zip(level.res, level.attn):
                h = attn(block(torch.cat([h, hs.pop()], dim=1), emb, block_cond))
            h = level.resample(h)
        return self.out_conv(F.gelu(self.out_norm(h)))
