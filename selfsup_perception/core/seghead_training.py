"""Fine-tuning the segmentation head's score layers on the robot's pixel self-labels, in numpy.

A pixel self-label says floor (the robot drove there) or obstacle (a sensor hit it: an obstacle or a wall),
so it names a set of classes: the traversable ones, or the others. The loss is the partial-label
cross-entropy -log sum_{k in set} p_k over labelled pixels at the input resolution (unknown pixels add
nothing), each label weighted by its inverse frequency (class balance: floor labels outnumber obstacle labels
tenfold). Self-labels cover the near floor and the foot of what the sensors hit, never the far floor or the
walls' tops, so fitting them alone makes the head forget the rest: with ``distill_weight`` > 0 every pixel
without a self-label adds that weight x the KL divergence from the start head's class probabilities to the new
head's (Learning without Forgetting, Li & Hoiem 2016): the head changes where the robot has evidence and
keeps what it knew elsewhere. Only the 1x1 score layers learn; the upsamplings stay as the FCN trained them.
AdamW whose weight decay pulls towards the starting weights (L2-SP), early stopping on validation frames in
contiguous blocks of time (``core.head.time_blocked_split``). Features may be the backbone's quantised
uint8 output (with its scale and zero point): 70 KB a frame at 160x120 instead of 280 KB as float32.
Deterministic for a seed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from selfsup_perception.core.head import time_blocked_split
from selfsup_perception.core.optim import AdamW, Layers
from selfsup_perception.core.pixel_labels import FLOOR, OBSTACLE
from selfsup_perception.core.seghead import (
    FeatureShapes,
    SegHead,
    final_upsampling_adjoint,
    split_features,
    transposed_conv_adjoint,
)

#: Weight of the keep-what-you-knew term, tuned on the tuning worlds 20,002-20,004 (never the benchmark's):
#: traversable mIoU median 0.928 / 0.974 / 0.976 / 0.977 at weights 0 / 0.3 / 1 / 3, the shipped head 0.977
#: (benchmarks/tune_seghead.py, benchmarks/RESULTS.md).
DISTILL_WEIGHT = 3.0


@dataclass(frozen=True)
class SegHeadOptions:
    """Hyper-parameters; the defaults suit a few hundred to a few thousand self-labelled frames."""

    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 16
    max_epochs: int = 30
    patience: int = 4
    min_improvement: float = 1e-4
    validation_fraction: float = 0.2
    validation_blocks: int = 5
    guard: float = 1.0
    max_class_weight: float = 10.0
    distill_weight: float = DISTILL_WEIGHT
    seed: int = 0

    def __post_init__(self) -> None:
        if not (self.learning_rate > 0 and self.weight_decay >= 0 and self.batch_size >= 1 and self.max_epochs >= 1
                and self.patience >= 1 and 0 < self.validation_fraction < 1 and self.validation_blocks >= 1
                and self.guard >= 0 and self.max_class_weight >= 1 and self.min_improvement >= 0
                and self.distill_weight >= 0):
            raise ValueError(f'invalid segmentation head options: {self}')


@dataclass(frozen=True)
class SelfLabelledFeatures:
    """Training data: the backbone's flat outputs (N, total), raw uint8 with ``scale``/``zero_point`` or float;
    pixel self-labels (N, H, W) at the backbone's input size; stamps (s) for the time-blocked split."""

    features: np.ndarray
    labels: np.ndarray
    stamps: np.ndarray
    shapes: FeatureShapes
    scale: float = 0.0
    zero_point: int = 0

    def __post_init__(self) -> None:
        n = len(self.features)
        if self.labels.ndim != 3 or len(self.labels) != n or len(self.stamps) != n:
            raise ValueError(f'features {self.features.shape}, labels {self.labels.shape} and stamps '
                             f'{self.stamps.shape} must agree on the number of frames (labels N, H, W)')

    def rows(self, index: np.ndarray) -> dict[int, np.ndarray]:
        """The feature maps by stride of frames ``index``, dequantised to float32."""
        x = self.features[index].astype(np.float32)
        if self.scale:
            x = (x - np.float32(self.zero_point)) * np.float32(self.scale)
        return split_features(x, self.shapes)


@dataclass
class SegTrainingHistory:
    """What a training did: losses per epoch, the best epoch, frames and labelled pixels used, seconds."""

    n_train: int = 0
    n_val: int = 0
    labelled_pixels: dict[str, int] = field(default_factory=dict)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    start_val_loss: float | None = None
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        best = self.val_loss[self.best_epoch] if self.best_epoch >= 0 else self.start_val_loss
        return {'n_train': self.n_train, 'n_val': self.n_val, 'labelled_pixels': self.labelled_pixels,
                'epochs': len(self.train_loss), 'best_epoch': self.best_epoch, 'start_val_loss': self.start_val_loss,
                'val_loss': best, 'seconds': round(self.seconds, 3)}


def label_sets(head: SegHead, traversable: tuple[bool, ...]) -> np.ndarray:
    """(2, K) bool: which classes a FLOOR (row 0) and an OBSTACLE (row 1) self-label allow."""
    if len(traversable) != len(head.classes) or all(traversable) or not any(traversable):
        raise ValueError(f'need one traversable flag per class {head.classes}, some of each, got {traversable}')
    allowed = np.zeros((2, len(traversable)), bool)
    allowed[FLOOR] = traversable
    allowed[OBSTACLE] = ~np.array(traversable)
    return allowed


def self_label_loss(head: SegHead, data: SelfLabelledFeatures, index: np.ndarray, allowed: np.ndarray,
                    weights: np.ndarray, batch_size: int = 32) -> float:
    """Mean weighted partial-label cross-entropy of ``head`` over the labelled pixels of frames ``index``
    (the validation score: the distillation term is a regulariser, not what the head is judged by)."""
    total, count = 0.0, 0.0
    for begin in range(0, len(index), batch_size):
        rows = index[begin : begin + batch_size]
        loss, pixels, _ = _loss(head, data, rows, allowed, weights, with_grads=False)
        total, count = total + loss, count + pixels
    return total / count if count else float('nan')


def train_seg_head(data: SelfLabelledFeatures, start: SegHead, traversable: tuple[bool, ...],
                   options: SegHeadOptions | None = None) -> tuple[SegHead, SegTrainingHistory]:
    """Fine-tune ``start``'s score layers on ``data``; the best head on the validation frames (``start`` itself
    if no epoch beat it) and the history. Frames without a labelled pixel are left out."""
    options = options or SegHeadOptions()
    clock = time.perf_counter()
    allowed = label_sets(start, traversable)
    labelled = (data.labels == FLOOR) | (data.labels == OBSTACLE)
    frames = np.flatnonzero(labelled.any(axis=(1, 2)))
    if len(frames) < 2:
        raise ValueError(f'need at least 2 frames with pixel self-labels, got {len(frames)}')
    train_rows, val_rows = time_blocked_split(data.stamps[frames], options.validation_fraction,
                                              options.validation_blocks, options.guard)
    train, val = frames[train_rows], frames[val_rows]
    if not len(train) or not len(val):
        raise ValueError(f'{len(frames)} labelled frames leave no training or no validation frames')
    counts = np.array([(data.labels[train] == FLOOR).sum(), (data.labels[train] == OBSTACLE).sum()], np.float64)
    weights = np.where(counts > 0, counts.sum() / (2 * np.maximum(counts, 1)), 1.0)  # absent: unweighted
    weights = np.clip(weights, 1 / options.max_class_weight, options.max_class_weight).astype(np.float32)
    history = SegTrainingHistory(n_train=len(train), n_val=len(val),
                                 labelled_pixels={'floor': int(counts[0]), 'obstacle': int(counts[1])})
    best = current = start
    best_loss = history.start_val_loss = self_label_loss(start, data, val, allowed, weights)
    layers: Layers = tuple(start.scores[s] for s in start.strides)
    optimiser = AdamW(layers, options.learning_rate, options.weight_decay, anchor=layers)
    rng = np.random.default_rng(options.seed)
    stale = 0
    for epoch in range(options.max_epochs):
        order = rng.permutation(train)
        total, count = 0.0, 0.0
        for begin in range(0, len(order), options.batch_size):
            rows = np.sort(order[begin : begin + options.batch_size])
            loss, pixels, grads = _loss(current, data, rows, allowed, weights, with_grads=True,
                                        teacher=start if options.distill_weight > 0 else None,
                                        distill_weight=options.distill_weight)
            if not pixels:
                continue
            total, count = total + loss, count + pixels
            scaled = [(gw / np.float32(pixels), gb / np.float32(pixels)) for gw, gb in grads]
            layers = optimiser.step(layers, scaled)
            current = _with_scores(current, layers)
        history.train_loss.append(total / count if count else float('nan'))
        history.val_loss.append(self_label_loss(current, data, val, allowed, weights))
        if history.val_loss[-1] < best_loss - options.min_improvement:
            best, best_loss, history.best_epoch, stale = current, history.val_loss[-1], epoch, 0
        else:
            stale += 1
            if stale >= options.patience:
                break
    history.seconds = time.perf_counter() - clock
    best.training = {'options': asdict(options), **history.summary()}
    return best, history


def _with_scores(head: SegHead, layers: Layers) -> SegHead:
    return SegHead(head.variant, head.classes, dict(zip(head.strides, layers, strict=True)), head.upsample,
                   head.backbone_sha256, head.training)


def _loss(head: SegHead, data: SelfLabelledFeatures, rows: np.ndarray, allowed: np.ndarray, weights: np.ndarray,
          *, with_grads: bool, teacher: SegHead | None = None,
          distill_weight: float = 0.0) -> tuple[float, float, list[tuple[np.ndarray, np.ndarray]]]:
    """(summed weighted loss, summed pixel weights of the labelled pixels, gradients per score layer summed over
    pixels); with ``teacher``, the distillation term on the unlabelled pixels is added to loss and gradients."""
    features = data.rows(rows)
    labels = data.labels[rows]
    size = labels.shape[1:]
    logits, finest = head.forward(features, size)
    known = (labels == FLOOR) | (labels == OBSTACLE)
    if not known.any():
        return 0.0, 0.0, []
    z = logits[known]  # (P, K)
    label = labels[known].astype(np.intp)
    w = weights[label]
    top = z.max(axis=1, keepdims=True)
    e = np.exp(z - top)
    inside = e * allowed[label]
    loss = float((w * (np.log(e.sum(axis=1)) - np.log(inside.sum(axis=1) + 1e-30))).sum())
    pixels = float(w.sum())
    distilled = teacher is not None and distill_weight > 0
    if distilled:
        assert teacher is not None
        unknown = ~known
        new = _log_softmax(logits[unknown])
        old = _log_softmax(teacher.logits(features, size)[unknown])
        p_old = np.exp(old)
        loss += float(distill_weight * (p_old * (old - new)).sum())
    if not with_grads:
        return loss, pixels, []
    d = e / e.sum(axis=1, keepdims=True) - inside / (inside.sum(axis=1, keepdims=True) + 1e-30)
    grad = np.zeros_like(logits)
    grad[known] = d * w[:, None]
    if distilled:
        grad[unknown] = distill_weight * (np.exp(new) - p_old)
    g = final_upsampling_adjoint(grad, head.strides[-1], finest.shape[1:3])
    grads: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for stride in reversed(head.strides):  # finest first: back through each learned 2x upsampling
        f = features[stride]
        grads[stride] = (f.reshape(-1, f.shape[-1]).T @ g.reshape(-1, g.shape[-1]), g.sum(axis=(0, 1, 2)))
        if stride != 32:
            coarser = features[stride * 2].shape[1:3]
            g = transposed_conv_adjoint(g, head.upsample[stride], 2, coarser)
    return loss, pixels, [grads[s] for s in head.strides]


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True)
    out: np.ndarray = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    return out
