"""The conditional U-Net, its embedders and named presets (see docs/models.md for module names)."""
from hidcap.models import presets
from hidcap.models.build import MODELS, build_model
from hidcap.models.embeddings import ConditionMLP, SinusoidalEncoding, TimeEmbedding, sinusoidal_embedding
from hidcap.models.unet import CONDITIONING_MODES, Attention, ResBlock, UNet, UNetConfig

__all__ = [
    "Attention",
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
