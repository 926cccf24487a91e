"""Retraining on the robot: fit a new head and keep it only when it beats the head in use.

The trainer node's use case, without rclpy: both heads are scored on validation frames neither has
trained on, so the comparison is fair however the heads were made.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from selfsup_perception.core.consistency import ConsistencyPairs
from selfsup_perception.core.head import Head, HeadOptions
from selfsup_perception.core.modelcard import ModelCard
from selfsup_perception.pipeline.frames import FrameData
from selfsup_perception.pipeline.heads import fit_head, head_fits, mean_auc, validation_index


@dataclass(frozen=True)
class Retraining:
    """A trained head, its and the old head's validation AUC (None: undefined), and whether it is better."""

    head: Head
    epochs: int
    new_auc: float | None
    old_auc: float | None
    validation_frames: int
    better: bool

    def summary(self) -> str:
        return (f'{self.epochs} epochs, validation AUC {auc_text(self.new_auc)} vs head in use '
                f'{auc_text(self.old_auc)} on {self.validation_frames} frames neither trained on')

    def metrics(self) -> dict[str, float | int | None]:
        """What the new head's card records about the comparison."""
        return {'validation_mean_auc': self.new_auc, 'validation_frames': self.validation_frames,
                'replaced_head_auc': self.old_auc}


def retrain(frames: FrameData, options: HeadOptions, in_use: Head | None, *, fine_tune: bool = True,
            min_auc_gain: float = 0.0, pairs: ConsistencyPairs | None = None) -> Retraining:
    """Train on ``frames`` (from ``in_use`` when ``fine_tune`` and it has the same layout) and compare.

    The new head is better when no head is in use (or it outputs other cells), or when its validation
    AUC beats the one of ``in_use`` by more than ``min_auc_gain``. ``pairs``: the state-consistency pairs
    (``robot_training.consistency_pairs``). Raises ValueError with nothing to learn.
    """
    start = in_use if fine_tune and in_use is not None and in_use.hidden == options.hidden else None
    head, history = fit_head(frames, options, start=start, pairs=pairs)
    old = in_use if in_use is not None and head_fits(in_use, frames.distances, frames.sensors) else None
    index = validation_index(frames, options, [old] if old is not None else [])
    new_auc = mean_auc(head, frames, index)
    old_auc = None if old is None else mean_auc(old, frames, index)
    better = old is None or (new_auc is not None and (old_auc is None or new_auc > old_auc + min_auc_gain))
    return Retraining(head, len(history.train_loss), new_auc, old_auc, int(index.size), better)


def auc_text(value: float | None) -> str:
    return 'undefined' if value is None else f'{value:.3f}'


def initial_head(head_path: Path, start_head: str, embedder: ModelCard | None) -> tuple[Head | None, bool, str]:
    """(head in use at start, whether it is a head trained here before, a warning): the head at ``head_path``
    if usable, else ``start_head`` (ValueError if that one is unusable), else None."""
    warning = ''
    if head_path.exists():
        try:
            return Head.load(head_path, embedder=embedder), True, ''
        except Exception as exc:  # whatever is wrong with it, it is not the head in use
            warning = f'no usable head in use ({exc}); the next trained head replaces it'
    try:
        return (Head.load(start_head, embedder=embedder) if start_head else None), False, warning
    except Exception as exc:
        raise ValueError(str(exc)) from exc
