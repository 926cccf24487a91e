"""The backbones a network can be built on, by name: a plugin table (``BACKBONES``) of builders.

Every builder takes the image input (raw pixels 0..255) and the same pixels scaled to [-1, 1] by the
``pixels_to_unit`` layer (``backbone.build_backbone`` makes both), and returns the backbone model; its
entry names the stride-8/16/32 feature layers the FCNs read and the layer the SPP embedding pools.

- ``mobilenet_v2_<alpha>``: keras.applications.MobileNetV2 (0.35 is the shipped network; 0.5 and 1.0 in
  the table, any other width keras has by name). Features: the ReLU6 expansions in front of the stride-2
  blocks and the last 1x1 conv; embedding: the last block's projection.
- ``mobilenet_v3_small_minimalistic`` / ``_large_minimalistic``: keras.applications.MobileNetV3 with
  ``minimalistic=True`` (no squeeze-excitation, no hard-swish, 3x3 kernels: what the Edge TPU maps) and
  ``include_preprocessing=False`` (the shared ``pixels_to_unit`` layer does the same [-1, 1] scaling). Its
  activations are plain ReLU (unbounded), named here after the layer before them (keras numbers them).
- ``efficientnet_lite0``: EfficientNet-B0's topology (MBConv blocks, 3x3/5x5 depthwise kernels, 32-channel
  stem, 1280-channel head) without squeeze-excitation and with ReLU6, as the Lite variants are defined
  for edge accelerators; built here (keras has no Lite), random weights only.
- ``shufflenet_v2_<0.5|1.0>``: ShuffleNet V2 units (channel split, two branches, concatenation, channel
  shuffle), built here with ReLU6 (bounded int8 ranges, like Lite); random weights only. The split is one
  SPLIT op; the shuffle is RESHAPE (1, h*w, 2, c/2) -> TRANSPOSE -> RESHAPE, 4-d with batch 1, so at most
  three dimensions exceed 1 (the Edge TPU's limit on tensor rank).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import keras

DEFAULT_BACKBONE = 'mobilenet_v2_0.35'

Maker = Callable[[keras.KerasTensor, keras.KerasTensor, str | None], keras.Model]
"""(image input in pixels, the same scaled to [-1, 1], weights) -> backbone model from the image input."""


@dataclass(frozen=True)
class Backbone:
    """A backbone by name: its builder, feature layers by stride, the embedding's layer, allowed weights.

    ``family`` is what the model cards' ``architecture`` strings say (``fcn8s_<family>``); ``bounded``
    says whether every feature map is a ReLU6 output in [0, 6] (one int8 scale fits them all, as the
    split backbone's concatenated output wants)."""

    name: str
    family: str
    make: Maker
    feature_layers: dict[int, str]
    embedding_layer: str
    weights: tuple[str | None, ...] = (None,)
    bounded: bool = True


# --- MobileNetV2 (keras.applications) ------------------------------------------------------------------

MOBILENET_V2_FEATURES = {8: 'block_6_expand_relu', 16: 'block_13_expand_relu', 32: 'out_relu'}


def mobilenet_v2_name(alpha: float) -> str:
    """The table's name of MobileNetV2 at width ``alpha`` (0.35 -> 'mobilenet_v2_0.35', 1 -> '..._1.0')."""
    return f'mobilenet_v2_{float(alpha)}'


def _mobilenet_v2(alpha: float) -> Backbone:
    def make(image: keras.KerasTensor, scaled: keras.KerasTensor, weights: str | None) -> keras.Model:
        return keras.applications.MobileNetV2(input_tensor=scaled, alpha=alpha, include_top=False, weights=weights)

    return Backbone(mobilenet_v2_name(alpha), 'mobilenet_v2', make, MOBILENET_V2_FEATURES,
                    'block_16_project_BN', (None, 'imagenet'))


# --- MobileNetV3 minimalistic (keras.applications) -----------------------------------------------------


def _name_activations(model: keras.Model) -> keras.Model:
    """Name each ReLU after the layer it follows (``x_expand_bn`` -> ``x_expand_relu``): keras numbers
    them (``re_lu_17``) by a process-wide counter, so their names would change from build to build."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.ReLU):
            source = layer.input._keras_history.operation.name
            layer.name = source[: -len('_bn')] + '_relu' if source.endswith('_bn') else f'{source}_relu'
    return model


def _mobilenet_v3(size: str) -> Backbone:
    application = keras.applications.MobileNetV3Small if size == 'small' else keras.applications.MobileNetV3Large

    def make(image: keras.KerasTensor, scaled: keras.KerasTensor, weights: str | None) -> keras.Model:
        return _name_activations(application(input_tensor=scaled, include_top=False, weights=weights,
                                             minimalistic=True, include_preprocessing=False))

    if size == 'small':
        features = {8: 'expanded_conv_3_expand_relu', 16: 'expanded_conv_8_expand_relu', 32: 'conv_1_relu'}
        embedding = 'expanded_conv_10_add'
    else:
        features = {8: 'expanded_conv_6_expand_relu', 16: 'expanded_conv_12_expand_relu', 32: 'conv_1_relu'}
        embedding = 'expanded_conv_14_add'
    name = f'mobilenet_v3_{size}_minimalistic'
    return Backbone(name, name, make, features, embedding, (None, 'imagenet'), bounded=False)


# --- EfficientNet-Lite0 (built here) -------------------------------------------------------------------

# EfficientNet-B0's stages: (expansion, kernel, stride, output channels, repeats).
EFFICIENTNET_B0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))


def _conv_bn_relu6(x: keras.KerasTensor, filters: int, kernel: int, stride: int, name: str,
                   relu: bool = True) -> keras.KerasTensor:
    x = keras.layers.Conv2D(filters, kernel, stride, padding='same', use_bias=False, name=f'{name}_conv')(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, name=f'{name}_bn')(x)
    return keras.layers.ReLU(6.0, name=f'{name}_relu')(x) if relu else x


def _mbconv(x: keras.KerasTensor, expansion: int, kernel: int, stride: int, filters: int,
            name: str) -> keras.KerasTensor:
    """Inverted residual without squeeze-excitation: 1x1 expand, depthwise, 1x1 linear projection."""
    inputs, channels = x, int(x.shape[-1])
    if expansion != 1:
        x = _conv_bn_relu6(x, channels * expansion, 1, 1, f'{name}_expand')
    x = keras.layers.DepthwiseConv2D(kernel, stride, padding='same', use_bias=False, name=f'{name}_dwconv')(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, name=f'{name}_bn')(x)
    x = keras.layers.ReLU(6.0, name=f'{name}_relu')(x)
    x = _conv_bn_relu6(x, filters, 1, 1, f'{name}_project', relu=False)
    if stride == 1 and channels == filters:
        x = keras.layers.Add(name=f'{name}_add')([inputs, x])
    return x


def _efficientnet_lite0(image: keras.KerasTensor, scaled: keras.KerasTensor, weights: str | None) -> keras.Model:
    x = _conv_bn_relu6(scaled, 32, 3, 2, 'stem')
    for stage, (expansion, kernel, stride, filters, repeats) in enumerate(EFFICIENTNET_B0_STAGES, 1):
        for i in range(repeats):
            x = _mbconv(x, expansion, kernel, stride if i == 0 else 1, filters, f'block{stage}{chr(97 + i)}')
    x = _conv_bn_relu6(x, 1280, 1, 1, 'top')
    return keras.Model(image, x, name='efficientnet_lite0')


# --- ShuffleNet V2 (built here) ------------------------------------------------------------------------

SHUFFLENET_V2_CHANNELS = {0.5: (48, 96, 192), 1.0: (116, 232, 464)}
SHUFFLENET_V2_REPEATS = (4, 8, 4)


@keras.saving.register_keras_serializable(package='selfsup_perception')
class ChannelSplit(keras.layers.Layer):
    """The channels cut into two equal halves (one SPLIT op in TFLite)."""

    def call(self, inputs: keras.KerasTensor) -> list[keras.KerasTensor]:
        return keras.ops.split(inputs, 2, axis=-1)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> list[tuple[int | None, ...]]:
        half = (*input_shape[:-1], None if input_shape[-1] is None else input_shape[-1] // 2)
        return [half, half]


@keras.saving.register_keras_serializable(package='selfsup_perception')
class ChannelShuffle(keras.layers.Layer):
    """ShuffleNet's channel shuffle over two groups: (h, w, 2, c/2) -> (h, w, c/2, 2), done on a 4-d
    (N, h*w, 2, c/2) tensor so that with batch 1 no more than three dimensions exceed 1. The sizes are the
    graph's static ones, taken when the layer is built (a traced batch may not know them)."""

    def build(self, input_shape: tuple[int | None, ...]) -> None:
        _, height, width, channels = input_shape
        if height is None or width is None or channels is None or channels % 2:
            raise ValueError(f'channel shuffle needs a static shape with an even channel count, got {input_shape}')
        self.size = (int(height), int(width), int(channels))

    def call(self, inputs: keras.KerasTensor) -> keras.KerasTensor:
        height, width, channels = self.size
        x = keras.ops.reshape(inputs, (-1, height * width, 2, channels // 2))
        x = keras.ops.transpose(x, (0, 1, 3, 2))
        return keras.ops.reshape(x, (-1, height, width, channels))

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        return input_shape


def _shuffle_unit(x: keras.KerasTensor, filters: int, stride: int, name: str) -> keras.KerasTensor:
    """ShuffleNet V2 unit: stride 1 splits the channels and convolves one half; stride 2 convolves all
    of them in two branches (each filters/2 wide); the halves are concatenated and shuffled."""
    half = filters // 2
    if stride == 1:
        shortcut, x = ChannelSplit(name=f'{name}_split')(x)
    else:
        shortcut = keras.layers.DepthwiseConv2D(3, 2, padding='same', use_bias=False,
                                                name=f'{name}_short_dwconv')(x)
        shortcut = keras.layers.BatchNormalization(epsilon=1e-3, name=f'{name}_short_dw_bn')(shortcut)
        shortcut = _conv_bn_relu6(shortcut, half, 1, 1, f'{name}_short_pw')
    x = _conv_bn_relu6(x, half, 1, 1, f'{name}_pw1')
    x = keras.layers.DepthwiseConv2D(3, stride, padding='same', use_bias=False, name=f'{name}_dwconv')(x)
    x = keras.layers.BatchNormalization(epsilon=1e-3, name=f'{name}_dw_bn')(x)
    x = _conv_bn_relu6(x, half, 1, 1, f'{name}_pw2')
    x = keras.layers.Concatenate(name=f'{name}_concat')([shortcut, x])
    return ChannelShuffle(name=f'{name}_shuffle')(x)


def _shufflenet_v2(width: float) -> Backbone:
    channels = SHUFFLENET_V2_CHANNELS[width]

    def make(image: keras.KerasTensor, scaled: keras.KerasTensor, weights: str | None) -> keras.Model:
        x = _conv_bn_relu6(scaled, 24, 3, 2, 'stem')
        x = keras.layers.MaxPool2D(3, 2, padding='same', name='stem_pool')(x)
        for stage, (filters, repeats) in enumerate(zip(channels, SHUFFLENET_V2_REPEATS, strict=True), 2):
            for unit in range(1, repeats + 1):
                x = _shuffle_unit(x, filters, 2 if unit == 1 else 1, f'stage{stage}_{unit}')
        x = _conv_bn_relu6(x, 1024, 1, 1, 'conv5')
        return keras.Model(image, x, name=f'shufflenet_v2_{width}')

    last = {stage: f'stage{stage}_{repeats}_shuffle' for stage, repeats in zip((2, 3, 4), SHUFFLENET_V2_REPEATS,
                                                                             strict=True)}
    return Backbone(f'shufflenet_v2_{width}', f'shufflenet_v2_{width}', make,
                    {8: last[2], 16: last[3], 32: 'conv5_relu'}, last[4])


BACKBONES: dict[str, Backbone] = {
    spec.name: spec
    for spec in (
        _mobilenet_v2(0.35),
        _mobilenet_v2(0.5),
        _mobilenet_v2(1.0),
        _mobilenet_v3('small'),
        _mobilenet_v3('large'),
        Backbone('efficientnet_lite0', 'efficientnet_lite0', _efficientnet_lite0,
                 {8: 'block4a_expand_relu', 16: 'block6a_expand_relu', 32: 'top_relu'}, 'block7a_project_bn'),
        _shufflenet_v2(0.5),
        _shufflenet_v2(1.0),
    )
}
BACKBONE_NAMES = tuple(BACKBONES)
_MOBILENET_V2 = re.compile(r'mobilenet_v2_(\d+(?:\.\d+)?)')


def get_backbone(name: str) -> Backbone:
    """The table's entry ``name``; ``mobilenet_v2_<alpha>`` also for widths outside the table."""
    if name in BACKBONES:
        return BACKBONES[name]
    match = _MOBILENET_V2.fullmatch(name)
    if match and float(match.group(1)) > 0:
        return _mobilenet_v2(float(match.group(1)))
    raise ValueError(f'unknown backbone {name!r}; one of {", ".join(BACKBONE_NAMES)} (or mobilenet_v2_<alpha>)')


def card_params(name: str) -> dict[str, Any]:
    """What a model card's ``architecture_params`` say of backbone ``name``: the name, and for MobileNetV2
    its ``alpha`` as the cards said it before the option (``backbone_of`` reads either)."""
    spec = get_backbone(name)
    params: dict[str, Any] = {'backbone': spec.name}
    if spec.family == 'mobilenet_v2':
        params['alpha'] = float(spec.name.rsplit('_', 1)[1])
    return params


def backbone_of(params: Mapping[str, Any]) -> str:
    """The backbone a card's ``architecture_params`` describe; cards from before the option give only
    MobileNetV2's ``alpha``."""
    if 'backbone' in params:
        return str(params['backbone'])
    return mobilenet_v2_name(float(params.get('alpha', 0.35)))
