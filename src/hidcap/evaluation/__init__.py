"""Measurement: concept probes, concept space, learning time and curve statistics, capability vs behaviour,
bump accuracy, and the intervals and decision rules that verdicts use.

Names are imported lazily on first access (``from hidcap.evaluation import concept_space`` works
without importing every submodule up front).
"""
from __future__ import annotations

from hidcap.lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    # classifiers.py
    "ConceptProbe": "hidcap.evaluation.classifiers",
    "ProbeConfig": "hidcap.evaluation.classifiers",
    "MIN_PROBE_ACCURACY": "hidcap.evaluation.classifiers",
    "train_probe": "hidcap.evaluation.classifiers",
    "load_probe": "hidcap.evaluation.classifiers",
    "require_accurate": "hidcap.evaluation.classifiers",
    # concept_scores.py
    "ConceptSpace": "hidcap.evaluation.concept_scores",
    "concept_space": "hidcap.evaluation.concept_scores",
    "generate": "hidcap.evaluation.concept_scores",
    "iter_checkpoints": "hidcap.evaluation.concept_scores",
    # curves.py
    "Turn": "hidcap.evaluation.curves",
    "find_turn": "hidcap.evaluation.curves",
    "first_crossing": "hidcap.evaluation.curves",
    "memorization": "hidcap.evaluation.curves",
    "nearest_corner": "hidcap.evaluation.curves",
    "onset_index": "hidcap.evaluation.curves",
    "rise_then_fall": "hidcap.evaluation.curves",
    "rise_width": "hidcap.evaluation.curves",
    "stay_crossing": "hidcap.evaluation.curves",
    "smooth": "hidcap.evaluation.curves",
    "learning_time": "hidcap.evaluation.curves",
    # intervals.py, onsets.py, selection.py, seeds.py, paired.py: intervals and the rules verdicts are decided by
    "Interval": "hidcap.evaluation.intervals",
    "accuracy_interval": "hidcap.evaluation.intervals",
    "beats": "hidcap.evaluation.intervals",
    "beats_control": "hidcap.evaluation.intervals",
    "bootstrap_mean": "hidcap.evaluation.intervals",
    "wilson_bounds": "hidcap.evaluation.intervals",
    "wilson_interval": "hidcap.evaluation.intervals",
    "OnsetInterval": "hidcap.evaluation.onsets",
    "earlier": "hidcap.evaluation.onsets",
    "onset_interval": "hidcap.evaluation.onsets",
    "Selection": "hidcap.evaluation.selection",
    "select_then_fresh": "hidcap.evaluation.selection",
    "SeedMargin": "hidcap.evaluation.seeds",
    "SeedSpread": "hidcap.evaluation.seeds",
    "margin_decided": "hidcap.evaluation.seeds",
    "seed_margin": "hidcap.evaluation.seeds",
    "seed_spread": "hidcap.evaluation.seeds",
    "SeedTest": "hidcap.evaluation.paired",
    "accuracy_values": "hidcap.evaluation.paired",
    "onset_test": "hidcap.evaluation.paired",
    "paired_test": "hidcap.evaluation.paired",
    "seed_test": "hidcap.evaluation.paired",
    "trend_test": "hidcap.evaluation.paired",
    # protocols.py
    "ElicitationProtocol": "hidcap.evaluation.protocols",
    "EmbeddingPatch": "hidcap.evaluation.protocols",
    "Guidance": "hidcap.evaluation.protocols",
    "LatentIntervention": "hidcap.evaluation.protocols",
    "NaivePrompt": "hidcap.evaluation.protocols",
    "Overprompt": "hidcap.evaluation.protocols",
    "OVERPROMPT_COLORS": "hidcap.evaluation.protocols",
    "NegativeControl": "hidcap.evaluation.protocols",
    "OffConceptOverprompt": "hidcap.evaluation.protocols",
    "OtherConceptIntervention": "hidcap.evaluation.protocols",
    "OtherSeedPatch": "hidcap.evaluation.protocols",
    "ProtocolContext": "hidcap.evaluation.protocols",
    "RandomDirectionIntervention": "hidcap.evaluation.protocols",
    "Variant": "hidcap.evaluation.protocols",
    "check_protocol": "hidcap.evaluation.protocols",
    "control_protocols": "hidcap.evaluation.protocols",
    "default_protocols": "hidcap.evaluation.protocols",
    "embedding_shift": "hidcap.evaluation.protocols",
    # elicitation.py
    "CapabilityTable": "hidcap.evaluation.elicitation",
    "capability": "hidcap.evaluation.elicitation",
    # embedding_factors.py
    "EmbeddingDisentanglement": "hidcap.evaluation.embedding_factors",
    "disentanglement": "hidcap.evaluation.embedding_factors",
    "embedding_disentanglement": "hidcap.evaluation.embedding_factors",
    # pixels.py
    "pixel_concepts": "hidcap.evaluation.pixels",
    # bump_decoding.py
    "BumpAccuracy": "hidcap.evaluation.bump_decoding",
    "bump_accuracy": "hidcap.evaluation.bump_decoding",
    "centre_errors": "hidcap.evaluation.bump_decoding",
    "decode_centres": "hidcap.evaluation.bump_decoding",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
