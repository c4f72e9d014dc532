"""Eq. 14 of the W-Softmax paper: mean angle between features and their class weight."""

from __future__ import annotations

import numpy as np
import pytest

from mfdjax.eval import mean_class_angles


def _at(deg, r=1.0):
    t = np.radians(deg)
    return [r * np.cos(t), r * np.sin(t)]


def test_mean_angle_per_class_in_degrees():
    w = np.array([[2.0, 0.0], [0.0, 0.5], [-1.0, 0.0]])   # any norm
    x = np.array([_at(30, 3.0), _at(60, 0.2), _at(90), _at(100, 7.0)])
    y = np.array([0, 0, 1, 1])
    got = mean_class_angles(x, y, w)
    np.testing.assert_allclose(got[:2], [45.0, 5.0], atol=1e-9)
    assert np.isnan(got[2])                                  # no samples of class 2
    np.testing.assert_allclose(mean_class_angles(x, y, w, degrees=False)[0], np.pi / 4)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="labels"):
        mean_class_angles(np.ones((2, 2)), np.array([0, 3]), np.eye(2))
    with pytest.raises(ValueError, match="share D"):
        mean_class_angles(np.ones((2, 3)), np.array([0, 1]), np.eye(2))
