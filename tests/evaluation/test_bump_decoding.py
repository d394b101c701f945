import numpy as np
import pytest
import torch

from hidcap.evaluation.bump_decoding import bump_accuracy, centre_errors, decode_centres


def _bump(cx, cy, n=32, sigma=1.0, periodic=False):
    """Dark Gaussian bump on white, value 1 - exp(-(dx^2+dy^2)/(4 sigma^2)), x = column, y = row."""
    grid = np.arange(n, dtype=float)
    dx = grid[None, :] - cx
    dy = grid[:, None] - cy
    if periodic:
        dx = (dx + n / 2) % n - n / 2
        dy = (dy + n / 2) % n - n / 2
    return 1.0 - np.exp(-(dx**2) / (4 * sigma**2) - (dy**2) / (4 * sigma**2))


def test_darkest_pixel_recovers_integer_centres():
    centres = np.array([[3, 7], [20, 11], [31, 0]], float)
    imgs = np.stack([_bump(x, y) for x, y in centres])
    np.testing.assert_array_equal(decode_centres(imgs), centres)
    acc = bump_accuracy(torch.tensor(imgs[:, None], dtype=torch.float32), centres)
    assert acc.joint == 1.0 and acc.x == 1.0 and acc.y == 1.0


def test_wrong_centre_is_scored_wrong_per_axis():
    imgs = np.stack([_bump(5, 5), _bump(5, 5)])
    acc = bump_accuracy(imgs, np.array([[5.0, 9.0], [12.0, 5.0]]))
    assert acc.joint == 0.0
    assert acc.x == 0.5 and acc.y == 0.5
    assert acc.correct.tolist() == [False, False]


def test_periodic_wraps_distance_across_the_border():
    img = _bump(0.0, 10.0, periodic=True)[None]
    # target just across the border: 31.6 is 0.4 px from 0 on a 32-px torus
    assert bump_accuracy(img, np.array([[31.6, 10.0]]), periodic=True).joint == 1.0
    assert bump_accuracy(img, np.array([[31.6, 10.0]]), periodic=False).joint == 0.0
    np.testing.assert_allclose(centre_errors(np.array([[0.0, 0.0]]), np.array([[31.0, 1.0]]), size=32), [[1.0, 1.0]])


def test_two_bumps_fall_back_to_centroid():
    img = np.minimum(_bump(8, 16), _bump(24, 16))
    (x, y), = decode_centres(img[None])
    assert x == pytest.approx(15.5, abs=0.5) and y == pytest.approx(16, abs=0.5)


def test_blank_image_falls_back_to_canvas_centre():
    (x, y), = decode_centres(np.ones((1, 16, 16)))
    assert (x, y) == (7.5, 7.5)


def test_bump_on_periodic_border_is_one_blob():
    img = _bump(0.0, 0.0, periodic=True)  # split over four corners when not wrapped
    np.testing.assert_array_equal(decode_centres(img[None], periodic=True), [[0.0, 0.0]])


@pytest.mark.parametrize(
    "images, centres, match",
    [
        (np.ones((2, 3, 8, 8)), np.zeros((2, 2)), "grayscale"),
        (np.ones((8, 8)), np.zeros((1, 2)), r"\(B, 1, H, W\)"),
        (np.ones((2, 8, 8)), np.zeros((3, 2)), "both be"),
    ],
)
def test_bad_shapes_raise(images, centres, match):
    with pytest.raises(ValueError, match=match):
        bump_accuracy(images, centres)


def test_bad_tolerance_and_threshold_raise():
    with pytest.raises(ValueError, match="tolerance"):
        bump_accuracy(np.ones((1, 8, 8)), np.zeros((1, 2)), tolerance=0)
    with pytest.raises(ValueError, match="threshold"):
        decode_centres(np.ones((1, 8, 8)), threshold=1.5)
