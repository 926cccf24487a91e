"""Ablation of the head's training signals, scored against ground truth on runs no training touched.

Each world gives a training run (frames with poses, labels and embeddings) and a scoring run (embeddings and
the ground truth of every frame, distance and sensor: the simulator's, or a synthetic drive's). Every variant
(a ``HeadOptions``: labels only, + consistency, + a mean teacher, ...) is trained on the training run with
the same entry as on the robot (``fit_obstacle_head``) and scored per distance, sensors pooled, with
bootstrap intervals over blocks of neighbouring frames (``core.metrics.evaluate``).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from selfsup_perception.core.config import LabelingConfig, labeling_from_stored, load_config
from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.head import HeadOptions
from selfsup_perception.core.metrics import evaluate
from selfsup_perception.core.replay import TrainingFrames
from selfsup_perception.inference.embedder import Embedder
from selfsup_perception.pipeline.frames import load_frames
from selfsup_perception.pipeline.robot_training import dataset_frames, fit_obstacle_head


@dataclass(frozen=True)
class WorldRuns:
    """One world: frames to train on, and a scoring run's embeddings (N, E) and ground truth (N, K, S) in time
    order."""

    name: str
    train: TrainingFrames
    score_embeddings: np.ndarray
    score_truth: np.ndarray


def ablate(
    worlds: Sequence[WorldRuns],
    variants: Mapping[str, HeadOptions],
    config: LabelingConfig,
    *,
    n_bootstrap: int = 500,
    block: int = 10,
    seed: int = 0,
) -> dict[str, Any]:
    """Train every variant on every world's training run and score it on the scoring run (JSON-ready).

    ``worlds[name][variant]`` holds the AUC per distance with its interval (``auc``, ``auc_low``,
    ``auc_high``), ``mean_auc`` over the (distance, sensor) cells, the epochs, seconds and pairs of the
    training; ``mean[variant]`` averages the worlds (``auc`` per distance, ``mean_auc``).
    """
    if not worlds or not variants:
        raise ValueError('ablate needs at least one world and one variant')
    results: dict[str, Any] = {'distances': list(config.distances), 'variants': {n: asdict(o) for n, o in
                                                                                 variants.items()},
                               'worlds': {}, 'mean': {}}
    for world in worlds:
        scored = results['worlds'][world.name] = {}
        for name, options in variants.items():
            started = time.perf_counter()
            fit = fit_obstacle_head(world.train, config, options, dataset=world.name, embedding_sha256='')
            seconds = time.perf_counter() - started
            probs = fit.head.predict(world.score_embeddings)
            metrics = evaluate(probs, world.score_truth, np.ones(world.score_truth.shape, bool),
                               distances=config.distances, sensors=config.sensor_names, n_bootstrap=n_bootstrap,
                               block=block, seed=seed)
            scored[name] = {**{key: metrics['per_distance'][key] for key in ('auc', 'auc_low', 'auc_high')},
                            'mean_auc': metrics['mean_auc'], 'epochs': len(fit.history.train_loss),
                            'seconds': round(seconds, 2), 'pairs': fit.history.consistency_pairs}
    for name in variants:
        per_world = [results['worlds'][w.name][name] for w in worlds]
        aucs = np.array([[np.nan if a is None else a for a in r['auc']] for r in per_world])
        counts = np.isfinite(aucs).sum(0)
        means = [r['mean_auc'] for r in per_world if r['mean_auc'] is not None]
        results['mean'][name] = {
            'auc': [float(t / c) if c else None for t, c in zip(np.nansum(aucs, 0), counts, strict=True)],
            'mean_auc': float(np.mean(means)) if means else None,
        }
    return results


def simulated_world(work: Path, seed: int, *, train_minutes: float, score_minutes: float, embedder: Embedder,
                    config_path: Path) -> WorldRuns:
    """Simulate a training run (run 0) and a scoring run (run 1) of arena ``seed`` into ``work``, label them
    and embed their frames (files already there are reused)."""
    from selfsup_perception.rosio.bag2dataset import bag_to_dataset
    from selfsup_perception.sim.bagwriter import simulate_to_bag

    config = load_config(config_path)
    paths = []
    for run, minutes in ((0, train_minutes), (1, score_minutes)):
        bag, db = work / f'world_{seed}_run_{run}', work / f'world_{seed}_run_{run}.db'
        if not bag.exists():
            simulate_to_bag(bag, seed, minutes * 60.0, config_path=config_path, run=run)
        if not db.exists():
            bag_to_dataset(bag, config, db)
        paths.append(db)
    with Dataset(paths[0]) as dataset:
        if labeling_from_stored(dataset.config) != config:
            raise ValueError(f'{paths[0]} was labelled with another config than {config_path}')
        train = dataset_frames(dataset, embedder)
    with Dataset(paths[1]) as dataset:
        scoring = load_frames(dataset, embedder, ground_truth=True)
    if scoring.ground_truth is None:
        raise ValueError(f'{paths[1]} has no ground truth')
    order = np.argsort(scoring.stamps, kind='stable')
    return WorldRuns(f'world {seed}', train, scoring.embeddings[order], scoring.ground_truth[order])
