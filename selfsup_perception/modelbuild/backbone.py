"""A backbone (``backbones.BACKBONES``, default MobileNetV2 alpha 0.35) taking RGB pixels (0..255) and
its stride-8, stride-16 and last feature maps.

The [-1, 1] input scaling the backbones expect is a layer inside the graph, so every exported format
takes plain pixels and the int8 TFLite model's uint8 input is the camera's uint8 pixel, unchanged.
"""

from __future__ import annotations

import keras
import numpy as np

from selfsup_perception.modelbuild.backbones import DEFAULT_BACKBONE, MOBILENET_V2_FEATURES, get_backbone

# Feature maps by output stride of the default backbone (layer names of keras.applications.MobileNetV2);
# another backbone's are ``get_backbone(name).feature_layers``.
FEATURE_LAYERS = MOBILENET_V2_FEATURES
WEIGHTS = (None, 'imagenet')


def build_backbone(
    input_size: tuple[int, int],
    backbone: str = DEFAULT_BACKBONE,
    weights: str | None = None,
    bn_momentum: float = 0.99,
) -> keras.Model:
    """``backbone`` (a name of ``backbones.BACKBONES``) without its classifier on an (h, w) RGB input in
    pixels (float 0..255, NHWC).

    ``weights='imagenet'`` downloads pretrained weights (needs internet; MobileNets only); ``None``
    starts at random. ``bn_momentum`` replaces Keras' 0.999, which lags for thousands of steps (short
    trainings here).
    """
    spec = get_backbone(backbone)
    if weights not in spec.weights:
        raise ValueError(f'weights of {backbone} must be one of {spec.weights}, got {weights!r}')
    height, width = input_size
    image = keras.Input((height, width, 3), name='image')
    scaled = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name='pixels_to_unit')(image)
    model = spec.make(image, scaled, weights)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = bn_momentum
    return model


def feature_map(backbone: keras.Model, layer: str) -> keras.KerasTensor:
    """The output of ``layer`` (a name such as ``block_13_expand_relu``); the error lists valid names."""
    try:
        return backbone.get_layer(layer).output
    except ValueError as exc:
        ends = ('_relu', '_add', '_BN', '_bn', '_shuffle')
        names = ', '.join(lay.name for lay in backbone.layers if lay.name.endswith(ends))
        names = names or ', '.join(lay.name for lay in backbone.layers)
        raise ValueError(f'{backbone.name} has no layer {layer!r}; feature layers: {names}') from exc


def stride_features(
    backbone: keras.Model, layers: dict[int, str] | None = None
) -> dict[int, keras.KerasTensor]:
    """The stride-8, stride-16 and last (stride-32) feature maps by stride (default ``FEATURE_LAYERS``,
    the default backbone's: give another backbone's ``feature_layers``)."""
    return {stride: feature_map(backbone, name) for stride, name in (layers or FEATURE_LAYERS).items()}


def recalibrate_batch_norm(model: keras.Model, images: np.ndarray, batch_size: int = 32) -> None:
    """Set every BatchNormalization's moving mean/variance to the average statistics over ``images``.

    MobileNetV2's BN momentum (0.999) needs thousands of steps before the inference statistics match
    the weights; after a short training (or none) they do not, and the exported model (inference mode)
    would not do what training did. This computes them exactly ("precise BN"); no weight changes.
    """
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in layers]
    try:
        for step, start in enumerate(range(0, len(images), batch_size)):
            for layer in layers:  # running average: batch k enters with weight 1/(k+1)
                layer.momentum = step / (step + 1)
            model(images[start : start + batch_size].astype(np.float32), training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum
