from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from selfsup_perception.core.geometry import OdometryTrack, wrap_angle


@given(st.floats(-100, 100))
def test_wrap_angle_range_and_equivalence(angle):
    wrapped = float(wrap_angle(angle))
    assert -np.pi <= wrapped < np.pi
    assert np.cos(wrapped) == pytest.approx(np.cos(angle), abs=1e-9)
    assert np.sin(wrapped) == pytest.approx(np.sin(angle), abs=1e-9)


def _track(max_gap=0.5, max_jump=0.25):
    t = np.array([0.0, 0.1, 0.2, 1.0, 1.1, 1.2])
    x = np.array([0.0, 0.01, 0.02, 0.03, 1.03, 1.04])  # a teleport between 1.0 and 1.1
    y = np.zeros(6)
    yaw = np.array([3.1, -3.1, -3.0, 0.0, 0.0, 0.0])  # crosses +-pi between the first two
    return OdometryTrack(t, x, y, yaw, max_gap, max_jump)


def test_interpolation_linear_and_shortest_arc():
    poses = _track().poses_at(np.array([0.05, 0.1]))
    assert poses.defined.all()
    assert poses.x[0] == pytest.approx(0.005)
    # 3.1 -> -3.1 is +0.083 rad across pi, not -6.2 rad.
    assert float(wrap_angle(poses.yaw[0])) == pytest.approx(float(wrap_angle(3.1 + (2 * np.pi - 6.2) / 2)))
    assert poses.x[1] == 0.01


def test_no_extrapolation_gap_or_teleport():
    poses = _track().poses_at(np.array([-0.01, 0.5, 1.05, 1.3, 1.2, 0.0]))
    assert poses.defined.tolist() == [False, False, False, False, True, True]
    assert np.isnan(poses.x[:4]).all()


def test_pieces_split_at_teleports():
    poses = _track().poses_at(np.array([0.1, 1.0, 1.1, 1.15]))
    assert poses.piece.tolist() == [0, 0, 1, 1]


def test_unsorted_odometry_rejected():
    with pytest.raises(ValueError, match='strictly increasing'):
        OdometryTrack(np.array([0.0, 0.0]), np.zeros(2), np.zeros(2), np.zeros(2), 1.0, 1.0)
