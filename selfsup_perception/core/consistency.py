"""State consistency (Nava et al., RA-L 2021): two frames that odometry relates see the same places.

The place d_k ahead of frame i (its pose moved d_k forward) is, for a later frame j, some distance
d_k' ahead: both outputs predict what the sensors will read there, so they must agree, labelled or
not. The pairs are found with the labeling rule's own geometry (``labeling.pose_matches``): the
places ahead of earlier frames are the candidate poses, frame j accepts one for d_k' within the
rule's forward, lateral and heading tolerances, within ``horizon`` seconds and on one odometry piece
(never across a reset or a teleport). A pair is kept with its two sides ordered: the side that sees
the place farther away and the nearer one, whose prediction is the more reliable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import LabelingConfig
from .geometry import PoseSamples
from .labeling import pose_matches


@dataclass(frozen=True)
class ConsistencyPairs:
    """Pairs (``far`` frame row, distance index ``far_k``) <-> (``near`` row, ``near_k``), ``near_k`` < ``far_k``.

    The same pair holds for every sensor. ``found`` counts the pairs there were before any subsampling.
    """

    far: np.ndarray
    far_k: np.ndarray
    near: np.ndarray
    near_k: np.ndarray
    found: int

    def __len__(self) -> int:
        return int(self.far.size)

    @classmethod
    def empty(cls) -> ConsistencyPairs:
        rows, ks = np.zeros(0, np.int32), np.zeros(0, np.int16)
        return cls(rows, ks, rows.copy(), ks.copy(), 0)

    def select(self, keep: np.ndarray) -> ConsistencyPairs:
        """The pairs where boolean ``keep`` is True (``found`` unchanged)."""
        return ConsistencyPairs(self.far[keep], self.far_k[keep], self.near[keep], self.near_k[keep], self.found)


class PieceTracker:
    """Numbers the stretches of one odometry stream, fed frame batches in arrival (id) order.

    A new piece starts where the dataset's segment changes (the labeler saw time run backwards), where
    the stamp does not increase, or where the pose is more than ``max_jump`` from the previous defined
    pose (a teleport between two frames). Frames store no odometry, so a teleport shorter than
    ``max_jump`` is invisible here, as it is to the labeling rule.
    """

    def __init__(self, max_jump: float) -> None:
        self.max_jump = max_jump
        self._piece = -1
        self._segment: int | None = None
        self._stamp = np.inf
        self._pose = np.full(2, np.nan)

    def update(self, stamps: np.ndarray, poses: np.ndarray, segments: np.ndarray) -> np.ndarray:
        """Piece numbers (N,) int64 of the next frames: stamps (N,), poses (N, 3) (NaN where undefined)."""
        stamps = np.asarray(stamps, np.float64)
        poses = np.asarray(poses, np.float64)
        segments = np.asarray(segments, np.int64)
        if not stamps.size:
            return np.zeros(0, np.int64)
        defined = ~np.isnan(poses[:, :2]).any(1)
        # The previous defined position of each frame (the carried one before the batch).
        known = np.concatenate([self._pose[None], poses[:, :2]])
        last = np.maximum.accumulate(np.where(np.concatenate([[True], defined]), np.arange(stamps.size + 1), 0))
        previous = known[last[:-1]]
        with np.errstate(invalid='ignore'):
            jump = defined & (np.hypot(*(poses[:, :2] - previous).T) > self.max_jump)
        previous_segment = np.concatenate([[segments[0] if self._segment is None else self._segment],
                                           segments[:-1]])
        previous_stamp = np.concatenate([[self._stamp if self._segment is not None else -np.inf], stamps[:-1]])
        breaks = jump | (segments != previous_segment) | ~(stamps > previous_stamp)
        breaks[0] |= self._segment is None
        pieces = self._piece + np.cumsum(breaks)
        self._piece = int(pieces[-1])
        self._segment, self._stamp, self._pose = int(segments[-1]), float(stamps[-1]), known[last[-1]]
        return pieces.astype(np.int64)


def odometry_pieces(stamps: np.ndarray, poses: np.ndarray, segments: np.ndarray, max_jump: float) -> np.ndarray:
    """Piece numbers of frames in arrival order (see ``PieceTracker``)."""
    return PieceTracker(max_jump).update(stamps, poses, segments)


def find_pairs(
    stamps: np.ndarray,
    poses: np.ndarray,
    pieces: np.ndarray,
    config: LabelingConfig,
    *,
    max_pairs: int | None = None,
    seed: int = 0,
) -> ConsistencyPairs:
    """Every consistency pair of these frames (any order; poses (N, 3), NaN where undefined).

    Frames i and j (t_i < t_j <= t_i + horizon, same piece) pair up at (i, d_k) <-> (j, d_k') when
    frame j would accept the place d_k ahead of i as a reading pose for d_k' (the labeling rule's
    tolerances); pairs at equal distances (the robot stood still) are dropped. With ``max_pairs``, a
    uniform sample of that many, the same for a seed; memory stays bounded by it and by the chunks.
    """
    stamps = np.asarray(stamps, np.float64)
    poses = np.asarray(poses, np.float64)
    pieces = np.asarray(pieces, np.int64)
    n = stamps.size
    if poses.shape != (n, 3) or pieces.shape != (n,):
        raise ValueError(f'expected stamps (N,), poses (N, 3), pieces (N,); got {stamps.shape}, {poses.shape}, '
                         f'{pieces.shape}')
    if max_pairs is not None and max_pairs < 0:
        raise ValueError(f'max_pairs must be >= 0, got {max_pairs}')
    distances = np.asarray(config.distances, np.float64)
    n_dist = distances.size
    defined = ~np.isnan(poses).any(1) & np.isfinite(stamps)
    order = np.flatnonzero(defined)[np.argsort(stamps[defined], kind='stable')]
    t = stamps[order]
    x, y, yaw = poses[order].T
    frames = PoseSamples(x, y, yaw, np.ones(order.size, bool), pieces[order])
    # The places ahead of every frame, in time order (frame-major): the candidates of later frames.
    places = PoseSamples(
        (x[:, None] + distances * np.cos(yaw)[:, None]).ravel(),
        (y[:, None] + distances * np.sin(yaw)[:, None]).ravel(),
        np.repeat(yaw, n_dist),
        np.ones(order.size * n_dist, bool),
        np.repeat(pieces[order], n_dist),
    )
    lo = np.searchsorted(t, t - config.horizon, side='left') * n_dist
    counts = np.searchsorted(t, t, side='left') * n_dist - lo
    sample = _BottomK(max_pairs, np.random.default_rng(seed))
    for _, _, frame, place, k_frame in pose_matches(frames, lo, counts, places, config):
        unequal = place % n_dist != k_frame
        later, k_later, seen = frame[unequal], k_frame[unequal], place[unequal]
        earlier, k_earlier = seen // n_dist, seen % n_dist
        earlier_far = k_earlier > k_later
        sample.add(
            np.where(earlier_far, earlier, later),
            np.where(earlier_far, k_earlier, k_later),
            np.where(earlier_far, later, earlier),
            np.where(earlier_far, k_later, k_earlier),
        )
    far, far_k, near, near_k = sample.result()
    keep = np.lexsort((near_k, near, far_k, far))
    return ConsistencyPairs(order[far[keep]].astype(np.int32), far_k[keep], order[near[keep]].astype(np.int32),
                            near_k[keep], sample.seen)


class _BottomK:
    """A uniform sample without replacement of at most ``size`` pairs of a stream (the smallest random keys).

    Pairs are held compactly (rows int32, distance indices int16) and cut back to ``size`` whenever a
    quarter more have come: memory stays within a small multiple of ``size``.
    """

    DTYPES = (np.int32, np.int16, np.int32, np.int16)

    def __init__(self, size: int | None, rng: np.random.Generator) -> None:
        self.size = size
        self.rng = rng
        self.seen = 0
        self._columns: list[list[np.ndarray]] = [[] for _ in self.DTYPES]
        self._keys: list[np.ndarray] = []
        self._held = 0

    def add(self, *columns: np.ndarray) -> None:
        self.seen += columns[0].size
        self._held += columns[0].size
        for kept, column, dtype in zip(self._columns, columns, self.DTYPES, strict=True):
            kept.append(column.astype(dtype))
        if self.size is None:
            return
        self._keys.append(self.rng.random(columns[0].size))
        if self._held > self.size + max(self.size // 4, 1):
            self._shrink(self.size)

    def _shrink(self, size: int) -> None:
        keys = np.concatenate(self._keys)
        best = np.argpartition(keys, size)[:size] if keys.size > size else np.arange(keys.size)
        self._keys = [keys[best]]
        self._columns = [[np.concatenate(kept)[best]] for kept in self._columns]
        self._held = best.size

    def result(self) -> tuple[np.ndarray, ...]:
        if self.size is not None and self._keys:
            self._shrink(self.size)
        return tuple(np.concatenate(kept) if kept else np.zeros(0, dtype)
                     for kept, dtype in zip(self._columns, self.DTYPES, strict=True))
