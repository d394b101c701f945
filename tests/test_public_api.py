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


def test_exports_named_like_their_submodule_stay_functions():
    """Importing a submodule binds it on the package under its own name; for exports that share that name
    (concept_space, learning_time, capability) the package must keep the function."""
    code = (
        "import hidcap.evaluation.capability, inspect; "  # imports the concept_space submodule on the way
        "from hidcap.evaluation import concept_space, learning_time, capability; "
        "from hidcap.evaluation.concept_space import ConceptSpace; "
        "print(all(inspect.isfunction(f) for f in (concept_space, learning_time, capability)), ConceptSpace.__name__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "True ConceptSpace"
