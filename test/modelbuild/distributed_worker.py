"""One worker of the two-worker pretraining test (``test_distributed``): ``python distributed_worker.py OUT
DATASET...`` with TF_CONFIG set; trains a tiny embedding and saves its weights and results under OUT."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from selfsup_perception.modelbuild.augment import Augmentation
from selfsup_perception.modelbuild.pretrain import PretrainOptions, pretrain_embedding
from selfsup_perception.modelbuild.training import ExportOptions, TrainingOptions


def main(out: Path, datasets: list[Path]) -> None:
    index = json.loads(os.environ['TF_CONFIG'])['task']['index']
    result = pretrain_embedding(
        PretrainOptions(
            datasets=tuple(datasets),
            export=ExportOptions(out / 'models', calibration=4, formats=('keras',)),
            input_size=(32, 32),
            feature_layer='block_6_expand_relu',
            levels=(1, 2),
            training=TrainingOptions(epochs=2, batch_size=8, val_blocks=2, guard=0.0, shuffle_buffer=16,
                                     augmentation=Augmentation(flip=True), distribute=True),
        )
    )
    np.savez(out / f'weights_{index}.npz', *result.model.get_weights())
    summary = {'paths': sorted(result.paths), 'loss': result.history.loss, 'val_loss': result.history.val_loss,
               'workers': result.card.extra['pretraining']['workers'] if result.card else None}
    (out / f'result_{index}.json').write_text(json.dumps(summary))


if __name__ == '__main__':
    main(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]])
