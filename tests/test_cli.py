import json

import pytest
import torch

from hidcap.cli import build_parser, main, sample_grid



def test_train_then_sample(tmp_path, capsys, monkeypatch):
    import hidcap.plotting

    grids = []
    real_grid = hidcap.plotting.plot_image_grid
    monkeypatch.setattr(hidcap.plotting, "plot_image_grid",
                        lambda images, path, **kw: grids.append(kw) or real_grid(images, path, **kw))
    run = tmp_path / "run"
    rc = main(["train", "--preset", "smoke", "--out", str(run), "--steps", "3", "--batch-size", "8",
               "--checkpoints", "2", "--images-per-class", "8", "--lr", "2e-3", "--no-progress"])
    assert rc == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["steps"] == 3 and cfg["batch_size"] == 8 and cfg["optimizer"]["lr"] == 2e-3
    assert cfg["data"]["images_per_class"] == 8
    assert "checkpoints at steps [0, 1, 3]" in capsys.readouterr().out  # quadratic: 0, 0.75 -> 1, 3
    out = tmp_path / "grid.png"
    rc = main(["sample", str(run), "--step", "3", "--out", str(out), "--n", "2", "--steps", "4", "--classes", "00,11"])
    assert rc == 0 and out.is_file()
    assert grids[0]["row_labels"] == ["00: color=red, size=large", "11: color=blue, size=small"]
    import matplotlib.image as mpimg

    img = mpimg.imread(out)
    assert min(img.shape[:2]) >= 100  # upscaled and labelled, not 2 x 17 raw pixels
    assert main(["sample", str(run), "--step", "2", "--out", str(out)]) == 2
    assert "step 2" in capsys.readouterr().err


def test_bump_preset_samples_a_grid(tmp_path):
    run = tmp_path / "bumps"
    assert main(["train", "--preset", "tiny-bumps", "--out", str(run), "--steps", "2", "--batch-size", "8",
                 "--checkpoints", "1", "--no-progress"]) == 0
    out = tmp_path / "b.png"
    assert main(["sample", str(run), "--out", str(out), "--n", "1", "--steps", "3", "--sampler", "ddim"]) == 0
    assert out.is_file()


@pytest.mark.parametrize("preset, steps", [("tiny-cunet", ["--steps", "3"]), ("tiny-concept-graphs", [])])
def test_faithful_presets_sample_with_no_progress(tmp_path, capsys, preset, steps):
    """The papers' own samplers take the CLI's sampling options (--no-progress) like DDPM and VDM."""
    run = tmp_path / preset
    assert main(["train", "--preset", preset, "--out", str(run), "--steps", "2", "--batch-size", "4",
                 "--checkpoints", "1", "--no-progress"]) == 0
    out = tmp_path / "f.png"
    rc = main(["sample", str(run), "--out", str(out), "--n", "1", "--classes", "000" if "graphs" in preset else "00",
               "--no-progress", *steps])
    assert rc == 0, capsys.readouterr().err
    assert out.is_file()


def test_parser_errors(tmp_path):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--preset", "nope", "--out", "x"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["sample"])
    assert main(["sample", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2  # not a run dir


def test_sample_on_a_missing_folder_says_it_does_not_exist(tmp_path, capsys):
    assert main(["sample", str(tmp_path / "nope"), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'nope'} does not exist" in err and "config.json" not in err, err
    assert main(["sample", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 2  # a folder, but no run
    assert "config.json is missing" in capsys.readouterr().err


def test_train_with_more_steps_extends_a_finished_run(tmp_path, capsys):
    run = tmp_path / "run"
    common = ["train", "--preset", "smoke", "--out", str(run), "--batch-size", "8", "--images-per-class", "8",
              "--checkpoints", "2", "--no-progress"]
    assert main([*common, "--steps", "2"]) == 0
    before = {p.name: p.stat().st_mtime_ns for p in (run / "checkpoints").glob("step_*")}
    capsys.readouterr()
    assert main([*common, "--steps", "4"]) == 0
    captured = capsys.readouterr()
    assert "last step 4" in captured.out and "extending" in captured.err  # the quadratic schedule moved
    after = {p.name: p.stat().st_mtime_ns for p in (run / "checkpoints").glob("step_*")}
    assert all(after[name] == t for name, t in before.items())  # the checkpoints written are kept
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["steps"] == 4 and cfg["@extensions"] == [{"from_steps": 2, "to_steps": 4, "at_step": 2}]
    assert main([*common, "--steps", "4", "--lr", "0.5"]) == 2
    assert "optimizer.lr is 0.001 there, 0.5 here" in capsys.readouterr().err


def test_sample_grid_layout(tmp_path):
    path = sample_grid(torch.zeros(5, 3, 4, 4), rows=2, path=tmp_path / "g.png")
    import matplotlib.image as mpimg

    img = mpimg.imread(path)
    assert img.shape[0] >= 100 and img.shape[1] > img.shape[0]  # 2 rows x 3 columns, upscaled


def _run_cli(*argv):
    """The installed entry point in a fresh process: (exit status, stderr)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", "import sys; from hidcap.cli import main; sys.exit(main())", *argv],
                          capture_output=True, text=True)
    return proc.returncode, proc.stderr


def _assert_one_line(rc, err, *needles):
    assert rc == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


@pytest.mark.parametrize("argv, needles", [
    (["sample", "RUN", "--out", "x.jpgz"], ["--out", ".png", "x.jpgz"]),
    (["sample", "RUN", "--out", "x.png", "--steps", "0"], ["--steps", ">= 1"]),
    (["sample", "RUN", "--out", "x.png", "--n", "0"], ["--n", ">= 1"]),
    (["sample", "RUN", "--out", "x.png", "--guidance", "nan"], ["--guidance", "finite"]),
    (["train", "--preset", "smoke", "--out", "RUN", "--steps", "0"], ["--steps", ">= 1"]),
    (["train", "--preset", "smoke", "--out", "RUN", "--weight-decay", "-1", "--steps", "1"], ["weight_decay"]),
    (["train", "--preset", "smoke", "--out", "RUN", "--seed", "-1", "--steps", "1"], ["seed must be >= 0"]),
])
def test_bad_arguments_are_one_line_errors(tmp_path, argv, needles):
    argv = [str(tmp_path / "run") if a == "RUN" else a for a in argv]
    _assert_one_line(*_run_cli(*argv), *needles)
    assert not (tmp_path / "x.png").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a CPU-only torch")
@pytest.mark.parametrize("command", ["train", "sample"])
def test_cuda_on_cpu_only_torch_is_one_line(tmp_path, command):
    argv = (["train", "--preset", "smoke", "--out", str(tmp_path / "run")] if command == "train"
            else ["sample", str(tmp_path), "--out", str(tmp_path / "x.png")])
    _assert_one_line(*_run_cli(*argv, "--device", "cuda"), "CUDA is not available")


def test_debug_shows_the_traceback(tmp_path):
    rc, err = _run_cli("sample", str(tmp_path), "--out", str(tmp_path / "x.png"), "--debug")
    assert rc != 0 and "Traceback" in err and "config.json" in err


def test_disk_full_is_one_line_and_keeps_earlier_checkpoints(tmp_path, monkeypatch, capsys):
    import safetensors.torch
    from safetensors import SafetensorError

    real, calls = safetensors.torch.save_file, []

    def fill_up(tensors, filename, metadata=None):
        calls.append(filename)
        if len(calls) > 2:  # step 0 and its resume file fit; then the disk is full
            raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, '
                                  'message: "No space left on device" })')
        return real(tensors, filename, metadata=metadata)

    monkeypatch.setattr(safetensors.torch, "save_file", fill_up)
    rc = main(["train", "--preset", "smoke", "--out", str(tmp_path / "run"), "--steps", "2", "--batch-size", "4",
               "--images-per-class", "4", "--checkpoints", "1", "--no-progress"])
    err = capsys.readouterr().err
    _assert_one_line(rc, err, "no space left on device", "earlier checkpoints are kept")
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == [
        "resume.safetensors", "step_0000000.safetensors"]


def test_bump_sample_png_has_labels_and_a_colour_bar(tmp_path):
    run = tmp_path / "bumps"
    assert main(["train", "--preset", "tiny-bumps", "--out", str(run), "--steps", "1", "--batch-size", "4",
                 "--checkpoints", "1", "--no-progress"]) == 0
    out = tmp_path / "b.png"
    assert main(["sample", str(run), "--out", str(out), "--n", "2", "--steps", "2", "--no-progress"]) == 0
    import matplotlib.image as mpimg

    img = mpimg.imread(out)[..., :3]
    assert img.shape[0] > 300 and img.shape[1] > 300  # 16 prompts x 2 samples upscaled, labelled
    from hidcap.plotting import plot_image_grid

    images = torch.rand(32, 1, 16, 16)
    labels = [f"row {i}" for i in range(16)]
    plain = mpimg.imread(plot_image_grid(images, tmp_path / "p.png", row_labels=labels, colorbar=False))
    barred = mpimg.imread(plot_image_grid(images, tmp_path / "c.png", row_labels=labels))
    assert barred.shape[1] > plain.shape[1] and img.shape[1] >= barred.shape[1] - 5  # grey images get the bar
