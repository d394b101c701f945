"""hidcap.evaluation.protocols: every built-in protocol (and a custom one) passes the one conformance check,
and the check catches broken protocols."""
from dataclasses import dataclass
from types import SimpleNamespace

import pytest
import torch

from hidcap.evaluation.protocols import (
    ElicitationProtocol,
    EmbeddingPatch,
    Guidance,
    LatentIntervention,
    NaivePrompt,
    Overprompt,
    ProtocolContext,
    Variant,
    check_protocol,
    default_protocols,
)

from .fakes import SPEC, Renderer, render_sampler


class Series:
    """A SeriesLike of Renderer checkpoints (EmbeddingPatch reads ``state_dict`` of its source step)."""

    def __init__(self):
        self.models = {0: Renderer(1.0), 5: Renderer(0.0)}

    @property
    def steps(self):
        return sorted(self.models)

    def load(self, step=-1):
        return self.models[self.steps[step] if step < 0 else step]

    def state_dict(self, step):
        return self.models[step].state_dict()

    def diffusion(self, step=-1):
        return SimpleNamespace(sample=render_sampler)


@pytest.fixture
def ctx():
    series = Series()
    return ProtocolContext(series.load(0), SPEC, 0, series)


BUILT_INS = [NaivePrompt(), Overprompt(), LatentIntervention(alphas=(1.0, 4.0), betas=(0.5,)), EmbeddingPatch(),
             Guidance(), *default_protocols(guidance=True)]


@pytest.mark.parametrize("protocol", BUILT_INS, ids=lambda p: type(p).__name__)
def test_every_built_in_protocol_conforms(protocol, ctx):
    assert isinstance(protocol, ElicitationProtocol)
    variants = check_protocol(protocol, ctx)
    assert variants and all(isinstance(v, Variant) for v in variants)


@dataclass(frozen=True)
class Duplicate:
    name: str = "dup"

    def variants(self, ctx, class_bits):
        cond = ctx.spec.prompt(class_bits)
        return [Variant("same", cond), Variant("same", cond)]


@dataclass(frozen=True)
class WrongShape:
    name: str = "short"

    def variants(self, ctx, class_bits):
        return [Variant("v", torch.zeros(3))]


@dataclass(frozen=True)
class BadSite:
    name: str = "site"

    def variants(self, ctx, class_bits):
        return [Variant("v", ctx.spec.prompt(class_bits), row_edits={"nope": lambda e: e})]


@dataclass(frozen=True)
class Empty:
    name: str = "empty"

    def variants(self, ctx, class_bits):
        return []


@pytest.mark.parametrize(
    "protocol, message",
    [(Duplicate(), "unique"), (WrongShape(), "shape"), (BadSite(), "not a module"), (Empty(), "non-empty list"),
     (SimpleNamespace(name="", variants=None), "non-empty str"), (SimpleNamespace(name="x"), "variants")],
)
def test_check_protocol_names_the_broken_rule(protocol, message, ctx):
    with pytest.raises(AssertionError, match=message):
        check_protocol(protocol, ctx)


def test_embedding_patch_needs_a_series():
    with pytest.raises(ValueError, match="series"):
        EmbeddingPatch().variants(ProtocolContext(Renderer(), SPEC, 0, None), "11")
