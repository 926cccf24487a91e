"""The replay memory: bounded, the newest clips always held, far labels favoured, the same frames however the
stream is batched, embeddings read only for frames it keeps, incremental reads from a real dataset."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from selfsup_perception.core.config import LabelingConfig, SensorConfig
from selfsup_perception.core.dataset import Dataset, FrameBatch
from selfsup_perception.core.replay import ReplayMemory, ReplayOptions, ingest
from selfsup_perception.testing.datasets import write_dataset

DISTANCES = (0.0, 0.5, 1.0)
EMBEDDING = 6


def stream(n: int, seed: int = 0, far_every: int = 0) -> FrameBatch:
    """Frames 1..n, 0.1 s apart, driving on; with ``far_every``, every other run of that many frames has far labels."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n + 1)
    mask = np.zeros((n, len(DISTANCES), 2), bool)
    mask[:, 0] = True
    if far_every:
        mask[((ids - 1) // far_every) % 2 == 1, 2] = True
    return FrameBatch(ids=ids, stamps=ids * 0.1, poses=np.column_stack([ids * 0.01, np.zeros(n), np.zeros(n)]),
                      segments=np.zeros(n, np.int64), labels=(rng.random(mask.shape) < 0.5).astype(np.uint8),
                      mask=mask, images=None, ground_truth=None, segmentation=None)


def part(batch: FrameBatch, rows: slice) -> FrameBatch:
    return FrameBatch(batch.ids[rows], batch.stamps[rows], batch.poses[rows], batch.segments[rows],
                      batch.labels[rows], batch.mask[rows], None, None, None)


def vectors(ids: np.ndarray) -> np.ndarray:
    """The embedding of frame ``id`` (exact in float16)."""
    return (ids[:, None] % 200 + np.arange(EMBEDDING) / 4).astype(np.float32)


class Source:
    """Fetches embeddings and records which ids were asked for."""

    def __init__(self) -> None:
        self.asked: list[int] = []

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        self.asked += ids.tolist()
        return vectors(ids)


def memory(**options: object) -> ReplayMemory:
    return ReplayMemory(EMBEDDING, DISTANCES, 2, ReplayOptions(**{'capacity': 100, 'clip_frames': 10, **options}))


def feed(target: ReplayMemory, batch: FrameBatch, cuts: list[int], fetch: Source) -> None:
    bounds = [0, *sorted(cuts), batch.ids.size]
    for a, b in itertools.pairwise(bounds):
        target.add(part(batch, slice(a, b)), fetch)


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(0, 1000), max_size=8), recent=st.sampled_from([0.0, 0.3]),
       seed=st.integers(0, 3))
def test_the_memory_holds_the_same_frames_however_the_stream_is_cut(cuts: list[int], recent: float,
                                                                    seed: int) -> None:
    frames = stream(1000, far_every=30)
    whole, cut = memory(recent_fraction=recent, seed=seed), memory(recent_fraction=recent, seed=seed)
    fetch_whole, fetch_cut = Source(), Source()
    whole.add(frames, fetch_whole)
    feed(cut, frames, cuts, fetch_cut)
    a, b = whole.frames(), cut.frames()
    for name in a.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert len(whole) == 100
    assert whole.last_id == cut.last_id == 1000
    assert len(set(fetch_cut.asked)) == len(fetch_cut.asked)  # no frame read twice
    assert set(fetch_whole.asked) <= set(fetch_cut.asked)
    assert set(a.ids.tolist()) <= set(fetch_whole.asked)
    assert len(fetch_whole.asked) < 300  # one batch: only what stays is read (100 frames + the open clip)


def test_held_frames_are_whole_clips_with_their_embeddings_in_float16() -> None:
    target = memory(recent_fraction=0.3)
    target.add(stream(1005), Source())
    held = target.frames()
    assert held.embeddings.dtype == np.float16
    np.testing.assert_array_equal(held.embeddings.astype(np.float32), vectors(held.ids))
    clips = held.ids.reshape(10, 10)
    assert (np.diff(clips, axis=1) == 1).all()
    assert (clips[:, 0] % 10 == 1).all()
    newest = sorted(clips[:, 0].tolist())[-3:]
    assert newest == [971, 981, 991]  # 30 % of the clips: the newest three (1001-1005 wait for their clip)
    assert target.clips_seen == 100


def test_far_labels_are_favoured_in_the_reservoir() -> None:
    frames = stream(20_000, far_every=10)  # every other clip has far labels

    def far_share(bonus: float) -> float:
        shares = []
        for seed in range(4):
            target = memory(far_bonus=bonus, recent_fraction=0.0, seed=seed)
            target.add(frames, Source())
            shares.append(target.frames().mask[:, 2].any(1).mean())
        return float(np.mean(shares))

    assert 0.3 < far_share(0.0) < 0.7
    assert far_share(4.0) > 0.75  # A-Res keeps about in proportion to the weights: 5 / 6


def test_a_failed_read_changes_nothing() -> None:
    target = memory()
    target.add(stream(55), Source())
    before = {name: np.copy(value) for name, value in vars(target.frames()).items()}

    def broken(ids: np.ndarray) -> np.ndarray:
        raise LookupError('no embedding')

    with pytest.raises(LookupError):
        target.add(part(stream(200), slice(55, 200)), broken)
    assert target.last_id == 55
    for name, value in vars(target.frames()).items():
        np.testing.assert_array_equal(value, before[name])
    with pytest.raises(ValueError, match='increasing id order'):
        target.add(part(stream(50), slice(0, 50)), Source())
    with pytest.raises(ValueError, match='float16 range'):
        target.add(part(stream(200), slice(55, 200)), lambda ids: np.full((ids.size, EMBEDDING), 1e6))
    with pytest.raises(ValueError, match='capacity'):
        ReplayOptions(capacity=10, clip_frames=10)


def test_a_teleport_splits_the_pieces_of_one_clip() -> None:
    frames = stream(30)
    frames.poses[15:, 0] += 3.0
    target = memory()
    target.add(frames, Source())
    pieces = target.frames().pieces
    assert pieces[:15].tolist() == [0] * 15
    assert pieces[15:30].tolist() == [1] * 15


def test_ingest_reads_only_new_frames_from_the_dataset(tmp_path: Path) -> None:
    config = LabelingConfig(sensors=(SensorConfig('a', '/a', 0.1, 0.12), SensorConfig('b', '/b', 0.1, 0.12)),
                            distances=DISTANCES)
    path = tmp_path / 'data.db'
    write_dataset(path, config, 25)
    target = memory()
    with Dataset(path) as dataset:
        ids = np.arange(1, 26)
        dataset.store_embeddings('sha', ids, vectors(ids))
        assert ingest(target, dataset, 'sha', batch_size=7) == 25
        write_dataset(path, config, 10, start=25)
        with pytest.raises(LookupError, match='no cached embedding'):  # frames 26..35 have none yet
            ingest(target, dataset, 'sha')
        assert target.last_id == 25
        dataset.store_embeddings('sha', np.arange(26, 31), vectors(np.arange(26, 31)))
        assert ingest(target, dataset, 'sha', batch_size=3, until=30) == 5  # the frames embedded so far only
        assert target.last_id == 30
        assert ingest(target, dataset, 'sha', until=28) == 0
        dataset.store_embeddings('sha', np.arange(31, 36), vectors(np.arange(31, 36)))
        assert ingest(target, dataset, 'sha') == 5
        assert ingest(target, dataset, 'sha') == 0
    assert len(target) == 30
    assert target.last_id == 35
    np.testing.assert_array_equal(target.frames().ids, np.arange(1, 31))


@pytest.mark.parametrize(('n', 'cuts'), [(35, [3, 17, 33]), (1005, [])])
def test_the_frames_waiting_for_their_clip_follow_the_held_ones(n: int, cuts: list[int]) -> None:
    target = memory()  # 35 frames: still filling; 1005: full
    feed(target, stream(n), cuts, Source())
    held, every = target.frames(), target.frames(waiting=True)
    assert held.ids.size == min(n - n % 10, 100)
    assert every.ids.size == held.ids.size + n % 10
    np.testing.assert_array_equal(every.ids[:held.ids.size], held.ids)
    np.testing.assert_array_equal(every.ids[held.ids.size:], np.arange(n - n % 10 + 1, n + 1))
    np.testing.assert_array_equal(every.embeddings.astype(np.float32), vectors(every.ids))
