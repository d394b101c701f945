"""The conditional U-Net, its embedders, the papers' own networks (Park et al. 2024's CUNet, Okawa et al.
2023's ContextUNet) and named presets (see docs/models.md for module names)."""
from hidcap.models import presets
from hidcap.models.build import MODELS, ModelConfig, build_model
from hidcap.models.context_unet import ContextUNet, ContextUNetConfig
from hidcap.models.cunet import CUNet, CUNetConfig
from hidcap.models.embeddings import ConditionMLP, SinusoidalEncoding, TimeEmbedding, sinusoidal_embedding
from hidcap.models.unet import CONDITIONING_MODES, Attention, ResBlock, UNet, UNetConfig

__all__ = [
    "Attention",
    "CUNet",
    "CUNetConfig",
    "ContextUNet",
    "ContextUNetConfig",
    "ModelConfig",
    "CONDITIONING_MODES",
    "MODELS",
    "ConditionMLP",
    "ResBlock",
    "SinusoidalEncoding",
    "TimeEmbedding",
    "UNet",
    "UNetConfig",
    "build_model",
    "presets",
    "sinusoidal_embedding",
]
