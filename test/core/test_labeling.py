from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfsup_perception.core.config import PixelLabelConfig
from selfsup_perception.core.labeling import (
    FRAME,
    ODOMETRY,
    UNKNOWN,
    Recording,
    StreamingLabeler,
    label_recording,
    reading_labels,
)
from selfsup_perception.core.pixel_labels import FLOOR, OBSTACLE, frame_camera
from selfsup_perception.testing.reference import reference_labels
from selfsup_perception.testing.synthetic import DriveSpec, synthetic_drive


def stream(recording: Recording, config, batch: int = 8, pixels: PixelLabelConfig | None = None):
    labeler = StreamingLabeler(config, batch=batch, pixels=pixels)
    frames = []
    for kind, stamp, values in zip(recording.kind.tolist(), recording.stamp.tolist(), recording.values.tolist(),
                                   strict=True):
        labeler.add(kind, stamp, values, recording.cameras)
        frames += labeler.pop_finished()
    return frames + labeler.flush(), labeler


def assert_same_frames(a, b):
    assert [f.stamp for f in a] == [f.stamp for f in b]
    assert [f.payload for f in a] == [f.payload for f in b]
    assert [f.segment for f in a] == [f.segment for f in b]
    assert [f.pose for f in a] == [f.pose for f in b]
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa.labels, fb.labels)
        assert (fa.pixel_labels is None) == (fb.pixel_labels is None)
        if fa.pixel_labels is not None:
            np.testing.assert_array_equal(fa.pixel_labels, fb.pixel_labels)


def test_reading_labels_follow_rep_117(robot_config):
    sensor = robot_config.sensors[0]  # threshold 0.10
    values = np.array([0.05, 0.10, 0.11, np.inf, -np.inf, np.nan, 0.0])
    assert reading_labels(values, sensor).tolist() == [1, 0, 0, 0, 1, UNKNOWN, 1]
    intensity = dataclasses.replace(sensor, mode='intensity', threshold=1000.0)
    assert reading_labels(np.array([2000.0, 1000.0, 10.0, np.nan]), intensity).tolist() == [1, 0, 0, UNKNOWN]


def _straight_drive(readings: list[tuple[float, int, float]], speed: float = 0.1, duration: float = 20.0):
    """Odometry at 50 Hz along +x, one frame at t=1 s, and the given (t, sensor, value) readings."""
    events = [(ODOMETRY, t, (speed * t, 0.0, 0.0)) for t in np.arange(0.0, duration, 0.02)]
    events.append((FRAME, 1.0, (0.0,)))
    events += [(2 + s, t, (v,)) for t, s, v in readings]
    events.sort(key=lambda e: e[1])
    return Recording.from_events(events)


def test_reading_labels_the_distance_the_robot_had_ahead(robot_config):
    # At 0.1 m/s the robot is 0.5 m ahead of the frame (t=1 s) at t=6 s: sensor 2 sees an obstacle.
    recording = _straight_drive([(6.0, 2, 0.05), (7.0, 2, np.inf)])
    (frame,), _ = label_recording(recording, robot_config)
    k_half_metre = robot_config.distances.index(0.5)
    k_metre_less_5 = robot_config.distances.index(0.6)
    assert frame.labels[k_half_metre, 2] == 1
    assert frame.labels[k_metre_less_5, 2] == 0
    assert (frame.labels >= 0).sum() == 2
    assert frame.pose == pytest.approx((0.1, 0.0, 0.0))


def test_earliest_accepted_reading_wins_and_nan_is_skipped(robot_config):
    # Both 5.9 s and 6.1 s are within tolerance_forward of 0.5 m; NaN at 5.8 s does not count.
    recording = _straight_drive([(5.8, 0, np.nan), (5.9, 0, 0.02), (6.1, 0, np.inf)])
    (frame,), stats = label_recording(recording, robot_config)
    assert frame.labels[robot_config.distances.index(0.5), 0] == 1
    assert stats.unknown_readings == 1


def test_frame_without_pose_is_kept_unlabelled(robot_config):
    recording = Recording.from_events([(FRAME, 0.5, (0.0,)), (ODOMETRY, 1.0, (0, 0, 0)), (2, 1.0, (0.05,))])
    (frame,), _ = label_recording(recording, robot_config)
    assert frame.pose is None
    assert (frame.labels == UNKNOWN).all()


def test_no_pairing_across_a_teleport(robot_config):
    events = [(ODOMETRY, t, (0.1 * t + (5.0 if t >= 3 else 0.0), 0.0, 0.0)) for t in np.arange(0, 10, 0.02)]
    events += [(FRAME, 1.0, (0.0,)), (2, 2.5, (0.05,)), (2, 3.5, (0.05,))]
    events.sort(key=lambda e: e[1])
    (frame,), stats = label_recording(Recording.from_events(events), robot_config)
    assert frame.labels[robot_config.distances.index(0.15), 0] == 1  # 2.5 s: before the jump
    assert (frame.labels == 1).sum() == 1  # 3.5 s would be 0.25 m ahead, but after the teleport
    assert stats.odometry_jumps == 1


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_vectorised_rule_equals_the_per_frame_reference(robot_config, seed):
    recording = synthetic_drive(robot_config, DriveSpec(duration=25, dropout=0.2), seed=seed)
    frames, _ = label_recording(recording, robot_config)
    odom = sorted((float(t), *map(float, v)) for k, t, v in zip(recording.kind, recording.stamp,
                                                                recording.values, strict=True) if k == ODOMETRY)
    readings = []
    for k, t, v in zip(recording.kind, recording.stamp, recording.values, strict=True):
        if k >= 2:
            label = int(reading_labels(np.array([v[0]]), robot_config.sensors[k - 2])[0])
            if label != UNKNOWN:
                readings.append((float(t), int(k - 2), label))
    readings.sort(key=lambda r: r[0])
    expected = reference_labels([f.stamp for f in frames], odom, readings, robot_config)
    got = np.stack([f.labels for f in frames])
    np.testing.assert_array_equal(got, expected)
    assert (got >= 0).sum() > 500  # the drive does produce labels


def _perturb(recording: Recording, rng: np.random.Generator, reset_at: float | None, jump_at: float | None,
             nan_ratio: float) -> Recording:
    kind, stamp, values = recording.kind.copy(), recording.stamp.copy(), recording.values.copy()
    if jump_at is not None:
        values[(kind == ODOMETRY) & (stamp >= jump_at), 0] += 2.0
    readings = kind >= 2
    values[readings & (rng.random(kind.size) < nan_ratio), 0] = np.nan
    if reset_at is not None:  # the recording restarts (e.g. a bag loop): later stamps go back in time
        stamp = np.where(np.arange(stamp.size) < np.searchsorted(stamp, reset_at), stamp + 100.0, stamp)
    return Recording(kind, stamp, values)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    duration=st.floats(3.0, 25.0),
    speed=st.floats(0.02, 0.4),
    turn_rate=st.floats(0.0, 1.5),
    reorder_window=st.sampled_from([0.0, 0.05, 0.2, 0.45]),
    dropout=st.floats(0.0, 0.6),
    nan_ratio=st.floats(0.0, 0.3),
    reset_fraction=st.none() | st.floats(0.2, 0.8),
    jump_fraction=st.none() | st.floats(0.1, 0.9),
    batch=st.integers(1, 16),
)
def test_streaming_equals_offline(robot_config, seed, duration, speed, turn_rate, reorder_window, dropout,
                                  nan_ratio, reset_fraction, jump_fraction, batch):
    spec = DriveSpec(duration=duration, speed=speed, turn_rate=turn_rate, dropout=dropout,
                     reorder_window=reorder_window)
    rng = np.random.default_rng(seed)
    recording = _perturb(synthetic_drive(robot_config, spec, seed), rng,
                         None if reset_fraction is None else reset_fraction * duration,
                         None if jump_fraction is None else jump_fraction * duration, nan_ratio)
    offline, offline_stats = label_recording(recording, robot_config)
    streamed, labeler = stream(recording, robot_config, batch)
    assert_same_frames(streamed, offline)
    assert labeler.stats.late_messages == offline_stats.late_messages == 0
    assert labeler.stats.time_resets == offline_stats.time_resets == (reset_fraction is not None)
    assert len(offline) == int(np.count_nonzero(recording.kind == FRAME))  # every frame kept


def test_late_messages_dropped_identically(robot_config):
    recording = synthetic_drive(robot_config, DriveSpec(duration=10), seed=3)
    stamp = recording.stamp.copy()
    late = np.flatnonzero(recording.kind >= 2)[200:210]
    stamp[late] -= 1.0  # beyond the 0.5 s reorder window, short of the 2 s reset threshold
    recording = Recording(recording.kind, stamp, recording.values)
    offline, offline_stats = label_recording(recording, robot_config)
    streamed, labeler = stream(recording, robot_config)
    assert_same_frames(streamed, offline)
    assert offline_stats.late_messages == labeler.stats.late_messages == 10


def test_streaming_memory_stays_bounded(robot_config):
    recording = synthetic_drive(robot_config, DriveSpec(duration=400), seed=5)
    labeler = StreamingLabeler(robot_config)
    peak = 0
    for kind, stamp, values in zip(recording.kind.tolist(), recording.stamp.tolist(), recording.values.tolist(),
                                   strict=True):
        labeler.add(kind, stamp, values)
        labeler.pop_finished()
        peak = max(peak, labeler.buffered)
    # About horizon + reorder window + pruning slack worth of messages (160 messages/s), never the drive.
    assert peak < 160 * (robot_config.horizon + 2)
    assert labeler.stats.finalized + labeler.pending == labeler.stats.frames


def test_bad_stamps_and_odometry_are_counted_not_fatal(robot_config):
    labeler = StreamingLabeler(robot_config, batch=1)
    labeler.add_frame(float('nan'))
    labeler.add_odometry(1.0, float('inf'), 0.0, 0.0)
    labeler.add_odometry(1.0, 0.0, 0.0, 0.0)
    labeler.add_odometry(1.0, 0.0, 0.0, 0.0)
    assert labeler.stats.invalid_stamps == 1
    assert labeler.stats.invalid_odometry == 1
    assert labeler.stats.duplicate_odometry == 1
    with pytest.raises(ValueError, match='batch'):
        StreamingLabeler(robot_config, batch=0)


PIXELS = PixelLabelConfig(camera_mount_x=0.032, beam_width=0.3)
#: Two small cameras (frames may change resolution, e.g. when camera_info arrives).
CAMERAS = (frame_camera(PIXELS, 30, 40), frame_camera(PIXELS, 24, 32))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    duration=st.floats(3.0, 20.0),
    speed=st.floats(0.02, 0.4),
    turn_rate=st.floats(0.0, 1.5),
    reorder_window=st.sampled_from([0.0, 0.2, 0.45]),
    dropout=st.floats(0.0, 0.5),
    nan_ratio=st.floats(0.0, 0.3),
    reset_fraction=st.none() | st.floats(0.2, 0.8),
    jump_fraction=st.none() | st.floats(0.1, 0.9),
    batch=st.integers(1, 16),
)
def test_streaming_pixel_labels_equal_offline(robot_config, seed, duration, speed, turn_rate, reorder_window,
                                              dropout, nan_ratio, reset_fraction, jump_fraction, batch):
    spec = DriveSpec(duration=duration, speed=speed, turn_rate=turn_rate, dropout=dropout,
                     reorder_window=reorder_window, obstacles=25)
    rng = np.random.default_rng(seed)
    perturbed = _perturb(synthetic_drive(robot_config, spec, seed), rng,
                         None if reset_fraction is None else reset_fraction * duration,
                         None if jump_fraction is None else jump_fraction * duration, nan_ratio)
    values = perturbed.values.copy()
    frames = perturbed.kind == FRAME
    values[frames, 1] = rng.choice([0.0, 1.0, np.nan], size=int(frames.sum()), p=[0.6, 0.3, 0.1])
    recording = Recording(perturbed.kind, perturbed.stamp, values, CAMERAS)
    offline, _ = label_recording(recording, robot_config, pixels=PIXELS)
    streamed, _ = stream(recording, robot_config, batch, PIXELS)
    assert_same_frames(streamed, offline)
    by_payload = {int(v[0]): v[1] for v in values[frames]}
    for frame in offline:
        camera = by_payload[frame.payload]
        expected = None if np.isnan(camera) else (CAMERAS[int(camera)].height, CAMERAS[int(camera)].width)
        assert (None if frame.pixel_labels is None else frame.pixel_labels.shape) == expected


def test_pixel_labels_of_a_drive_have_floor_and_obstacles(robot_config):
    recording = synthetic_drive(robot_config, DriveSpec(duration=30, obstacles=25), seed=1)
    values = recording.values.copy()
    values[recording.kind == FRAME, 1] = 0.0
    frames, _ = label_recording(Recording(recording.kind, recording.stamp, values, CAMERAS), robot_config,
                                pixels=PIXELS)
    labels = np.stack([f.pixel_labels for f in frames])
    assert (labels == FLOOR).sum() > 1000
    assert (labels == OBSTACLE).sum() > 50
    without, _ = label_recording(recording, robot_config, pixels=PIXELS)
    assert all(f.pixel_labels is None for f in without)  # no camera, no pixel labels
    values[recording.kind == FRAME, 1] = 3.0
    with pytest.raises(ValueError, match='camera index 3'):
        label_recording(Recording(recording.kind, recording.stamp, values, CAMERAS), robot_config, pixels=PIXELS)
