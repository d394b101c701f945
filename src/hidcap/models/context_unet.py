"""The ContextUnet of Okawa et al. 2023 ("Compositional Abilities Emerge Multiplicatively"), as built in their
code (phys-ai/concept_graphs, ``train.py``; ``n_feat=256``, no attention); see docs/models.md for the
comparison with hidcap's :class:`~hidcap.models.unet.UNet`.

Data flow (F = ``n_feat``, S = image_size; S = 28 in the paper):

- ``stem``: conv-BN-GELU (C -> F) twice, the two outputs summed (a residual block across a width change);
- ``down1`` (F -> F), ``down2`` (F -> 2F): conv-BN-GELU twice, then 2×2 max-pool (S -> S/2 -> S/4);
- ``to_vec``: average-pool of the whole S/4 × S/4 map to 1×1, GELU (the bottleneck vector);
- ``time_embed1`` / ``time_embed2``: t (the diffusion passes t/T) -> Linear(1, w)→GELU→Linear(w, w), w = 2F, F;
- ``up0``: transposed conv S/4 × S/4 (1×1 -> S/4 × S/4), GroupNorm, ReLU;
- ``site1.cond_embed`` / ``site2.cond_embed``: the concept embeddings (one Linear→GELU→Linear per concept
  group, summed) that MULTIPLY the decoder features: ``up1(cemb1·up0 + temb1, down2)``,
  ``up2(cemb2·up1 + temb2, down1)``; ``"*.cond_embed"`` selects both;
- ``up1`` / ``up2``: concatenate the skip, 2×2 transposed conv, two conv-BN-GELU blocks;
- ``head``: concatenate the stem output, conv-GroupNorm-ReLU-conv back to C channels.

phys-ai/concept_graphs ``train.py`` keeps its concept embeddings in plain Python lists, so there they are
neither trained (Adam gets ``ddpm.parameters()``) nor saved; the 26,980,356 parameters of the original model
include them (other copies of the ContextUnet hold them in an ``nn.ModuleList``). ``train_cond_embed=True`` (the
default) trains them; ``False`` reproduces train.py: the embeddings keep their random initialisation
(``requires_grad=False``, still saved in checkpoints so a run reloads exactly).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

__all__ = ["ContextUNetConfig", "ContextUNet", "ConceptEmbedding", "trainable_parameters"]

#: hidcap's conditioning slots read as Okawa et al.'s concept groups [2, 3, 1]: shape (the first two
#: one-hot slots: circle, triangle), colour (RGB) and size (radius); see ``hidcap.data.COND_LAYOUT``.
OKAWA_GROUPS: tuple[tuple[int, int], ...] = ((0, 2), (5, 8), (8, 9))


@dataclass(frozen=True)
class ContextUNetConfig:
    """Architecture of :class:`ContextUNet` (defaults: Okawa et al. 2023's model on hidcap's 3-channel,
    28 px images and 12-d conditioning vector).

    kind: config discriminator (always ``"context-unet"``). n_feat: base width F (256 in the paper).
    cond_dim: length of the conditioning vector; cond_groups: ``(start, stop)`` slices of it, each one concept
    with its own embedding MLPs (default: shape 2, colour 3, size 1 = the original's ``n_classes [2, 3, 1]``).
    norm_groups: GroupNorm groups in ``up0`` and ``head``. train_cond_embed: see the module docstring.
    """

    #: the kind config_io records for this class (its "@kind"); the `kind` field repeats it so a file
    #: names its class even where a loader matches union options by field names
    config_kind: ClassVar[str] = "context-unet"

    kind: str = "context-unet"
    image_size: int = 28
    in_channels: int = 3
    n_feat: int = 256
    cond_dim: int = 12
    cond_groups: tuple[tuple[int, int], ...] = OKAWA_GROUPS
    norm_groups: int = 8
    train_cond_embed: bool = True

    def __post_init__(self) -> None:
        if self.kind != self.config_kind:
            raise ValueError(f"ContextUNetConfig.kind must be {self.config_kind!r}, got {self.kind!r}")
        if self.image_size < 4 or self.image_size % 4:
            raise ValueError(f"image_size must be a positive multiple of 4 (two 2×2 max-pools), got {self.image_size}")
        if self.n_feat <= 0 or self.n_feat % self.norm_groups:
            raise ValueError(f"n_feat must be a positive multiple of norm_groups={self.norm_groups}, got {self.n_feat}")
        if self.in_channels <= 0 or self.cond_dim <= 0:
            raise ValueError(f"in_channels and cond_dim must be positive, got {self.in_channels}, {self.cond_dim}")
        if not self.cond_groups:
            raise ValueError("cond_groups must name at least one (start, stop) slice")
        for start, stop in self.cond_groups:
            if not 0 <= start < stop <= self.cond_dim:
                raise ValueError(f"cond_groups slice ({start}, {stop}) does not fit cond_dim={self.cond_dim}")

    @property
    def conditioning(self) -> str:
        """Always ``'context'``: concept embeddings multiply decoder features."""
        return "context"

    @property
    def n_classes(self) -> tuple[int, ...]:
        """Width of each concept group (the original's ``n_classes``)."""
        return tuple(stop - start for start, stop in self.cond_groups)


def trainable_parameters(model: nn.Module) -> int:
    """Number of parameters with ``requires_grad`` (what the original's ``parameters()`` counts)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _embed_fc(d_in: int, width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, width), nn.GELU(), nn.Linear(width, width))


class _ConvBlock(nn.Module):
    """conv3×3→BatchNorm→GELU twice; ``residual``: output x1 + x2 (x + x2 when widths match)."""

    def __init__(self, c_in: int, c_out: int, residual: bool = False):
        super().__init__()
        self.residual, self.same = residual, c_in == c_out
        self.conv1 = nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.GELU())
        self.conv2 = nn.Sequential(nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.GELU())

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.conv1(x)
        x2 = self.conv2(x1)
        if not self.residual:
            return x2
        return (x if self.same else x1) + x2


class _Down(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.block = _ConvBlock(c_in, c_out)
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.block(x))


class _Up(nn.Module):
    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_out, 2, stride=2)
        self.block1 = _ConvBlock(c_out, c_out)
        self.block2 = _ConvBlock(c_out, c_out)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.block2(self.block1(self.up(torch.cat([x, skip], dim=1))))


class ConceptEmbedding(nn.Module):
    """cond (B, D) -> (B, width, 1, 1): the sum over concept groups g of Linear→GELU→Linear(cond[:, g])."""

    def __init__(self, groups: tuple[tuple[int, int], ...], width: int):
        super().__init__()
        self.groups = groups
        self.embeds = nn.ModuleList(_embed_fc(stop - start, width) for start, stop in groups)

    def forward(self, cond: Tensor) -> Tensor:
        out = sum(mlp(cond[:, start:stop]) for (start, stop), mlp in zip(self.groups, self.embeds))
        return out[:, :, None, None]


class _Site(nn.Module):
    """One place where the concept embedding multiplies decoder features (holds ``cond_embed``)."""

    def __init__(self, groups: tuple[tuple[int, int], ...], width: int):
        super().__init__()
        self.cond_embed = ConceptEmbedding(groups, width)


class ContextUNet(nn.Module):
    """Okawa et al.'s ContextUnet: ``model(x, t, cond)`` -> ε̂ with the shape of x.

    x: (B, C, S, S); t: (B,) or a scalar — the time input the diffusion passes (the faithful DDPM passes
    t/T); cond: (B, cond_dim). Module names: see the module docstring.
    """

    def __init__(self, config: ContextUNetConfig):
        super().__init__()
        if not isinstance(config, ContextUNetConfig):
            raise ValueError(f"config must be a ContextUNetConfig, got {type(config).__name__}")
        self.config = cfg = config
        f, pool = cfg.n_feat, cfg.image_size // 4
        self.stem = _ConvBlock(cfg.in_channels, f, residual=True)
        self.down1 = _Down(f, f)
        self.down2 = _Down(f, 2 * f)
        self.to_vec = nn.Sequential(nn.AvgPool2d(pool), nn.GELU())
        self.time_embed1 = _embed_fc(1, 2 * f)
        self.time_embed2 = _embed_fc(1, f)
        self.site1 = _Site(cfg.cond_groups, 2 * f)
        self.site2 = _Site(cfg.cond_groups, f)
        self.up0 = nn.Sequential(nn.ConvTranspose2d(2 * f, 2 * f, pool, stride=pool),
                                 nn.GroupNorm(cfg.norm_groups, 2 * f), nn.ReLU())
        self.up1 = _Up(4 * f, f)
        self.up2 = _Up(2 * f, f)
        self.head = nn.Sequential(nn.Conv2d(2 * f, f, 3, padding=1), nn.GroupNorm(cfg.norm_groups, f), nn.ReLU(),
                                  nn.Conv2d(f, cfg.in_channels, 3, padding=1))
        if not cfg.train_cond_embed:
            for p in (*self.site1.parameters(), *self.site2.parameters()):
                p.requires_grad_(False)

    def forward(self, x: Tensor, t: Tensor | float, cond: Tensor | None = None) -> Tensor:
        cfg = self.config
        if x.ndim != 4 or x.shape[1:] != (cfg.in_channels, cfg.image_size, cfg.image_size):
            raise ValueError(
                f"x must be (B, {cfg.in_channels}, {cfg.image_size}, {cfg.image_size}), got {tuple(x.shape)}"
            )
        b = x.shape[0]
        t = torch.as_tensor(t, device=x.device, dtype=torch.float32)
        if t.ndim == 0:
            t = t.expand(b)
        if t.shape != (b,):
            raise ValueError(f"t must be a scalar or (B,)=({b},), got shape {tuple(t.shape)}")
        if cond is None or cond.shape != (b, cfg.cond_dim):
            got = None if cond is None else tuple(cond.shape)
            raise ValueError(f"cond must be (B, D)=({b}, {cfg.cond_dim}), got {got}")
        cond = cond.float()
        t = t[:, None]
        h0 = self.stem(x)
        d1 = self.down1(h0)
        d2 = self.down2(d1)
        u0 = self.up0(self.to_vec(d2))
        temb1 = self.time_embed1(t)[:, :, None, None]
        temb2 = self.time_embed2(t)[:, :, None, None]
        u1 = self.up1(self.site1.cond_embed(cond) * u0 + temb1, d2)
        u2 = self.up2(self.site2.cond_embed(cond) * u1 + temb2, d1)
        return self.head(torch.cat([u2, h0], dim=1))
