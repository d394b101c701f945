"""Shared by the example tests: load an example script as a module (it is not a package)."""
import importlib.util
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(filename: str):
    """Import ``examples/<filename>`` under the module name ``<stem>_example``."""
    spec = importlib.util.spec_from_file_location(f"{Path(filename).stem}_example", EXAMPLES / filename)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module
