"""``selfsup train-seg`` and ``selfsup export-seg``: FCN semantic segmentation, trained and exported.

train-seg trains FCN-32s/16s/8s on ``.npz`` shards (``images`` + ``segmentation``), dataset files with
the simulator's masks, PASCAL-VOC-style folders or COCO JSON, with the classes of a class-list YAML;
the frames are streamed, shuffled in a bounded buffer and augmented (``augment``: the mask follows
the flips only). It then exports int8/float TFLite, ONNX and a Keras checkpoint with model cards.
export-seg re-exports such a checkpoint, e.g. at another input size (the FCN's weights do not depend
on it). ``train_segmentation`` and ``export_segmentation`` are the typed entry points.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from selfsup_perception.core.modelcard import ModelCard, verify
from selfsup_perception.core.segmentation import ClassList, confusion_matrix, segmentation_scores
from selfsup_perception.modelbuild.augment import Augmentation
from selfsup_perception.modelbuild.backbone import recalibrate_batch_norm
from selfsup_perception.modelbuild.backbones import backbone_of, card_params, get_backbone
from selfsup_perception.modelbuild.data import DataError, load_classes
from selfsup_perception.modelbuild.fcn import build_fcn, segmentation_loss_terms
from selfsup_perception.modelbuild.sources import gather, load_images, open_segmentation, split_sources
from selfsup_perception.modelbuild.stream import Frames, ReadErrors, evaluation_stream, training_stream
from selfsup_perception.modelbuild.training import (
    ExportOptions,
    TrainingOptions,
    TrainingResult,
    export_as_asked,
    make_strategy,
    predictions,
    train_model,
    worker,
)

_BN_IMAGES = 128


@dataclass(frozen=True)
class SegmentationOptions:
    """What ``train_segmentation`` trains on and how; ``background`` is the class of pixels no COCO
    annotation covers (default: the first class)."""

    sources: tuple[Path, ...]
    classes: Path
    variant: str = 'fcn8s'
    export: ExportOptions = field(default_factory=lambda: ExportOptions(Path('models/segmentation')))
    name: str | None = None
    input_size: tuple[int, int] = (240, 320)
    coco_images: Path | None = None
    background: str | None = None
    training: TrainingOptions = field(
        default_factory=lambda: TrainingOptions(epochs=50, batch_size=8, augmentation=Augmentation(flip=True))
    )


@dataclass(frozen=True)
class SegmentationExportOptions:
    """What ``export_segmentation`` re-exports: a train-seg checkpoint, at ``input_size`` (default: the
    trained size), calibrated on ``calibration_data`` (an ``.npz`` with images or a folder of images)."""

    checkpoint: Path
    calibration_data: Path
    export: ExportOptions = field(default_factory=lambda: ExportOptions(Path('models/segmentation')))
    input_size: tuple[int, int] | None = None
    name: str | None = None


@dataclass(frozen=True)
class ExportResult:
    """The card and the files of an export."""

    card: ModelCard
    paths: dict[str, Path]


def segmentation_metrics(confusion: np.ndarray) -> dict[str, Any]:
    """Pixel accuracy, per-class IoU and mean IoU (over classes present in truth or prediction)."""
    scores = segmentation_scores(confusion)
    return {key: scores[key] for key in ('pixel_accuracy', 'mean_iou', 'iou')}


def _card(classes: ClassList, variant: str, size: tuple[int, int], params: dict[str, Any],
          metrics: dict[str, Any]) -> ModelCard:
    return ModelCard(
        kind='segmentation',
        architecture=f'{variant}_{get_backbone(backbone_of(params)).family}',
        input_size=size,
        classes=classes.names,
        metrics=metrics,
        extra={
            'architecture_params': params,
            'class_colors': [list(c) for c in classes.colors],
            'ignore_index': classes.ignore_index,
            'traversable': list(classes.traversable),
            'output': 'class logits (N, H, W, classes): arg-max is the class',
        },
    )


def train_segmentation(options: SegmentationOptions) -> TrainingResult:
    """Train an FCN, score validation IoU, export it with cards (the chief of a distributed job
    exports; the others return the model)."""
    training = options.training
    strategy = make_strategy(training.distribute)
    classes = load_classes(options.classes)
    if options.background and options.background not in classes.names:
        raise DataError(f'background {options.background!r} is not one of the classes {list(classes.names)}')
    background = classes.names.index(options.background) if options.background else 0
    height, width = options.input_size
    size = (height, width)
    sources = open_segmentation(options.sources, classes, options.coco_images, background)
    split = split_sources(sources, training.val_fraction, training.val_blocks, training.guard)
    index, workers = worker(strategy)
    print(
        f'train-seg: {options.variant}, {split.train_frames} training, {split.val_frames} validation images, '
        f'input {size[0]}x{size[1]}, {len(classes.names)} classes'
        + (f', worker {index} of {workers}' if workers > 1 else '')
    )
    errors = ReadErrors()
    train_frames = Frames(sources, split.train, size, errors)
    val_frames = Frames(sources, split.val, size, errors)
    keras.utils.set_random_seed(training.seed)
    model, history = train_model(
        lambda: build_fcn(options.variant, len(classes.names), size, training.backbone, training.weights),
        segmentation_loss_terms(classes.ignore_index),
        lambda shard, batch: training_stream(
            train_frames, batch, training.augmentation, training.seed, training.shuffle_buffer,
            lambda mask: mask[:, ::-1], shard,
        ),
        evaluation_stream(val_frames, training.batch_size, (index, workers)) if split.val_frames else None,
        max(1, split.train_frames // training.batch_size),
        training,
        strategy,
        errors,
        'train-seg',
    )
    recalibrate_batch_norm(model, gather(sources, split.train, _BN_IMAGES, size)[0])
    metrics: dict[str, Any] = {
        'train_images': split.train_frames, 'epochs': history.epochs, 'best_epoch': history.best_epoch,
    }
    if index:
        return TrainingResult(model, None, {}, metrics, history)
    if split.val_frames:
        confusion = sum(
            confusion_matrix(truth, predicted, len(classes.names), classes.ignore_index)
            for predicted, truth in predictions(
                model, evaluation_stream(val_frames, training.batch_size), errors, lambda x: tf.argmax(x, -1)
            )
        )
        metrics.update({'val_images': split.val_frames, **segmentation_metrics(np.asarray(confusion))})
        mean_iou = 'n/a' if metrics['mean_iou'] is None else f'{metrics["mean_iou"]:.3f}'
        print(f'train-seg: validation mean IoU {mean_iou}, pixel accuracy {metrics["pixel_accuracy"]:.3f}')
    params = {
        'variant': options.variant,
        **card_params(training.backbone),
        'num_classes': len(classes.names),
        'weights': training.weights or 'none',
        'augmentation': asdict(training.augmentation),
        'workers': workers,
    }
    card = _card(classes, options.variant, size, params, metrics)
    calibration = gather(sources, split.train, options.export.calibration, size)[0]
    paths = export_as_asked(model, options.export, options.name or options.variant, card, calibration, 'logits',
                            'train-seg')
    return TrainingResult(model, card, paths, metrics, history)


def export_segmentation(options: SegmentationExportOptions) -> ExportResult:
    """Rebuild the checkpoint's FCN at the export size, copy its weights, export it with cards."""
    card = verify(options.checkpoint)
    params = card.extra.get('architecture_params') if card else None
    if card is None or card.kind != 'segmentation' or not params:
        raise DataError(
            f'{options.checkpoint}: its card does not describe a segmentation model trained by train-seg'
        )
    height, width = options.input_size or card.input_size or (0, 0)
    size = (height, width)
    trained = keras.saving.load_model(options.checkpoint)
    model = build_fcn(params['variant'], params['num_classes'], size, backbone_of(params))
    model.set_weights(trained.get_weights())
    traversable = card.extra.get('traversable')
    classes = ClassList(
        card.classes or (),
        tuple(tuple(c) for c in card.extra['class_colors']),
        card.extra['ignore_index'],
        tuple(traversable or ()),
    )
    images = load_images(options.calibration_data, size, options.export.calibration)
    metrics = {**card.metrics, 'measured_at_input_size': list(card.input_size or ())}
    name = options.name or f'{params["variant"]}_{size[0]}x{size[1]}'
    exported = _card(classes, params['variant'], size, params, metrics)
    paths = export_as_asked(model, options.export, name, exported, images, 'logits', 'export-seg')
    return ExportResult(exported, paths)
