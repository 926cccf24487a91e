"""``selfsup pretrain DATASET... --out models/embedding``: learn the embedding extractor end to end.

MobileNetV2 + pyramid pooling + a dense sigmoid head are trained on the self-supervised labels
(masked binary cross-entropy: unknown labels do not count), validated on time blocks (never a random
split: neighbouring frames are near-duplicates). The head is then dropped and the extractor exported
(int8 and float TFLite, ONNX, Keras checkpoint, with model cards); the robot trains its own small
numpy head on the embeddings.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import keras
import numpy as np

from selfsup_perception.core.metrics import roc_auc
from selfsup_perception.core.modelcard import ModelCard
from selfsup_perception.modelbuild.backbone import recalibrate_batch_norm
from selfsup_perception.modelbuild.data import (
    Augmentation,
    Batches,
    DataError,
    LabelledFrames,
    load_labelled,
    resize_images,
    split_frames,
)
from selfsup_perception.modelbuild.embedding import (
    DEFAULT_FEATURE_LAYER,
    SPP_LEVELS,
    MaskedBinaryCrossentropy,
    build_embedding_extractor,
    build_pretrain_model,
    masked_targets,
)
from selfsup_perception.modelbuild.export import export_as_asked
from selfsup_perception.modelbuild.training import (
    add_training_arguments,
    backbone_weights,
    fit,
    json_number,
    spread,
)

ARCHITECTURE = 'mobilenet_v2_spp'
_BN_IMAGES = 256


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``selfsup pretrain``."""
    parser.add_argument(
        'datasets',
        nargs='+',
        type=Path,
        help='.npz exports (selfsup dataset export --npz) or dataset files, in time order each',
    )
    parser.add_argument('--out', type=Path, default=Path('models/embedding'), help='output directory')
    parser.add_argument('--name', default='embedding', help='model file name (without suffix)')
    parser.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help="model input size (default: the datasets' image size)",
    )
    parser.add_argument('--feature-layer', default=DEFAULT_FEATURE_LAYER, help='MobileNetV2 layer to pool')
    parser.add_argument(
        '--levels', type=int, nargs='+', default=list(SPP_LEVELS), help='pyramid levels (n x n)'
    )
    parser.add_argument('--hidden', type=int, default=0, help='hidden units of the head (0: logistic)')
    parser.add_argument('--dropout', type=float, default=0.2, help='dropout on the embedding while training')
    parser.add_argument(
        '--hflip',
        action='store_true',
        help='also flip images left-right and reverse the sensor axis (only for sensors '
        'mounted symmetrically and listed from one side to the other)',
    )
    add_training_arguments(parser, epochs=30, batch_size=32)


def _obstacle_metrics(probabilities: np.ndarray, frames: LabelledFrames) -> dict[str, float | int]:
    """Validation loss (masked BCE), pooled AUC and the mean AUC over (distance, sensor) outputs."""
    known = frames.mask
    p = np.clip(probabilities, 1e-7, 1 - 1e-7)
    y = frames.labels.astype(np.float64)
    bce = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    per_output = [
        roc_auc(probabilities[:, k, s][known[:, k, s]], frames.labels[:, k, s][known[:, k, s]])
        for k in range(known.shape[1])
        for s in range(known.shape[2])
    ]
    valid = [a for a in per_output if not np.isnan(a)]
    return {
        'val_frames': len(frames.images),
        'val_known_labels': int(known.sum()),
        'val_loss': json_number(float(bce[known].mean()) if known.any() else math.nan),
        'val_auc_pooled': json_number(roc_auc(probabilities[known], frames.labels[known])),
        'val_auc_mean': json_number(float(np.mean(valid)) if valid else math.nan),
        'val_auc_outputs': len(valid),
    }


def _concat(parts: list[LabelledFrames], size: tuple[int, int]) -> LabelledFrames:
    return LabelledFrames(
        np.concatenate([resize_images(p.images, size) for p in parts]),
        np.concatenate([p.labels for p in parts]),
        np.concatenate([p.mask for p in parts]),
        np.concatenate([p.stamps for p in parts]),
        parts[0].distances,
        parts[0].sensors,
    )


def _take(frames: LabelledFrames, index: np.ndarray) -> LabelledFrames:
    return LabelledFrames(
        frames.images[index],
        frames.labels[index],
        frames.mask[index],
        frames.stamps[index],
        frames.distances,
        frames.sensors,
    )


def run(args: argparse.Namespace) -> int:
    """Train, evaluate on the time-blocked validation frames, export the extractor; 0 on success."""
    sources = [load_labelled(path) for path in args.datasets]
    shapes = {s.labels.shape[1:] for s in sources}
    if len(shapes) != 1 or len({(s.distances, s.sensors) for s in sources if s.sensors}) > 1:
        raise DataError(f'datasets disagree on distances x sensors: {sorted(shapes)}')
    size = tuple(args.input_size or sources[0].images.shape[1:3])
    splits = [split_frames(s.stamps, args.val_fraction, args.val_blocks, args.guard) for s in sources]
    train = _concat([_take(s, t) for s, (t, _) in zip(sources, splits, strict=True)], size)
    val = _concat([_take(s, v) for s, (_, v) in zip(sources, splits, strict=True)], size)
    num_distances, num_sensors = train.labels.shape[1:]
    print(
        f'pretrain: {len(train.images)} training, {len(val.images)} validation frames, '
        f'input {size[0]}x{size[1]}, '
        f'{num_distances} distances x {num_sensors} sensors'
    )

    keras.utils.set_random_seed(args.seed)
    extractor = build_embedding_extractor(
        size, args.alpha, args.feature_layer, tuple(args.levels), backbone_weights(args)
    )
    model = build_pretrain_model(extractor, num_distances, num_sensors, args.hidden, args.dropout)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate), loss=MaskedBinaryCrossentropy())
    batches = Batches(
        train.images,
        masked_targets(train.labels, train.mask),
        args.batch_size,
        Augmentation(flip=args.hflip),
        (lambda y: y[..., ::-1]) if args.hflip else None,
        args.seed,
    )
    val_data = None
    if len(val.images):
        val_data = Batches(val.images, masked_targets(val.labels, val.mask), args.batch_size, shuffle=False)
    epochs = fit(model, batches, val_data, args)
    recalibrate_batch_norm(model, train.images[spread(len(train.images), _BN_IMAGES)])

    metrics: dict[str, float | int] = {'train_frames': len(train.images), 'epochs': epochs}
    if val_data is not None:
        metrics.update(_obstacle_metrics(model.predict(val_data, verbose=0), val))
    card = ModelCard(
        kind='embedding',
        architecture=ARCHITECTURE,
        input_size=size,
        embedding_size=int(extractor.output_shape[-1]),
        distances=train.distances,
        sensors=train.sensors,
        metrics=metrics,
        extra={
            'architecture_params': {
                'alpha': args.alpha,
                'feature_layer': args.feature_layer,
                'levels': list(args.levels),
                'weights': args.weights,
            },
            'pretraining': {
                'datasets': [p.name for p in args.datasets],
                'hidden': args.hidden,
                'dropout': args.dropout,
                'hflip': args.hflip,
                'batch_size': args.batch_size,
                'learning_rate': args.learning_rate,
                'seed': args.seed,
            },
        },
    )
    calibration = train.images[spread(len(train.images), args.calibration)]
    export_as_asked(extractor, args, args.name, card, calibration, 'embedding', 'pretrain')
    return 0
