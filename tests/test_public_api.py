"""The top-level names of DESIGN.md resolve, and `import hidcap` stays light."""
import subprocess
import sys

import pytest

import hidcap


@pytest.mark.parametrize("name", hidcap.__all__)
def test_every_public_name_resolves(name):
    obj = getattr(hidcap, name)
    assert obj is not None
    assert name in dir(hidcap)


def test_design_contract_names():
    from hidcap import CheckpointSeries, LinearIntervention, Tracer, patch  # noqa: F401


def test_unknown_name_raises_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        hidcap.Nope  # noqa: B018


def test_import_does_not_load_heavy_optional_libraries():
    code = (
        "import sys, hidcap; from hidcap import Tracer, train, CheckpointSeries; "
        "print(sorted(m for m in ('umap', 'ripser', 'persim', 'matplotlib', 'sklearn', 'numba') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


def _lazy_packages():
    import importlib
    return [importlib.import_module(m) for m in ("hidcap", "hidcap.evaluation", "hidcap.experiments")]


@pytest.mark.parametrize("package", _lazy_packages(), ids=lambda m: m.__name__)
def test_no_export_is_named_like_a_submodule(package):
    """A lazy export named like a submodule of its package would be shadowed by that module once the submodule
    is imported; every public name differs from every submodule name."""
    import pkgutil
    submodules = {m.name for m in pkgutil.iter_modules(package.__path__)}
    clash = sorted(set(package._EXPORTS) & submodules)
    assert not clash, f"{package.__name__} exports {clash}, also submodule names"


def test_exports_stay_functions_after_their_modules_are_imported():
    code = (
        "import hidcap.evaluation.elicitation, hidcap.evaluation.concept_scores, inspect; "
        "from hidcap.evaluation import concept_space, learning_time, capability; "
        "print(all(inspect.isfunction(f) for f in (concept_space, learning_time, capability)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "True"
