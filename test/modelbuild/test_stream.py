"""tf.data streams over frame sources: every frame once per epoch in a seeded order, shards that partition
the frames, endless augmented training batches reproducible from a seed, reading bounded by blocks,
and a reader's data error coming out as itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('tensorflow')

from selfsup_perception.modelbuild.augment import Augmentation
from selfsup_perception.modelbuild.data import DataError
from selfsup_perception.modelbuild.sources import FrameSource
from selfsup_perception.modelbuild.stream import Frames, ReadErrors, evaluation_stream, training_stream


class Counted(FrameSource):
    """Frames in memory, 16 to a block: frame p's image is p % 256 everywhere, its target [[p]];
    ``frames_read`` counts what was read; a read of ``broken`` raises a DataError."""

    block = 16

    def __init__(self, count: int, broken: int | None = None) -> None:
        super().__init__(Path('memory'), 'labels', None, np.arange(count, dtype=np.float64))
        self.label_shape, self.broken, self.frames_read = (1, 1), broken, 0

    def _read(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.broken in positions:
            raise DataError(f'memory: frame {self.broken} is broken')
        self.frames_read += len(positions)
        images = np.broadcast_to((positions % 256).astype(np.uint8)[:, None, None, None], (len(positions), 4, 4, 3))
        return images.copy(), positions.astype(np.float32).reshape(-1, 1, 1)


def _frames(*counts: int) -> Frames:
    sources = tuple(Counted(n) for n in counts)
    return Frames(sources, tuple(np.arange(n) for n in counts), (4, 4))


def _ids(dataset) -> list[int]:
    return [int(target.numpy().ravel()[0]) for _, target in dataset]


def test_examples_come_once_per_epoch_in_a_seeded_order() -> None:
    frames = _frames(100, 40)
    in_order = _ids(frames.examples())
    assert in_order == [*range(100), *range(40)]
    shuffled = frames.examples(shuffle=True, seed=5)
    first, second = _ids(shuffled), _ids(shuffled)
    assert sorted(first) == sorted(second) == sorted(in_order)
    assert first != second  # a new block order every epoch
    assert _ids(_frames(100, 40).examples(shuffle=True, seed=5)) == first  # the seed fixes it
    assert _ids(_frames(100, 40).examples(shuffle=True, seed=6)) != first


def test_shards_partition_the_frames() -> None:
    frames = _frames(100, 40)
    shards = [_ids(frames.examples(shard=(k, 3))) for k in range(3)]
    assert sorted(i for shard in shards for i in shard) == sorted(_ids(frames.examples()))
    assert all(abs(len(s) - 140 / 3) <= 16 for s in shards)  # balanced to a block
    assert _ids(_frames(10).examples(shard=(1, 2))) == []  # a worker may have no validation frames
    with pytest.raises(DataError, match='too few'):
        _frames(10).examples(shuffle=True, shard=(1, 2))  # but it needs training frames


def test_training_batches_are_endless_augmented_and_reproducible() -> None:
    def batches(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
        stream = training_stream(_frames(30), 8, Augmentation(), seed, shuffle_buffer=10)
        return [(x.numpy(), y.numpy()) for x, y in stream.take(12)]  # more than 3 epochs

    first = batches(1)
    assert all(x.shape == (8, 4, 4, 3) and x.dtype == np.float32 for x, _ in first)
    ids = np.concatenate([y.ravel() for _, y in first]).astype(int)
    assert set(ids) == set(range(30))
    plain = np.broadcast_to((ids % 256)[:, None, None, None], (len(ids), 4, 4, 3))
    assert not np.array_equal(np.concatenate([x for x, _ in first]), plain)  # colours changed
    again = batches(1)
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(batches(2)[0][0], first[0][0])


def test_training_reads_a_block_at_a_time_not_the_whole_source() -> None:
    frames = _frames(16 * 40)
    stream = training_stream(frames, 4, Augmentation.off(), 0, shuffle_buffer=8)
    next(iter(stream))
    assert frames.sources[0].frames_read <= 6 * 16  # a few blocks of the 640 frames


def test_evaluation_keeps_the_order_and_the_last_short_batch() -> None:
    batches = list(evaluation_stream(_frames(10), 4))
    assert [len(y) for _, y in batches] == [4, 4, 2]
    assert np.concatenate([y.numpy().ravel() for _, y in batches]).tolist() == list(range(10))


def test_a_readers_data_error_comes_out_as_itself() -> None:
    errors = ReadErrors()
    frames = Frames((Counted(40, broken=20),), (np.arange(40),), (4, 4), errors)
    with pytest.raises(DataError, match='frame 20 is broken'), errors.reraise():
        list(evaluation_stream(frames, 8))
