"""The time guard: one far-off stamp (0, 2^31 - 1) is an outlier, time resets only when messages agree.

Both labeling drivers go through the same guard: every test checks streaming against offline too.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfsup_perception.core.labeling import (
    FRAME,
    ODOMETRY,
    Arrival,
    Recording,
    StreamingLabeler,
    TimeGuard,
    label_recording,
)
from selfsup_perception.testing.synthetic import DriveSpec, synthetic_drive

BOGUS = (0.0, float(2**31 - 1))


def stream(recording: Recording, config) -> tuple[list, StreamingLabeler, list[int]]:
    """Frames streamed, the labeler, and how many frames had come out after each message."""
    labeler = StreamingLabeler(config)
    frames, finished = [], []
    for kind, stamp, values in zip(recording.kind.tolist(), recording.stamp.tolist(), recording.values.tolist(),
                                   strict=True):
        labeler.add(kind, stamp, values)
        frames += labeler.pop_finished()
        finished.append(len(frames))
    return frames + labeler.flush(), labeler, finished


def insert(recording: Recording, at: int, kind: int, stamp: float, values: tuple[float, float, float]) -> Recording:
    return Recording(np.insert(recording.kind, at, kind), np.insert(recording.stamp, at, stamp),
                     np.insert(recording.values, at, values, axis=0))


def assert_same(a: list, b: list) -> None:
    assert [(f.stamp, f.payload, f.segment, f.pose) for f in a] == [(f.stamp, f.payload, f.segment, f.pose) for f in b]
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa.labels, fb.labels)


@pytest.fixture(scope='module')
def drive(robot_config) -> Recording:
    return synthetic_drive(robot_config, DriveSpec(duration=30.0), seed=4)


@pytest.mark.parametrize('bogus', BOGUS)
def test_one_odometry_stamp_far_off_changes_nothing(robot_config, drive, bogus):
    at = int(np.searchsorted(drive.stamp, 15.0))
    glitch = insert(drive, at, ODOMETRY, bogus, (0.5, 0.5, 0.0))
    clean_frames, _, clean_finished = stream(drive, robot_config)
    frames, labeler, finished = stream(glitch, robot_config)
    assert_same(frames, clean_frames)
    assert finished[at] == clean_finished[at - 1]  # the outlier finalised no pending frame
    assert (labeler.stats.time_resets, labeler.stats.stamp_outliers) == (0, 1)
    offline, stats = label_recording(glitch, robot_config)
    assert_same(offline, frames)
    assert (stats.time_resets, stats.stamp_outliers, stats.late_messages) == (0, 1, 0)


def test_one_message_fanned_out_to_every_sensor_is_still_one_stamp(robot_config, drive):
    """A LaserScan carrying all sensors gives five readings with one (bogus) stamp: no agreement."""
    glitch = drive
    at = int(np.searchsorted(drive.stamp, 12.0))
    for sensor in range(len(robot_config.sensors)):
        glitch = insert(glitch, at + sensor, 2 + sensor, 0.0, (0.05, np.nan, np.nan))
    frames, labeler, _ = stream(glitch, robot_config)
    assert_same(frames, stream(drive, robot_config)[0])
    assert (labeler.stats.time_resets, labeler.stats.stamp_outliers) == (0, 5)
    offline, stats = label_recording(glitch, robot_config)
    assert_same(offline, frames)
    assert stats.stamp_outliers == 5


def test_time_running_backwards_in_every_stream_resets(robot_config, drive):
    """A bag loop: everything after 20 s comes again from 0 s; the first message back waits for a second."""
    loop = drive.stamp < 20.0
    looped = Recording(np.concatenate([drive.kind[loop], drive.kind[loop]]),
                       np.concatenate([drive.stamp[loop], drive.stamp[loop]]),
                       np.concatenate([drive.values[loop], drive.values[loop]]))
    frames, labeler, _ = stream(looped, robot_config)
    assert (labeler.stats.time_resets, labeler.stats.stamp_outliers, labeler.stats.late_messages) == (1, 0, 0)
    assert [f.segment for f in frames].count(1) == int(np.count_nonzero(drive.kind[loop] == FRAME))
    offline, stats = label_recording(looped, robot_config)
    assert_same(offline, frames)
    assert (stats.time_resets, stats.stamp_outliers) == (1, 0)
    first, second = frames[: len(frames) // 2], frames[len(frames) // 2:]
    for a, b in zip(first, second, strict=True):  # the second pass labels exactly like the first
        np.testing.assert_array_equal(a.labels, b.labels)


def test_a_pause_in_every_stream_is_no_outlier(robot_config, drive):
    paused = Recording(drive.kind, np.where(drive.stamp > 15.0, drive.stamp + 30.0, drive.stamp), drive.values)
    frames, labeler, _ = stream(paused, robot_config)
    assert len(frames) == int(np.count_nonzero(drive.kind == FRAME))
    assert (labeler.stats.time_resets, labeler.stats.stamp_outliers, labeler.stats.odometry_gaps) == (0, 0, 1)
    offline, stats = label_recording(paused, robot_config)
    assert_same(offline, frames)
    assert (stats.stamp_outliers, stats.odometry_gaps, stats.odometry_jumps) == (0, 1, 0)


def test_a_far_off_stamp_at_the_end_is_an_outlier(robot_config, drive):
    glitch = insert(drive, drive.kind.size, FRAME, 0.0, (9999.0, np.nan, np.nan))
    frames, labeler, _ = stream(glitch, robot_config)
    assert labeler.stats.stamp_outliers == 1
    assert 9999 not in [f.payload for f in frames]
    offline, stats = label_recording(glitch, robot_config)
    assert_same(offline, frames)
    assert stats.stamp_outliers == 1


def test_guard_decisions():
    guard: TimeGuard[str] = TimeGuard(reorder_window=0.5, reset_threshold=2.0)
    assert guard.observe(100.0, 'a') == [(Arrival.ACCEPTED, 'a')]
    assert guard.observe(99.0, 'late') == [(Arrival.LATE, 'late')]
    assert guard.observe(0.0, 'b') == []  # held
    assert guard.observe(0.0, 'b2') == []  # the same stamp does not confirm
    assert guard.observe(100.1, 'c') == [(Arrival.OUTLIER, 'b'), (Arrival.OUTLIER, 'b2'), (Arrival.ACCEPTED, 'c')]
    assert guard.observe(1.0, 'd') == []
    assert guard.observe(1.2, 'e') == [(Arrival.RESET, 'd'), (Arrival.ACCEPTED, 'e')]
    assert (guard.segment, guard.latest) == (1, 1.2)
    assert guard.observe(50.0, 'f') == []
    assert guard.observe(-50.0, 'g') == [(Arrival.OUTLIER, 'f')]  # disagrees: f dropped, g held
    assert guard.release() == [(Arrival.OUTLIER, 'g')]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 1000), glitches=st.lists(st.tuples(st.floats(4.0, 11.0), st.sampled_from(BOGUS),
                                                             st.integers(0, 6)), max_size=4),
       reorder_window=st.sampled_from([0.0, 0.2]), dropout=st.floats(0.0, 0.3))
def test_streaming_equals_offline_with_stamp_glitches(robot_config, seed, glitches, reorder_window, dropout):
    """Isolated bogus stamps in any stream (more than reset_threshold from the others): dropped and counted,
    the same by both drivers, never a reset."""
    recording = synthetic_drive(robot_config, DriveSpec(duration=12.0, dropout=dropout,
                                                        reorder_window=reorder_window), seed)
    positions = sorted({int(np.searchsorted(recording.stamp, t)) for t, _, _ in glitches})
    for offset, (position, (_, bogus, drawn)) in enumerate(zip(positions, glitches, strict=False)):
        kind = min(drawn, 1 + len(robot_config.sensors))
        values = (0.1, np.nan, np.nan) if kind == FRAME else (0.1, 0.0, 0.0)  # a frame without a camera
        recording = insert(recording, position + offset, kind, bogus, values)
    frames, labeler, _ = stream(recording, robot_config)
    offline, stats = label_recording(recording, robot_config)
    assert_same(offline, frames)
    assert labeler.stats.time_resets == stats.time_resets == 0
    assert labeler.stats.stamp_outliers == stats.stamp_outliers == len(positions)
    assert labeler.stats.late_messages == stats.late_messages
