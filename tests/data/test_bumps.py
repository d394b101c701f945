import math

import numpy as np
import pytest
import torch

from hidcap.config_io import config_from_dict, config_to_dict
from hidcap.data.bumps import BumpDataSpec, HeldOutRegion, frame_grid, render_bumps
from hidcap.evaluation.bump_decoding import decode_centres
from hidcap.geometry import grid_labels


def _px(img, x, y):
    """Pixel at column x, row y of a (1, 1, N, N) image."""
    return float(img[0, 0, y, x])


def test_bump_pixel_values_match_formula():
    img = render_bumps(torch.tensor([[10.0, 20.0]]), sigma=(1.0, 2.0))
    assert img.shape == (1, 1, 32, 32) and img.dtype == torch.float32
    assert _px(img, 10, 20) == pytest.approx(0.0, abs=1e-7)
    assert _px(img, 12, 20) == pytest.approx(1 - math.exp(-4 / 4))  # (x-μx)²/4σx², σx = 1
    assert _px(img, 10, 21) == pytest.approx(1 - math.exp(-1 / 16))  # σy = 2
    assert _px(img, 11, 22) == pytest.approx(1 - math.exp(-1 / 4 - 4 / 16))
    assert _px(img, 30, 2) == pytest.approx(1.0, abs=1e-6)


def test_sos_pixel_values_match_formula():
    img = render_bumps(torch.tensor([[10.5, 20.0]]), kind="sos", sigma=1.5)
    ex = lambda d: math.exp(-(d**2) / (4 * 1.5**2))  # noqa: E731
    assert _px(img, 10, 20) == pytest.approx(1 - 0.5 * (ex(0.5) + ex(0.0)), abs=1e-6)
    assert _px(img, 25, 20) == pytest.approx(1 - 0.5 * (ex(14.5) + 1.0), abs=1e-6)  # on the horizontal stripe: ~0.5
    assert _px(img, 25, 3) == pytest.approx(1 - 0.5 * (ex(14.5) + ex(17.0)), abs=1e-6)


def test_periodic_wrap_mirror_images():
    n = 32
    a = render_bumps(torch.tensor([[0.5, 9.0]]), periodic=True)
    b = render_bumps(torch.tensor([[n - 0.5, 9.0]]), periodic=True)
    mirror = (-torch.arange(n)) % n  # reflection x -> -x on the torus maps 0.5 to N - 0.5
    torch.testing.assert_close(b, a[..., mirror], atol=1e-6, rtol=0)
    assert _px(a, n - 1, 9) == pytest.approx(_px(a, 2, 9), abs=1e-6)  # both 1.5 px away across the border
    a_flat = render_bumps(torch.tensor([[0.5, 9.0]]), periodic=False)
    b_flat = render_bumps(torch.tensor([[n - 0.5, 9.0]]), periodic=False)
    assert not torch.allclose(b_flat, a_flat[..., mirror], atol=1e-3)
    assert _px(a_flat, n - 1, 9) == pytest.approx(1.0, abs=1e-6)


def test_default_lattice_size_and_build_matches_render():
    assert BumpDataSpec().lattice().shape == (102_400, 2)
    spec = BumpDataSpec(kind="sos", increment=2.0, sigma_x=1.0, sigma_y=0.7, periodic=True)
    data = spec.build(0, chunk=7)
    assert data.images.shape == (256, 1, 32, 32) and len(data) == 256
    assert torch.equal(data.cond, data.labels) and data.cond.shape == (256, 2)
    torch.testing.assert_close(data.images, spec.render(data.cond))
    assert data.cond[:, 0].unique().numel() == 16 and float(data.cond.max()) == 30.0


def test_built_bumps_decode_to_their_centres():
    spec = BumpDataSpec(increment=3.0)
    data = spec.build(0)
    decoded = torch.as_tensor(decode_centres(data.images), dtype=torch.float32)
    torch.testing.assert_close(decoded, data.cond)


def test_stripes_live_in_extended_latent_space():
    spec = BumpDataSpec(kind="stripe_x", increment=1.0)
    assert spec.latent == 44 and spec.offset == 6
    grid = spec.lattice()
    x, y = grid[:, 0], grid[:, 1]
    assert ((x >= 6) & (x < 38)).all()
    assert ((y < 6) | (y >= 38)).all() and grid.shape == (32 * 12, 2)
    data = spec.build(0)
    far = data.images[(data.cond[:, 1] == 0) & (data.cond[:, 0] == 20)][0, 0]  # μy 6 px above the frame
    col = 20 - 6
    assert float(far[:, col].max() - far[:, col].min()) < 1e-3  # a vertical stripe, constant down the column
    assert float(far[:, col].mean()) == pytest.approx(0.5, abs=1e-3)  # SOS: only one stripe, half depth
    assert float(far[0, col + 8]) == pytest.approx(1.0, abs=1e-3)
    near = data.images[(data.cond[:, 1] == 5) & (data.cond[:, 0] == 20)][0, 0]
    assert float(near[0, col]) < 0.3  # 2D rim: the off-frame stripe still shows at the top edge
    rimless = BumpDataSpec(kind="stripe_y", increment=1.0, rim=3.0).lattice()
    assert ((rimless[:, 0] < 3) | (rimless[:, 0] >= 41)).all() and ((rimless[:, 1] >= 6) & (rimless[:, 1] < 38)).all()


def test_held_out_regions():
    spec = BumpDataSpec(increment=0.5, held_out=HeldOutRegion("band"))
    train, test = spec.centres(0), spec.test_centres()
    assert train.shape[0] + test.shape[0] == spec.lattice().shape[0]
    in_band = lambda c: ((c >= 13) & (c <= 19)).any(1)  # noqa: E731
    assert not in_band(train).any() and in_band(test).all()
    inner = BumpDataSpec(increment=1.0, held_out=HeldOutRegion("interior", width=4)).test_centres()
    assert inner.shape == (16, 2) and inner.min() == 14 and inner.max() == 17
    outer = BumpDataSpec(increment=1.0, held_out=HeldOutRegion("exterior", width=3)).test_centres()
    assert outer.shape == (9, 2) and outer.max() == 2
    vertical = BumpDataSpec(increment=1.0, held_out=HeldOutRegion("band_x", low=10, high=11)).test_centres()
    assert vertical.shape == (64, 2) and set(vertical[:, 0].tolist()) == {10.0, 11.0}
    # regions are in frame coordinates, also when the latent space is extended
    stripes = BumpDataSpec(kind="stripe_x", increment=1.0, held_out=HeldOutRegion("band_x", low=0, high=0))
    assert (stripes.test_centres()[:, 0] == 6).all()


def test_nested_subsampling_and_determinism():
    def keys(c):
        return {(round(float(x), 3), round(float(y), 3)) for x, y in c}

    specs = [BumpDataSpec(increment=0.5, subsample=lam) for lam in (0.1, 0.2, 0.5)]
    sets = [keys(s.centres(seed=3)) for s in specs]
    assert [len(s) for s in sets] == [410, 819, 2048]
    assert sets[0] < sets[1] < sets[2]
    assert keys(BumpDataSpec(increment=0.5, subsample=0.1).centres(seed=4)) != sets[0]
    # σ changes only the images, never which centres are kept
    assert keys(BumpDataSpec(increment=0.5, subsample=0.1, sigma_x=2.0, sigma_y=2.0).centres(3)) == sets[0]
    a, b = specs[0].build(3), specs[0].build(3)
    assert torch.equal(a.images, b.images) and torch.equal(a.cond, b.cond)


@pytest.mark.parametrize(
    "kwargs, param",
    [
        (dict(sigma_x=-1.0), "sigma_x"),
        (dict(sigma_y=0.0), "sigma_y"),
        (dict(increment=0.0), "increment"),
        (dict(kind="ring"), "kind"),
        (dict(subsample=0.0), "subsample"),
        (dict(kind="stripe_x", periodic=True), "periodic"),
        (dict(latent_size=20), "latent_size"),
        (dict(rim=-1.0), "rim"),
    ],
)
def test_bad_parameters_raise_naming_them(kwargs, param):
    with pytest.raises(ValueError, match=param):
        BumpDataSpec(**kwargs)


def test_render_and_region_validation():
    with pytest.raises(ValueError, match="sigma"):
        render_bumps(torch.zeros(1, 2), sigma=-1.0)
    with pytest.raises(ValueError, match="centres"):
        render_bumps(torch.zeros(3))
    with pytest.raises(ValueError, match="kind"):
        render_bumps(torch.zeros(1, 2), kind="stripe_x")
    with pytest.raises(ValueError, match="held_out.kind"):
        HeldOutRegion("ring")
    with pytest.raises(ValueError, match="held_out.low"):
        HeldOutRegion("band", low=20, high=10)


def test_config_roundtrip():
    spec = BumpDataSpec(kind="sos", held_out=HeldOutRegion("interior", width=8.0), subsample=0.3)
    assert config_from_dict(BumpDataSpec, config_to_dict(spec)) == spec


@pytest.mark.parametrize("kwargs", [{"rim": float("nan")}, {"sigma_x": float("inf")}, {"increment": float("inf")}])
def test_non_finite_bump_fields_are_rejected(kwargs):
    with pytest.raises(ValueError, match=f"{next(iter(kwargs))} must be"):
        BumpDataSpec(**kwargs)


@pytest.mark.parametrize("kwargs", [{"low": float("nan")}, {"width": float("nan")}])
def test_non_finite_held_out_region_is_rejected(kwargs):
    from hidcap.data.bumps import HeldOutRegion

    with pytest.raises(ValueError, match="held_out"):
        HeldOutRegion(kind="band", **kwargs)


def test_frame_grid_is_x_slowest_and_matches_grid_labels():
    np.testing.assert_array_equal(frame_grid(4), grid_labels(4))
    g = frame_grid(2, 0.5, offset=1.0)
    assert g.shape == (16, 2) and g[0].tolist() == [1.0, 1.0] and g[4].tolist() == [1.5, 1.0]
    with pytest.raises(ValueError):
        frame_grid(0)
    with pytest.raises(ValueError):
        frame_grid(4, 0.0)
