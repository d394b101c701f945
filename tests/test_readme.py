"""The README's API tour runs as written (with fewer training and sampling steps)."""
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_tour_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README has no python block"
    code = blocks[0]
    for old, new in (('run_preset("tiny")', 'run_preset("tiny", steps=12)'), ("steps=50)", "steps=3)")):
        assert old in code, f"README tour no longer contains {old!r}; update this test"
        code = code.replace(old, new)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, str(README), "exec"), namespace)
    assert namespace["tr"]["mid.attn"].shape[0] == 4  # one row per prompt, last sampling step only
    assert namespace["patched"].shape == (1, 3, 16, 16)
    assert (tmp_path / "runs" / "tiny" / "config.json").is_file()
    assert (tmp_path / "runs" / "tiny" / "samples.png").is_file()
