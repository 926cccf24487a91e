"""The ablation harness on synthetic drives: AUC per distance with intervals per world and variant, and the
consistency term lifting the far range where labels are rare."""

from __future__ import annotations

import numpy as np
import pytest

from selfsup_perception.core.config import LabelingConfig
from selfsup_perception.core.consistency import odometry_pieces
from selfsup_perception.core.head import HeadOptions
from selfsup_perception.core.replay import TrainingFrames
from selfsup_perception.pipeline.ablation import WorldRuns, ablate
from selfsup_perception.testing.perception import synthetic_frames
from selfsup_perception.testing.synthetic import DriveSpec


def synthetic_world(config: LabelingConfig, seed: int) -> WorldRuns:
    """The first 10 minutes of a drive to train on, the last 3 to score (never trained on)."""
    frames = synthetic_frames(config, DriveSpec(duration=780), seed)
    train, score = frames.part(slice(0, 6000)), frames.part(slice(6000, None))
    pieces = odometry_pieces(train.stamps, train.poses, train.segments, config.max_odom_jump)
    return WorldRuns(f'synthetic {seed}', TrainingFrames(np.arange(1, 6001), train.stamps, train.poses, pieces,
                                                         train.labels, train.mask, train.embeddings),
                     score.embeddings, score.ground_truth)


def test_consistency_lifts_the_far_range_on_synthetic_drives(robot_config: LabelingConfig) -> None:
    worlds = [synthetic_world(robot_config, seed) for seed in (11, 12)]
    variants = {'labels': HeadOptions(max_epochs=25), 'consistency': HeadOptions(max_epochs=25,
                                                                                 consistency_weight=1.0)}
    results = ablate(worlds, variants, robot_config, n_bootstrap=100)
    assert list(results['worlds']) == ['synthetic 11', 'synthetic 12']
    far = slice(14, None)
    for world in results['worlds'].values():
        labels, consistency = world['labels'], world['consistency']
        auc, low, high = (np.array(consistency[key], float) for key in ('auc', 'auc_low', 'auc_high'))
        assert auc.shape == (21,)
        assert (low <= auc).all()
        assert (auc <= high).all()
        assert labels['pairs'] == 0 < consistency['pairs']
        assert np.mean(consistency['auc'][far]) > np.mean(labels['auc'][far]) + 0.01
        assert np.mean(consistency['auc'][:5]) > np.mean(labels['auc'][:5]) - 0.01  # near range kept
    mean = results['mean']
    assert np.mean(mean['consistency']['auc'][far]) > np.mean(mean['labels']['auc'][far])
    assert results['variants']['consistency']['consistency_weight'] == 1.0
    with pytest.raises(ValueError, match='at least one world'):
        ablate([], variants, robot_config)
