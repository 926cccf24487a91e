"""The segmentation head learns a new world's floor from pixel self-labels; the memory stays bounded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selfsup_perception.core.config import load_config
from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.resources import robot_config
from selfsup_perception.core.seghead import SegHead, SegHeadLoadError
from selfsup_perception.core.seghead_training import SegHeadOptions
from selfsup_perception.core.segmentation import confusion_matrix, segmentation_scores
from selfsup_perception.inference.segmentation import SegmentationRunner
from selfsup_perception.pipeline.seg_heads import SelfLabelMemory, fit_on_dataset, fit_seg_head
from selfsup_perception.testing.splitseg import ColourBackbone, colour_head, red_floor_frame, write_red_floor_dataset


@pytest.fixture
def red_world(tmp_path: Path) -> Path:
    path = tmp_path / 'red.db'
    write_red_floor_dataset(path, load_config(robot_config()), 60)
    return path


def floor_iou(runner: SegmentationRunner, seed: int = 7, frames: int = 10) -> float:
    """Floor IoU on fresh red-floor frames (not the training ones)."""
    rng = np.random.default_rng(seed)
    confusion = np.zeros((3, 3), np.int64)
    for _ in range(frames):
        image, truth, _ = red_floor_frame(rng)
        confusion += confusion_matrix(truth, runner.mask(image), 3, 255)
    return float(segmentation_scores(confusion)['iou'][0] or 0.0)


def test_a_head_fine_tuned_on_self_labels_learns_a_red_floor(red_world: Path) -> None:
    runner = SegmentationRunner(ColourBackbone(), head=colour_head())
    before = floor_iou(runner)
    fit = fit_on_dataset(red_world, runner, SegHeadOptions(learning_rate=0.05, max_epochs=20, guard=0.1, distill_weight=0.0))
    assert fit.improved
    assert fit.frames == 60
    assert fit.history.labelled_pixels['floor'] > fit.history.labelled_pixels['obstacle'] > 0
    runner.swap_head(fit.head)
    after = floor_iou(runner)
    assert before < 0.1  # the green-floor head calls red obstacle
    assert after > 0.85  # the errors left are blocks that straddle the horizon
    again = fit_on_dataset(red_world, SegmentationRunner(ColourBackbone(), head=colour_head()),
                           SegHeadOptions(learning_rate=0.05, max_epochs=20, guard=0.1, distill_weight=0.0))
    np.testing.assert_array_equal(again.head.scores[32][0], fit.head.scores[32][0])  # deterministic


def test_memory_keeps_a_bounded_spread_of_frames_and_computes_each_once(tmp_path: Path) -> None:
    path = tmp_path / 'grow.db'
    config = load_config(robot_config())
    write_red_floor_dataset(path, config, 25)
    memory = SelfLabelMemory(SegmentationRunner(ColourBackbone(), head=colour_head()), max_frames=10)
    with Dataset(path) as dataset:
        assert memory.update(dataset) == 7  # 25 > 10 and > 20: every 4th frame
        first = set(memory.data().stamps.round(1))
        assert memory.update(dataset) == 0
    write_red_floor_dataset(path, config, 25, start=25, seed=1)  # the robot drove on
    with Dataset(path) as dataset:
        computed = memory.update(dataset)
    data = memory.data()
    assert len(data.features) <= 10
    assert memory.stride == 8
    assert set(data.stamps.round(1)) <= first | {round(0.1 * i, 1) for i in range(25, 50)}
    assert computed == len(set(data.stamps.round(1)) - first)  # old kept frames are not recomputed
    assert data.stamps.min() == 0.0
    assert data.stamps.max() >= 4.0
    assert data.features.dtype == np.uint8


def test_fit_needs_labelled_frames(tmp_path: Path) -> None:
    memory = SelfLabelMemory(SegmentationRunner(ColourBackbone(), head=colour_head()))
    with pytest.raises(ValueError, match='at least 2 frames'):
        fit_seg_head(memory, colour_head())


def test_swap_refuses_a_head_that_does_not_fit_and_keeps_the_old_one() -> None:
    head = colour_head()
    runner = SegmentationRunner(ColourBackbone(), head=head)
    other = SegHead('fcn8s', head.classes, {s: (np.zeros((5, 3), np.float32), np.zeros(3, np.float32))
                                           for s in (8, 16, 32)}, head.upsample)
    with pytest.raises(SegHeadLoadError, match='feature channels'):
        runner.swap_head(other)
    assert runner.head is head
    with pytest.raises(SegHeadLoadError, match='retrain'):
        runner.swap_head(colour_head(sha256='another backbone'))
    with pytest.raises(ValueError, match='give its head'):
        SegmentationRunner(ColourBackbone())
