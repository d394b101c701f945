"""hidcap: mechanistic interpretability of diffusion models' training dynamics.

The public names below are imported lazily on first access, so `import hidcap` stays fast and
heavy optional dependencies (umap, ripser) load only when their functions are used.
"""
from __future__ import annotations

from hidcap.lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # hooks: tracing, patching, interventions
    "Tracer": "hidcap.tracing",
    "resolve_modules": "hidcap.tracing",
    "TraceError": "hidcap.tracing",
    "attribution_patching": "hidcap.attribution",
    "patch": "hidcap.patching",
    "LinearIntervention": "hidcap.interventions",
    "concept_direction": "hidcap.interventions",
    "overprompt": "hidcap.interventions",
    # data
    "ConceptDataSpec": "hidcap.data",
    "BumpDataSpec": "hidcap.data",
    "ConceptGraph": "hidcap.data",
    "LabelledImages": "hidcap.data",
    # models, diffusion, training runs
    "UNet": "hidcap.models",
    "UNetConfig": "hidcap.models",
    "DDPM": "hidcap.diffusion",
    "DDPMConfig": "hidcap.diffusion",
    "VDM": "hidcap.diffusion",
    "VDMConfig": "hidcap.diffusion",
    "TrainConfig": "hidcap.training",
    "train": "hidcap.training",
    "CheckpointSeries": "hidcap.runs",
    "load_state_dict": "hidcap.checkpoints",
    # measurement
    "train_probe": "hidcap.evaluation",
    "load_probe": "hidcap.evaluation",
    "concept_space": "hidcap.evaluation",
    "capability": "hidcap.evaluation",
    "embedding_disentanglement": "hidcap.evaluation",
    "learning_time": "hidcap.evaluation",
    "bump_accuracy": "hidcap.evaluation",
    # geometry and percolation
    "pca_spectrum": "hidcap.geometry",
    "participation_ratio": "hidcap.geometry",
    "persistence_diagrams": "hidcap.geometry",
    "betti_numbers": "hidcap.geometry",
    "torus_tests": "hidcap.geometry",
    "clifford_torus": "hidcap.geometry",
    "standard_torus": "hidcap.geometry",
    "grid_labels": "hidcap.geometry",
    "PercolationConfig": "hidcap.percolation",
    "percolation_curve": "hidcap.percolation",
    "bump_overlap": "hidcap.percolation",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
