"""Consistency pairs: exactly the rule's geometry (against a brute-force reference), no pairing across
pieces or beyond the horizon, bounded deterministic subsampling, and odometry pieces from frames."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfsup_perception.core.config import LabelingConfig, SensorConfig
from selfsup_perception.core.consistency import PieceTracker, find_pairs, odometry_pieces
from selfsup_perception.core.geometry import wrap_angle

SENSOR = SensorConfig(name='front', topic='/front', threshold=0.1, max_range=0.12)
CONFIG = LabelingConfig(sensors=(SENSOR,), distances=tuple(round(0.05 * k, 2) for k in range(11)), horizon=4.0)


def reference_pairs(stamps: np.ndarray, poses: np.ndarray, pieces: np.ndarray,
                    config: LabelingConfig) -> set[tuple[int, int, int, int]]:
    """Every (far, far_k, near, near_k), one pair of frames and distances at a time."""
    found = set()
    d = config.distances
    for i in range(len(stamps)):
        for j in range(len(stamps)):
            if not 0 < stamps[j] - stamps[i] <= config.horizon or pieces[i] != pieces[j]:
                continue
            if np.isnan(poses[i]).any() or np.isnan(poses[j]).any():
                continue
            for k in range(len(d)):
                # The place d_k ahead of i, in j's robot frame.
                px = poses[i, 0] + d[k] * np.cos(poses[i, 2]) - poses[j, 0]
                py = poses[i, 1] + d[k] * np.sin(poses[i, 2]) - poses[j, 1]
                c, s = np.cos(poses[j, 2]), np.sin(poses[j, 2])
                ahead, aside = c * px + s * py, -s * px + c * py
                turned = wrap_angle(poses[i, 2] - poses[j, 2])
                if abs(aside) >= config.tolerance_lateral or abs(turned) >= config.tolerance_heading:
                    continue
                for k2 in range(len(d)):
                    if abs(ahead - d[k2]) < config.tolerance_forward and k2 != k:
                        found.add((i, k, j, k2) if k > k2 else (j, k2, i, k))
    return found


def as_set(pairs) -> set[tuple[int, int, int, int]]:
    return set(zip(pairs.far.tolist(), pairs.far_k.tolist(), pairs.near.tolist(), pairs.near_k.tolist(), strict=True))


def wander(n: int, seed: int, speed: float = 0.03, turn: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Stamps 0.5 s apart and poses of a robot driving on, turning a little each step."""
    rng = np.random.default_rng(seed)
    yaw = np.cumsum(rng.normal(0, turn, n))
    steps = speed * np.stack([np.cos(yaw), np.sin(yaw)], 1) * rng.uniform(-0.5, 1.5, (n, 1))
    xy = np.cumsum(steps, 0)
    return np.arange(n) * 0.5, np.column_stack([xy, yaw])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(2, 30), shuffle=st.booleans())
def test_pairs_are_exactly_the_rule_geometry(seed: int, n: int, shuffle: bool) -> None:
    stamps, poses = wander(n, seed)
    rng = np.random.default_rng(seed)
    poses[rng.random(n) < 0.1] = np.nan  # frames without a pose pair with nothing
    pieces = np.cumsum(rng.random(n) < 0.1)
    order = rng.permutation(n) if shuffle else np.arange(n)  # any frame order
    pairs = find_pairs(stamps[order], poses[order], pieces[order], CONFIG)
    expected = {(order.tolist().index(a), ka, order.tolist().index(b), kb) for a, ka, b, kb in
                reference_pairs(stamps, poses, pieces, CONFIG)}
    assert as_set(pairs) == expected
    assert len(pairs) == pairs.found == len(expected)
    assert (pairs.near_k < pairs.far_k).all()


def test_a_straight_drive_pairs_each_distance_with_the_distance_left() -> None:
    stamps = np.arange(40) * 0.1
    poses = np.column_stack([stamps * 0.1, np.zeros(40), np.zeros(40)])  # 1 cm per frame, straight on
    pairs = find_pairs(stamps, poses, np.zeros(40), CONFIG)
    d = np.asarray(CONFIG.distances)
    travel = poses[pairs.near, 0] - poses[pairs.far, 0]
    assert len(pairs) > 1000
    assert (stamps[pairs.near] > stamps[pairs.far]).all()  # driving forwards, the later frame is nearer
    assert np.abs(d[pairs.far_k] - travel - d[pairs.near_k]).max() < CONFIG.tolerance_forward


def test_no_pairs_across_pieces_or_beyond_the_horizon() -> None:
    stamps = np.arange(40) * 0.1
    poses = np.column_stack([stamps * 0.1, np.zeros(40), np.zeros(40)])
    pieces = (np.arange(40) >= 20).astype(np.int64)
    pairs = find_pairs(stamps, poses, pieces, CONFIG)
    assert len(pairs)
    assert (pieces[pairs.far] == pieces[pairs.near]).all()
    short = find_pairs(stamps, poses, np.zeros(40), dataclasses.replace(CONFIG, horizon=0.35))
    assert len(short)
    assert np.abs(stamps[short.near] - stamps[short.far]).max() <= 0.35


def test_standing_still_gives_no_pairs() -> None:
    stamps = np.arange(20) * 0.1
    assert not len(find_pairs(stamps, np.zeros((20, 3)), np.zeros(20), CONFIG))


def test_subsampling_is_bounded_uniform_and_deterministic() -> None:
    stamps, poses = wander(200, 3)
    everything = find_pairs(stamps, poses, np.zeros(200), CONFIG)
    a = find_pairs(stamps, poses, np.zeros(200), CONFIG, max_pairs=300, seed=1)
    b = find_pairs(stamps, poses, np.zeros(200), CONFIG, max_pairs=300, seed=1)
    c = find_pairs(stamps, poses, np.zeros(200), CONFIG, max_pairs=300, seed=2)
    assert len(everything) > 1000
    assert len(a) == 300
    assert a.found == everything.found == len(everything)
    assert as_set(a) <= as_set(everything)
    assert as_set(a) == as_set(b)
    assert as_set(a) != as_set(c)
    assert not len(find_pairs(stamps, poses, np.zeros(200), CONFIG, max_pairs=0))
    with pytest.raises(ValueError, match='max_pairs'):
        find_pairs(stamps, poses, np.zeros(200), CONFIG, max_pairs=-1)
    with pytest.raises(ValueError, match='poses'):
        find_pairs(stamps, poses[:, :2], np.zeros(200), CONFIG)


def test_pieces_break_at_segments_time_going_back_and_teleports() -> None:
    stamps = np.array([0.0, 0.1, 0.2, 0.3, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    poses = np.column_stack([np.arange(10) * 0.01, np.zeros(10), np.zeros(10)])
    poses[7] = (5.0, 0.0, 0.0)  # teleported
    poses[8] = (np.nan,) * 3  # no pose: does not hide the jump back below
    poses[9] = (0.09, 0.0, 0.0)
    segments = np.array([0, 0, 1, 1, 1, 1, 1, 1, 1, 1])
    pieces = odometry_pieces(stamps, poses, segments, max_jump=0.25)
    assert pieces.tolist() == [0, 0, 1, 1, 2, 2, 2, 3, 3, 4]


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), cuts=st.lists(st.integers(0, 60), max_size=5))
def test_pieces_do_not_depend_on_how_the_stream_is_cut(seed: int, cuts: list[int]) -> None:
    rng = np.random.default_rng(seed)
    n = 60
    stamps = np.cumsum(rng.uniform(-0.05, 0.2, n))
    poses = np.cumsum(rng.normal(0, 0.15, (n, 3)), 0)
    poses[rng.random(n) < 0.2] = np.nan
    segments = np.cumsum(rng.random(n) < 0.05)
    whole = odometry_pieces(stamps, poses, segments, 0.25)
    tracker = PieceTracker(0.25)
    bounds = [0, *sorted(cuts), n]
    parts = [tracker.update(stamps[a:b], poses[a:b], segments[a:b]) for a, b in itertools.pairwise(bounds)]
    assert np.concatenate(parts).tolist() == whole.tolist()
    assert whole[0] == 0
    assert (np.diff(whole) >= 0).all()
