"""Synthetic data generators: concept-space shapes, the concept graph, Gaussian bumps and stripes.

Every data set is described by a frozen spec (saved with :mod:`hidcap.config_io`) whose ``build(seed)``
returns a :class:`LabelledImages`; :class:`ConcatSpec` holds several bump specs trained on together.
"""
from hidcap.data.bumps import KINDS, REGIONS, BumpDataSpec, ConcatSpec, HeldOutRegion, frame_grid, render_bumps
from hidcap.data.concepts import (
    COND_DIM,
    COND_LAYOUT,
    CONCEPTS,
    NULL_COND,
    NULL_COND_VALUE,
    SHAPES,
    ConceptDataSpec,
    Masking,
    concept_signal,
    null_cond,
    render,
)
from hidcap.data.dataset import LabelledImages, batches, concat
from hidcap.data.graph import ConceptGraph, all_classes, class_frequencies, distance_to_set, hamming

__all__ = [
    "BumpDataSpec",
    "COND_DIM",
    "COND_LAYOUT",
    "CONCEPTS",
    "ConcatSpec",
    "ConceptDataSpec",
    "ConceptGraph",
    "HeldOutRegion",
    "KINDS",
    "LabelledImages",
    "Masking",
    "NULL_COND",
    "NULL_COND_VALUE",
    "REGIONS",
    "SHAPES",
    "all_classes",
    "batches",
    "class_frequencies",
    "concat",
    "concept_signal",
    "distance_to_set",
    "frame_grid",
    "hamming",
    "null_cond",
    "render",
    "render_bumps",
]
