"""Stand-ins shared by the measurement tests: a concept spec, a generative model whose one conditioning MLP
decides what it renders, and a sampler that renders its output."""
import torch
from torch import nn

from hidcap.data import COND_DIM, ConceptDataSpec, render

SPEC = ConceptDataSpec(concepts=("color", "size"), train_classes=("00", "01", "10"), test_classes=("11",), image_size=16)


class Renderer(nn.Module):
    """Stand-in generative model: one conditioning MLP (``block.cond_embed``) maps the prompt to the concept
    values it renders; ``blend`` pulls the colour towards red (0 = faithful, 1 = always red)."""

    def __init__(self, blend: float = 0.0):
        super().__init__()
        self.block = nn.Module()
        self.block.cond_embed = nn.Linear(COND_DIM, COND_DIM)
        red = SPEC.prompt("00")
        with torch.no_grad():
            w = torch.eye(COND_DIM)
            w[5:8, 5:8] *= 1 - blend
            self.block.cond_embed.weight.copy_(w)
            bias = torch.zeros(COND_DIM)
            bias[5:8] = blend * red[5:8]
            self.block.cond_embed.bias.copy_(bias)

    def forward(self, cond):
        return self.block.cond_embed(cond)


def render_sampler(model, cond, generator, **kw):
    """Sampler protocol for :class:`Renderer`: renders the model's output values at random positions."""
    v = model(cond)
    n = cond.shape[0]
    xy = (torch.rand(2, n, generator=generator) - 0.5) * 0.6
    bg = torch.full((n, 3), 0.9)
    return render(v[:, 5:8].clamp(0, 1), v[:, 8], torch.zeros(n, dtype=torch.long), bg, xy[0], xy[1], image_size=16)


def coin_sampler(model, cond, generator, p: float = 0.5, **kw):
    """A sampler whose colour is a coin flip: blue with probability ``p`` unless the model's colour output is
    clearly blue (B − R > 0.5: always blue). Every variant that does not make the output clearly blue has the
    same true accuracy ``p`` on a blue class, so the best of several is biased upwards by the choice alone."""
    v = model(cond)
    n = cond.shape[0]
    blue, red = torch.tensor([0.2, 0.2, 0.8]), torch.tensor([0.8, 0.2, 0.2])
    heads = (torch.rand(n, generator=generator) < p) | ((v[:, 7] - v[:, 5]) > 0.5)
    color = torch.where(heads[:, None], blue, red)
    xy = (torch.rand(2, n, generator=generator) - 0.5) * 0.6
    bg = torch.full((n, 3), 0.9)
    return render(color, v[:, 8], torch.zeros(n, dtype=torch.long), bg, xy[0], xy[1], image_size=16)
