"""PEDCC with more classes than dimensions + 1: the physical (charge-repulsion) model."""

import itertools

import numpy as np
import pytest

from mfdjax.pedcc.physical import pedcc_physical
from mfdjax.pedcc import pedcc


def _polar_gaps(p):
    """Angles (degrees) between consecutive points of a 2-D configuration, sorted by angle."""
    a = np.sort(np.degrees(np.arctan2(p[:, 1], p[:, 0])) % 360.0)
    return np.diff(np.r_[a, a[0] + 360.0])


@pytest.mark.parametrize("k", [3, 5, 7, 10])
def test_points_on_a_circle_are_a_regular_polygon(k):
    p = pedcc(k, 2, seed=1) if k > 3 else pedcc_physical(k, 2, seed=1)
    assert p.shape == (k, 2) and p.dtype == np.float64
    np.testing.assert_allclose(np.linalg.norm(p, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(_polar_gaps(p), 360.0 / k, atol=1e-4)


def test_pentagon_min_distance_is_maximal():
    p = pedcc(5, 2, seed=0)
    d = [np.linalg.norm(a - b) for a, b in itertools.combinations(p, 2)]
    # The largest possible minimum distance of 5 points on the unit circle: 2 sin(36 deg).
    best = 2.0 * np.sin(np.pi / 5)
    assert min(d) == pytest.approx(best, abs=1e-6)
    # ... and no random configuration beats it.
    rng = np.random.default_rng(0)
    for _ in range(200):
        q = rng.standard_normal((5, 2))
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        assert min(np.linalg.norm(a - b) for a, b in itertools.combinations(q, 2)) <= best


def test_deterministic_from_seed():
    a, b, c = pedcc(6, 3, seed=4), pedcc(6, 3, seed=4), pedcc(6, 3, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    a[0, 0] = 9.0  # pedcc returns a copy: the cached result is not changed
    assert pedcc(6, 3, seed=4)[0, 0] != 9.0


def test_octahedron_in_three_dimensions():
    # Six charges on the 2-sphere settle on a regular octahedron: each point has
    # one antipode and four neighbours at 90 degrees.
    p = pedcc(6, 3, seed=2)
    g = np.sort(p @ p.T, axis=1)
    np.testing.assert_allclose(g[:, 0], -1.0, atol=1e-5)
    np.testing.assert_allclose(g[:, 1:5], 0.0, atol=1e-5)


def test_closed_form_kept_up_to_n_plus_1():
    # k = n + 1 is the exact simplex, not the iterative model.
    p = pedcc(3, 2, seed=0)
    np.testing.assert_allclose((p @ p.T)[~np.eye(3, dtype=bool)], -0.5, atol=1e-12)


def test_many_points_spread_evenly():
    # 12 points in 3-D: the Coulomb optimum is the icosahedron (neighbour cos = 1/sqrt(5)).
    p = pedcc(12, 3, seed=0)
    g = p @ p.T
    np.fill_diagonal(g, -1.0)
    np.testing.assert_allclose(g.max(1), 1.0 / np.sqrt(5.0), atol=1e-4)


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_classes=5, dim=1), "`dim` must be >= 2"),
    (dict(num_classes=1, dim=2), "`num_classes` must be >= 2"),
    (dict(num_classes=5, dim=2, step=0.0), "`step` must be > 0"),
    (dict(num_classes=5, dim=2, momentum=1.0), "`momentum` must be in"),
    (dict(num_classes=5, dim=2, max_iter=0), "`max_iter` must be >= 1"),
    (dict(num_classes=5.0, dim=2), "`num_classes` must be an int"),
])
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pedcc_physical(**kwargs)


def test_pedcc_dim_one_with_many_classes_is_an_error():
    with pytest.raises(ValueError, match="`dim` must be >= 2"):
        pedcc(3, 1)
