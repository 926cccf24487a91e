"""Split a trained FCN into a backbone for the accelerator and a numpy head the robot fine-tunes.

The backbone is the FCN's backbone (MobileNetV2 by default) up to the skip features its variant sums
(strides 8, 16, 32 for FCN-8s), flattened and concatenated into one output (N, total): one tensor suits
every backend (Edge TPU, LiteRT, ONNX Runtime) and, all three maps being ReLU6 outputs in [0, 6], one int8
scale fits them all (for a backbone whose maps are not all ReLU6, ``Backbone.bounded``: MobileNetV3's are
plain ReLU, that one scale is wider than each map needs). It is exported like every model (int8 TFLite,
ONNX, cards); its card gives ``feature_shapes`` (stride -> height, width, channels, in output order). The
head (``core/seghead.py``) takes the FCN's score layers and learned upsamplings, so backbone + head compute
what the whole FCN computes; the split's card records how closely
(arg-max agreement with Keras, on the calibration images).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from selfsup_perception.core.modelcard import ModelCard, verify, write_card
from selfsup_perception.core.seghead import VARIANTS, FeatureShapes, SegHead, split_features
from selfsup_perception.modelbuild.backbones import DEFAULT_BACKBONE, backbone_of, get_backbone
from selfsup_perception.modelbuild.data import DataError
from selfsup_perception.modelbuild.export import run_tflite
from selfsup_perception.modelbuild.fcn import bilinear_kernel, build_fcn
from selfsup_perception.modelbuild.sources import load_images
from selfsup_perception.modelbuild.training import ExportOptions, export_as_asked


@dataclass(frozen=True)
class SplitOptions:
    """Which trained FCN checkpoint (``.keras`` with its card) to split, the images to calibrate the int8
    backbone with, where to write, and at which input size (default: the checkpoint's)."""

    checkpoint: Path
    calibration_data: Path
    export: ExportOptions = field(default_factory=lambda: ExportOptions(Path('models')))
    input_size: tuple[int, int] | None = None
    name: str | None = None
    write_head: bool = True  # False: another size of a backbone whose head is already written


@dataclass(frozen=True)
class SplitResult:
    """The backbone's files by format, its card, the head's path and the head itself."""

    paths: dict[str, Path]
    card: ModelCard
    head_path: Path
    head: SegHead


def split_model(fcn: keras.Model, variant: str, classes: tuple[str, ...],
                backbone: str = DEFAULT_BACKBONE) -> tuple[keras.Model, SegHead, FeatureShapes]:
    """(backbone model: pixels -> flat features, the head with the FCN's weights, feature shapes by stride);
    ``backbone`` names the FCN's backbone (its ``feature_layers`` are the maps the head reads)."""
    strides = VARIANTS[variant]
    layers = get_backbone(backbone).feature_layers
    maps = {stride: fcn.get_layer(layers[stride]).output for stride in sorted(strides)}
    flat = [keras.layers.Flatten(name=f'features_{stride}')(tensor) for stride, tensor in maps.items()]
    output = flat[0] if len(flat) == 1 else keras.layers.Concatenate(name='features')(flat)
    backbone = keras.Model(fcn.inputs[0], output, name=f'{variant}_backbone')
    shapes: FeatureShapes = {stride: (int(tensor.shape[1]), int(tensor.shape[2]), int(tensor.shape[3]))
                             for stride, tensor in maps.items()}
    scores = {}
    for stride in strides:
        kernel, bias = fcn.get_layer(f'score_{stride}').get_weights()
        scores[stride] = (kernel[0, 0].astype(np.float32), bias.astype(np.float32))
    upsample = {stride: fcn.get_layer(f'upscore_to_{stride}').get_weights()[0].astype(np.float32)
                for stride in strides[1:]}
    final = fcn.get_layer('upscore_final').get_weights()[0]
    if not np.allclose(final, bilinear_kernel(strides[-1], len(classes)), atol=1e-6):
        raise DataError(f'{fcn.name}: its last upsampling is not the fixed bilinear one the head computes')
    return backbone, SegHead(variant, classes, scores, upsample), shapes


def split_fcn(options: SplitOptions) -> SplitResult:
    """Split a checkpoint made by ``train_segmentation``: export the backbone, save the head beside it."""
    card = verify(options.checkpoint)
    params = card.extra.get('architecture_params') if card else None
    if card is None or card.kind != 'segmentation' or not params or not card.classes:
        raise DataError(f'{options.checkpoint}: its card does not describe an FCN trained by train-seg')
    size: tuple[int, int] | None = options.input_size or card.input_size
    if size is None:
        raise DataError(f'{options.checkpoint}: no input size in its card; give one')
    trained = keras.saving.load_model(options.checkpoint)
    backbone_name = backbone_of(params)
    fcn = build_fcn(params['variant'], params['num_classes'], size, backbone_name)
    fcn.set_weights(trained.get_weights())
    backbone, head, shapes = split_model(fcn, params['variant'], tuple(card.classes), backbone_name)
    head.backbone_sha256 = weights_sha256(backbone)
    name = options.name or f'{params["variant"]}_backbone'
    images = load_images(options.calibration_data, size, options.export.calibration)
    exported = ModelCard(
        kind='seg_backbone', input_size=size,
        architecture=f'{params["variant"]}_{get_backbone(backbone_name).family}_backbone',
        classes=card.classes, metrics=card.metrics,
        extra={**{k: card.extra[k] for k in ('architecture_params', 'class_colors', 'ignore_index', 'traversable')
                  if k in card.extra},
               'feature_shapes': {str(s): list(v) for s, v in shapes.items()},
               'weights_sha256': head.backbone_sha256,
               'output': 'feature maps at strides ' + ', '.join(map(str, shapes)) + ', each flattened (h, w, c), '
                         'concatenated: (N, total); the head is ' + f'{params["variant"]}_head.npz'})
    paths = export_as_asked(backbone, options.export, name, exported, images, 'features', 'split-seg')
    written = verify(next(iter(paths.values())))
    assert written is not None  # export_as_asked wrote it
    head_path = options.export.out / f'{params["variant"]}_head.npz'  # one head fits the backbone at any size
    agreement = _agreement(fcn, backbone, head, shapes, images[: min(16, len(images))], paths.get('int8'))
    if options.write_head:
        head.save(head_path, made_by={'trainer': 'selfsup split-seg (the trained FCN\'s own score layers)',
                                      'checkpoint': options.checkpoint.name}, metrics=agreement)
    final = dataclasses.replace(written, metrics={**written.metrics, 'split_agreement': agreement})
    write_card(next(iter(paths.values())), final)  # the files are unchanged: only the card learns the agreement
    print(f'split-seg: {"wrote" if options.write_head else "kept"} head {head_path}; arg-max agreement with the '
          f'whole FCN {agreement}')
    return SplitResult(paths, final, head_path, head)


def weights_sha256(model: keras.Model) -> str:
    """Digest of a model's weights: the same for its exports at every input size (a head's backbone id)."""
    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight, np.float32).tobytes())
    return digest.hexdigest()


def _agreement(fcn: keras.Model, backbone: keras.Model, head: SegHead, shapes: FeatureShapes, images: np.ndarray,
               int8: Path | None) -> dict[str, float]:
    """How often backbone + numpy head pick the whole (float) FCN's class: float backbone and int8 backbone."""
    size = tuple(fcn.input_shape[1:3])
    reference = fcn.predict(images.astype(np.float32), verbose=0).argmax(-1)
    out = {'float': float((head.logits(split_features(backbone.predict(images.astype(np.float32), verbose=0),
                                                         shapes), size).argmax(-1) == reference).mean())}
    if int8 is not None:
        features = run_tflite(int8, images)
        out['int8'] = float((head.logits(split_features(features, shapes), size).argmax(-1) == reference).mean())
    return out
