"""The trainer node's segmentation-head half: its parameters and the ROS-free retrainer they configure.

Off unless ``seg_backbone`` is set. The head in use at start is the one at ``seg_head_path`` when it fits the
backbone (announced again), else ``seg_start_head`` (e.g. the shipped models/fcn8s_head.npz); better heads
are written to ``seg_head_path`` and announced on ``~/seg_head`` for the segmenter to swap in.
"""

from __future__ import annotations

from pathlib import Path

from rclpy.node import Node
from rclpy.publisher import Publisher
from std_msgs.msg import String

from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.seghead import SegHead
from selfsup_perception.core.seghead_training import SegHeadOptions
from selfsup_perception.nodes.common import Diagnostics
from selfsup_perception.nodes.parameters import ParameterError, declare
from selfsup_perception.pipeline.seg_heads import MAX_FRAMES, SegHeadRetrainer, open_split_model

COUNTERS = ('seg_trainings', 'seg_heads_published', 'seg_heads_kept', 'seg_training_failures')


def declare_seg_training(node: Node, backend: str, threads: int) -> tuple[SegHeadRetrainer | None, bool]:
    """The retrainer (None when off) and whether an already trained head at ``seg_head_path`` is in use."""
    backbone = declare(node, 'seg_backbone', '', 'split-FCN backbone (.tflite/.onnx) whose head is trained on the '
                       'pixel self-labels (empty: no segmentation training)')
    start = declare(node, 'seg_start_head', '', 'segmentation head to fine-tune first (e.g. models/fcn8s_head.npz)')
    out = declare(node, 'seg_head_path', 'fcn8s_head_robot.npz', 'where a better segmentation head is written')
    retrain_after = declare(node, 'seg_retrain_after', 300, 'retrain the segmentation head once this many new '
                            'self-labelled frames have come (0: only on ~/train)', valid=lambda v: v >= 0,
                            must='>= 0')
    max_frames = declare(node, 'seg_max_frames', MAX_FRAMES, 'self-labelled frames kept for it at most (~70 KB '
                         'each at 160x120)', valid=lambda v: v >= 2, must='>= 2')
    if not backbone:
        return None, False
    out_path = Path(out).expanduser().resolve()
    try:
        runner = open_split_model(Path(backbone).expanduser(), Path(start).expanduser(), backend, threads)
        in_use = False
        if out_path.exists():
            try:
                runner.swap_head(SegHead.load(out_path, backbone=runner.backend.card))
                in_use = True
            except Exception as exc:  # whatever is wrong with it, it is not the head in use
                node.get_logger().warning(f'{out_path}: not a usable segmentation head ({exc}); training anew')
        out_path.parent.mkdir(parents=True, exist_ok=True)
        return SegHeadRetrainer(runner, out_path, SegHeadOptions(), retrain_after=retrain_after,
                                max_frames=max_frames), in_use
    except Exception as exc:  # whatever stops the backbone or the start head, the node must not start
        raise ParameterError(f'seg_backbone/seg_start_head/seg_head_path: {exc}') from exc


def train_segmentation(node: Node, retrainer: SegHeadRetrainer, dataset: Dataset, force: bool,
                       diagnostics: Diagnostics, publisher: Publisher) -> None:
    """One look at the dataset for the segmentation head (the trainer's worker thread): train when due,
    write and announce a better head, count what happened."""
    try:
        fit = retrainer.step(dataset, force)
    except ValueError as exc:
        diagnostics.problem('seg_training_failures', f'segmentation head not trained: {exc}')
        return
    if fit is None:
        return
    diagnostics.count('seg_trainings')
    summary = fit.history.summary()
    text = (f'{fit.frames} self-labelled frames, validation loss {summary["start_val_loss"]:.4f} -> '
            f'{summary["val_loss"]:.4f}, {summary["seconds"]:.1f} s')
    if not fit.improved:
        diagnostics.count('seg_heads_kept')
        node.get_logger().info(f'segmentation head not better, keeping the one in use: {text}')
        return
    diagnostics.count('seg_heads_published')
    diagnostics.values['seg_validation_loss'] = f'{summary["val_loss"]:.4f}'
    publisher.publish(String(data=str(retrainer.out)))
    node.get_logger().info(f'published {retrainer.out}: {text}')
