"""docs/api.md matches the docstrings, and every top-level name has one."""
import subprocess
import sys
from pathlib import Path

import pytest

import hidcap

ROOT = Path(__file__).resolve().parents[1]


def test_api_reference_is_current():
    result = subprocess.run(
        [sys.executable, str(ROOT / "docs" / "make_api.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", hidcap.__all__)
def test_public_names_have_docstrings(name):
    doc = getattr(hidcap, name).__doc__
    assert doc and doc.strip(), f"hidcap.{name} has no docstring"


def test_models_page_documents_metrics_rows_float16_and_cli_errors():
    text = " ".join((ROOT / "docs" / "models.md").read_text().split())
    assert "at every checkpoint step" in text  # metrics.jsonl rows off the log_every grid
    assert "--dtype float16" in text and "without loss scaling" in text
    assert "--debug" in text and "exit status 2" in text
