"""Every ```python block in docs/*.md runs as written, in order, one namespace per page.

What a block uses without defining it (``acts``, ``model``, ``images`` …) comes from ``SETUP``: small objects
made before the block runs. ``SHRINK`` swaps paper-sized settings for tiny ones (each swap must still match
the page, so a changed page fails here instead of silently running something else). A block is skipped only
when the line before it is ``<!-- docs-test: skip REASON -->``, shown on the page.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
BLOCK = re.compile(r"(<!-- docs-test: skip (?P<reason>[^>]*?) -->\n)?```python\n(?P<code>.*?)```", re.S)

_TINY_RUN = """
import dataclasses as _dc
from hidcap.data import ConceptDataSpec as _Spec
from hidcap.training import run_preset as _preset, train as _train, CheckpointConfig as _Ck
_train(_preset("tiny", steps=2, batch_size=4, data=_Spec(image_size=16, images_per_class=4),
               checkpoints=_Ck(count=1)), "runs/hc", progress=False)
"""

#: code run before block ``(page, index)``: the names the block takes as given
SETUP: dict[tuple[str, int], str] = {
    ("measurement", 0): _TINY_RUN,  # the run "runs/hc" that block 1 opens
    # the patch control's donor: the same run with seed 1
    ("measurement", 5): _TINY_RUN.replace("runs/hc", "runs/hc_seed1").replace("steps=2,", "steps=2, seed=1,"),
    ("diffusers", 0): (
        "import pytest\npytest.importorskip('diffusers')\nimport torch, diffusers\nfor _step in (500, 1000):\n"
        "    torch.manual_seed(_step)\n    diffusers.UNet2DModel(sample_size=8, in_channels=1, out_channels=1, "
        "block_out_channels=(8, 16), layers_per_block=1, down_block_types=('DownBlock2D',) * 2, "
        "up_block_types=('UpBlock2D',) * 2, norm_num_groups=4, class_embed_type='identity')"
        ".save_pretrained(f'OUTPUT/checkpoint-{_step}/unet')\n"
        "diffusers.DDPMScheduler(num_train_timesteps=100).save_pretrained('OUTPUT/scheduler')\n"
    ),
}

#: (page, old, new): tiny settings; ``old`` must occur on the page
SHRINK: list[tuple[str, str, str]] = [
    ("data", "ConceptDataSpec().build(seed=0)", "ConceptDataSpec(image_size=8, images_per_class=2).build(seed=0)"),
    ("data", "test_classes=(\"11\",))", "test_classes=(\"11\",), images_per_class=4, image_size=8)"),
    ("data", "spec.sample(spec.all_classes, 512, seed=1)", "spec.sample(spec.all_classes, 2, seed=1)"),
    ("data", "increment=0.1, periodic=False)", "increment=2.0, periodic=False, image_size=8)"),
    ("diffusers", "steps=50", "steps=4"),
    ("geometry", "n_landmarks=200", "n_landmarks=60"),
    ("geometry", "maxdim=2, pca_dim=10", "maxdim=1, pca_dim=4"),
    ("geometry", "grid_labels(32)", "grid_labels(8)"),
    ("geometry", "dim=64", "dim=16"),
    ("geometry", "np.linspace(0, 1, 50), cfg, repeats=5", "np.linspace(0, 1, 4), cfg, repeats=2"),
    ("geometry", "shape=(32, 32)", "shape=(8, 8)"),
    ("measurement", "image_size=32", "image_size=16"),
    ("measurement", "steps=500", "steps=3"),
    ("measurement", "samples_per_class=64", "samples_per_class=2"),
    ("measurement", "samples_per_class=32", "samples_per_class=2"),
    ("measurement", "steps=50)", "steps=2)"),
    ("measurement", "probe, classes=", "probe, allow_inaccurate_probe=True, classes="),  # a 3-step probe
    ("models", "run_preset(\"tiny\", seed=0)", "run_preset(\"tiny\", seed=0, steps=2, batch_size=4)"),
    ("models", "steps=50)", "steps=2)"),
]


def _pages() -> list[Path]:
    return sorted(p for p in DOCS.glob("*.md") if "```python" in p.read_text())


def _params() -> list:
    return [pytest.param(p, id=p.stem) for p in _pages()]


@pytest.mark.parametrize("page", _params())
def test_docs_python_blocks_run(page, tmp_path, monkeypatch):
    text = page.read_text()
    for name, old, new in SHRINK:
        if name == page.stem:
            assert old in text, f"{page.name} no longer contains {old!r}; update SHRINK in this test"
            text = text.replace(old, new)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    ran = 0
    for index, match in enumerate(BLOCK.finditer(text)):
        if match["reason"] is not None:
            assert match["reason"].strip(), f"{page.name} block {index}: a skip marker needs a reason"
            continue
        setup = SETUP.get((page.stem, index))
        if setup:
            exec(compile(setup, f"<setup {page.stem}[{index}]>", "exec"), namespace)
        try:
            exec(compile(match["code"], f"{page.name} block {index}", "exec"), namespace)
        except Exception as exc:  # name the block: the traceback alone points into exec'd text
            raise AssertionError(f"{page.name} python block {index} failed: {type(exc).__name__}: {exc}\n"
                                 f"{match['code']}") from exc
        ran += 1
    assert ran, f"{page.name}: every python block is skipped"


def test_every_skip_marker_names_a_reason():
    for page in _pages():
        for match in BLOCK.finditer(page.read_text()):
            if match["reason"] is not None:
                assert len(match["reason"].split()) >= 3, f"{page.name}: skip marker without a real reason"
