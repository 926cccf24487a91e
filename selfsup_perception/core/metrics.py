"""ROC AUC per (distance, sensor) over the known labels, with bootstrap confidence intervals.

AUC is the Mann-Whitney statistic: the probability that a random positive scores above a random
negative, ties counting one half (the same number as sklearn's ``roc_auc_score``); NaN when a class
is absent. The bootstrap resamples frames (optionally in contiguous blocks, since neighbouring frames
are near-duplicates) jointly for every output, as integer weights, all resamples at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

_CHUNK_ELEMENTS = 2_000_000  # bootstrap weights held at once (resamples x entries)


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC of ``scores`` for binary ``labels`` (ties: average rank); NaN if only one class is present."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    positive = np.asarray(labels).ravel().astype(bool)
    return float(weighted_auc(scores, positive, np.ones((1, len(scores)), np.int32))[0])


def weighted_auc(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC for each row of integer ``weights`` (R, n): sample i counted ``weights[r, i]`` times."""
    return _Ranked(scores, positive, np.arange(len(scores))).auc(weights)


class _Ranked:
    """One set of scored samples, ranked once, then scored under many weightings of their frames.

    For each positive, ``lo``/``hi`` count the negatives scoring below / not above it; with the
    cumulative negative weight C, its credit is C[lo] + (C[hi] - C[lo]) / 2 (ties count one half).
    """

    def __init__(self, scores: np.ndarray, positive: np.ndarray, frames: np.ndarray) -> None:
        negative = ~positive
        order = np.argsort(scores[negative], kind='stable')
        sorted_negatives = scores[negative][order]
        self.negative_frames = frames[negative][order]
        self.positive_frames = frames[positive]
        self.lo = np.searchsorted(sorted_negatives, scores[positive], 'left')
        self.hi = np.searchsorted(sorted_negatives, scores[positive], 'right')

    def auc(self, weights: np.ndarray) -> np.ndarray:
        """(R,) AUCs for frame weights (R, frames); NaN where a class has no weight."""
        cumulative = np.zeros((len(weights), len(self.negative_frames) + 1), np.int64)
        np.cumsum(weights[:, self.negative_frames], axis=1, out=cumulative[:, 1:])
        wp = weights[:, self.positive_frames].astype(np.int64)
        credit = (wp * (cumulative[:, self.lo] + cumulative[:, self.hi])).sum(1)
        pairs = (wp.sum(1) * cumulative[:, -1]).astype(np.float64)
        with np.errstate(invalid='ignore', divide='ignore'):
            return np.where(pairs > 0, 0.5 * credit / pairs, np.nan)


def bootstrap_weights(frames: int, resamples: int, rng: np.random.Generator, block: int = 1) -> np.ndarray:
    """(resamples, frames) int32 counts: frames drawn with replacement, ``block`` neighbours at a time."""
    blocks = -(-frames // block)
    draws = rng.integers(0, blocks, (resamples, blocks))
    counts = np.bincount(
        (draws + blocks * np.arange(resamples)[:, None]).ravel(), minlength=resamples * blocks
    )
    return counts.reshape(resamples, blocks).astype(np.int32)[:, np.arange(frames) // block]


def evaluate(
    probs: np.ndarray,
    labels: np.ndarray,
    mask: np.ndarray,
    *,
    distances: Sequence[float],
    sensors: Sequence[str],
    n_bootstrap: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    block: int = 1,
) -> dict[str, Any]:
    """AUC of ``probs`` (N, K, S) against ``labels`` where ``mask``, per (distance, sensor) and per
    distance (sensors pooled), with ``ci`` percentile bootstrap intervals (``n_bootstrap`` 0: none).

    Frames must be in time order when ``block`` > 1. Returns a JSON-ready dict (NaN as None); its
    keys are what ``report`` reads.
    """
    probs, labels, mask = np.asarray(probs, np.float64), np.asarray(labels), np.asarray(mask, bool)
    if probs.shape != labels.shape or probs.shape != mask.shape or probs.ndim != 3:
        raise ValueError(
            f'probs, labels, mask must be (N, K, S) alike: {probs.shape}, {labels.shape}, {mask.shape}'
        )
    n, k, s = probs.shape
    if (k, s) != (len(distances), len(sensors)):
        raise ValueError(
            f'outputs are {(k, s)} but there are {len(distances)} distances, {len(sensors)} sensors'
        )
    if not np.isfinite(probs[mask]).all():
        raise ValueError('probs contain NaN or infinity where labels are known')
    if not 0 < ci < 1 or n_bootstrap < 0 or block < 1:
        raise ValueError(f'need 0 < ci < 1, n_bootstrap >= 0, block >= 1; got {ci}, {n_bootstrap}, {block}')
    # Groups of known entries: one per cell, then one per distance pooling the sensors.
    selections: list[tuple[Any, np.ndarray]] = [(np.s_[:, i, j], mask[:, i, j]) for i, j in np.ndindex(k, s)]
    selections += [(np.s_[:, i], mask[:, i]) for i in range(k)]
    groups = []
    for part, known in selections:
        positive = labels[part][known].astype(bool)
        groups.append((_Ranked(probs[part][known], positive, np.nonzero(known)[0]), positive))
    results = {
        'auc': np.array([g.auc(np.ones((1, n), np.int32))[0] for g, _ in groups]),
        'auc_low': np.full(len(groups), np.nan),
        'auc_high': np.full(len(groups), np.nan),
        'labels': np.array([len(y) for _, y in groups]),
        'positives': np.array([int(y.sum()) for _, y in groups]),
    }
    if n_bootstrap and n:
        boot = _bootstrap(groups, n, n_bootstrap, np.random.default_rng(seed), block)
        defined = np.isfinite(boot).any(1)
        if defined.any():
            alpha = (1 - ci) / 2 * 100
            bounds = np.nanpercentile(boot[defined], [alpha, 100 - alpha], axis=1)
            results['auc_low'][defined], results['auc_high'][defined] = bounds
    cells = results['auc'][: k * s]
    return {
        'distances': [float(d) for d in distances],
        'sensors': [str(x) for x in sensors],
        'n_frames': n,
        'n_bootstrap': n_bootstrap,
        'ci': ci,
        'block': block,
        'seed': seed,
        'mean_auc': float(np.nanmean(cells)) if np.isfinite(cells).any() else None,
        'cells': {name: _json_ready(v[: k * s].reshape(k, s)) for name, v in results.items()},
        'per_distance': {name: _json_ready(v[k * s :]) for name, v in results.items()},
    }


def _bootstrap(
    groups: list[tuple[_Ranked, np.ndarray]],
    frames: int,
    resamples: int,
    rng: np.random.Generator,
    block: int,
) -> np.ndarray:
    """(groups, resamples) AUCs, the same frame resamples for every group, in memory-bounded chunks."""
    per_chunk = max(1, min(resamples, _CHUNK_ELEMENTS // frames))
    chunks = []
    for done in range(0, resamples, per_chunk):
        weights = bootstrap_weights(frames, min(per_chunk, resamples - done), rng, block)
        chunks.append(np.array([group.auc(weights) for group, _ in groups]))
    return np.concatenate(chunks, axis=1)


def _json_ready(values: np.ndarray) -> list[Any]:
    """Nested lists of Python numbers, None for NaN (strict JSON has no NaN)."""
    if values.dtype.kind in 'iu':
        integers: list[Any] = values.tolist()
        return integers
    return [_json_ready(v) if v.ndim else (None if math.isnan(v) else float(v)) for v in values]
