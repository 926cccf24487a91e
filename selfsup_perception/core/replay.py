"""The trainer's replay memory: a fixed number of frames kept of everything the robot has recorded.

Retraining on the robot must not grow with the dataset (memory nor time), yet keep what is rare: far
labels (the robot seldom drives a metre straight) and consistency pairs (they need neighbouring
frames). So frames are kept in *clips* of consecutive frames, and a clip is kept or dropped whole:
pairs lie inside clips. The newest clips are always kept (recency: the robot adapts to where it is
now); the others form a weighted reservoir (Efraimidis & Spirakis 2006, A-Res: key u^(1/w), the
largest keys stay), a clip weighing more the more of its frames have a far label. A clip's key
depends only on the seed, its number and its labels, so the memory holds the same frames however
the stream is cut into batches. Embeddings are held as float16; a batch reads the embeddings of
only the frames still held when it is done.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .consistency import PieceTracker
from .dataset import FrameBatch


@dataclass(frozen=True)
class ReplayOptions:
    """``capacity`` frames in clips of ``clip_frames``; ``recent_fraction`` of the clips are the newest ones.

    A clip whose frames all have a label at ``far_from`` m or beyond is ``1 + far_bonus`` times as
    likely to stay in the reservoir as a clip with none. The default capacity keeps a retraining
    within the head trainer's budget (10,000 frames: <= 10 s on one core).
    """

    capacity: int = 10_000
    clip_frames: int = 50
    recent_fraction: float = 0.25
    far_from: float = 0.5
    far_bonus: float = 4.0
    seed: int = 0

    def __post_init__(self) -> None:
        checks = {
            'capacity': self.capacity >= 2 * self.clip_frames,
            'clip_frames': self.clip_frames >= 1,
            'recent_fraction': 0 <= self.recent_fraction < 1,
            'far_from': self.far_from >= 0,
            'far_bonus': self.far_bonus >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f'invalid replay options: {", ".join(f"{n}={getattr(self, n)!r}" for n in bad)} '
                             f'(capacity must hold two clips at least)')


@dataclass(frozen=True)
class TrainingFrames:
    """Frames a head trains on, in no particular order: ids (N,), stamps (N,), poses (N, 3) (NaN where
    undefined), odometry pieces (N,), labels/mask (N, K, S), embeddings (N, E) float16 or float32.

    From the memory they are views, valid until its next ``add``.
    """

    ids: np.ndarray
    stamps: np.ndarray
    poses: np.ndarray
    pieces: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    embeddings: np.ndarray


class FrameSource(Protocol):
    """What the memory reads: ``core.dataset.Dataset``'s frame batches and embedding cache."""

    def iter_batches(self, batch_size: int = 256, after_id: int = 0, images: bool = True,
                     extras: bool = True) -> Iterator[FrameBatch]: ...

    def cached_embeddings(self, model_sha256: str, ids: np.ndarray) -> dict[int, np.ndarray]: ...


class ReplayMemory:
    """Holds at most ``options.capacity`` frames (embeddings float16) plus the clip being filled.

    Feed it frame batches in id order (``add`` or ``ingest``); ``frames`` is what the head trains on:
    the complete clips, and with ``waiting`` the newest frames too, fewer than a clip, that wait for
    theirs to fill. The clip being filled lies right after the complete ones while the memory fills,
    then in one slot of its own, so both are one view.
    """

    def __init__(self, embedding_size: int, distances: Sequence[float], sensors: int,
                 options: ReplayOptions | None = None, max_jump: float = 0.25) -> None:
        """``distances`` (m) of the labels; ``max_jump`` (m): a larger step between frames is a teleport."""
        self.options = options or ReplayOptions()
        length = self.options.clip_frames
        self.slots = self.options.capacity // length
        self.recent = min(round(self.options.recent_fraction * self.slots), self.slots - 1)
        rows = (self.slots + 1) * length  # the clip being filled: in slot ``held`` (the last one once full)
        k = len(distances)
        self._fields = _Fields(np.zeros(rows, np.int64), np.zeros(rows), np.zeros((rows, 3)), np.zeros(rows, np.int64),
                               np.zeros((rows, k, sensors), np.uint8), np.zeros((rows, k, sensors), bool),
                               np.zeros((rows, embedding_size), np.float16))
        self._far = np.asarray(distances, np.float64) >= self.options.far_from
        self._state = _State(np.full(self.slots, -np.inf), np.zeros(self.slots, np.int64), 0, 0, 0)
        self._tracker = PieceTracker(max_jump)
        self.last_id = 0

    def __len__(self) -> int:
        return self._state.held * self.options.clip_frames

    @property
    def clips_seen(self) -> int:
        """Clips completed since the start (held or not)."""
        return self._state.clips

    def frames(self, waiting: bool = False) -> TrainingFrames:
        """The complete clips' frames; with ``waiting`` the frames of the clip being filled as well."""
        f, rows = self._fields, slice(0, len(self) + (self._state.open if waiting else 0))
        return TrainingFrames(f.ids[rows], f.stamps[rows], f.poses[rows], f.pieces[rows], f.labels[rows], f.mask[rows],
                            f.embeddings[rows])

    def add(self, batch: FrameBatch, fetch: Callable[[np.ndarray], np.ndarray]) -> None:
        """Take the next frames (ids above ``last_id``); ``fetch(ids)`` gives the embeddings (len(ids), E) of the
        frames still held once the batch is in. Nothing changes when ``fetch`` or a check raises.
        """
        n = batch.ids.size
        if not n:
            return
        if batch.ids[0] <= self.last_id or not (np.diff(batch.ids) > 0).all():
            raise ValueError(f'frames must come in increasing id order after id {self.last_id}, got ids '
                             f'{batch.ids[0]}..{batch.ids[-1]}')
        tracker = copy.deepcopy(self._tracker)
        pieces = tracker.update(batch.stamps, batch.poses, batch.segments)
        far = np.asarray(batch.mask[:, self._far].any(axis=(1, 2)))
        placed, state = self._plan(far)
        length, waiting = self.options.clip_frames, self._state.open
        open_start = n - state.open  # the batch's frames from here on wait in the clip being filled
        # Embeddings are read for the frames that stay only: the clips placed, then the clip left open.
        wanted = np.concatenate([np.arange(max(start, 0), start + length) for start in placed.values()]
                                + [np.arange(max(open_start, 0), n)]).astype(np.int64)
        size = self._fields.embeddings.shape[1]
        vectors = np.asarray(fetch(batch.ids[wanted])) if wanted.size else np.zeros((0, size), np.float32)
        if vectors.shape != (wanted.size, size):
            raise ValueError(f'fetch gave embeddings of shape {vectors.shape}, expected {(wanted.size, size)}')
        with np.errstate(over='ignore'):
            halves = vectors.astype(np.float16)
        if not np.isfinite(halves).all():
            raise ValueError('embeddings must be finite and within the float16 range (|x| < 65504)')
        incoming = _Fields(batch.ids, batch.stamps, batch.poses, pieces, batch.labels, batch.mask,
                           np.zeros((n, size), np.float16))
        incoming.embeddings[wanted] = halves
        open_rows = self._state.held * length  # the clip being filled, before the batch
        for slot, start in placed.items():
            before = max(-start, 0)  # a clip begun in an earlier batch: its first frames wait in the open slot
            self._fields.copy(slot * length, self._fields, open_rows, before)
            self._fields.copy(slot * length + before, incoming, start + before, length - before)
        if open_start < 0:  # no clip was completed: the batch joins the frames waiting
            self._fields.copy(open_rows + waiting, incoming, 0, n)
        else:
            self._fields.copy(state.held * length, incoming, open_start, n - open_start)
        self._state, self._tracker, self.last_id = state, tracker, int(batch.ids[-1])

    def _plan(self, far: np.ndarray) -> tuple[dict[int, int], _State]:
        """Where the clips completed by these frames go, and the state after them (nothing changes yet).

        Returns, per slot written, the batch index of the first frame of the clip that ends there
        (negative: the clip starts with that many frames waiting in the open slot).
        """
        length, slots = self.options.clip_frames, self.slots
        old = self._state
        keys, numbers, held, clips = old.keys.copy(), old.numbers.copy(), old.held, old.clips
        waiting_far = int(self._fields.mask[old.held * length : old.held * length + old.open][:, self._far]
                          .any(axis=(1, 2)).sum())
        placed: dict[int, int] = {}
        start = -old.open
        while start + length <= far.size:
            far_frames = int(far[max(start, 0) : start + length].sum()) + (waiting_far if start < 0 else 0)
            u = 1.0 - np.random.default_rng((self.options.seed, clips)).random()  # in (0, 1]
            key = np.log(u) / (1.0 + self.options.far_bonus * far_frames / length)
            clips += 1
            if held < slots:
                slot, held = held, held + 1
            else:
                # The newest clips stay; of the others (and, without recent clips, the new one) the smallest key goes.
                candidates = np.argsort(numbers)[: slots - max(self.recent - 1, 0)]
                slot = int(candidates[np.argmin(keys[candidates])])
                if not self.recent and key <= keys[slot]:
                    start += length
                    continue
            keys[slot], numbers[slot] = key, clips - 1
            placed[slot] = start
            start += length
        return placed, _State(keys, numbers, held, clips, far.size - start)


@dataclass
class _Fields:
    """The per-frame arrays of the memory (or of an incoming batch)."""

    ids: np.ndarray
    stamps: np.ndarray
    poses: np.ndarray
    pieces: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    embeddings: np.ndarray

    def copy(self, at: int, source: _Fields, start: int, count: int) -> None:
        """Rows ``at:at + count`` = the source's rows ``start:start + count``."""
        for name in _Fields.__dataclass_fields__:
            getattr(self, name)[at : at + count] = getattr(source, name)[start : start + count]


@dataclass(frozen=True)
class _State:
    keys: np.ndarray  # per slot: the held clip's reservoir key
    numbers: np.ndarray  # per slot: the held clip's number (the order clips were completed in)
    held: int  # complete clips held, in slots 0 .. held - 1
    clips: int  # clips completed so far
    open: int  # frames waiting in the clip being filled


def ingest(memory: ReplayMemory, source: FrameSource, embedding_sha256: str, batch_size: int = 2048,
           until: int | None = None) -> int:
    """Add the frames of ``source`` after ``memory.last_id`` (up to id ``until`` when given: the frames whose
    embeddings were computed, while the labeler appends more); returns how many. Raises ``LookupError`` (and
    adds nothing of that batch) when a frame the memory keeps has no cached embedding of that model."""
    added = 0

    def fetch(ids: np.ndarray) -> np.ndarray:
        found = source.cached_embeddings(embedding_sha256, ids)
        missing = [int(i) for i in ids if int(i) not in found]
        if missing:
            raise LookupError(f'{len(missing)} frames (ids {missing[0]}...) have no cached embedding of model '
                              f'{embedding_sha256[:12]}...; compute them first')
        return np.stack([found[int(i)] for i in ids])

    for read in source.iter_batches(batch_size, memory.last_id, images=False, extras=False):
        keep = read.ids <= (read.ids[-1] if until is None or not read.ids.size else until)
        if not keep.any():
            break
        batch = read if keep.all() else FrameBatch(read.ids[keep], read.stamps[keep], read.poses[keep],
                                                   read.segments[keep], read.labels[keep], read.mask[keep],
                                                   None, None, None)
        memory.add(batch, fetch)
        added += batch.ids.size
        if not keep.all():
            break
    return added
