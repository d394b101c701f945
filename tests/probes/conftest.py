"""Import the probes (the ``probes`` package at the repository root) and run them in tiny mode."""
import importlib
import json
from pathlib import Path

import pytest

PROBES = Path(__file__).resolve().parents[2] / "probes"


def load(name: str):
    """The module ``probes.<name>``."""
    return importlib.import_module(f"probes.{name}")


def assert_png(path: Path, min_bytes: int = 5000, min_height: int = 100, min_width: int = 100) -> None:
    """A real PNG of a drawn figure: signature, size, and more than a blank or single-colour canvas."""
    import numpy as np
    from matplotlib.image import imread

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= min_bytes, path
    img = imread(path)
    assert img.shape[0] >= min_height and img.shape[1] >= min_width, (path, img.shape)
    rgb = (img[..., :3].reshape(-1, 3) * 255).round().astype(np.uint32)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    assert rgb.std() > 2.5 and np.unique(packed).size > 20, path


def read_verdict(out: Path) -> dict:
    return json.loads((out / "verdict.json").read_text())


@pytest.fixture(scope="session")
def probe_module():
    """``probe_module(name)`` -> the imported probes/<name>.py."""
    return load


def assert_smoke_and_decide(module, out: Path, record: dict) -> None:
    """A --tiny record is a smoke verdict (neither pass nor fail) and ``--decide OUT`` rewrites the same verdict
    from ``OUT/measurements.json`` without training (only ``decide_command`` differs)."""
    assert json.loads((out / "verdict.json").read_text(encoding="utf-8")) == record
    assert record["verdict"] == "smoke" and record["passed"] is None
    assert record["outcome"] in ("pass", "fail", "undetermined")
    assert isinstance(record["criterion"], list) and all(isinstance(p, str) for p in record["criterion"])
    assert set(record["criterion_commit"]) == {"commit", "files", "uncommitted"}
    saved = json.loads((out / "measurements.json").read_text(encoding="utf-8"))
    assert saved["seeds"] == record["seeds"] and saved["scale"] == "tiny"
    again = module.main(["--decide", str(out)])
    assert again["decide_command"] == f"python -m probes.{record['probe']} --decide {out}"
    assert {k: v for k, v in again.items() if k != "decide_command"} == {
        k: v for k, v in record.items() if k != "decide_command"}
    assert json.loads((out / "verdict.json").read_text(encoding="utf-8")) == again
