"""Tuning the segmentation head's on-robot fine-tuning on the tuning worlds (never the benchmark's).

For each tuning world (seeds 20,002.. of the tuning range: make-models validates on 20,000-20,001): the robot's
4.5-minute drive and a 1.5-minute scoring run (as the benchmark makes them), then the shipped split FCN-8s head
and heads fine-tuned on the drive's pixel self-labels with each distillation weight, scored against the
simulator's masks on the scoring run. Prints markdown: traversable mIoU and 3-class mIoU per world and weight.

    python benchmarks/tune_seghead.py [--worlds 3] [--weights 0 0.3 1 3] [--work build/tune_seghead]
"""

from __future__ import annotations

import os

os.environ.setdefault('MUJOCO_GL', 'egl')

import argparse
import statistics
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from selfsup_perception.core.resources import package_file, sim_classes
from selfsup_perception.core.seghead_training import SegHeadOptions
from selfsup_perception.core.segmentation import load_classes, segmentation_scores
from selfsup_perception.pipeline.benchmark import traversable_confusion
from selfsup_perception.pipeline.seg_heads import fit_on_dataset, open_split_model, save_fit
from selfsup_perception.pipeline.segmentation import SegEvaluationOptions, evaluate_models, load_data
from selfsup_perception.pipeline.worlds import in_workers, simulated_dataset
from selfsup_perception.sim import seeds

MODELS = package_file('models')


def tune_world(seed: int, weights: tuple[float, ...], work: Path) -> dict[str, Any]:
    drive, _ = simulated_dataset(work, seed, 0, 4.5)
    scoring, _ = simulated_dataset(work, seed, 1, 1.5)
    heads = [MODELS / 'fcn8s_head.npz']
    for weight in weights:
        runner = open_split_model(MODELS / 'fcn8s_backbone.tflite', MODELS / 'fcn8s_head.npz', 'tflite')
        fit = fit_on_dataset(drive, runner, SegHeadOptions(distill_weight=weight))
        heads.append(work / f'head_{seed}_{weight:g}.npz')
        save_fit(fit, heads[-1], drive)
    images, truth = load_data(scoring)
    options = SegEvaluationOptions(models=heads, backbone=MODELS / 'fcn8s_backbone.tflite', backend='tflite',
                                   classes=sim_classes())
    document = evaluate_models(options, images, truth, scoring)
    traversable = load_classes(sim_classes()).traversable
    out = {}
    for name, result in zip(['shipped', *(f'{w:g}' for w in weights)], document['models'].values(), strict=True):
        binary = segmentation_scores(traversable_confusion(np.asarray(result['confusion']), traversable))
        out[name] = (binary['mean_iou'], result['mean_iou'])
    return {'seed': seed, 'scores': out}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--worlds', type=int, default=3)
    parser.add_argument('--weights', type=float, nargs='+', default=[0.0, 0.3, 1.0, 3.0])
    parser.add_argument('--work', type=Path, default=Path('build/tune_seghead'))
    args = parser.parse_args()
    world_seeds = list(seeds.TUNING.first(2 + args.worlds))[2:]
    rows = in_workers(partial(tune_world, weights=tuple(args.weights), work=args.work), world_seeds, 2)
    names = list(rows[0]['scores'])
    print('## Tuning the segmentation head\'s distillation weight (tuning worlds '
          f'{world_seeds[0]}-{world_seeds[-1]}; `benchmarks/tune_seghead.py`)\n')
    print('Traversable mIoU / 3-class mIoU on each world\'s scoring run, the shipped head and heads fine-tuned on '
          'the drive\'s pixel self-labels with each distillation weight (0: self-labels only).\n')
    print('| world | ' + ' | '.join(names) + ' |')
    print('| --- |' + ' --- |' * len(names))
    for row in rows:
        print(f'| {row["seed"]} | ' + ' | '.join(f'{t:.3f} / {m:.3f}' for t, m in row['scores'].values()) + ' |')
    medians = [statistics.median(row['scores'][n][0] for row in rows) for n in names]
    print('| median traversable | ' + ' | '.join(f'{m:.3f}' for m in medians) + ' |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
