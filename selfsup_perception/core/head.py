"""The on-device head: embeddings -> P(obstacle) per (distance, sensor), trained in numpy on the robot.

A logistic layer, or one ReLU hidden layer, with a sigmoid per output; the loss is binary cross-entropy
over the known labels only, plus, given consistency pairs (``core.consistency``), a state-consistency
term that teaches every frame's far outputs what a later frame's nearer outputs say of the same place.
Adam with decoupled weight decay, early stopping on validation frames taken as contiguous blocks of
time (neighbouring frames are near-duplicates: a random split would leak). Deterministic for a seed.
Embeddings may be float16 (the trainer standardises a batch at a time, never the whole set). Saved as
``.npz`` (no pickles) with a model card beside it.
"""

from __future__ import annotations

import hashlib
import io
import math
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from selfsup_perception.core.consistency import ConsistencyPairs
from selfsup_perception.core.modelcard import (
    ModelCard,
    ModelLoadError,
    atomic_write_bytes,
    verify,
    write_card,
)
from selfsup_perception.core.npzfile import read_npz
from selfsup_perception.core.optim import AdamW

MAX_HEAD_VALUES = 1 << 24  # weights a head may have (16.8 M: 64 MB as float32); heads have ~10^5-10^6
Layers = tuple[tuple[np.ndarray, np.ndarray], ...]  # (W, b) per layer


#: The semi-supervised variants of head training (issue 12), by name: (consistency weight, teacher decay).
#: The unseen-world benchmark scores each as a head entry (labels only / + consistency / + a mean teacher).
TRAINING_VARIANTS: dict[str, tuple[float, float]] = {
    'labels only': (0.0, 0.0),
    'consistency': (1.0, 0.0),
    'consistency + mean teacher': (1.0, 0.99),
}
#: The variant ``selfsup train`` and the trainer node use unless told otherwise (HeadOptions' defaults): the
#: one the benchmark's ablation shows best. Labels only until a 20-world benchmark run shows otherwise.
DEFAULT_VARIANT = 'labels only'


class HeadLoadError(ModelLoadError):
    """A saved head is missing, corrupt, or does not fit the embedder/labels it is used with."""


@dataclass(frozen=True)
class HeadOptions:
    """Training hyper-parameters; the defaults suit ~10^3-10^4 frames of ~10^3-dimensional embeddings.

    ``hidden`` 0 is a logistic layer. Validation: ``validation_fraction`` of the frames, in
    ``validation_blocks`` contiguous blocks spread over the recording; training frames closer than
    ``guard`` seconds to a validation block are left out (they nearly repeat its frames).

    Consistency (only when pairs are given and ``consistency_weight`` > 0): the batches also hold the
    unlabelled training frames that have pairs; each frame of a batch with pairs draws one of them, and
    the loss adds ``consistency_weight`` x the cross-entropy of its far output against the pair's nearer
    output, a fixed target (no gradient through it). ``teacher_decay`` > 0 takes that target from an
    exponential moving average of the weights (mean teacher) instead of the current ones. Their defaults are
    those of :data:`DEFAULT_VARIANT`.
    """

    hidden: int = 0
    learning_rate: float = 3e-3
    fine_tune_learning_rate: float = 3e-4  # when training starts from a head: small steps keep what it knew
    weight_decay: float = 1e-4
    batch_size: int = 256
    max_epochs: int = 200
    patience: int = 10
    min_improvement: float = 1e-4
    validation_fraction: float = 0.2
    validation_blocks: int = 5
    guard: float = 1.0
    seed: int = 0
    consistency_weight: float = TRAINING_VARIANTS[DEFAULT_VARIANT][0]
    teacher_decay: float = TRAINING_VARIANTS[DEFAULT_VARIANT][1]

    def __post_init__(self) -> None:
        checks = {
            'hidden': self.hidden >= 0,
            'learning_rate': self.learning_rate > 0,
            'fine_tune_learning_rate': self.fine_tune_learning_rate > 0,
            'weight_decay': self.weight_decay >= 0,
            'batch_size': self.batch_size >= 1,
            'max_epochs': self.max_epochs >= 1,
            'patience': self.patience >= 1,
            'min_improvement': self.min_improvement >= 0,
            'validation_fraction': 0 <= self.validation_fraction < 1,
            'validation_blocks': self.validation_blocks >= 1,
            'guard': self.guard >= 0,
            'consistency_weight': 0 <= self.consistency_weight < math.inf,
            'teacher_decay': 0 <= self.teacher_decay < 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f'invalid head options: {", ".join(f"{n}={getattr(self, n)!r}" for n in bad)}')


def variant_options(name: str, **options: Any) -> HeadOptions:
    """The options of training variant ``name`` (:data:`TRAINING_VARIANTS`), the others as given."""
    if name not in TRAINING_VARIANTS:
        raise ValueError(f'no training variant {name!r}: the variants are {", ".join(TRAINING_VARIANTS)}')
    weight, decay = TRAINING_VARIANTS[name]
    return HeadOptions(consistency_weight=weight, teacher_decay=decay, **options)


@dataclass
class TrainingHistory:
    """Per-epoch losses (masked BCE per known label; consistency: KL of far from near output) and how training ended."""

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    consistency_loss: list[float] = field(default_factory=list)
    consistency_pairs: int = 0
    best_epoch: int = 0
    stopped_early: bool = False
    n_train: int = 0
    n_val: int = 0
    seconds: float = 0.0
    start_val_loss: float = math.nan  # validation loss of the head fine-tuning started from (best_epoch -1)

    def summary(self) -> dict[str, Any]:
        """The JSON-ready summary stored with the head."""
        kept_start = self.best_epoch < 0
        best_val = self.start_val_loss if kept_start else (self.val_loss[self.best_epoch] if self.val_loss
                                                           else math.nan)
        return {
            'epochs': len(self.train_loss),
            'best_epoch': self.best_epoch,
            'stopped_early': self.stopped_early,
            'train_loss': self.train_loss[self.best_epoch] if self.train_loss and not kept_start else None,
            'val_loss': None if math.isnan(best_val) else best_val,
            'n_train': self.n_train,
            'n_val': self.n_val,
            'seconds': round(self.seconds, 3),
            'consistency_pairs': self.consistency_pairs,
            'consistency_loss': self.consistency_loss[self.best_epoch] if self.consistency_loss and not kept_start
            else None,
        }


@dataclass(frozen=True, eq=False)
class Head:
    """Standardisation (``mean``, ``scale``) then ``layers`` [(W, b), ...]; ReLU between layers."""

    mean: np.ndarray
    scale: np.ndarray
    layers: Layers
    distances: tuple[float, ...]
    sensors: tuple[str, ...]
    embedding_sha256: str = ''
    training: dict[str, Any] = field(default_factory=dict)

    @property
    def embedding_size(self) -> int:
        return int(self.mean.shape[0])

    @property
    def hidden(self) -> int:
        return int(self.layers[0][0].shape[1]) if len(self.layers) == 2 else 0

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """P(obstacle) as float32 (N, distances, sensors) for float embeddings (N, E)."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embedding_size:
            raise ValueError(f'expected embeddings (N, {self.embedding_size}), got {embeddings.shape}')
        x = (embeddings - self.mean) / self.scale
        logits = _forward(self.layers, x)[-1]
        return _sigmoid(logits).reshape(len(x), len(self.distances), len(self.sensors))

    def save(
        self,
        path: str | os.PathLike[str],
        *,
        made_by: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> None:
        """Write ``path`` (.npz) and its card (``.json`` beside it), each atomically, npz first."""
        path = Path(path)
        if path.suffix != '.npz':
            raise ValueError(f'a head is saved as .npz, got {path}')
        arrays = {'mean': self.mean, 'scale': self.scale}
        for i, (w, b) in enumerate(self.layers):
            arrays[f'w{i}'], arrays[f'b{i}'] = w, b
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        data = buffer.getvalue()
        atomic_write_bytes(path, data)
        card = ModelCard(
            kind='head',
            architecture=f'mlp-{self.hidden}' if self.hidden else 'logistic',
            embedding_size=self.embedding_size,
            distances=self.distances,
            sensors=self.sensors,
            sha256={'npz': hashlib.sha256(data).hexdigest()},
            made_by=made_by or {'trainer': __name__},
            metrics=metrics or {},
            extra={
                'hidden': self.hidden,
                'embedding_sha256': self.embedding_sha256,
                'training': self.training,
            },
        )
        write_card(path, card)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, embedder: ModelCard | None = None) -> Head:
        """Read a head saved by ``save``; with ``embedder`` (its model card) check the head was trained on it.

        Every problem (missing/corrupt file, sha256 mismatch, wrong keys or shapes, other embedder) raises
        ``HeadLoadError`` naming the file.
        """
        path = Path(path)
        try:
            card = verify(path)
        except ModelLoadError as exc:
            raise HeadLoadError(f'cannot load head {path}: {exc}') from exc
        if (
            card is None
            or card.kind != 'head'
            or card.distances is None
            or card.sensors is None
            or not card.embedding_size
        ):
            raise HeadLoadError(
                f'{path}: its card is not a head card (kind, distances, sensors, embedding_size)'
            )
        hidden, training, embedding_sha256 = (card.extra.get(key) for key in ('hidden', 'training',
                                                                               'embedding_sha256'))
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 0:
            raise HeadLoadError(f'{path}: card field hidden must be an integer >= 0, got {hidden!r}')
        if not isinstance(training, dict | None) or not isinstance(embedding_sha256, str | None):
            raise HeadLoadError(f'{path}: card fields training (an object) and embedding_sha256 (a string) '
                                f'are of other types: {type(training).__name__}, {type(embedding_sha256).__name__}')
        e, k, s = card.embedding_size, len(card.distances), len(card.sensors)
        sizes = [e, hidden, k * s] if hidden else [e, k * s]
        expected: dict[str, tuple[int, ...]] = {'mean': (e,), 'scale': (e,)}
        for i in range(len(sizes) - 1):
            expected[f'w{i}'], expected[f'b{i}'] = (sizes[i], sizes[i + 1]), (sizes[i + 1],)
        values = sum(math.prod(shape) for shape in expected.values())
        if e < 1 or values > MAX_HEAD_VALUES:
            raise HeadLoadError(f'{path}: its card describes a head of {values} weights (embedding size {e}); '
                                f'a head has 1 to {MAX_HEAD_VALUES}')
        arrays = read_npz(path, expected, HeadLoadError)
        if (
            not all(np.isfinite(a).all() for a in arrays.values())
            or not (arrays['scale'] > 0).all()
        ):
            raise HeadLoadError(f'{path}: weights must be finite floats and scales > 0')
        head = cls(
            mean=arrays['mean'].astype(np.float32),
            scale=arrays['scale'].astype(np.float32),
            layers=tuple(
                (arrays[f'w{i}'].astype(np.float32), arrays[f'b{i}'].astype(np.float32))
                for i in range(len(sizes) - 1)
            ),
            distances=card.distances,
            sensors=card.sensors,
            embedding_sha256=embedding_sha256 or '',
            training=dict(training or {}),
        )
        if embedder is not None:
            _check_embedder(path, head, embedder)
        return head


def _check_embedder(path: Path, head: Head, embedder: ModelCard) -> None:
    if embedder.embedding_size is not None and embedder.embedding_size != head.embedding_size:
        raise HeadLoadError(
            f'{path}: head takes embeddings of size {head.embedding_size}, '
            f'the embedder gives {embedder.embedding_size}'
        )
    if head.embedding_sha256 and head.embedding_sha256 not in embedder.sha256.values():
        raise HeadLoadError(
            f'{path}: head was trained on embeddings of model sha256 {head.embedding_sha256[:12]}..., '
            f'not of this embedder ({", ".join(d[:12] for d in embedder.sha256.values())}...); retrain it'
        )


def time_blocked_split(
    stamps: np.ndarray, fraction: float = 0.2, blocks: int = 5, guard: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation): validation is the last ``fraction`` of each of ``blocks`` equal
    stretches of the recording (in time order); training frames within ``guard`` s of a validation
    block are dropped. Never random: near-duplicate neighbours stay on one side.
    """
    stamps = np.asarray(stamps, dtype=np.float64)
    order = np.argsort(stamps, kind='stable')
    n = len(order)
    is_val = np.zeros(n, bool)
    if fraction > 0:
        for segment in np.array_split(np.arange(n), min(blocks, n)):
            count = round(fraction * len(segment))
            is_val[segment[len(segment) - count :]] = True
    val = order[is_val]
    keep = ~is_val
    sorted_stamps = stamps[order]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], is_val.astype(np.int8), [0]])))
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        near = (sorted_stamps >= sorted_stamps[start] - guard) & (
            sorted_stamps <= sorted_stamps[stop - 1] + guard
        )
        keep &= ~near
    return order[keep], np.sort(val)


ROWS_AT_ONCE = 1024  # frames checked, standardised or scored at a time: bounds the temporary memory (~20 MB)


def train_head(
    embeddings: np.ndarray,
    labels: np.ndarray,
    mask: np.ndarray,
    stamps: np.ndarray,
    options: HeadOptions | None = None,
    *,
    distances: Sequence[float],
    sensors: Sequence[str],
    embedding_sha256: str = '',
    start: Head | None = None,
    pairs: ConsistencyPairs | None = None,
) -> tuple[Head, TrainingHistory]:
    """Train a head on embeddings (N, E), labels (N, K, S) in {0, 1} where ``mask`` (N, K, S) is True.

    ``stamps`` (N,) order frames in time for the validation split. Returns the weights of the epoch
    with the lowest validation loss (the last epoch when there is no validation data). With ``start``
    the training fine-tunes that head (its weights and input standardisation); it is kept as it is
    (``best_epoch`` -1) when no epoch improves its validation loss. ``pairs`` (rows of these frames)
    add the consistency term when ``options.consistency_weight`` > 0; only pairs of two training-side
    frames count (labelled or not), so validation frames stay unseen.
    """
    options = options or HeadOptions()
    started = time.perf_counter()
    x, y, m = _check_inputs(embeddings, labels, mask, stamps, distances, sensors)
    side, val = time_blocked_split(
        stamps, options.validation_fraction, options.validation_blocks, options.guard
    )
    train, val = side[m[side].any(1)], val[m[val].any(1)]
    if not len(train):
        raise ValueError('no training frame has a known label')
    pairs = _training_pairs(pairs, side, len(x), len(distances)) if options.consistency_weight > 0 \
        else ConsistencyPairs.empty()
    rng = np.random.default_rng(options.seed)
    if start is None:
        mean, scale = _standardiser(x, train)
        layers = _initial_layers(rng, x.shape[1], options.hidden, y[train], m[train])
    else:
        if start.embedding_size != x.shape[1] or start.layers[-1][1].size != y.shape[1] \
                or start.hidden != options.hidden:
            raise ValueError(f'cannot fine-tune a head of {start.embedding_size} inputs, {start.hidden} hidden and '
                             f'{start.layers[-1][1].size} outputs with {x.shape[1]} inputs, {options.hidden} hidden '
                             f'and {y.shape[1]} outputs')
        mean, scale = start.mean, start.scale
        layers = tuple((w.copy(), b.copy()) for w, b in start.layers)
    inputs = _Inputs(x, mean, scale)
    optimiser = AdamW(layers, options.learning_rate if start is None else options.fine_tune_learning_rate,
                      options.weight_decay)
    consistency = _Consistency(pairs, len(x), options, len(sensors), layers) if len(pairs) else None
    if consistency is not None:  # unlabelled frames take part through their pairs
        train = np.union1d(train, consistency.frames)
    history = TrainingHistory(n_train=len(train), n_val=len(val), consistency_pairs=len(pairs))
    best = layers
    best_loss = math.inf
    if start is not None and len(val):
        best_loss = history.start_val_loss = _masked_bce(_logits(layers, inputs, val), y[val], m[val])
        history.best_epoch = -1
    for epoch in range(options.max_epochs):
        order = rng.permutation(train)
        total = agreement = 0.0
        for first in range(0, len(order), options.batch_size):
            batch = order[first : first + options.batch_size]
            if consistency is None:
                loss, grads = _loss_and_grads(layers, inputs.rows(batch), y[batch], m[batch])
            else:
                loss, disagreement, grads = consistency.loss_and_grads(layers, inputs, batch, y[batch], m[batch])
                agreement += disagreement
            total += loss * m[batch].sum()
            layers = optimiser.step(layers, grads)
            if consistency is not None:
                consistency.follow(layers)
        history.train_loss.append(float(total / m[train].sum()))
        if consistency is not None:
            history.consistency_loss.append(agreement / -(-len(order) // options.batch_size))
        if not len(val):
            best, history.best_epoch = layers, epoch
            continue
        val_loss = _masked_bce(_logits(layers, inputs, val), y[val], m[val])
        history.val_loss.append(val_loss)
        if val_loss < best_loss - options.min_improvement:
            best, best_loss, history.best_epoch = layers, val_loss, epoch
        elif epoch - history.best_epoch >= options.patience:
            history.stopped_early = True
            break
    history.seconds = time.perf_counter() - started
    head = Head(
        mean=mean,
        scale=scale,
        layers=best,
        distances=tuple(float(d) for d in distances),
        sensors=tuple(str(s) for s in sensors),
        embedding_sha256=embedding_sha256,
        training={**history.summary(), 'options': asdict(options)},
    )
    return head, history


def _check_inputs(
    embeddings: np.ndarray,
    labels: np.ndarray,
    mask: np.ndarray,
    stamps: np.ndarray,
    distances: Sequence[float],
    sensors: Sequence[str],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate shapes; return embeddings (float16/32, not copied), labels and mask flattened to (N, K*S) float32.

    Labels under a False mask are set to 0 here, so whatever they held cannot reach the loss.
    """
    x = np.asarray(embeddings)
    if x.dtype not in (np.float16, np.float32):
        x = x.astype(np.float32)
    labels, mask = np.asarray(labels), np.asarray(mask, dtype=bool)
    n = len(x)
    if x.ndim != 2 or labels.shape != mask.shape or labels.ndim != 3 or len(labels) != n or len(stamps) != n:
        raise ValueError(
            f'expected embeddings (N, E), labels and mask (N, K, S), stamps (N,); got {x.shape}, '
            f'{labels.shape}, {mask.shape}, {np.shape(stamps)}'
        )
    if labels.shape[1:] != (len(distances), len(sensors)):
        raise ValueError(
            f'labels are {labels.shape[1:]} but there are {len(distances)} distances, {len(sensors)} sensors'
        )
    if not all(np.isfinite(x[i : i + ROWS_AT_ONCE]).all() for i in range(0, n, ROWS_AT_ONCE)):
        raise ValueError('embeddings contain NaN or infinity')
    y = np.where(mask, labels, 0)
    if not np.isin(y, (0, 1)).all():
        raise ValueError('known labels must be 0 or 1')
    return x, y.reshape(n, -1).astype(np.float32), mask.reshape(n, -1).astype(np.float32)


def _training_pairs(pairs: ConsistencyPairs | None, side: np.ndarray, frames: int, distances: int) -> ConsistencyPairs:
    """The pairs whose two frames are both on the training side of the split (checked against the inputs)."""
    if pairs is None or not len(pairs):
        return ConsistencyPairs.empty()
    rows = np.concatenate([pairs.far, pairs.near])
    ks = np.concatenate([pairs.far_k, pairs.near_k])
    if rows.min() < 0 or rows.max() >= frames or ks.min() < 0 or ks.max() >= distances:
        raise ValueError(f'consistency pairs refer to frames or distances beyond the {frames} frames and '
                         f'{distances} distances given')
    on_side = np.zeros(frames, bool)
    on_side[side] = True
    return pairs.select(on_side[pairs.far] & on_side[pairs.near])


def _standardiser(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (float32) of ``x[rows]`` per feature, in float64, a chunk of rows at a time."""
    total = np.zeros(x.shape[1])
    for i in range(0, len(rows), ROWS_AT_ONCE):
        total += x[rows[i : i + ROWS_AT_ONCE]].sum(0, dtype=np.float64)
    mean = total / len(rows)
    squares = np.zeros(x.shape[1])
    for i in range(0, len(rows), ROWS_AT_ONCE):
        squares += ((x[rows[i : i + ROWS_AT_ONCE]] - mean) ** 2).sum(0)
    scale = np.sqrt(squares / len(rows))
    scale[scale < 1e-6] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


_FLOAT16 = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)  # every float16, as float32


class _Inputs:
    """The embeddings, standardised on demand a batch of rows at a time (float32): no full float32 copy."""

    def __init__(self, x: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> None:
        self.x, self.mean, self.inverse_scale = x, mean, (1 / scale).astype(np.float32)
        self.bits = x.view(np.uint16) if x.dtype == np.float16 else None

    def rows(self, index: np.ndarray) -> np.ndarray:
        # Looking float16 bit patterns up is twice as fast as numpy's conversion, and exact.
        rows = self.x[index] if self.bits is None else np.take(_FLOAT16, self.bits[index])
        rows -= self.mean
        rows *= self.inverse_scale
        standardised: np.ndarray = rows
        return standardised


def _logits(layers: Layers, inputs: _Inputs, index: np.ndarray) -> np.ndarray:
    """Output logits of frames ``index``, a chunk of rows at a time."""
    return np.concatenate([_forward(layers, inputs.rows(index[i : i + ROWS_AT_ONCE]))[-1]
                           for i in range(0, len(index), ROWS_AT_ONCE)])


def _initial_layers(
    rng: np.random.Generator, inputs: int, hidden: int, y: np.ndarray, m: np.ndarray
) -> Layers:
    """He-initialised hidden layer; output bias at the log-odds of each output's positive rate."""
    rate = np.clip((y * m).sum(0) / np.maximum(m.sum(0), 1), 1e-3, 1 - 1e-3)
    prior = np.log(rate / (1 - rate)).astype(np.float32)
    outputs = y.shape[1]
    if not hidden:
        return ((np.zeros((inputs, outputs), np.float32), prior),)
    w0 = (rng.standard_normal((inputs, hidden)) * math.sqrt(2 / inputs)).astype(np.float32)
    w1 = (rng.standard_normal((hidden, outputs)) * math.sqrt(1 / hidden)).astype(np.float32)
    return ((w0, np.zeros(hidden, np.float32)), (w1, prior))


def _forward(layers: Layers, x: np.ndarray) -> list[np.ndarray]:
    """Activations of every layer: [input, hidden (after ReLU)..., output logits]."""
    activations = [x]
    for i, (w, b) in enumerate(layers):
        z = activations[-1] @ w + b
        activations.append(np.maximum(z, 0) if i < len(layers) - 1 else z)
    return activations


def _sigmoid(z: np.ndarray) -> np.ndarray:
    probabilities: np.ndarray = np.exp(-np.logaddexp(0, -z)).astype(np.float32)
    return probabilities


def _masked_bce(logits: np.ndarray, y: np.ndarray, m: np.ndarray) -> float:
    """Mean binary cross-entropy over the known labels (stable in the logits)."""
    return float(((np.logaddexp(0, logits) - y * logits) * m).sum() / max(m.sum(), 1.0))


def _label_delta(logits: np.ndarray, y: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Gradient of the masked BCE with respect to the logits: unknown labels contribute exactly 0."""
    delta: np.ndarray = (_sigmoid(logits) - y) * m / np.float32(max(m.sum(), 1.0))
    return delta


def _backward(layers: Layers, activations: list[np.ndarray], delta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Gradient for each (W, b) given the gradient ``delta`` of the loss with respect to the output logits."""
    grads = []
    for i in range(len(layers) - 1, -1, -1):
        grads.append((activations[i].T @ delta, delta.sum(0)))
        if i:
            delta = (delta @ layers[i][0].T) * (activations[i] > 0)
    return grads[::-1]


def _loss_and_grads(
    layers: Layers, x: np.ndarray, y: np.ndarray, m: np.ndarray
) -> tuple[float, list[tuple[np.ndarray, np.ndarray]]]:
    """Masked BCE of one batch and its gradient for each (W, b); unknown labels contribute exactly 0."""
    activations = _forward(layers, x)
    logits = activations[-1]
    return _masked_bce(logits, y, m), _backward(layers, activations, _label_delta(logits, y, m))


class _Consistency:
    """The consistency term: each frame of a batch that has pairs draws one, its far output is pulled to the
    pair's (fixed) nearer output.

    The loss on a pair is the cross-entropy of the far output against the nearer output's probability
    p_near: its gradient on the far logit is p_far - p_near, the label loss's own form, so the weight
    compares with a label's. Reported as KL (0 when they agree).
    """

    def __init__(self, pairs: ConsistencyPairs, frames: int, options: HeadOptions, sensors: int,
                 layers: Layers) -> None:
        self.pairs = pairs.select(np.argsort(pairs.far, kind='stable'))
        self.first = np.searchsorted(self.pairs.far, np.arange(frames + 1))  # pairs of f: first[f]:first[f + 1]
        self.frames = np.flatnonzero(np.diff(self.first))
        self.weight = np.float32(options.consistency_weight)
        self.decay = options.teacher_decay
        self.sensors = np.arange(sensors)
        self.rng = np.random.default_rng((options.seed, 1))  # its own stream: the label batches stay the same
        self.teacher = layers

    def follow(self, layers: Layers) -> None:
        """After an optimiser step: the teacher is the new weights, or their moving average (mean teacher)."""
        if not self.decay:
            self.teacher = layers
            return
        d = np.float32(self.decay)
        self.teacher = tuple((d * tw + (1 - d) * w, d * tb + (1 - d) * b)
                             for (tw, tb), (w, b) in zip(self.teacher, layers, strict=True))

    def loss_and_grads(
        self, layers: Layers, inputs: _Inputs, batch: np.ndarray, y: np.ndarray, m: np.ndarray
    ) -> tuple[float, float, list[tuple[np.ndarray, np.ndarray]]]:
        """Label BCE, consistency KL and the gradient of BCE + weight x consistency for one batch."""
        activations = _forward(layers, inputs.rows(batch))
        logits = activations[-1]
        delta = _label_delta(logits, y, m)
        loss = _masked_bce(logits, y, m)
        count = self.first[batch + 1] - self.first[batch]
        has = np.flatnonzero(count)
        if not has.size:
            return loss, 0.0, _backward(layers, activations, delta)
        drawn = self.first[batch[has]] + (self.rng.random(has.size) * count[has]).astype(np.int64)
        width = self.sensors.size
        far_cols = self.pairs.far_k[drawn, None].astype(np.int64) * width + self.sensors
        near_cols = self.pairs.near_k[drawn, None].astype(np.int64) * width + self.sensors
        near = _forward(self.teacher, inputs.rows(self.pairs.near[drawn]))[-1][np.arange(has.size)[:, None],
                                                                              near_cols]
        far = logits[has[:, None], far_cols]
        target = _sigmoid(near)
        delta[has[:, None], far_cols] += self.weight * (_sigmoid(far) - target) / np.float32(target.size)
        kl = (np.logaddexp(0, far) - target * far) - (np.logaddexp(0, near) - target * near)
        return loss, float(kl.mean()), _backward(layers, activations, delta)
