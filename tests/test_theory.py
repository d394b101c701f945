"""The papers' toy models: Eq. 1 (concept memorisation), Eq. 2 (underspecification), multiplicative emergence."""
import numpy as np
import pytest

from hidcap.theory import (
    biased_target,
    critical_time,
    fit_multiplicative,
    memorization_dynamics,
    multiplicative_accuracy,
    underspecified_dynamics,
)


def test_biased_target_moves_from_biased_to_true_value():
    d = biased_target(np.array([-50.0, 3.0, 50.0]), z_tilde=0.0, z_hat=1.0, t_hat=3.0)
    assert d[0] == pytest.approx(0.0, abs=1e-12) and d[1] == pytest.approx(0.5) and d[2] == pytest.approx(1.0)


def test_memorization_first_heads_to_the_biased_corner_then_turns():
    t = np.linspace(0, 20, 201)
    z = memorization_dynamics(t, z_tilde=(1.0, 0.0), z_hat=(1.0, 1.0), t_hat=8.0, a=2.0)
    early = z[np.searchsorted(t, 3.0)]
    assert early[0] > 0.95 and early[1] < 0.05  # near corner (1, 0): concept memorisation
    assert np.allclose(z[-1], (1.0, 1.0), atol=0.02)  # then the held-out corner
    assert np.all(np.isfinite(z))  # the sub-stepping keeps a coarse grid stable
    coarse = memorization_dynamics(np.linspace(0, 20, 5), t_hat=8.0)
    assert np.all(np.abs(coarse) < 1.5)


def test_memorization_rejects_bad_grid_and_weight():
    with pytest.raises(ValueError, match="strictly increasing"):
        memorization_dynamics(np.array([0.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="a must be positive"):
        memorization_dynamics(np.linspace(0, 1, 3), a=0.0)


def test_underspecification_shifts_the_masked_target():
    t = np.linspace(0, 10, 50)
    ends = [underspecified_dynamics(a, t, s=0.8)[-1] for a in (0.0, 0.5, 1.0)]
    assert [e[0] for e in ends] == pytest.approx([1.0, 0.6, 0.2], abs=1e-6)
    assert all(e[1] == pytest.approx(1.0, abs=1e-6) for e in ends)
    z = underspecified_dynamics(0.5, t)
    assert z[0] == pytest.approx([0.0, 0.0])
    with pytest.raises(ValueError, match="alpha"):
        underspecified_dynamics(1.5, t)


def test_multiplicative_accuracy_and_critical_time_agree():
    p, target = 0.02, 0.8
    for n in (1, 2, 3, 5):
        t_star = int(critical_time(p, n, target))
        assert multiplicative_accuracy(t_star, p, n) >= target > multiplicative_accuracy(t_star - 1, p, n)
    assert np.all(np.diff(critical_time(p, np.arange(1, 6), target)) > 0)  # more concepts, later
    with pytest.raises(ValueError, match="p must be in"):
        multiplicative_accuracy(3, 1.0, 2)
    with pytest.raises(ValueError, match="n must be >= 1"):
        critical_time(0.1, 0)


def test_fit_recovers_p_and_flags_a_wrong_shape():
    n = np.array([1, 2, 3, 1, 2, 3])
    fit = fit_multiplicative(n, critical_time(0.01, n), target=0.8)
    assert fit.p == pytest.approx(0.01, rel=0.02) and fit.rmse < 1.0
    # learning times that do not grow with n fit badly
    flat = fit_multiplicative(np.array([1, 2, 3]), np.array([300.0, 150.0, 100.0]))
    assert flat.rmse > 50


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="two distinct n"):
        fit_multiplicative([2, 2], [10.0, 12.0])
    with pytest.raises(ValueError, match="equal length"):
        fit_multiplicative([1, 2, 3], [10.0, 12.0])
    with pytest.raises(ValueError, match="positive"):
        fit_multiplicative([1, 2], [10.0, -1.0])
