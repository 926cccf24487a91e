"""The FCN's head in numpy: score layers and upsampling-and-sum over a fixed backbone's skip features.

The segmentation network is split in two (``modelbuild/split.py``): a backbone on the accelerator (int8,
Edge-TPU-mappable) that outputs the stride-8, -16 and -32 feature maps flattened into one vector, and this
head. FCN-32s/16s/8s (Long, Shelhamer, Darrell 2015): a 1x1 score convolution on the stride-32 map,
upsampled 2x by a learned transposed convolution and summed with the stride-16 map's score (16s, 8s), again
to stride 8 (8s), then a fixed bilinear upsampling to the input size. A head taken from the trained FCN
gives the whole FCN's output; the robot fine-tunes its score layers on its pixel self-labels
(``core/seghead_training.py``). The head does not depend on the input size: the backbone's card gives the
feature shapes, so one head serves a backbone exported at any size. Saved as ``.npz`` (no pickles) with a
card beside it.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from selfsup_perception.core.modelcard import ModelCard, ModelLoadError, atomic_write_bytes, verify, write_card
from selfsup_perception.core.npzfile import read_npz

VARIANTS = {'fcn32s': (32,), 'fcn16s': (32, 16), 'fcn8s': (32, 16, 8)}  # strides whose scores are summed
MAX_CHANNELS = 4096  # feature channels a card may declare per stride
MAX_CLASSES = 256
FeatureShapes = dict[int, tuple[int, int, int]]  # stride -> (height, width, channels) of that feature map


class SegHeadLoadError(ModelLoadError):
    """A saved segmentation head is missing, corrupt, or does not fit the backbone it is used with."""


def bilinear_taps(factor: int) -> np.ndarray:
    """The 1-D taps (2f - f % 2 of them) of upsampling by ``factor`` with bilinear interpolation (half-pixel
    centres, like resize without align_corners); the 2-D kernel is their outer product."""
    size = 2 * factor - factor % 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    taps: np.ndarray = (1.0 - np.abs(np.arange(size) - center) / factor).astype(np.float32)
    return taps


@lru_cache(maxsize=64)
def upsampling_matrix(size_in: int, factor: int, size_out: int) -> np.ndarray:
    """(size_out, size_in): 1-D bilinear upsampling by ``factor`` as a 'same' transposed convolution does it
    (output ``size_in * factor``, padding (k - f) // 2 before), cropped to the first ``size_out`` samples."""
    taps = bilinear_taps(factor)
    pad = (len(taps) - factor) // 2
    matrix = np.zeros((size_in * factor, size_in), np.float32)
    for i in range(size_in):
        for t, tap in enumerate(taps):
            o = i * factor + t - pad
            if 0 <= o < size_in * factor:
                matrix[o, i] = tap
    return matrix[:size_out]


def transposed_conv(x: np.ndarray, kernel: np.ndarray, stride: int, size: tuple[int, int]) -> np.ndarray:
    """Keras' ``Conv2DTranspose(padding='same', use_bias=False)`` of (N, h, w, Cin) by ``kernel`` (k, k, Cout,
    Cin), cropped to ``size`` (top-left, as the FCN's FixedCrop does): (N, size..., Cout)."""
    n, h, w, _ = x.shape
    k = kernel.shape[0]
    pad = (k - stride) // 2
    full = np.zeros((n, (h - 1) * stride + k, (w - 1) * stride + k, kernel.shape[2]), np.float32)
    for r in range(k):
        for c in range(k):
            full[:, r : r + h * stride : stride, c : c + w * stride : stride] += x @ kernel[r, c].T
    return full[:, pad : pad + size[0], pad : pad + size[1]]


def transposed_conv_adjoint(grad: np.ndarray, kernel: np.ndarray, stride: int, shape_in: tuple[int, int]) -> np.ndarray:
    """The gradient with respect to the input of ``transposed_conv`` (N, h, w, Cin), given the output's."""
    n, size_h, size_w, _ = grad.shape
    h, w = shape_in
    k = kernel.shape[0]
    pad = (k - stride) // 2
    full = np.zeros((n, (h - 1) * stride + k, (w - 1) * stride + k, kernel.shape[2]), np.float32)
    full[:, pad : pad + size_h, pad : pad + size_w] = grad
    out = np.zeros((n, h, w, kernel.shape[3]), np.float32)
    for r in range(k):
        for c in range(k):
            out += full[:, r : r + h * stride : stride, c : c + w * stride : stride] @ kernel[r, c]
    return out


@dataclass
class SegHead:
    """Score layers ``scores[stride] = (W (C, K), b (K,))`` and learned 2x upsamplings ``upsample[stride] =
    kernel (k, k, K, K)`` to that stride (16, 8), for ``classes`` (names, the full model's order).
    ``backbone_sha256`` is the digest of the backbone's weights (its card's ``weights_sha256``) or of its file."""

    variant: str
    classes: tuple[str, ...]
    scores: dict[int, tuple[np.ndarray, np.ndarray]]
    upsample: dict[int, np.ndarray]
    backbone_sha256: str = ''
    training: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f'variant must be one of {tuple(VARIANTS)}, got {self.variant!r}')
        strides = VARIANTS[self.variant]
        if set(self.scores) != set(strides) or set(self.upsample) != set(strides[1:]):
            raise ValueError(f'{self.variant} needs score layers at strides {strides} and upsamplings to '
                             f'{strides[1:]}, got {sorted(self.scores)} and {sorted(self.upsample)}')

    @property
    def strides(self) -> tuple[int, ...]:
        return VARIANTS[self.variant]

    def channels(self) -> dict[int, int]:
        """Feature channels the head takes per stride."""
        return {stride: int(w.shape[0]) for stride, (w, _) in self.scores.items()}

    def check_backbone(self, card: ModelCard, where: str = 'segmentation head') -> FeatureShapes:
        """The backbone's feature shapes once they fit this head (channels, classes, its sha256); else
        ``SegHeadLoadError`` saying what differs."""
        if card.kind != 'seg_backbone':
            raise SegHeadLoadError(f'{where}: the model it would run on is a {card.kind} model, not a seg_backbone '
                                   '(a split FCN\'s backbone: selfsup split-seg)')
        shapes = feature_shapes(card)
        wanted = self.channels()
        got = {stride: shapes[stride][2] for stride in wanted if stride in shapes}
        if got != wanted:
            raise SegHeadLoadError(f'{where}: takes feature channels {wanted} by stride, backbone gives {got}')
        if card.classes and tuple(card.classes) != self.classes:
            raise SegHeadLoadError(f'{where}: classes {self.classes} differ from the backbone\'s {card.classes}')
        known = {card.extra.get('weights_sha256'), *card.sha256.values()}  # weights: the same at every input size
        if self.backbone_sha256 and self.backbone_sha256 not in known:
            raise SegHeadLoadError(f'{where}: trained on backbone sha256 {self.backbone_sha256[:12]}..., not on '
                                   'this one; retrain it (selfsup train-seg-head)')
        return shapes

    def logits(self, features: dict[int, np.ndarray], size: tuple[int, int]) -> np.ndarray:
        """Class scores (N, height, width, K) at the input ``size`` from the feature maps by stride."""
        return self.forward(features, size)[0]

    def forward(self, features: dict[int, np.ndarray], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """(logits at ``size``, the summed scores on the finest stride's grid, before the final upsampling)."""
        score = _score(features[32], *self.scores[32])
        for stride in self.strides[1:]:
            skip = _score(features[stride], *self.scores[stride])
            score = transposed_conv(score, self.upsample[stride], 2, skip.shape[1:3]) + skip
        return final_upsampling(score, self.strides[-1], size), score

    def save(self, path: str | os.PathLike[str], *, made_by: dict[str, Any] | None = None,
             metrics: dict[str, Any] | None = None) -> None:
        """Write ``path`` (.npz) and its card (``.json`` beside it), each atomically, npz first."""
        path = Path(path)
        if path.suffix != '.npz':
            raise ValueError(f'a segmentation head is saved as .npz, got {path}')
        arrays = {}
        for stride, (w, b) in self.scores.items():
            arrays[f'score{stride}_w'], arrays[f'score{stride}_b'] = w.astype(np.float32), b.astype(np.float32)
        for stride, kernel in self.upsample.items():
            arrays[f'up{stride}'] = kernel.astype(np.float32)
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        data = buffer.getvalue()
        atomic_write_bytes(path, data)
        card = ModelCard(kind='seg_head', architecture=self.variant, classes=self.classes,
                         sha256={'npz': hashlib.sha256(data).hexdigest()}, made_by=made_by or {'trainer': __name__},
                         metrics=metrics or {},
                         extra={'channels': {str(s): c for s, c in self.channels().items()},
                                'upsample_kernel': {str(s): int(k.shape[0]) for s, k in self.upsample.items()},
                                'backbone_sha256': self.backbone_sha256, 'training': self.training})
        write_card(path, card)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, backbone: ModelCard | None = None) -> SegHead:
        """Read a head saved by ``save``; with ``backbone`` (its card) check it fits. Every problem raises
        ``SegHeadLoadError`` naming the file; array headers are checked against the card before loading."""
        path = Path(path)
        try:
            card = verify(path)
        except ModelLoadError as exc:
            raise SegHeadLoadError(f'cannot load segmentation head {path}: {exc}') from exc
        if card is None or card.kind != 'seg_head' or card.architecture not in VARIANTS or not card.classes:
            raise SegHeadLoadError(f'{path}: its card is not a segmentation head card (kind seg_head, '
                                   f'architecture one of {tuple(VARIANTS)}, classes)')
        strides = VARIANTS[card.architecture]
        classes = len(card.classes)
        channels, kernels = card.extra.get('channels'), card.extra.get('upsample_kernel')
        c, k = _int_mapping(channels), _int_mapping(kernels)
        if c is None or k is None:
            raise SegHeadLoadError(f'{path}: card fields channels and upsample_kernel must map strides to '
                                   f'integers, got {channels!r}, {kernels!r}')
        if (set(c) != set(strides) or set(k) != set(strides[1:]) or not 2 <= classes <= MAX_CLASSES
                or not all(1 <= v <= MAX_CHANNELS for v in c.values()) or not all(2 <= v <= 8 for v in k.values())):
            raise SegHeadLoadError(f'{path}: card declares channels {c}, upsampling kernels {k} and {classes} '
                                   f'classes; {card.architecture} needs strides {strides}, 1..{MAX_CHANNELS} '
                                   f'channels, kernels 2..8, 2..{MAX_CLASSES} classes')
        expected: dict[str, tuple[int, ...]] = {}
        for stride in strides:
            expected[f'score{stride}_w'], expected[f'score{stride}_b'] = (c[stride], classes), (classes,)
        for stride in strides[1:]:
            expected[f'up{stride}'] = (k[stride], k[stride], classes, classes)
        arrays = read_npz(path, expected, SegHeadLoadError)
        if not all(np.isfinite(a).all() for a in arrays.values()):
            raise SegHeadLoadError(f'{path}: weights must be finite')
        sha, training = card.extra.get('backbone_sha256'), card.extra.get('training')
        head = cls(card.architecture, tuple(card.classes),
                   {s: (arrays[f'score{s}_w'].astype(np.float32), arrays[f'score{s}_b'].astype(np.float32))
                    for s in strides},
                   {s: arrays[f'up{s}'].astype(np.float32) for s in strides[1:]},
                   sha if isinstance(sha, str) else '', dict(training) if isinstance(training, dict) else {})
        if backbone is not None:
            head.check_backbone(backbone, str(path))
        return head


def feature_shapes(card: ModelCard) -> FeatureShapes:
    """The backbone card's feature maps by stride (``extra['feature_shapes']``), in increasing stride order: the
    order of the backbone's flat output (a card's JSON keys come sorted as text, '16' before '8');
    ``SegHeadLoadError`` if absent or malformed."""
    raw = card.extra.get('feature_shapes')
    shapes: FeatureShapes = {}
    for stride, shape in raw.items() if isinstance(raw, dict) else ():
        if (isinstance(shape, list) and len(shape) == 3 and all(_is_int(v) and v >= 1 for v in shape)
                and shape[2] <= MAX_CHANNELS and str(stride).isdigit()):
            shapes[int(stride)] = (shape[0], shape[1], shape[2])
    if not shapes or len(shapes) != len(raw or ()) or not {32} <= set(shapes):
        raise SegHeadLoadError('backbone card: feature_shapes must map strides (32 among them) to [height, '
                               f'width, channels], got {raw!r}')
    return dict(sorted(shapes.items()))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_mapping(raw: object) -> dict[int, int] | None:
    """{'8': 96, ...} as {8: 96, ...}; None unless every key is a decimal stride and every value an integer."""
    if not isinstance(raw, dict) or not all(str(k).isdigit() and _is_int(v) for k, v in raw.items()):
        return None
    return {int(k): v for k, v in raw.items()}


def split_features(flat: np.ndarray, shapes: FeatureShapes) -> dict[int, np.ndarray]:
    """The backbone's flat output (N, total) as feature maps by stride, in the card's order (float32)."""
    sizes = [math.prod(shape) for shape in shapes.values()]
    if flat.ndim != 2 or flat.shape[1] != sum(sizes):
        raise ValueError(f'backbone output {flat.shape} is not (N, {sum(sizes)}) for feature maps {shapes}')
    out, start = {}, 0
    for (stride, shape), size in zip(shapes.items(), sizes, strict=True):
        out[stride] = flat[:, start : start + size].astype(np.float32).reshape(len(flat), *shape)
        start += size
    return out


def final_upsampling(score: np.ndarray, stride: int, size: tuple[int, int]) -> np.ndarray:
    """The FCN's fixed last step: bilinear by ``stride`` to ``size`` (separable: two small matmuls)."""
    rows = upsampling_matrix(score.shape[1], stride, size[0])
    cols = upsampling_matrix(score.shape[2], stride, size[1])
    out: np.ndarray = np.einsum('oi,nijk,pj->nopk', rows, score, cols, optimize=True)
    return out


def final_upsampling_adjoint(grad: np.ndarray, stride: int, shape_in: tuple[int, int]) -> np.ndarray:
    """The gradient with respect to ``final_upsampling``'s input, given its output's."""
    rows = upsampling_matrix(shape_in[0], stride, grad.shape[1])
    cols = upsampling_matrix(shape_in[1], stride, grad.shape[2])
    out: np.ndarray = np.einsum('oi,nopk,pj->nijk', rows, grad, cols, optimize=True)
    return out


def _score(features: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    out: np.ndarray = features @ w + b
    return out
