import json

import pytest
import torch

from hidcap.cli import build_parser, main, sample_grid



def test_train_then_sample(tmp_path, capsys):
    run = tmp_path / "run"
    rc = main(["train", "--preset", "tiny", "--out", str(run), "--steps", "3", "--batch-size", "8",
               "--checkpoints", "2", "--images-per-class", "8", "--lr", "2e-3", "--no-progress"])
    assert rc == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["steps"] == 3 and cfg["batch_size"] == 8 and cfg["optimizer"]["lr"] == 2e-3
    assert cfg["data"]["images_per_class"] == 8
    assert "checkpoints at steps [0, 1, 3]" in capsys.readouterr().out  # quadratic: 0, 0.75 -> 1, 3
    out = tmp_path / "grid.png"
    rc = main(["sample", str(run), "--step", "3", "--out", str(out), "--n", "2", "--steps", "4", "--classes", "00,11"])
    assert rc == 0 and out.is_file()
    import matplotlib.image as mpimg

    img = mpimg.imread(out)
    assert img.shape[:2] == (2 * 17, 2 * 17)  # 2 prompts x 2 images of 16 px + 1 px gutters
    assert main(["sample", str(run), "--step", "2", "--out", str(out)]) == 2
    assert "step 2" in capsys.readouterr().err


def test_bump_preset_samples_a_grid(tmp_path):
    run = tmp_path / "bumps"
    assert main(["train", "--preset", "tiny-bumps", "--out", str(run), "--steps", "2", "--batch-size", "8",
                 "--checkpoints", "1", "--no-progress"]) == 0
    out = tmp_path / "b.png"
    assert main(["sample", str(run), "--out", str(out), "--n", "1", "--steps", "3", "--sampler", "ddim"]) == 0
    assert out.is_file()


def test_parser_errors(tmp_path):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--preset", "nope", "--out", "x"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sample"])
    assert main(["sample", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2  # not a run dir


def test_sample_grid_layout(tmp_path):
    path = sample_grid(torch.zeros(5, 3, 4, 4), rows=2, path=tmp_path / "g.png")
    import matplotlib.image as mpimg

    assert mpimg.imread(path).shape[:2] == (10, 15)
