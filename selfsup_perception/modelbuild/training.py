"""What pretraining and segmentation training share: typed options (their command-line form is in
``cli/model_options.py``), the distribution strategy, and the training loop (one for a single process
and for a multi-worker job).

The loop is written with ``tf.distribute`` rather than ``model.fit``: Keras 3's ``fit`` cannot take
MultiWorkerMirroredStrategy batches (keras-team/keras#20585). Its loss is exact over the global
batch: each replica returns the sum of its per-label losses and their count, and the gradient is
that sum over the count of the whole batch, summed over the replicas. Validation loss is likewise
summed over the workers, so every worker stops early at the same epoch.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from selfsup_perception.core.modelcard import ModelCard
from selfsup_perception.modelbuild.augment import Augmentation
from selfsup_perception.modelbuild.backbones import DEFAULT_BACKBONE
from selfsup_perception.modelbuild.export import DEFAULT_OPSET, FORMATS, export_model
from selfsup_perception.modelbuild.stream import ReadErrors

LossTerms = Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]
"""(targets, predictions) -> (sum of the per-label losses, number of labels that count), float32."""


@dataclass(frozen=True)
class TrainingOptions:
    """Backbone (a name of ``backbones.BACKBONES``), optimisation, validation split, data stream and
    distribution of a training."""

    backbone: str = DEFAULT_BACKBONE
    weights: str | None = None
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 5
    val_fraction: float = 0.2
    val_blocks: int = 5
    guard: float = 1.0
    seed: int = 0
    augmentation: Augmentation = field(default_factory=Augmentation)
    shuffle_buffer: int = 1024
    distribute: bool = False


@dataclass(frozen=True)
class ExportOptions:
    """Where and how a trained model is exported (``export.export_model``)."""

    out: Path
    calibration: int = 200
    formats: tuple[str, ...] = FORMATS
    opset: int = DEFAULT_OPSET
    output_type: str = 'uint8'


@dataclass
class History:
    """Per-epoch mean training loss and validation loss; ``best_epoch`` (0-based) is the one kept."""

    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int | None = None

    @property
    def epochs(self) -> int:
        return len(self.loss)


@dataclass(frozen=True)
class TrainingResult:
    """A trained model as a value, with the card it was exported with (the files' cards add the input
    contract, provenance and sha256) and the files (no card and no files on a distributed job's
    workers other than the chief), its metrics and its loss history."""

    model: keras.Model
    card: ModelCard | None
    paths: dict[str, Path]
    metrics: dict[str, Any]
    history: History


def export_as_asked(model: keras.Model, options: ExportOptions, name: str, card: ModelCard,
                    calibration_images: np.ndarray, output_name: str, command: str) -> dict[str, Path]:
    """``export_model`` with ``options``; prints the files."""
    paths = export_model(model, options.out, name, card, calibration_images, options.formats, options.opset,
                         options.output_type, output_name=output_name)
    for fmt, path in paths.items():
        print(f'{command}: wrote {fmt} {path}')
    return paths


def make_strategy(distribute: bool) -> tf.distribute.Strategy:
    """The default (one process) strategy, or with ``distribute`` a MultiWorkerMirroredStrategy from
    TF_CONFIG; it must be made before the process runs any TensorFlow op."""
    if not distribute:
        return tf.distribute.get_strategy()
    if 'TF_CONFIG' not in os.environ:
        raise ValueError('--distribute needs TF_CONFIG: {"cluster": {"worker": [host:port, ...]}, '
                         '"task": {"type": "worker", "index": i}}, one worker per process')
    try:
        json.loads(os.environ['TF_CONFIG'])
    except json.JSONDecodeError as exc:
        raise ValueError(f'TF_CONFIG is not JSON: {exc}') from exc
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as exc:
        raise RuntimeError(f'{exc} (a --distribute worker must make its strategy before any TensorFlow op: '
                           'run each worker in a process of its own)') from exc


def worker(strategy: tf.distribute.Strategy) -> tuple[int, int]:
    """(index, count) of this process among the job's workers (the chief, if any, first); (0, 1) alone."""
    resolver = getattr(strategy, 'cluster_resolver', None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return 0, 1
    cluster = resolver.cluster_spec().as_dict()
    chiefs, workers = len(cluster.get('chief', [])), len(cluster.get('worker', []))
    index = resolver.task_id if resolver.task_type == 'chief' else chiefs + resolver.task_id
    return index, chiefs + workers


def train_model(
    build: Callable[[], keras.Model],
    loss_terms: LossTerms,
    train: Callable[[tuple[int, int], int], tf.data.Dataset],
    validation: tf.data.Dataset | None,
    steps_per_epoch: int,
    options: TrainingOptions,
    strategy: tf.distribute.Strategy,
    errors: ReadErrors,
    command: str,
) -> tuple[keras.Model, History]:
    """Train ``build()`` with Adam on ``train((shard index, shard count), per-replica batch)``, early
    stopping on this worker's ``validation`` loss summed over all workers (best weights kept).

    Returns the model outside the strategy (a copy when distributed) and the history; every worker
    of a job returns the same weights but for batch-norm statistics (recalibrate them, as both
    trainers do).
    """
    replicas = strategy.num_replicas_in_sync
    if options.batch_size % replicas:
        raise ValueError(f'--batch-size {options.batch_size} is not a multiple of the {replicas} replicas')
    with strategy.scope():
        model = build()
        optimizer = keras.optimizers.Adam(options.learning_rate)
        optimizer.build(model.trainable_variables)
    batches = strategy.distribute_datasets_from_function(
        lambda context: train(
            (context.input_pipeline_id, context.num_input_pipelines),
            context.get_per_replica_batch_size(options.batch_size),
        )
    )

    @tf.function
    def train_step(iterator: Iterator[tuple[tf.Tensor, tf.Tensor]]) -> tf.Tensor:
        def replica_step(images: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                total, count = loss_terms(targets, model(images, training=True))
                count = tf.distribute.get_replica_context().all_reduce('SUM', count)
                loss = tf.math.divide_no_nan(total, count)
            gradients = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
            return loss

        return strategy.reduce('SUM', strategy.run(replica_step, args=next(iterator)), axis=None)

    @tf.function
    def validation_terms(images: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        return tf.stack(loss_terms(targets, model(images, training=False)))

    local_replicas = replicas // worker(strategy)[1]

    @tf.function
    def over_workers(value: tf.Tensor) -> tf.Tensor:
        def replica_value() -> tf.Tensor:  # each worker's first replica brings the worker's value
            first = tf.distribute.get_replica_context().replica_id_in_sync_group % local_replicas == 0
            return tf.where(first, value, tf.zeros_like(value))

        return strategy.reduce('SUM', strategy.run(replica_value), axis=None)

    history, best, iterator = History(), None, iter(batches)
    chief = worker(strategy)[0] == 0
    for epoch in range(options.epochs):
        start = time.monotonic()
        with errors.reraise():
            losses = [train_step(iterator) for _ in range(steps_per_epoch)]
            history.loss.append(float(tf.reduce_mean(losses)))
            line = f'{command}: epoch {epoch + 1}/{options.epochs} loss {history.loss[-1]:.4f}'
            if validation is not None:
                totals = tf.zeros(2)
                for images, targets in validation:
                    totals += validation_terms(images, targets)
                total, count = over_workers(totals).numpy()
                history.val_loss.append(float(total / count) if count else math.nan)
                line += f' val_loss {history.val_loss[-1]:.4f}'
        if chief:
            print(f'{line} ({time.monotonic() - start:.1f} s)', flush=True)
        if validation is None:
            continue
        if history.best_epoch is None or history.val_loss[-1] < history.val_loss[history.best_epoch]:
            history.best_epoch, best = epoch, model.get_weights()
        elif epoch - history.best_epoch >= options.patience:
            break
    weights = best if best is not None else model.get_weights()
    if worker(strategy)[1] > 1:
        model = build()  # a plain copy: the rest (statistics, metrics, export) runs on each worker alone
    model.set_weights(weights)
    return model, history


def predictions(model: keras.Model, batches: tf.data.Dataset, errors: ReadErrors,
                transform: Callable[[tf.Tensor], tf.Tensor] = tf.identity) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(``transform(model(images))``, targets) per batch, in inference mode, as numpy."""
    run = tf.function(lambda images: transform(model(images, training=False)))
    with errors.reraise():
        for images, targets in batches:
            yield run(images).numpy(), targets.numpy()


def json_number(value: float) -> float | None:
    """``value`` as a JSON-ready number: NaN (undefined metric) becomes None."""
    return None if math.isnan(value) else float(value)
