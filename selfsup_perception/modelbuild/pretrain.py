"""``selfsup pretrain DATASET... --out models/embedding``: learn the embedding extractor end to end.

A backbone (``--backbone``, default MobileNetV2 alpha 0.35) + pyramid pooling + a dense sigmoid head are
trained on the self-supervised labels
(masked binary cross-entropy: unknown labels do not count), validated on time blocks (never a random
split: neighbouring frames are near-duplicates). The frames are streamed from the dataset files (or
``.npz`` shards), shuffled in a bounded buffer and augmented (``augment``). The head is then dropped
and the extractor exported (int8 and float TFLite, ONNX, Keras checkpoint, with model cards); the
robot trains its own small numpy head on the embeddings. ``pretrain_embedding`` is the typed entry
point (``cli/pretrain.py`` is the command line's).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np

from selfsup_perception.core.metrics import roc_auc
from selfsup_perception.core.modelcard import ModelCard
from selfsup_perception.modelbuild.backbone import recalibrate_batch_norm
from selfsup_perception.modelbuild.backbones import card_params, get_backbone
from selfsup_perception.modelbuild.embedding import (
    SPP_LEVELS,
    build_embedding_extractor,
    build_pretrain_model,
    embedding_extractor,
    masked_bce_terms,
)
from selfsup_perception.modelbuild.sources import gather, open_labelled, split_sources
from selfsup_perception.modelbuild.stream import Frames, ReadErrors, evaluation_stream, training_stream
from selfsup_perception.modelbuild.training import (
    ExportOptions,
    TrainingOptions,
    TrainingResult,
    export_as_asked,
    json_number,
    make_strategy,
    predictions,
    train_model,
    worker,
)

_BN_IMAGES = 256


@dataclass(frozen=True)
class PretrainOptions:
    """What ``pretrain_embedding`` trains on and how (``training.augmentation.flip`` also reverses the
    sensor axis: only for sensors mounted symmetrically and listed from one side to the other;
    ``feature_layer`` None: the backbone's ``embedding_layer``)."""

    datasets: tuple[Path, ...]
    export: ExportOptions = field(default_factory=lambda: ExportOptions(Path('models/embedding')))
    name: str = 'embedding'
    input_size: tuple[int, int] | None = None
    feature_layer: str | None = None
    levels: tuple[int, ...] = SPP_LEVELS
    hidden: int = 0
    dropout: float = 0.2
    training: TrainingOptions = field(default_factory=TrainingOptions)


def _obstacle_metrics(probabilities: np.ndarray, targets: np.ndarray) -> dict[str, float | int | None]:
    """Validation loss (masked BCE), pooled AUC and the mean AUC over (distance, sensor) outputs;
    ``targets`` as the stream gives them (1/0 where known, negative where unknown)."""
    known = targets >= 0
    labels = np.where(known, targets, 0).astype(np.uint8)
    p = np.clip(probabilities, 1e-7, 1 - 1e-7)
    bce = -(labels * np.log(p) + (1 - labels) * np.log(1 - p))
    per_output = [
        roc_auc(probabilities[:, k, s][known[:, k, s]], labels[:, k, s][known[:, k, s]])
        for k in range(known.shape[1])
        for s in range(known.shape[2])
    ]
    valid = [a for a in per_output if not np.isnan(a)]
    return {
        'val_frames': len(targets),
        'val_known_labels': int(known.sum()),
        'val_loss': json_number(float(bce[known].mean()) if known.any() else math.nan),
        'val_auc_pooled': json_number(roc_auc(probabilities[known], labels[known])),
        'val_auc_mean': json_number(float(np.mean(valid)) if valid else math.nan),
        'val_auc_outputs': len(valid),
    }


def pretrain_embedding(options: PretrainOptions) -> TrainingResult:
    """Train on the time-blocked training frames of every dataset, score the validation frames,
    export the extractor (the chief of a distributed job exports; the others return the model)."""
    training = options.training
    strategy = make_strategy(training.distribute)
    sources = open_labelled(options.datasets)
    height, width = options.input_size or sources[0].image_size()
    size = (height, width)
    split = split_sources(sources, training.val_fraction, training.val_blocks, training.guard)
    num_distances, num_sensors = sources[0].label_shape
    index, workers = worker(strategy)
    print(
        f'pretrain: {split.train_frames} training, {split.val_frames} validation frames in {len(sources)} '
        f'datasets, input {size[0]}x{size[1]}, {num_distances} distances x {num_sensors} sensors'
        + (f', worker {index} of {workers}' if workers > 1 else '')
    )
    errors = ReadErrors()
    train_frames = Frames(sources, split.train, size, errors)
    val_frames = Frames(sources, split.val, size, errors)

    backbone = get_backbone(training.backbone)
    feature_layer = options.feature_layer or backbone.embedding_layer

    def build() -> keras.Model:
        extractor = build_embedding_extractor(
            size, training.backbone, feature_layer, options.levels, training.weights
        )
        return build_pretrain_model(extractor, num_distances, num_sensors, options.hidden, options.dropout)

    keras.utils.set_random_seed(training.seed)
    model, history = train_model(
        build,
        masked_bce_terms,
        lambda shard, batch: training_stream(
            train_frames, batch, training.augmentation, training.seed, training.shuffle_buffer,
            lambda labels: labels[..., ::-1], shard,
        ),
        evaluation_stream(val_frames, training.batch_size, (index, workers)) if split.val_frames else None,
        max(1, split.train_frames // training.batch_size),
        training,
        strategy,
        errors,
        'pretrain',
    )
    recalibrate_batch_norm(model, gather(sources, split.train, _BN_IMAGES, size)[0])
    extractor = embedding_extractor(model)
    metrics: dict[str, float | int | None] = {
        'train_frames': split.train_frames, 'epochs': history.epochs, 'best_epoch': history.best_epoch,
    }
    if index:
        return TrainingResult(extractor, None, {}, metrics, history)
    if split.val_frames:
        scored = list(predictions(model, evaluation_stream(val_frames, training.batch_size), errors))
        metrics.update(_obstacle_metrics(np.concatenate([p for p, _ in scored]),
                                         np.concatenate([t for _, t in scored])))
    card = ModelCard(
        kind='embedding',
        architecture=f'{backbone.family}_spp',
        input_size=size,
        embedding_size=int(extractor.output_shape[-1]),
        distances=sources[0].distances,
        sensors=sources[0].sensors,
        metrics=metrics,
        extra={
            'architecture_params': {
                **card_params(training.backbone),
                'feature_layer': feature_layer,
                'levels': list(options.levels),
                'weights': training.weights or 'none',
            },
            'pretraining': {
                'datasets': [p.name for p in options.datasets],
                'hidden': options.hidden,
                'dropout': options.dropout,
                'hflip': training.augmentation.flip,
                'augmentation': asdict(training.augmentation),
                'batch_size': training.batch_size,
                'learning_rate': training.learning_rate,
                'seed': training.seed,
                'workers': workers,
            },
        },
    )
    calibration = gather(sources, split.train, options.export.calibration, size)[0]
    paths = export_as_asked(extractor, options.export, options.name, card, calibration, 'embedding', 'pretrain')
    return TrainingResult(extractor, card, paths, metrics, history)
