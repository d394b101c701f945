"""hidcap: mechanistic interpretability of diffusion models' training dynamics.

The public names below are imported lazily on first access, so `import hidcap` stays fast and
heavy optional dependencies (umap, ripser) load only when their functions are used.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Tracer": "hidcap.tracing",
    "patch": "hidcap.patching",
    "LinearIntervention": "hidcap.interventions",
    "concept_direction": "hidcap.interventions",
    "overprompt": "hidcap.interventions",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover - for static analysers only
    from hidcap.interventions import LinearIntervention, concept_direction, overprompt
    from hidcap.patching import patch
    from hidcap.tracing import Tracer


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'hidcap' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
