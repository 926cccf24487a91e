"""``selfsup train-seg`` and ``selfsup export-seg``: FCN semantic segmentation, trained and exported.

train-seg trains FCN-32s/16s/8s on an ``.npz`` (``images`` + ``segmentation``), a PASCAL-VOC-style
folder or COCO JSON, with the classes of a class-list YAML, then exports int8/float TFLite, ONNX and
a Keras checkpoint with model cards. export-seg re-exports such a checkpoint, e.g. at another input
size (the FCN's weights do not depend on it).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import keras
import numpy as np

from selfsup_perception.core.modelcard import ModelCard, verify
from selfsup_perception.core.segmentation import ClassList, confusion_matrix, segmentation_scores
from selfsup_perception.modelbuild.backbone import recalibrate_batch_norm
from selfsup_perception.modelbuild.data import (
    Augmentation,
    Batches,
    DataError,
    load_classes,
    load_images,
    load_segmentation,
    split_frames,
)
from selfsup_perception.modelbuild.export import export_as_asked
from selfsup_perception.modelbuild.fcn import VARIANTS, build_fcn, segmentation_loss
from selfsup_perception.modelbuild.training import (
    add_export_options,
    add_training_arguments,
    backbone_weights,
    fit,
    spread,
)

_BN_IMAGES = 128


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``selfsup train-seg``."""
    parser.add_argument(
        'source', type=Path, help='.npz (images, segmentation), VOC-style folder, or COCO annotations .json'
    )
    parser.add_argument('--classes', type=Path, required=True, help='class-list YAML (names, colours)')
    parser.add_argument('--variant', choices=tuple(VARIANTS), default='fcn8s')
    parser.add_argument('--out', type=Path, default=Path('models/segmentation'), help='output directory')
    parser.add_argument('--name', help='model file name without suffix (default: the variant)')
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'), default=[240, 320])
    parser.add_argument('--coco-images', type=Path, help='image folder of a COCO .json (default: its folder)')
    parser.add_argument(
        '--background',
        default=None,
        help='class of pixels no COCO annotation covers (default: the first class)',
    )
    parser.add_argument('--brightness', type=float, default=32.0, help='max brightness shift (pixel levels)')
    parser.add_argument('--contrast', type=float, default=0.3, help='max relative contrast change')
    parser.add_argument('--no-flip', action='store_true', help='no horizontal flips')
    add_training_arguments(parser, epochs=50, batch_size=8)


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``selfsup export-seg``."""
    parser.add_argument(
        'checkpoint', type=Path, help='.keras checkpoint written by train-seg (card beside it)'
    )
    parser.add_argument(
        '--calibration-data',
        type=Path,
        required=True,
        help='.npz with images or a folder of images, for int8 calibration',
    )
    parser.add_argument(
        '--input-size',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='export input size (default: the trained size)',
    )
    parser.add_argument('--out', type=Path, default=Path('models/segmentation'), help='output directory')
    parser.add_argument('--name', help='model file name without suffix (default: variant_HxW)')
    add_export_options(parser)


def segmentation_metrics(
    predicted: np.ndarray, truth: np.ndarray, num_classes: int, ignore_index: int
) -> dict[str, Any]:
    """Pixel accuracy, per-class IoU and mean IoU (over classes present in truth or prediction)."""
    scores = segmentation_scores(confusion_matrix(truth, predicted, num_classes, ignore_index))
    return {key: scores[key] for key in ('pixel_accuracy', 'mean_iou', 'iou')}


def _card(classes: ClassList, variant: str, size: tuple[int, int], params: dict, metrics: dict) -> ModelCard:
    return ModelCard(
        kind='segmentation',
        architecture=f'{variant}_mobilenet_v2',
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


def run_train(args: argparse.Namespace) -> int:
    """Train an FCN, report validation IoU, export it with cards; 0 on success."""
    classes = load_classes(args.classes)
    size = tuple(args.input_size)
    if args.background and args.background not in classes.names:
        raise DataError(f'--background {args.background!r} is not one of the classes {list(classes.names)}')
    background = classes.names.index(args.background) if args.background else 0
    data = load_segmentation(args.source, classes, size, args.coco_images, background)
    if data.val is not None:
        train, val = np.flatnonzero(~data.val), np.flatnonzero(data.val)
    else:
        train, val = split_frames(data.stamps, args.val_fraction, args.val_blocks, args.guard)
    if not len(train):
        raise DataError(f'{args.source}: no training images')
    print(
        f'train-seg: {args.variant}, {len(train)} training, {len(val)} validation images, '
        f'input {size[0]}x{size[1]}, '
        f'{len(classes.names)} classes'
    )

    keras.utils.set_random_seed(args.seed)
    params = {
        'variant': args.variant,
        'alpha': args.alpha,
        'num_classes': len(classes.names),
        'weights': args.weights,
    }
    model = build_fcn(args.variant, len(classes.names), size, args.alpha, backbone_weights(args))
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate), loss=segmentation_loss(classes.ignore_index)
    )
    augmentation = Augmentation(args.brightness, args.contrast, flip=not args.no_flip)
    batches = Batches(
        data.images[train],
        data.masks[train],
        args.batch_size,
        augmentation,
        lambda masks: masks[:, :, ::-1],
        args.seed,
    )
    val_data = (
        Batches(data.images[val], data.masks[val], args.batch_size, shuffle=False) if len(val) else None
    )
    epochs = fit(model, batches, val_data, args)
    recalibrate_batch_norm(model, data.images[train][spread(len(train), _BN_IMAGES)])

    metrics: dict = {'train_images': len(train), 'epochs': epochs}
    if val_data is not None:
        predicted = model.predict(val_data, verbose=0).argmax(-1)
        metrics.update(
            {
                'val_images': len(val),
                **segmentation_metrics(predicted, data.masks[val], len(classes.names), classes.ignore_index),
            }
        )
        mean_iou = 'n/a' if metrics['mean_iou'] is None else f'{metrics["mean_iou"]:.3f}'
        print(f'train-seg: validation mean IoU {mean_iou}, pixel accuracy {metrics["pixel_accuracy"]:.3f}')
    calibration = data.images[train][spread(len(train), args.calibration)]
    export_as_asked(model, args, args.name or args.variant, _card(classes, args.variant, size, params, metrics),
                    calibration, 'logits', 'train-seg')
    return 0


def run_export(args: argparse.Namespace) -> int:
    """Rebuild the checkpoint's FCN at the export size, copy its weights, export with cards; 0 on success."""
    card = verify(args.checkpoint)
    params = card.extra.get('architecture_params')
    if card.kind != 'segmentation' or not params:
        raise DataError(
            f'{args.checkpoint}: its card does not describe a segmentation model trained by train-seg'
        )
    size = tuple(args.input_size or card.input_size)
    trained = keras.saving.load_model(args.checkpoint)
    model = build_fcn(params['variant'], params['num_classes'], size, params['alpha'])
    model.set_weights(trained.get_weights())
    traversable = card.extra.get('traversable')
    classes = ClassList(
        card.classes,
        tuple(tuple(c) for c in card.extra['class_colors']),
        card.extra['ignore_index'],
        tuple(traversable or ()),
    )
    images = load_images(args.calibration_data, size)
    metrics = {**card.metrics, 'measured_at_input_size': list(card.input_size)}
    name = args.name or f'{params["variant"]}_{size[0]}x{size[1]}'
    export_as_asked(model, args, name, _card(classes, params['variant'], size, params, metrics),
                    images[spread(len(images), args.calibration)], 'logits', 'export-seg')
    return 0
