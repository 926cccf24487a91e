"""The numpy segmentation head: its operations against direct definitions, gradients, files, fine-tuning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from selfsup_perception.core.head import time_blocked_split
from selfsup_perception.core.modelcard import ModelCard
from selfsup_perception.core.pixel_labels import FLOOR, OBSTACLE, UNKNOWN
from selfsup_perception.core.seghead import (
    SegHead,
    SegHeadLoadError,
    feature_shapes,
    final_upsampling,
    final_upsampling_adjoint,
    split_features,
    transposed_conv,
    transposed_conv_adjoint,
)
from selfsup_perception.core.seghead_training import (
    SegHeadOptions,
    SelfLabelledFeatures,
    _loss,
    label_sets,
    train_seg_head,
)

SHAPES = {8: (6, 8, 5), 16: (3, 4, 4), 32: (2, 2, 3)}
SIZE = (48, 64)
TRAVERSABLE = (True, False, False)


def random_head(rng: np.random.Generator, variant: str = 'fcn8s') -> SegHead:
    strides = {'fcn8s': (32, 16, 8), 'fcn16s': (32, 16), 'fcn32s': (32,)}[variant]
    scores = {s: (rng.normal(size=(SHAPES[s][2], 3)).astype(np.float32), rng.normal(size=3).astype(np.float32))
              for s in strides}
    bilinear = np.zeros((4, 4, 3, 3), np.float32)
    bilinear[:, :, np.arange(3), np.arange(3)] = np.outer(*[np.array([0.25, 0.75, 0.75, 0.25])] * 2)[:, :, None]
    upsample = {s: bilinear + 0.2 * rng.normal(size=(4, 4, 3, 3)).astype(np.float32) for s in strides[1:]}
    return SegHead(variant, ('floor', 'obstacle', 'wall'), scores, upsample)


def features(rng: np.random.Generator, n: int) -> dict[int, np.ndarray]:
    return {s: rng.random((n, *shape)).astype(np.float32) for s, shape in SHAPES.items()}


def direct_transposed_conv(x: np.ndarray, kernel: np.ndarray, stride: int, size: tuple[int, int]) -> np.ndarray:
    """The definition, one output element at a time: y[o] = sum x[i] K[o - i*s + pad]."""
    n, h, w, _ = x.shape
    k = kernel.shape[0]
    pad = (k - stride) // 2
    y = np.zeros((n, size[0], size[1], kernel.shape[2]))
    for orow in range(size[0]):
        for ocol in range(size[1]):
            for i in range(h):
                for j in range(w):
                    r, c = orow - i * stride + pad, ocol - j * stride + pad
                    if 0 <= r < k and 0 <= c < k:
                        y[:, orow, ocol] += x[:, i, j] @ kernel[r, c].T
    return y


@pytest.mark.parametrize(('stride', 'k', 'size'), [(2, 4, (6, 8)), (2, 4, (5, 7)), (8, 16, (16, 24))])
def test_transposed_conv_is_the_definition_and_its_adjoint_is_exact(stride: int, k: int, size: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 3)).astype(np.float32)
    kernel = rng.normal(size=(k, k, 2, 3)).astype(np.float32)
    y = transposed_conv(x, kernel, stride, size)
    np.testing.assert_allclose(y, direct_transposed_conv(x, kernel, stride, size), rtol=1e-4, atol=1e-4)
    g = rng.normal(size=y.shape).astype(np.float32)
    assert np.vdot(y, g) == pytest.approx(np.vdot(x, transposed_conv_adjoint(g, kernel, stride, (3, 4))), rel=1e-4)


def test_final_upsampling_is_a_bilinear_transposed_conv_with_an_exact_adjoint() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 4, 3)).astype(np.float32)
    taps = np.array([0.0625, 0.1875, 0.3125, 0.4375, 0.5625, 0.6875, 0.8125, 0.9375,
                     0.9375, 0.8125, 0.6875, 0.5625, 0.4375, 0.3125, 0.1875, 0.0625], np.float32)
    kernel = np.zeros((16, 16, 3, 3), np.float32)
    kernel[:, :, np.arange(3), np.arange(3)] = np.outer(taps, taps)[:, :, None]
    y = final_upsampling(x, 8, (20, 30))
    np.testing.assert_allclose(y, direct_transposed_conv(x, kernel, 8, (20, 30)), rtol=1e-4, atol=1e-4)
    g = rng.normal(size=y.shape).astype(np.float32)
    assert np.vdot(y, g) == pytest.approx(np.vdot(x, final_upsampling_adjoint(g, 8, (3, 4))), rel=1e-4)
    flat = np.ones((2, 6, 8, 1), np.float32)  # interior of a constant map stays constant
    assert np.allclose(final_upsampling(flat, 8, (48, 64))[:, 8:-8, 8:-8], 1.0)


def test_split_features_reads_the_flat_backbone_output_in_card_order() -> None:
    rng = np.random.default_rng(2)
    maps = features(rng, 2)
    flat = np.concatenate([maps[s].reshape(2, -1) for s in SHAPES], axis=1)
    split = split_features(flat, SHAPES)
    for s in SHAPES:
        np.testing.assert_array_equal(split[s], maps[s])
    with pytest.raises(ValueError, match='is not'):
        split_features(flat[:, 1:], SHAPES)


def labelled(rng: np.random.Generator, n: int, truth_head: SegHead) -> SelfLabelledFeatures:
    maps = features(rng, n)
    truth = truth_head.logits(maps, SIZE).argmax(-1)
    labels = np.where(truth == 0, FLOOR, OBSTACLE).astype(np.uint8)
    labels[rng.random(labels.shape) < 0.6] = UNKNOWN  # most pixels unknown, as on the robot
    flat = np.concatenate([maps[s].reshape(n, -1) for s in SHAPES], axis=1)
    return SelfLabelledFeatures(flat, labels, np.arange(n, dtype=np.float64), SHAPES)


@pytest.mark.parametrize('variant', ['fcn8s', 'fcn16s', 'fcn32s'])
def test_gradients_match_finite_differences(variant: str) -> None:
    rng = np.random.default_rng(3)
    head = random_head(rng, variant)
    data = labelled(rng, 3, random_head(rng, variant))
    allowed = label_sets(head, TRAVERSABLE)
    weights = np.array([0.7, 2.0], np.float32)
    rows = np.arange(3)
    _, _, grads = _loss(head, data, rows, allowed, weights, with_grads=True)
    for stride, (gw, gb) in zip(head.strides, grads, strict=True):
        for which, index in (('w', (1, 2)), ('b', (1,))):
            eps = 0.1  # the loss is a float32 sum: smaller steps measure its rounding
            changed = []
            for sign in (1, -1):
                w, b = (a.astype(np.float64).copy() for a in head.scores[stride])
                (w if which == 'w' else b)[index] += sign * eps
                scores = {**head.scores, stride: (w.astype(np.float32), b.astype(np.float32))}
                probe = SegHead(head.variant, head.classes, scores, head.upsample)
                changed.append(_loss(probe, data, rows, allowed, weights, with_grads=False)[0])
            numeric = (changed[0] - changed[1]) / (2 * eps)
            analytic = (gw if which == 'w' else gb)[index]
            assert analytic == pytest.approx(numeric, rel=3e-2, abs=0.05), (stride, which)


def test_fine_tuning_learns_the_self_labels_deterministically() -> None:
    rng = np.random.default_rng(4)
    truth = random_head(rng)
    other = random_head(np.random.default_rng(99))
    start = SegHead(other.variant, other.classes, other.scores, truth.upsample)  # only the scores learn
    data = labelled(rng, 60, truth)
    options = SegHeadOptions(max_epochs=40, patience=10, seed=1, weight_decay=0.0, learning_rate=0.1,
                             distill_weight=0.0)  # learning from the self-labels alone
    head, history = train_seg_head(data, start, TRAVERSABLE, options)
    assert history.val_loss[history.best_epoch] < 0.5 * history.start_val_loss
    maps = data.rows(np.arange(60))
    traversable_truth = truth.logits(maps, SIZE).argmax(-1) == 0
    agreement = ((head.logits(maps, SIZE).argmax(-1) == 0) == traversable_truth).mean()
    assert agreement > 0.9
    again, _ = train_seg_head(data, start, TRAVERSABLE, options)
    for s in head.strides:
        np.testing.assert_array_equal(again.scores[s][0], head.scores[s][0])
    assert head.upsample is start.upsample  # the upsamplings are not trained


def test_no_epoch_better_keeps_the_start_head() -> None:
    rng = np.random.default_rng(5)
    start = random_head(rng)
    data = labelled(rng, 20, start)
    options = SegHeadOptions(max_epochs=3)
    _, val = time_blocked_split(data.stamps, options.validation_fraction, options.validation_blocks, options.guard)
    labels = np.full_like(data.labels, FLOOR)  # training frames say floor, validation frames obstacle
    labels[val] = OBSTACLE
    contradicting = SelfLabelledFeatures(data.features, labels, data.stamps, SHAPES)
    head, history = train_seg_head(contradicting, start, TRAVERSABLE, options)
    assert history.best_epoch == -1
    assert head is start
    assert history.val_loss[-1] > history.start_val_loss


def test_training_refuses_data_without_labels_and_bad_flags() -> None:
    rng = np.random.default_rng(6)
    head = random_head(rng)
    data = labelled(rng, 4, head)
    empty = SelfLabelledFeatures(data.features, np.full_like(data.labels, UNKNOWN), data.stamps, SHAPES)
    with pytest.raises(ValueError, match='at least 2 frames'):
        train_seg_head(empty, head, TRAVERSABLE)
    with pytest.raises(ValueError, match='traversable flag'):
        train_seg_head(data, head, (True, True, True))
    with pytest.raises(ValueError, match='invalid'):
        SegHeadOptions(learning_rate=0)


def backbone_card(channels: dict[int, int] | None = None, sha: str = 'abc') -> ModelCard:
    shapes = {str(s): [h, w, (channels or {}).get(s, c)] for s, (h, w, c) in sorted(SHAPES.items(), key=str)}
    return ModelCard(kind='seg_backbone', architecture='fcn8s', classes=('floor', 'obstacle', 'wall'), sha256={'tflite': sha},
                     extra={'feature_shapes': shapes})


def test_save_load_round_trip_and_backbone_checks(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    head = random_head(rng)
    head.backbone_sha256 = 'abc'
    path = tmp_path / 'head.npz'
    head.save(path, metrics={'x': 1})
    card = backbone_card()
    assert list(card.extra['feature_shapes']) == ['16', '32', '8']  # as a card's JSON holds them
    assert list(feature_shapes(card)) == [8, 16, 32]  # the order of the backbone's output
    loaded = SegHead.load(path, backbone=card)
    maps = features(rng, 1)
    np.testing.assert_array_equal(loaded.logits(maps, SIZE), head.logits(maps, SIZE))
    with pytest.raises(SegHeadLoadError, match='feature channels'):
        SegHead.load(path, backbone=backbone_card({8: 7}))
    with pytest.raises(SegHeadLoadError, match='retrain'):
        SegHead.load(path, backbone=backbone_card(sha='other'))


@pytest.mark.parametrize('change', [
    {'kind': 'head'},
    {'architecture': 'fcn4s'},
    {'channels': {'8': 5, '16': 4}},
    {'channels': {'8': 5, '16': 4, '32': 1 << 30}},
    {'channels': {'8': 'five', '16': 4, '32': 3}},
    {'upsample_kernel': {'8': 4, '16': 4000}},
    {'classes': ['floor']},
])
def test_hostile_or_mismatched_cards_are_refused(tmp_path: Path, change: dict[str, object]) -> None:
    path = tmp_path / 'head.npz'
    random_head(np.random.default_rng(8)).save(path)
    card = json.loads(path.with_suffix('.json').read_text())
    card.update(change)
    path.with_suffix('.json').write_text(json.dumps(card))
    with pytest.raises(SegHeadLoadError):
        SegHead.load(path)


def test_corrupt_or_missing_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / 'head.npz'
    with pytest.raises(SegHeadLoadError):
        SegHead.load(path)
    random_head(np.random.default_rng(9)).save(path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(SegHeadLoadError):
        SegHead.load(path)


def test_distillation_gradients_match_finite_differences_and_keep_the_start_head() -> None:
    rng = np.random.default_rng(11)
    head, teacher = random_head(rng), random_head(rng)
    data = labelled(rng, 2, random_head(rng))
    allowed = label_sets(head, TRAVERSABLE)
    weights = np.array([1.0, 1.0], np.float32)
    rows = np.arange(2)
    _, _, grads = _loss(head, data, rows, allowed, weights, with_grads=True, teacher=teacher, distill_weight=0.5)
    w, b = (a.astype(np.float64).copy() for a in head.scores[16])
    eps, changed = 0.1, []
    for sign in (1, -1):
        probe_w = w.copy()
        probe_w[2, 1] += sign * eps
        probe = SegHead(head.variant, head.classes, {**head.scores, 16: (probe_w.astype(np.float32), b)},
                        head.upsample)
        changed.append(_loss(probe, data, rows, allowed, weights, with_grads=False, teacher=teacher,
                             distill_weight=0.5)[0])
    assert grads[1][0][2, 1] == pytest.approx((changed[0] - changed[1]) / (2 * eps), rel=3e-2, abs=0.05)
    # A head equal to its teacher has no distillation loss: only the self-labels pull it away.
    plain = _loss(teacher, data, rows, allowed, weights, with_grads=False)[0]
    assert _loss(teacher, data, rows, allowed, weights, with_grads=False, teacher=teacher,
                 distill_weight=5.0)[0] == pytest.approx(plain, rel=1e-4, abs=1e-3)
