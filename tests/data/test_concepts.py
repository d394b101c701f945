import math

import pytest
import torch

from hidcap.config_io import config_from_dict, config_to_dict
from hidcap.data.concepts import (
    COND_DIM,
    COND_LAYOUT,
    NULL_COND,
    SHAPES,
    ConceptDataSpec,
    Masking,
    concept_signal,
    null_cond,
    render,
)
from hidcap.data.dataset import LabelledImages, batches, concat

SMALL = dict(images_per_class=64, image_size=16)


def test_build_shapes_ranges_and_labels():
    spec = ConceptDataSpec(**SMALL)
    data = spec.build(0)
    assert data.images.shape == (3 * 64, 3, 16, 16) and data.images.dtype == torch.float32
    assert data.cond.shape == (3 * 64, COND_DIM) == (len(data), spec.cond_dim)
    assert 0.0 <= float(data.images.min()) and float(data.images.max()) <= 1.0
    assert data.class_names == ("00", "01", "10")
    # labels are the class bits, concept by concept
    for k, name in enumerate(data.class_names):
        rows = data.classes == k
        assert int(rows.sum()) == 64
        assert (data.labels["color"][rows] == int(name[0])).all()
        assert (data.labels["size"][rows] == int(name[1])).all()
    assert set(data.labels) == {"color", "size"}


def test_sampled_values_stay_in_class_ranges_and_center_on_means():
    s_col, s_size = 0.6, 0.3
    spec = ConceptDataSpec(color_separation=s_col, size_separation=s_size, images_per_class=2048, image_size=8)
    data = spec.build(1)
    for k, name in enumerate(data.class_names):
        rows = data.cond[data.classes == k]
        mean = spec.prompt(name)
        col, size = rows[:, COND_LAYOUT["color"]], rows[:, COND_LAYOUT["size"]]
        col_mean, size_mean = mean[COND_LAYOUT["color"]], mean[COND_LAYOUT["size"]]
        assert ((col - col_mean).abs() <= s_col / 8 + 1e-6).all()
        assert ((size - size_mean).abs() <= 3 * s_size / 8 + 1e-6).all()
        # uniform draws: the sample mean sits on the class mean, the spread covers most of the range
        torch.testing.assert_close(col.mean(0), col_mean, atol=0.01, rtol=0)
        assert abs(float(size.mean()) - float(size_mean)) < 0.01
        assert float(size.max() - size.min()) > 0.9 * 2 * 3 * s_size / 8
    # class means of the seeds: red / blue and large / small
    torch.testing.assert_close(spec.prompt("00")[COND_LAYOUT["color"]], torch.tensor([0.8, 0.2, 0.2]))
    torch.testing.assert_close(spec.prompt("10")[COND_LAYOUT["color"]], torch.tensor([0.2, 0.2, 0.8]))
    assert spec.prompt("00")[COND_LAYOUT["size"]] == pytest.approx(0.45 + s_size / 2)
    assert spec.prompt("01")[COND_LAYOUT["size"]] == pytest.approx(0.45 - s_size / 2)


def test_size_floor_and_background_default():
    spec = ConceptDataSpec(concepts=("size", "background"), train_classes=("00", "01", "11"), test_classes=(),
                           size_separation=0.7, images_per_class=256, image_size=8)
    data = spec.build(2)
    size = data.cond[:, COND_LAYOUT["size"]]
    assert float(size.min()) >= 0.1 and float(size.min()) == pytest.approx(0.1)
    bg = data.cond[:, COND_LAYOUT["background"]]
    bright, dark = bg[data.labels["background"] == 0], bg[data.labels["background"] == 1]
    assert bright.min() >= 0.8 - 1e-6 and bright.max() <= 1.0
    assert dark.min() >= 0.0 and dark.max() <= 0.2 + 1e-6
    # the unused slots stay 0
    assert (data.cond[:, COND_LAYOUT["color"]] == 0).all() and (data.cond[:, COND_LAYOUT["shape"]] == 0).all()


def test_shape_one_hot_and_position_slots():
    spec = ConceptDataSpec(concepts=("shape", "color"), train_classes=("00", "10"), test_classes=("11",),
                           shapes=("circle", "square"), condition_position=True, **SMALL)
    data = spec.build(3)
    one_hot = data.cond[:, COND_LAYOUT["shape"]]
    expected = torch.where(data.labels["shape"] == 0, SHAPES.index("circle"), SHAPES.index("square"))
    assert (one_hot.argmax(1) == expected).all() and (one_hot.sum(1) == 1).all()
    xy = data.cond[:, [COND_LAYOUT["x"], COND_LAYOUT["y"]]]
    assert xy.abs().max() <= 0.5 and xy.abs().max() > 0.4
    p = spec.prompt("11")
    assert p[COND_LAYOUT["shape"]].tolist() == [0.0, 0.0, 1.0] and p[COND_LAYOUT["x"]] == 0.0
    assert spec.prompts().shape == (3, COND_DIM)


def test_class_counts_frequency_control():
    spec = ConceptDataSpec(images_per_class=32, class_counts=(("01", 5), ("10", 0)), image_size=8)
    data = spec.build(0)
    assert len(data) == 32 + 5
    assert (data.classes == 1).sum() == 5 and (data.classes == 2).sum() == 0


def test_masking_hits_exact_fraction_of_one_class_only():
    spec = ConceptDataSpec(masks=(Masking("color", "01", 0.25),), **SMALL)
    data = spec.build(4)
    masked = (data.cond[:, COND_LAYOUT["color"]] == 0).all(1)
    assert int(masked[data.classes == 1].sum()) == 16
    assert int(masked[data.classes != 1].sum()) == 0
    # the size slot of masked samples is untouched, and the images are those of the unmasked spec
    assert (data.cond[masked, COND_LAYOUT["size"]] > 0).all()
    plain = ConceptDataSpec(**SMALL).build(4)
    assert torch.equal(plain.images, data.images)
    full = ConceptDataSpec(masks=(Masking("size", "10", 1.0, value=-1.0),), **SMALL).build(4)
    assert (full.cond[full.classes == 2, COND_LAYOUT["size"]] == -1).all()


def test_determinism_same_seed_same_bytes():
    spec = ConceptDataSpec(concepts=("shape", "color", "size"), train_classes=("000", "100", "010", "001"),
                           test_classes=("111",), **SMALL)
    a, b, c = spec.build(7), spec.build(7), spec.build(8)
    assert torch.equal(a.images, b.images) and torch.equal(a.cond, b.cond)
    assert not torch.equal(a.images, c.images)


@pytest.mark.parametrize(
    "kwargs, param",
    [
        (dict(train_classes=()), "train_classes"),
        (dict(concepts=("color", "texture")), "texture"),
        (dict(train_classes=("00", "0x")), "train_classes"),
        (dict(train_classes=("000",)), "train_classes"),
        (dict(test_classes=("00",)), "overlap"),
        (dict(color_separation=1.5), "color_separation"),
        (dict(size_separation=-0.1), "size_separation"),
        (dict(images_per_class=-1), "images_per_class"),
        (dict(class_counts=(("11", 3),)), "class_counts"),
        (dict(masks=(Masking("shape", "00", 0.5),)), "masks.concept"),
        (dict(masks=(Masking("color", "00", 1.5),)), "masks.fraction"),
        (dict(shapes=("circle", "hexagon")), "shapes"),
    ],
)
def test_bad_parameters_raise_naming_them(kwargs, param):
    with pytest.raises(ValueError, match=param):
        ConceptDataSpec(**kwargs)


def test_render_explicit_values_geometry():
    n, size = 3, 64
    black, white = torch.zeros(n, 3), torch.ones(n, 3)
    radii = torch.full((n,), 0.4)
    img = render(black, radii, torch.arange(3), white, torch.zeros(n), torch.zeros(n), image_size=size)
    dark_area = (1 - img[:, 0]).sum((1, 2))
    circle_area = math.pi * (0.4 * size / 2) ** 2
    torch.testing.assert_close(dark_area, torch.full((n,), circle_area), rtol=0.02, atol=0)  # equal areas
    assert torch.equal(img[:, :, size // 2, size // 2], black) and torch.equal(img[:, :, 0, 0], white)
    tri = 1 - img[1, 0]
    assert tri[: size // 2].sum() < tri[size // 2 :].sum()  # apex up: less mass in the top half
    # position: x moves along columns, y along rows
    moved = render(black[:1], radii[:1], torch.zeros(1, dtype=torch.long), white[:1], torch.tensor([0.5]),
                   torch.tensor([-0.5]), image_size=size)
    mass = 1 - moved[0, 0]
    cols, rows = torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32)
    cx, cy = float((mass.sum(0) * cols).sum() / mass.sum()), float((mass.sum(1) * rows).sum() / mass.sum())
    assert cx == pytest.approx(0.75 * size - 0.5, abs=0.5) and cy == pytest.approx(0.25 * size - 0.5, abs=0.5)


def test_render_validates_inputs():
    one = torch.ones(2, 3)
    with pytest.raises(ValueError, match="radii"):
        render(one, torch.ones(3), torch.zeros(2, dtype=torch.long), one, torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match="shapes"):
        render(one, torch.ones(2), torch.full((2,), 5), one, torch.zeros(2), torch.zeros(2))
    with pytest.raises(ValueError, match="seed"):
        render(one, torch.ones(2), torch.zeros(2, dtype=torch.long), one, torch.zeros(2), torch.zeros(2),
               noise_std=0.01)


def test_concept_signal_grows_with_separation_and_vanishes_at_zero():
    weak = ConceptDataSpec(color_separation=0.2, image_size=16)
    strong = ConceptDataSpec(color_separation=0.8, image_size=16)
    assert concept_signal(strong, "color", 128, 0) > 4 * concept_signal(weak, "color", 128, 0)
    assert concept_signal(ConceptDataSpec(color_separation=0.0, image_size=16), "color", 64, 0) == 0.0
    assert concept_signal(strong, "size", 64, 0) > 0
    with pytest.raises(ValueError, match="shape"):
        concept_signal(strong, "shape")


def test_null_cond_and_config_roundtrip():
    assert (NULL_COND == -1).all() and null_cond(4).shape == (4, COND_DIM)
    spec = ConceptDataSpec(class_counts=(("01", 100),), masks=(Masking("color", "10", 0.5),))
    again = config_from_dict(ConceptDataSpec, config_to_dict(spec))
    assert again == spec


def test_dataset_protocol_batches_and_concat():
    spec = ConceptDataSpec(**SMALL)
    data = spec.build(0)
    image, cond = data[5]
    assert image.shape == (3, 16, 16) and cond.shape == (COND_DIM,)
    seen = torch.cat([c for _, c in batches(data, 50, seed=1)])
    assert seen.shape == data.cond.shape and not torch.equal(seen, data.cond)
    assert torch.equal(seen.sort(0).values, data.cond.sort(0).values)  # a permutation of every row
    assert [len(b[0]) for b in batches(data, 50, seed=1, drop_last=True)] == [50, 50, 50]
    first = [c for _, c in batches(data, 50, seed=1)]
    assert all(torch.equal(a, b) for a, b in zip(first, [c for _, c in batches(data, 50, seed=1)]))
    test = spec.sample(spec.test_classes, 10, seed=2)
    both = concat([data, test])
    assert len(both) == len(data) + 10 and both.class_names == ("00", "01", "10", "11")
    assert (both.classes[-10:] == 3).all() and (both.labels["size"][-10:] == 1).all()
    with pytest.raises(ValueError, match="batch_size"):
        next(batches(data, 0, seed=0))
    assert isinstance(data.subset(data.classes == 0), LabelledImages)


@pytest.mark.parametrize("show", ["concepts", "bumps"])
def test_figure_command_writes_png(tmp_path, show):
    from hidcap.data.__main__ import main

    out = tmp_path / f"{show}.png"
    main(["--show", show, "--per-class", "2", "--out", str(out)])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_concept_figure_names_rows_by_concept_values(tmp_path, monkeypatch):
    import hidcap.plotting
    from hidcap.data.__main__ import main

    saved = []
    real_save = hidcap.plotting.save
    monkeypatch.setattr(hidcap.plotting, "save", lambda fig, path, **kw: saved.append(fig) or real_save(fig, path, **kw))
    main(["--show", "concepts", "--concepts", "shape,color,size", "--per-class", "1", "--out", str(tmp_path / "c.png")])
    labels = [ax.get_ylabel() for ax in saved[0].axes if ax.get_ylabel()]
    assert labels[0] == "000: circle, red, large" and labels[1] == "001: circle, red, small"
    assert "111: triangle, blue, small\n(held out)" in labels
    assert "shape, color, size" in saved[0]._suptitle.get_text()


def test_describe_names_a_class_by_its_concepts():
    spec = ConceptDataSpec(concepts=("shape", "color", "size", "background"), train_classes=("0000",),
                           test_classes=(), shapes=("square", "circle"))
    assert spec.describe("1011") == "shape=circle, color=red, size=small, background=dark"
    assert spec.describe("0100", short=True) == "square, blue, large, bright"
    assert ConceptDataSpec().describe("01") == "color=red, size=small"
    assert spec.value_names("size") == ("large", "small")
    with pytest.raises(ValueError, match="bit string of length 4"):
        spec.describe("01")
    with pytest.raises(ValueError, match="bit string"):
        spec.describe("0120")
    with pytest.raises(ValueError, match="unknown concept"):
        spec.value_names("texture")


@pytest.mark.parametrize("field", ["size_separation", "noise_std", "blur_px"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.1])
def test_non_finite_or_negative_float_fields_are_rejected(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a finite number >= 0"):
        ConceptDataSpec(**{field: value})
