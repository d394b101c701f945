import numpy as np
import pytest
import torch

from hidcap.geometry import (
    clifford_torus,
    explained_variance,
    grid_labels,
    participation_ratio,
    participation_ratio_from_eigenvalues,
    pca_spectrum,
    random_rotation,
    standard_torus,
)
from hidcap.geometry_plots import plot_spectrum


def test_clifford_torus_equal_radii_has_participation_ratio_four():
    pts = clifford_torus(grid_labels(32))
    assert participation_ratio(pts) == pytest.approx(4.0, abs=1e-9)
    assert explained_variance(pts, 4) == pytest.approx(1.0)
    assert explained_variance(pts, 2) == pytest.approx(0.5)


def test_unequal_radii_match_formula():
    a, b = 1.0, 2.0
    pts = clifford_torus(grid_labels(24), radii=(a, b))
    expect = 2 * (a**2 + b**2) ** 2 / (a**4 + b**4)
    assert participation_ratio(pts) == pytest.approx(expect, rel=1e-9)


def test_rotation_translation_invariance_and_torch_input():
    pts = standard_torus(grid_labels(20), noise=0.05, seed=1)
    padded = np.pad(pts, ((0, 0), (0, 9)))
    moved = padded @ random_rotation(12, seed=4).T + 3.0
    a, b = pca_spectrum(pts), pca_spectrum(moved)
    assert np.allclose(a.eigenvalues, b.eigenvalues[:3]) and np.allclose(b.eigenvalues[3:], 0, atol=1e-12)
    assert participation_ratio(moved) == pytest.approx(participation_ratio(pts))
    assert participation_ratio(torch.tensor(moved, dtype=torch.float64)) == pytest.approx(participation_ratio(moved))


def test_spectrum_fields_and_projection():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(200, 5)) * np.array([5.0, 3.0, 1.0, 0.5, 0.1])
    spec = pca_spectrum(pts)
    assert spec.eigenvalues.shape == (5,) and spec.components.shape == (5, 5)
    assert np.all(np.diff(spec.eigenvalues) <= 0)
    assert np.allclose(spec.eigenvalues, np.linalg.eigvalsh(np.cov(pts.T))[::-1])
    proj = spec.project(pts, 2)
    assert proj.shape == (200, 2)
    assert np.allclose(proj.var(axis=0, ddof=1), spec.eigenvalues[:2])
    assert spec.explained_variance_ratio.sum() == pytest.approx(1.0)


def test_participation_ratio_from_eigenvalues():
    assert participation_ratio_from_eigenvalues([1.0, 1.0, 1.0]) == pytest.approx(3.0)
    assert participation_ratio_from_eigenvalues([1.0, 0.0]) == pytest.approx(1.0)
    assert participation_ratio_from_eigenvalues(torch.tensor([2.0, 2.0])) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="non-negative"):
        participation_ratio_from_eigenvalues([1.0, -1.0])


@pytest.mark.parametrize("bad", [np.zeros(10), np.zeros((2, 3, 4)), np.zeros((1, 3)), np.full((4, 2), np.nan)])
def test_bad_shapes_raise(bad):
    with pytest.raises(ValueError, match="points"):
        participation_ratio(bad)


def test_bad_k_raises():
    with pytest.raises(ValueError, match="k must"):
        explained_variance(np.eye(4), 0)


def test_plot_spectrum(tmp_path):
    plot_spectrum(pca_spectrum(standard_torus(grid_labels(12))), path=tmp_path / "spec.png")
    assert (tmp_path / "spec.png").stat().st_size > 1000


def test_participation_ratio_of_a_zero_variance_cloud_is_an_error(tmp_path):
    same = np.ones((10, 3))
    with pytest.raises(ValueError, match="zero variance"):
        participation_ratio(same)
    with pytest.raises(ValueError, match="undefined"):
        pca_spectrum(same).participation_ratio
    with pytest.raises(ValueError, match="every eigenvalue is 0"):
        participation_ratio_from_eigenvalues([0.0, 0.0])
    assert pca_spectrum(same).explained_variance_ratio.sum() == 0.0
    from hidcap.geometry_plots import plot_spectrum

    ax = plot_spectrum(pca_spectrum(same), path=tmp_path / "flat.png")
    assert "undefined" in ax.get_title()
