"""Load probes/*.py as modules (they are scripts, not a package) and run them in tiny mode."""
import importlib.util
import json
import sys
from pathlib import Path

import pytest

PROBES = Path(__file__).resolve().parents[2] / "probes"


def load(name: str):
    """Import probes/<name>.py (probes/ goes on sys.path so that ``import common`` works inside it)."""
    if str(PROBES) not in sys.path:
        sys.path.insert(0, str(PROBES))
    spec = importlib.util.spec_from_file_location(f"probe_{name}", PROBES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


def read_verdict(out: Path) -> dict:
    return json.loads((out / "verdict.json").read_text())


@pytest.fixture(scope="session")
def probe_module():
    """``probe_module(name)`` -> the imported probes/<name>.py."""
    return load
