"""ROC AUC against a brute-force pairwise count, the vectorised bootstrap, and the evaluation dict."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from selfsup_perception.core.metrics import bootstrap_weights, evaluate, roc_auc, weighted_auc

DISTANCES = (0.0, 0.1, 0.2)
SENSORS = ('left', 'center', 'right')
OUTPUTS = {'distances': DISTANCES, 'sensors': SENSORS}


def pairwise_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(score of a positive > score of a negative), ties one half: sklearn's roc_auc_score."""
    pos, neg = scores[labels], scores[~labels]
    if not len(pos) or not len(neg):
        return math.nan
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0) + 0.5 * (diff == 0)).mean())


samples = st.integers(1, 40).flatmap(
    lambda n: st.tuples(
        hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.9, 1.0, 1e-9])),
        hnp.arrays(np.bool_, n),
    )
)


@settings(max_examples=200, deadline=None)
@given(samples)
def test_roc_auc_equals_the_pairwise_definition(sample: tuple[np.ndarray, np.ndarray]) -> None:
    scores, labels = sample
    expected = pairwise_auc(scores, labels)
    if math.isnan(expected):
        assert math.isnan(roc_auc(scores, labels))
    else:
        assert roc_auc(scores, labels) == pytest.approx(expected, abs=1e-12)


@settings(max_examples=100, deadline=None)
@given(samples, st.data())
def test_weighted_auc_equals_auc_of_the_resampled_data(sample: tuple[np.ndarray, np.ndarray], data) -> None:
    scores, labels = sample
    counts = data.draw(hnp.arrays(np.int32, (3, len(scores)), elements=st.integers(0, 3)))
    aucs = weighted_auc(scores, labels, counts)
    for row, auc in zip(counts, aucs, strict=True):
        expected = pairwise_auc(np.repeat(scores, row), np.repeat(labels, row))
        assert (math.isnan(auc) and math.isnan(expected)) or auc == pytest.approx(expected, abs=1e-12)


def test_auc_edge_cases() -> None:
    assert roc_auc([0.1, 0.9], [0, 1]) == 1.0
    assert roc_auc([0.9, 0.1], [0, 1]) == 0.0
    assert roc_auc([0.5, 0.5, 0.5], [0, 1, 1]) == 0.5
    assert math.isnan(roc_auc([0.2, 0.3], [1, 1]))
    assert math.isnan(roc_auc([], []))


def test_bootstrap_weights_resample_whole_blocks() -> None:
    rng = np.random.default_rng(0)
    weights = bootstrap_weights(12, 50, rng, block=4)
    assert weights.shape == (50, 12)
    assert (weights.sum(1) == 12).all()
    assert (weights.reshape(50, 3, 4) == weights[:, ::4, None]).all()  # a block is drawn whole
    uneven = bootstrap_weights(10, 5, rng, block=4)  # last block shorter
    assert uneven.shape == (5, 10)


def noisy_predictions(frames: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random((frames, 3, 3)) < 0.3).astype(np.uint8)
    probs = np.clip(labels * 0.3 + rng.random(labels.shape) * 0.8, 0, 1)
    mask = rng.random(labels.shape) < 0.5
    return probs, labels, mask


def test_evaluate_reports_every_cell_and_distance() -> None:
    probs, labels, mask = noisy_predictions()
    labels[:, 2, 1] = 0  # one cell without positives: AUC undefined
    result = evaluate(probs, labels, mask, n_bootstrap=200, seed=3, **OUTPUTS)
    json.dumps(result, allow_nan=False)  # strict JSON as it is
    cells, pooled = result['cells'], result['per_distance']
    for i, j in np.ndindex(3, 3):
        known = mask[:, i, j]
        assert cells['labels'][i][j] == int(known.sum())
        assert cells['positives'][i][j] == int(labels[:, i, j][known].sum())
        if (i, j) == (2, 1):
            assert cells['auc'][i][j] is None
            assert cells['auc_low'][i][j] is None
            continue
        assert cells['auc'][i][j] == pytest.approx(
            pairwise_auc(probs[:, i, j][known], labels[:, i, j][known] > 0)
        )
        assert cells['auc_low'][i][j] < cells['auc'][i][j] < cells['auc_high'][i][j]
    for i in range(3):
        known = mask[:, i]
        assert pooled['auc'][i] == pytest.approx(pairwise_auc(probs[:, i][known], labels[:, i][known] > 0))
        assert pooled['labels'][i] == int(known.sum())
        assert pooled['auc_low'][i] < pooled['auc'][i] < pooled['auc_high'][i]
    defined = [a for row in cells['auc'] for a in row if a is not None]
    assert result['mean_auc'] == pytest.approx(np.mean(defined))
    assert result['distances'] == list(DISTANCES)
    assert evaluate(probs, labels, mask, n_bootstrap=200, seed=3, **OUTPUTS) == result


def test_block_bootstrap_widens_intervals_for_correlated_frames() -> None:
    probs, labels, mask = noisy_predictions(frames=100)
    repeated = [np.repeat(a, 10, axis=0) for a in (probs, labels, mask)]  # each frame 10 times in a row
    iid = evaluate(*repeated, n_bootstrap=300, **OUTPUTS)['per_distance']
    blocks = evaluate(*repeated, n_bootstrap=300, block=10, **OUTPUTS)['per_distance']
    width = [np.subtract(r['auc_high'], r['auc_low']).mean() for r in (iid, blocks)]
    assert width[1] > 2 * width[0]


def test_evaluate_without_bootstrap_and_bad_input() -> None:
    probs, labels, mask = noisy_predictions(frames=50)
    result = evaluate(probs, labels, mask, n_bootstrap=0, **OUTPUTS)
    assert result['per_distance']['auc_low'] == [None, None, None]
    empty = evaluate(probs, labels, np.zeros_like(mask), n_bootstrap=10, **OUTPUTS)
    assert empty['mean_auc'] is None
    with pytest.raises(ValueError, match='alike'):
        evaluate(probs[:10], labels, mask, **OUTPUTS)
    with pytest.raises(ValueError, match='3 distances, 2 sensors'):
        evaluate(probs, labels, mask, distances=DISTANCES, sensors=('a', 'b'))
    with pytest.raises(ValueError, match='0 < ci < 1'):
        evaluate(probs, labels, mask, ci=1.0, **OUTPUTS)
