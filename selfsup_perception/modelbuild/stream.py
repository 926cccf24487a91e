"""tf.data pipelines over frame sources: training frames streamed, shuffled in a bounded buffer, augmented.

The frames of all sources are cut into blocks (``FrameSource.blocks``); each epoch reads the blocks
in a fresh seeded order, one at a time, and a shuffle buffer of ``shuffle_buffer`` frames mixes
them further. At most one block plus the buffer (plus a few batches in flight) is in memory,
whatever the number of frames. A pipeline of a distributed job reads every ``count``-th block
(its shard: ``shard=(index, count)``). Examples are ``(pixels float32 (B, h, w, 3), targets)``.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from selfsup_perception.modelbuild.augment import Augmentation, augment
from selfsup_perception.modelbuild.data import DataError
from selfsup_perception.modelbuild.sources import FrameSource


@dataclass
class ReadErrors:
    """The first error a stream's reader hit (bad data: ValueError, OSError): tf.data turns it into an
    OpError, ``reraise`` gives back the original (which names the file)."""

    errors: list[Exception] = field(default_factory=list)

    @contextlib.contextmanager
    def reraise(self) -> Iterator[None]:
        """Run a step that pulls from the streams; a reader's DataError comes out as itself."""
        try:
            yield
        except tf.errors.OpError as exc:
            if self.errors:
                raise self.errors[0] from exc
            raise


@dataclass(frozen=True)
class Frames:
    """Some positions of some sources, read at the model input ``size`` (h, w)."""

    sources: tuple[FrameSource, ...]
    positions: tuple[np.ndarray, ...]
    size: tuple[int, int]
    errors: ReadErrors = field(default_factory=ReadErrors)

    @property
    def count(self) -> int:
        return sum(len(p) for p in self.positions)

    def blocks(self, shard: tuple[int, int] = (0, 1)) -> list[tuple[int, np.ndarray]]:
        """(source index, positions) of every block, in stored order; every ``count``-th of shard ``index``."""
        index, count = shard
        blocks = [(s, b) for s, p in enumerate(self.positions) for b in self.sources[s].blocks(p)]
        return blocks[index::count]

    def examples(self, shuffle: bool = False, seed: int = 0, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
        """One ``(image uint8 (h, w, 3), target)`` per frame of the shard; with ``shuffle`` (training: the
        shard must not be empty) the blocks come in an order drawn from (``seed``, shard, epoch), else in
        stored order."""
        blocks = self.blocks(shard)
        if shuffle and not blocks:
            raise DataError(f'{self.count} frames in {len(self.sources)} sources are too few for '
                            f'{shard[1]} pipelines (each needs a block of frames)')
        epochs = itertools.count()

        def generate() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            epoch = next(epochs)
            order = np.random.default_rng([seed, *shard, epoch]).permutation(len(blocks)) if shuffle else range(
                len(blocks))
            try:
                for b in order:
                    source, positions = blocks[b]
                    yield from self.sources[source].read(positions, self.size)
            except (ValueError, OSError) as exc:  # DataError, a corrupt image: the message names the input
                self.errors.errors.append(exc)
                raise

        first = self.sources[0]
        signature = (
            tf.TensorSpec((*self.size, 3), tf.uint8),
            tf.TensorSpec(first.target_shape(self.size), tf.uint8 if first.target == 'segmentation' else tf.float32),
        )
        return tf.data.Dataset.from_generator(generate, output_signature=signature)


def _pixels(images: tf.Tensor, targets: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return tf.cast(images, tf.float32), targets


def training_stream(
    frames: Frames,
    batch_size: int,
    augmentation: Augmentation,
    seed: int,
    shuffle_buffer: int,
    flip_target: Callable[[tf.Tensor], tf.Tensor] | None = None,
    shard: tuple[int, int] = (0, 1),
) -> tf.data.Dataset:
    """Endless full batches of augmented training examples: blocks in a seeded order per epoch, a
    shuffle buffer, then each example augmented with the seed (``seed``, its number in the stream)."""
    index, count = shard
    dataset = frames.examples(shuffle=True, seed=seed, shard=shard)
    if shuffle_buffer > 1:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed + index, reshuffle_each_iteration=True)

    def augmented(number: tf.Tensor, example: tuple[tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        example_seed = tf.stack([tf.constant(seed, tf.int64), number * count + index])
        return augment(example[0], example[1], augmentation, example_seed, flip_target)

    dataset = dataset.repeat().enumerate().map(augmented, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return dataset.batch(batch_size, drop_remainder=True).map(_pixels).prefetch(2)


def evaluation_stream(frames: Frames, batch_size: int, shard: tuple[int, int] = (0, 1)) -> tf.data.Dataset:
    """The frames of the shard once, in stored order, unaugmented, in batches (the last may be short)."""
    return frames.examples(shard=shard).batch(batch_size).map(_pixels).prefetch(2)

