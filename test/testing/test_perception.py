"""The synthetic perception problem: its ground truth is the drive's world (the labels agree with it), and
its embeddings carry what stands ahead, less the farther it is."""

from __future__ import annotations

from selfsup_perception.core.metrics import roc_auc
from selfsup_perception.testing.perception import synthetic_frames
from selfsup_perception.testing.synthetic import DriveSpec


def test_labels_agree_with_the_ground_truth_and_far_labels_are_rare(robot_config) -> None:
    frames = synthetic_frames(robot_config, DriveSpec(duration=120), 3)
    known = frames.mask
    assert known[:, 0].mean() > 0.95
    assert known[:, -1].mean() < 0.1 * known[:, 0].mean()
    assert (frames.labels[known] == frames.ground_truth[known]).mean() > 0.95
    assert 0.01 < frames.ground_truth.mean() < 0.3
    assert frames.embeddings.shape == (1200, 128)


def test_near_obstacles_show_more_clearly_than_far_ones(robot_config) -> None:
    frames = synthetic_frames(robot_config, DriveSpec(duration=120), 4, noise=2.0)
    x = frames.embeddings - frames.embeddings.mean(0)

    def separability(k: int) -> float:
        """AUC of the best single projection (class-mean difference) for distance k, centre sensor."""
        truth = frames.ground_truth[:, k, 2].astype(bool)
        direction = x[truth].mean(0) - x[~truth].mean(0)
        return roc_auc(x @ direction, truth)

    assert separability(0) > separability(20) > 0.5
