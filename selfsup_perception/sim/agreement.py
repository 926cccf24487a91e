"""The labeler's correctness check on realistic data: its labels against the simulator's ground truth.

Where the labeler gives a label (the robot did reach that place), it must agree with the ground
truth ray cast from exactly d ahead. Disagreements come from the rule's tolerances (the robot got
there within +-tolerance_forward, +-tolerance_lateral and +-tolerance_heading, not exactly) and
sensor noise at the obstacle threshold; tightening the tolerances must shrink them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfsup_perception.core.config import LabelingConfig
from selfsup_perception.core.labeling import label_recording
from selfsup_perception.rosio.bag2dataset import BagError, BagTopics, connections_of, open_bag, read_recording


@dataclass(frozen=True)
class Agreement:
    """Counts over the known labels of a run: overall and per distance."""

    known: int
    agreement: float
    per_distance: np.ndarray
    false_positives: int
    false_negatives: int


def label_agreement(bag: Path, config: LabelingConfig) -> Agreement:
    """Label ``bag`` and compare every known label with the ground truth recorded with its frame."""
    reader = open_bag(bag)
    try:
        recording, ground_truth, _ = read_recording(reader, connections_of(reader, BagTopics(), config), config)
    finally:
        reader.close()
    if not ground_truth:
        raise BagError(f'{bag}: no ground truth (/ground_truth/obstacles): not a simulator bag')
    frames, _ = label_recording(recording, config)
    frames = [f for f in frames if f.stamp in ground_truth]
    labels = np.stack([f.labels for f in frames])
    truth = np.stack([ground_truth[f.stamp] for f in frames]).astype(np.int8)
    known = labels >= 0
    same = (labels == truth) & known
    per_distance = same.sum(axis=(0, 2)) / np.maximum(known.sum(axis=(0, 2)), 1)
    return Agreement(
        known=int(known.sum()),
        agreement=float(same.sum() / max(known.sum(), 1)),
        per_distance=per_distance,
        false_positives=int(((labels == 1) & (truth == 0)).sum()),
        false_negatives=int(((labels == 0) & (truth == 1)).sum()),
    )
