"""The self-supervised labeling rule (docs/architecture.md) and its two drivers: streaming and offline.

``label_frames`` is the one implementation of the rule: for each frame and each (distance,
sensor) the label of the earliest future reading taken where the frame's robot stood that far
ahead. ``StreamingLabeler`` (the node) and ``label_recording`` (bags) only differ in how they feed
it, and share ``TimeGuard`` for late messages and time running backwards, so both give identical
labels for the same messages in the same arrival order. Given a ``PixelLabelConfig`` and a camera per
frame, both also make the frames' pixel labels (``core.pixel_labels.label_pixels``) from the same data.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

import numpy as np

from .config import LabelingConfig, PixelLabelConfig, SensorConfig
from .geometry import OdometryTrack, PoseSamples, wrap_angle
from .pixel_labels import PinholeCamera, label_pixels

UNKNOWN = -1
FRAME, ODOMETRY = 0, 1  # event kinds of a Recording; readings are 2 + sensor index
PAIRS_PER_CHUNK = 1 << 19  # (frame, reading) pairs per vectorised step: bounds temporary memory
T = TypeVar('T')


def reading_labels(values: np.ndarray, sensor: SensorConfig) -> np.ndarray:
    """Map raw readings to labels: 1 obstacle, 0 free, -1 unknown (NaN), per REP 117."""
    values = np.asarray(values, dtype=np.float64)
    labels = np.full(values.shape, UNKNOWN, dtype=np.int8)
    if sensor.mode == 'intensity':
        known = ~np.isnan(values)
        labels[known] = values[known] > sensor.threshold
        return labels
    labels[values == -np.inf] = 1
    labels[values == np.inf] = 0
    finite = np.isfinite(values)
    labels[finite] = values[finite] < sensor.threshold
    return labels


def label_frames(
    frame_t: np.ndarray,
    odometry: OdometryTrack,
    reading_t: np.ndarray,
    reading_sensor: np.ndarray,
    reading_label: np.ndarray,
    config: LabelingConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the labeling rule; readings are sorted by time (ties in arrival order), labels known.

    Returns ``labels`` (F, K, S) int8 with -1 for unknown, and the frame poses (F, 3) (NaN where
    undefined). Frames are processed in chunks so memory stays bounded on long recordings.
    """
    frame_t = np.asarray(frame_t, dtype=np.float64)
    n_frames = frame_t.size
    n_dist, n_sensors = len(config.distances), len(config.sensors)
    labels = np.full((n_frames, n_dist, n_sensors), UNKNOWN, dtype=np.int8)
    frames = odometry.poses_at(frame_t)
    poses = np.stack([frames.x, frames.y, frames.yaw], axis=1)
    readings = odometry.poses_at(reading_t)
    usable = readings.defined
    r_t = np.asarray(reading_t, dtype=np.float64)[usable]
    r_sensor = np.asarray(reading_sensor, dtype=np.int64)[usable]
    r_label = np.asarray(reading_label, dtype=np.int8)[usable]
    candidates = PoseSamples(readings.x[usable], readings.y[usable], readings.yaw[usable], readings.defined[usable],
                             readings.piece[usable])
    lo = np.searchsorted(r_t, frame_t - config.sync_tolerance, side='left')
    hi = np.searchsorted(r_t, frame_t + config.horizon, side='right')
    counts = np.where(frames.defined, hi - lo, 0)
    for start, stop, frame, reading, k in pose_matches(frames, lo, counts, candidates, config):
        # Entries are ordered by frame, then reading time: the first entry of a cell is the earliest.
        cell = (frame - start) * (n_dist * n_sensors) + k * n_sensors + r_sensor[reading]
        earliest = np.full((stop - start) * n_dist * n_sensors, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(earliest, cell, np.arange(cell.size))
        found = earliest != np.iinfo(np.int64).max
        chunk = labels[start:stop].reshape(-1)
        chunk[found] = r_label[reading[earliest[found]]]
    return labels, poses


def pose_matches(
    frames: PoseSamples,
    lo: np.ndarray,
    counts: np.ndarray,
    candidates: PoseSamples,
    config: LabelingConfig,
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray, np.ndarray]]:
    """The rule's geometry: each candidate pose that stands a distance d_k ahead of a frame's pose.

    Frame f's candidates are ``candidates[lo[f] : lo[f] + counts[f]]``; one is accepted for d_k when,
    in the frame's robot frame, it is within ``tolerance_forward`` of d_k ahead, ``tolerance_lateral``
    aside and ``tolerance_heading`` turned, on the same odometry piece. Yields, frames a chunk at a
    time (bounded memory), ``(start, stop, frame, candidate, k)``: the accepted entries of frames
    ``start:stop``, ordered by frame, then by candidate.
    """
    distances = np.asarray(config.distances, dtype=np.float64)
    n_frames = len(frames.x)
    width = int(counts.max()) if n_frames else 0
    if width == 0:
        return
    offset = np.arange(width)
    chunk_frames = max(1, PAIRS_PER_CHUNK // width)
    frame_cos, frame_sin = np.cos(frames.yaw), np.sin(frames.yaw)
    last = len(candidates.x) - 1
    for start in range(0, n_frames, chunk_frames):
        stop = min(start + chunk_frames, n_frames)
        # (frame, j): the j-th candidate of the frame's window; row-major order is candidate order.
        index = np.minimum(lo[start:stop, None] + offset, last)
        in_window = offset < counts[start:stop, None]
        cos, sin = frame_cos[start:stop, None], frame_sin[start:stop, None]
        dx = candidates.x[index] - frames.x[start:stop, None]
        dy = candidates.y[index] - frames.y[start:stop, None]
        # Cheapest, most selective test first (lateral offset), then the rest on the survivors.
        row, col = np.nonzero(in_window & (np.abs(cos * dy - sin * dx) < config.tolerance_lateral))
        pair_frame, pair_candidate = row + start, index[row, col]
        qx = cos[row, 0] * dx[row, col] + sin[row, 0] * dy[row, col]
        qyaw = wrap_angle(candidates.yaw[pair_candidate] - frames.yaw[pair_frame])
        keep = (
            (np.abs(qyaw) < config.tolerance_heading)
            & (qx > distances[0] - config.tolerance_forward)
            & (qx < distances[-1] + config.tolerance_forward)
            & (candidates.piece[pair_candidate] == frames.piece[pair_frame])
        )
        pair_frame, pair_candidate, qx = pair_frame[keep], pair_candidate[keep], qx[keep]
        pair_of_entry, k = distance_matches(qx, distances, config.tolerance_forward)
        yield start, stop, pair_frame[pair_of_entry], pair_candidate[pair_of_entry], k


def distance_matches(
    ahead: np.ndarray, distances: np.ndarray, tolerance: float
) -> tuple[np.ndarray, np.ndarray]:
    """Every (i, k) with |ahead[i] - distances[k]| < ``tolerance`` (distances increasing), ordered by i then k."""
    n_dist = distances.size
    # Candidate distance indices per value, widened by one so the exact test below decides.
    k_lo = np.maximum(np.searchsorted(distances, ahead - tolerance, side='left') - 1, 0)
    k_hi = np.minimum(np.searchsorted(distances, ahead + tolerance, side='right') + 1, n_dist)
    span = k_hi - k_lo
    entry = np.repeat(np.arange(ahead.size), span)
    k = np.arange(entry.size) - np.repeat(np.cumsum(span) - span - k_lo, span)
    accepted = np.abs(ahead[entry] - distances[k]) < tolerance
    return entry[accepted], k[accepted]


def _pose_tuple(pose: np.ndarray) -> tuple[float, float, float] | None:
    return None if np.isnan(pose[0]) else (float(pose[0]), float(pose[1]), float(pose[2]))


class Arrival(Enum):
    """What the time guard makes of a message's stamp."""

    ACCEPTED = 'accepted'
    LATE = 'late'
    RESET = 'reset'  # accepted, as the first message of a new segment: time ran backwards
    OUTLIER = 'outlier'  # a far-off stamp no other message agreed with: dropped


class TimeGuard(Generic[T]):
    """Tracks the newest stamp of the current segment and classifies each new stamp.

    A stamp older than ``reorder_window`` behind the newest is late (dropped). A stamp more than
    ``reset_threshold`` away from the newest, behind (bag loop, simulator reset) or ahead, is held
    until another message with another stamp agrees (lies within ``reset_threshold`` of it): then
    time really jumped, and behind means a new segment. A message at the old time first means the
    held ones were outliers (one driver's stamp of 0 or 2^31 - 1): they are dropped, nothing resets.
    ``observe`` returns the decisions, in arrival order, of every message it no longer holds.
    """

    MAX_HELD = 256  # messages held at one stamp at most (more of the same are outliers at once)

    def __init__(self, reorder_window: float, reset_threshold: float) -> None:
        self.reorder_window = reorder_window
        self.reset_threshold = reset_threshold
        self.latest = -math.inf
        self.segment = 0
        self._held: list[tuple[float, T]] = []

    @property
    def holding(self) -> bool:
        return bool(self._held)

    @property
    def held(self) -> int:
        """Messages waiting for another to agree with their far-off stamp."""
        return len(self._held)

    def observe(self, stamp: float, item: T) -> list[tuple[Arrival, T]]:
        jump = math.isfinite(self.latest) and abs(stamp - self.latest) > self.reset_threshold
        if self._held:
            first = self._held[0][0]
            if jump and abs(stamp - first) <= self.reset_threshold:
                if stamp != first:
                    return self._confirm(stamp, item)
                if len(self._held) < self.MAX_HELD:
                    self._held.append((stamp, item))
                    return []
                return [(Arrival.OUTLIER, item)]
            outliers = [(Arrival.OUTLIER, held) for _, held in self._held]
            self._held = []
            return outliers + self.observe(stamp, item)
        if jump:
            self._held.append((stamp, item))
            return []
        return [self._classify(stamp, item)]

    def release(self) -> list[tuple[Arrival, T]]:
        """End of the stream: whatever is still held never found agreement (outliers)."""
        held, self._held = self._held, []
        return [(Arrival.OUTLIER, item) for _, item in held]

    def _classify(self, stamp: float, item: T) -> tuple[Arrival, T]:
        if stamp < self.latest - self.reorder_window:
            return Arrival.LATE, item
        self.latest = max(self.latest, stamp)
        return Arrival.ACCEPTED, item

    def _confirm(self, stamp: float, item: T) -> list[tuple[Arrival, T]]:
        """Time did jump: the held messages and this one, in order, in a new segment if it went back."""
        backward = stamp < self.latest
        if backward:
            self.segment += 1
            self.latest = -math.inf
        decisions = [self._classify(t, held) for t, held in [*self._held, (stamp, item)]]
        self._held = []
        if backward:
            decisions[0] = (Arrival.RESET, decisions[0][1])
        return decisions

    @property
    def safe_time(self) -> float:
        """No message accepted from now on can be at or before this time."""
        return self.latest - self.reorder_window


@dataclass
class LabeledFrame:
    """A finalised frame: its stamp, opaque payload (e.g. the image), pose, labels (K, S) and, when pixel
    labels are made and the frame has a camera, its pixel labels (H, W) uint8."""

    stamp: float
    payload: Any
    pose: tuple[float, float, float] | None
    labels: np.ndarray
    segment: int
    pixel_labels: np.ndarray | None = None


@dataclass
class LabelerStats:
    """Counters for /diagnostics and summaries."""

    frames: int = 0
    odometry: int = 0
    readings: int = 0
    unknown_readings: int = 0
    late_messages: int = 0
    duplicate_odometry: int = 0
    time_resets: int = 0
    stamp_outliers: int = 0
    odometry_jumps: int = 0
    odometry_gaps: int = 0
    invalid_stamps: int = 0
    invalid_odometry: int = 0
    finalized: int = 0
    warnings: list[str] = field(default_factory=list)


class _TimeBuffer:
    """Rows sorted by time in a growable numpy array; ties keep arrival order.

    Appending in time order (the usual case) is amortised O(1); a late row is inserted in place.
    ``drop_before`` advances a start offset, so views of the live rows cost nothing.
    """

    def __init__(self, width: int) -> None:
        self._t = np.empty(256)
        self._rows = np.empty((256, width))
        self._start = 0
        self._stop = 0

    def __len__(self) -> int:
        return self._stop - self._start

    @property
    def t(self) -> np.ndarray:
        return self._t[self._start : self._stop]

    @property
    def rows(self) -> np.ndarray:
        return self._rows[self._start : self._stop]

    def insert(self, stamp: float, row: tuple[float, ...]) -> None:
        if self._stop == self._t.size:
            self._make_room()
        if self._stop == self._start or stamp >= self._t[self._stop - 1]:
            i = self._stop
        else:
            i = self._start + int(np.searchsorted(self.t, stamp, side='right'))
            self._t[i + 1 : self._stop + 1] = self._t[i : self._stop].copy()
            self._rows[i + 1 : self._stop + 1] = self._rows[i : self._stop].copy()
        self._t[i] = stamp
        self._rows[i] = row
        self._stop += 1

    def index(self, stamp: float, side: str = 'left') -> int:
        """Position of ``stamp`` among the live rows (numpy.searchsorted semantics)."""
        return int(np.searchsorted(self.t, stamp, side=side))  # type: ignore[call-overload]

    def contains(self, stamp: float) -> bool:
        i = self.index(stamp)
        return i < len(self) and self._t[self._start + i] == stamp

    def drop_before(self, index: int) -> None:
        self._start += max(0, min(index, len(self)))

    def clear(self) -> None:
        self._start = self._stop = 0

    def _make_room(self) -> None:
        live = len(self)
        if live * 2 > self._t.size:  # mostly live: grow; else compact in place
            self._t = np.resize(self._t, self._t.size * 2)
            self._rows = np.resize(self._rows, (self._rows.shape[0] * 2, self._rows.shape[1]))
        self._t[:live] = self._t[self._start : self._stop].copy()
        self._rows[:live] = self._rows[self._start : self._stop].copy()
        self._start, self._stop = 0, live


class StreamingLabeler:
    """Labels frames as messages arrive, with memory bounded by the horizon.

    Feed it with ``add_frame``/``add_odometry``/``add_reading`` in arrival order; finished frames
    are collected by ``pop_finished``; ``flush`` finalises everything at the end of the stream.
    Final frames are labelled ``batch`` at a time (one vectorised call), which only delays them.
    With ``pixels``, frames added with a camera also get pixel labels.
    """

    def __init__(self, config: LabelingConfig, batch: int = 8, pixels: PixelLabelConfig | None = None) -> None:
        if batch < 1:
            raise ValueError(f'batch must be >= 1, got {batch}')
        self.config = config
        self.batch = batch
        self.pixels = pixels
        self.stats = LabelerStats()
        self._guard: TimeGuard[tuple[int, float, Any]] = TimeGuard(config.reorder_window, config.reset_threshold)
        self._frame_t: list[float] = []
        self._payloads: list[Any] = []
        self._cameras: list[PinholeCamera | None] = []
        self._final = 0  # the oldest pending frames known to be final
        self._odom = _TimeBuffer(3)
        self._readings = _TimeBuffer(3)  # (sensor index, label, value)
        self._finished: list[LabeledFrame] = []
        self._segment = 0
        self._since_prune = 0

    # -- input -------------------------------------------------------------------------------
    def _feed(self, kind: int, stamp: float, value: Any) -> None:
        """Pass one message through the time guard; take the ones it decides to accept."""
        if not math.isfinite(stamp):
            self.stats.invalid_stamps += 1
            return
        for arrival, (k, t, v) in self._guard.observe(stamp, (kind, stamp, value)):
            if arrival is Arrival.LATE:
                self.stats.late_messages += 1
            elif arrival is Arrival.OUTLIER:
                self.stats.stamp_outliers += 1
            else:
                if arrival is Arrival.RESET:
                    self.stats.time_resets += 1
                    self._label_oldest(len(self._frame_t))
                    self._odom.clear()
                    self._readings.clear()
                    self._segment += 1
                if k == FRAME:
                    self._take_frame(t, v)
                elif k == ODOMETRY:
                    self._take_odometry(t, *v)
                else:
                    self._take_reading(k - 2, t, v)

    def add_frame(self, stamp: float, payload: Any = None, camera: PinholeCamera | None = None) -> None:
        """A camera frame; ``camera`` (see ``pixel_labels.frame_camera``) for its pixel labels."""
        self._feed(FRAME, stamp, (payload, camera))

    def add_odometry(self, stamp: float, x: float, y: float, yaw: float) -> None:
        self._feed(ODOMETRY, stamp, (x, y, yaw))

    def add_reading(self, sensor_index: int, stamp: float, value: float) -> None:
        self._feed(2 + sensor_index, stamp, value)

    def _take_frame(self, stamp: float, frame: tuple[Any, PinholeCamera | None]) -> None:
        payload, camera = frame
        i = bisect.bisect_right(self._frame_t, stamp)
        self._frame_t.insert(i, stamp)
        self._payloads.insert(i, payload)
        self._cameras.insert(i, camera)
        self.stats.frames += 1
        self._advance()

    def _take_odometry(self, stamp: float, x: float, y: float, yaw: float) -> None:
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(yaw)):
            self.stats.invalid_odometry += 1
            return
        if self._odom.contains(stamp):
            self.stats.duplicate_odometry += 1
            return
        if len(self._odom) and stamp > self._odom.t[-1]:
            last = self._odom.rows[-1]
            if stamp - self._odom.t[-1] > self.config.max_odom_gap:
                self.stats.odometry_gaps += 1  # a jump across a gap is the gap's: counted once, as a gap
            elif math.hypot(x - last[0], y - last[1]) > self.config.max_odom_jump:
                self.stats.odometry_jumps += 1
        self._odom.insert(stamp, (x, y, yaw))
        self.stats.odometry += 1
        self._advance()

    def _take_reading(self, sensor_index: int, stamp: float, value: float) -> None:
        sensor = self.config.sensors[sensor_index]
        label = int(reading_labels(np.array([value]), sensor)[0])
        if label == UNKNOWN:
            self.stats.unknown_readings += 1
        else:
            self._readings.insert(stamp, (float(sensor_index), float(label), float(value)))
            self.stats.readings += 1
        self._advance()

    def add(self, kind: int, stamp: float, values: Sequence[float], cameras: Sequence[PinholeCamera] = ()) -> None:
        """Feed one event of a ``Recording`` (FRAME: payload index and index into ``cameras`` (the
        recording's), ODOMETRY: x, y, yaw, else a reading)."""
        if kind == FRAME:
            self.add_frame(stamp, int(values[0]), _camera_of(values, cameras))
        elif kind == ODOMETRY:
            self.add_odometry(stamp, values[0], values[1], values[2])
        else:
            self.add_reading(kind - 2, stamp, values[0])

    # -- output ------------------------------------------------------------------------------
    def pop_finished(self) -> list[LabeledFrame]:
        finished, self._finished = self._finished, []
        return finished

    def flush(self) -> list[LabeledFrame]:
        """End of stream: finalise every pending frame with the data there is."""
        self.stats.stamp_outliers += len(self._guard.release())
        self._label_oldest(len(self._frame_t))
        return self.pop_finished()

    @property
    def pending(self) -> int:
        return len(self._frame_t)

    @property
    def held(self) -> int:
        """Messages the time guard holds until another message agrees with their far-off stamp."""
        return self._guard.held

    @property
    def buffered(self) -> int:
        """Messages held in memory (pending frames, odometry, readings and the time guard's)."""
        return len(self._frame_t) + len(self._odom) + len(self._readings) + self._guard.held

    def _is_final(self, frame_stamp: float) -> bool:
        safe = self._guard.safe_time
        end = frame_stamp + self.config.horizon
        if safe < end:
            return False
        if safe > end + self.config.max_odom_gap:
            return True
        i = self._odom.index(end)
        return i < len(self._odom) and self._odom.t[i] <= safe

    def _advance(self) -> None:
        """Label the frames that became final (``batch`` at a time) and drop unneeded data."""
        while self._final < len(self._frame_t) and self._is_final(self._frame_t[self._final]):
            self._final += 1
        if self._final >= self.batch:
            self._label_oldest(self._final)
        self._since_prune += 1
        if self._since_prune >= 64:
            self._prune()

    def _label_oldest(self, count: int) -> None:
        if count:
            frame_t = np.asarray(self._frame_t[:count], dtype=np.float64)
            odom = self._odom.rows
            track = OdometryTrack(
                self._odom.t,
                odom[:, 0],
                odom[:, 1],
                odom[:, 2],
                self.config.max_odom_gap,
                self.config.max_odom_jump,
            )
            readings = self._readings.rows
            sensor, label = readings[:, 0].astype(np.int64), readings[:, 1].astype(np.int8)
            labels, poses = label_frames(frame_t, track, self._readings.t, sensor, label, self.config)
            cameras = self._cameras[:count]
            pixels: list[np.ndarray | None] = [None] * count
            if self.pixels is not None:
                pixels = label_pixels(frame_t, cameras, track, self._readings.t, sensor, label, readings[:, 2],
                                      self.config, self.pixels)
            for i in range(count):
                self._finished.append(
                    LabeledFrame(
                        float(frame_t[i]), self._payloads[i], _pose_tuple(poses[i]), labels[i], self._segment,
                        pixels[i],
                    )
                )
            del self._frame_t[:count]
            del self._payloads[:count]
            del self._cameras[:count]
            self._final = max(0, self._final - count)
            self.stats.finalized += count
        self._prune()

    def _prune(self) -> None:
        """Drop data no pending or future frame can use (keeps memory bounded)."""
        self._since_prune = 0
        bound = self._guard.safe_time
        if self._frame_t:
            bound = min(bound, self._frame_t[0])
        bound -= self.config.sync_tolerance
        if not math.isfinite(bound):
            return
        self._readings.drop_before(self._readings.index(bound))
        # Keep the last odometry sample before the bound too: it brackets times just after it.
        self._odom.drop_before(self._odom.index(bound) - 1)


# -- offline ------------------------------------------------------------------------------------


@dataclass
class Recording:
    """All messages of a recording in arrival order, as parallel arrays (one entry per message).

    ``kind`` is 0 for a camera frame, 1 for odometry, 2 + s for a reading of sensor s. ``values``
    holds (x, y, yaw) for odometry, (value, -, -) for readings, (payload index, camera index, -) for
    frames: the camera index points into ``cameras`` (NaN: no camera, no pixel labels).
    """

    kind: np.ndarray
    stamp: np.ndarray
    values: np.ndarray
    cameras: tuple[PinholeCamera, ...] = ()

    @classmethod
    def from_events(
        cls, events: Iterable[tuple[int, float, Sequence[float]]], cameras: Sequence[PinholeCamera] = ()
    ) -> Recording:
        kinds, stamps, values = [], [], []
        for kind, stamp, value in events:
            kinds.append(kind)
            stamps.append(stamp)
            values.append(tuple(value) + (np.nan,) * (3 - len(value)))
        return cls(
            np.asarray(kinds, dtype=np.int64),
            np.asarray(stamps, dtype=np.float64),
            np.asarray(values, dtype=np.float64).reshape(-1, 3),
            tuple(cameras),
        )


def _camera_of(values: Sequence[float], cameras: Sequence[PinholeCamera]) -> PinholeCamera | None:
    """The camera a FRAME event's values point at (None without one)."""
    if len(values) < 2 or not math.isfinite(values[1]):
        return None
    index = int(values[1])
    if not 0 <= index < len(cameras):
        raise ValueError(f'frame camera index {index} outside the recording\'s {len(cameras)} cameras')
    return cameras[index]


@dataclass(frozen=True)
class Arrivals:
    """``TimeGuard``'s decisions over a whole arrival sequence, one entry per message.

    ``segment`` never decreases along the sequence; ``outlier`` marks far-off stamps no other message
    agreed with (dropped); ``resets`` counts the times time ran backwards.
    """

    segment: np.ndarray
    accepted: np.ndarray
    outlier: np.ndarray
    resets: int


def segment_arrivals(stamps: np.ndarray, reorder_window: float, reset_threshold: float) -> Arrivals:
    """``TimeGuard`` over a whole arrival sequence: vectorised while stamps stay near the newest, the guard
    itself (so exactly the streaming decisions) from each far-off stamp until it holds nothing."""
    n = stamps.size
    segment = np.zeros(n, dtype=np.int64)
    accepted = np.zeros(n, dtype=bool)
    outlier = np.zeros(n, dtype=bool)
    guard: TimeGuard[int] = TimeGuard(reorder_window, reset_threshold)
    order = np.flatnonzero(np.isfinite(stamps))  # NaN/inf stamps never reach the guard
    s = stamps[order]
    pos, window = 0, 1024
    while pos < s.size:
        if not guard.holding:
            end = min(s.size, pos + window)
            newest = np.maximum.accumulate(np.concatenate(([guard.latest], s[pos:end])))[:-1]
            far = np.isfinite(newest) & (np.abs(s[pos:end] - newest) > reset_threshold)
            stop = pos + int(np.argmax(far)) if far.any() else end
            window = 1024 if far.any() else window * 2
            accepted[order[pos:stop]] = s[pos:stop] >= newest[: stop - pos] - reorder_window
            segment[order[pos:stop]] = guard.segment
            if stop > pos:
                guard.latest = max(guard.latest, float(s[pos:stop].max()))
            pos = stop
            if pos == s.size:
                break
        for arrival, i in guard.observe(float(s[pos]), int(order[pos])):
            segment[i] = guard.segment
            accepted[i] = arrival in (Arrival.ACCEPTED, Arrival.RESET)
            outlier[i] = arrival is Arrival.OUTLIER
        pos += 1
    for _, i in guard.release():
        segment[i], outlier[i] = guard.segment, True
    return Arrivals(np.maximum.accumulate(segment) if n else segment, accepted, outlier, guard.segment)


def label_recording(
    recording: Recording,
    config: LabelingConfig,
    payloads: Sequence[Any] | None = None,
    pixels: PixelLabelConfig | None = None,
) -> tuple[list[LabeledFrame], LabelerStats]:
    """Label a whole recording at once (same result as streaming the same messages); with ``pixels``,
    frames with a camera get pixel labels too (held in memory: H x W bytes per frame)."""
    stats = LabelerStats()
    kind, stamp, values = recording.kind, recording.stamp, recording.values
    stats.invalid_stamps = int(np.count_nonzero(~np.isfinite(stamp)))
    arrivals = segment_arrivals(stamp, config.reorder_window, config.reset_threshold)
    segment, accepted = arrivals.segment, arrivals.accepted.copy()
    stats.stamp_outliers = int(np.count_nonzero(arrivals.outlier))
    stats.late_messages = int(np.count_nonzero(~accepted & np.isfinite(stamp))) - stats.stamp_outliers
    stats.time_resets = arrivals.resets
    n_sensors = len(config.sensors)
    labels_of = np.full(stamp.size, UNKNOWN, dtype=np.int8)
    for s, sensor in enumerate(config.sensors):
        is_s = kind == 2 + s
        labels_of[is_s] = reading_labels(values[is_s, 0], sensor)
    odom_valid = np.all(np.isfinite(values), axis=1) | (kind != ODOMETRY)
    stats.invalid_odometry = int(np.count_nonzero(accepted & ~odom_valid))
    accepted &= odom_valid
    frames: list[LabeledFrame] = []
    boundaries = np.flatnonzero(np.diff(segment)) + 1
    for seg_index in np.split(np.arange(stamp.size), boundaries):
        idx = seg_index[accepted[seg_index]]
        if idx.size == 0:
            continue
        seg = int(segment[seg_index[0]])
        k, t, v = kind[idx], stamp[idx], values[idx]
        frame_sel = np.flatnonzero(k == FRAME)
        frame_order = frame_sel[np.argsort(t[frame_sel], kind='stable')]
        odom_sel = np.flatnonzero(k == ODOMETRY)
        odom_order = odom_sel[np.argsort(t[odom_sel], kind='stable')]
        odom_t = t[odom_order]
        first = np.concatenate(([True], odom_t[1:] != odom_t[:-1]))
        stats.duplicate_odometry += int(np.count_nonzero(~first))
        odom_order = odom_order[first]
        track = OdometryTrack(
            t[odom_order],
            v[odom_order, 0],
            v[odom_order, 1],
            v[odom_order, 2],
            config.max_odom_gap,
            config.max_odom_jump,
        )
        long = np.diff(track.t) > config.max_odom_gap
        stats.odometry_gaps += int(np.count_nonzero(long))
        stats.odometry_jumps += int(np.count_nonzero(track.jump_after & ~long))  # across a gap: the gap's
        read_sel = np.flatnonzero((k >= 2) & (k < 2 + n_sensors))
        read_labels = labels_of[idx[read_sel]]
        stats.unknown_readings += int(np.count_nonzero(read_labels == UNKNOWN))
        read_sel = read_sel[read_labels != UNKNOWN]
        read_order = read_sel[np.argsort(t[read_sel], kind='stable')]
        read_args = (t[read_order], k[read_order] - 2, labels_of[idx[read_order]])
        labels, poses = label_frames(t[frame_order], track, *read_args, config)
        cameras = [_camera_of(v[f], recording.cameras) for f in frame_order]
        pixel_labels: list[np.ndarray | None] = [None] * frame_order.size
        if pixels is not None:
            pixel_labels = label_pixels(t[frame_order], cameras, track, *read_args, v[read_order, 0], config, pixels)
        stats.frames += frame_order.size
        stats.odometry += odom_order.size
        stats.readings += read_order.size
        for i, f in enumerate(frame_order):
            payload_index = int(v[f, 0]) if not np.isnan(v[f, 0]) else None
            payload = (
                payloads[payload_index]
                if payloads is not None and payload_index is not None
                else payload_index
            )
            frames.append(LabeledFrame(float(t[f]), payload, _pose_tuple(poses[i]), labels[i], seg, pixel_labels[i]))
    stats.finalized = len(frames)
    return frames, stats
