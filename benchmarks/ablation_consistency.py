"""Ablation on simulated worlds: labels only vs + state consistency (weights) vs + a mean teacher.

Tuning worlds only (model-building tuning range 20,000-20,999; never the benchmark range). Each world: a
training run (run 0) and a scoring run (run 1) of the same arena, scored against the simulator's ground
truth for every frame, distance and sensor; heads trained from scratch on the shipped embedding. Prints
markdown: mean AUC per distance band per variant and world, with the bootstrap interval of the far band.

    python benchmarks/ablation_consistency.py [--seeds 20000 20001 20002] [--train-minutes 5] [--work DIR]
"""

from __future__ import annotations

import os

for _var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_var] = '1'  # one core, set before numpy loads its BLAS
os.environ.setdefault('MUJOCO_GL', 'egl')

import argparse  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from selfsup_perception.core.config import load_config  # noqa: E402
from selfsup_perception.core.head import HeadOptions  # noqa: E402
from selfsup_perception.core.resources import package_file, robot_config  # noqa: E402
from selfsup_perception.inference.embedder import Embedder  # noqa: E402
from selfsup_perception.pipeline.ablation import ablate, simulated_world  # noqa: E402

BANDS = {'near 0-0.30': slice(0, 7), 'mid 0.35-0.65': slice(7, 14), 'far 0.70-1.00': slice(14, 21)}


def band(values: list[float | None], part: slice) -> float:
    chosen = [v for v in values[part] if v is not None]
    return float(np.mean(chosen)) if chosen else float('nan')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, nargs='+', default=[20000, 20001, 20002])
    parser.add_argument('--train-minutes', type=float, default=5.0)
    parser.add_argument('--score-minutes', type=float, default=2.0)
    parser.add_argument('--weights', type=float, nargs='+', default=[0.3, 1.0, 3.0])
    parser.add_argument('--work', type=Path, default=Path('build/ablation'))
    parser.add_argument('--bootstrap', type=int, default=300)
    args = parser.parse_args()
    if any(not 20_000 <= seed <= 20_999 for seed in args.seeds):
        parser.error('tune on the tuning worlds 20000-20999 only')
    args.work.mkdir(parents=True, exist_ok=True)
    config_path = robot_config()
    config = load_config(config_path)
    embedder = Embedder.open(package_file('models/embedding.tflite'), 'tflite')
    worlds = [simulated_world(args.work, seed, train_minutes=args.train_minutes, score_minutes=args.score_minutes,
                              embedder=embedder, config_path=config_path) for seed in args.seeds]
    variants = {'labels only': HeadOptions()}
    variants.update({f'+ consistency {w:g}': HeadOptions(consistency_weight=w) for w in args.weights})
    variants['+ consistency 1, mean teacher 0.99'] = HeadOptions(consistency_weight=1.0, teacher_decay=0.99)
    results = ablate(worlds, variants, config, n_bootstrap=args.bootstrap)
    (args.work / 'ablation.json').write_text(json.dumps(results, indent=1))
    print(f'## Consistency ablation on tuning worlds {", ".join(map(str, args.seeds))}\n')
    print(f'Training runs of {args.train_minutes:g} min, scoring runs of {args.score_minutes:g} min (another run in '
          f'the same arena), ground truth for every frame; logistic heads from scratch on the shipped embedding; '
          f'AUC per distance (sensors pooled), mean over each band; far interval: mean of the per-distance '
          f'{args.bootstrap}-resample bootstrap bounds (blocks of 10 frames).\n')
    print(f'| world | variant | {" | ".join(BANDS)} | far interval | mean AUC | epochs | s | pairs |')
    print('| --- | --- |' + ' --- |' * (len(BANDS) + 6))
    for world, scored in results['worlds'].items():
        for name, r in scored.items():
            cells = ' | '.join(f'{band(r["auc"], part):.3f}' for part in BANDS.values())
            far = BANDS['far 0.70-1.00']
            print(f'| {world} | {name} | {cells} | {band(r["auc_low"], far):.3f}-{band(r["auc_high"], far):.3f} | '
                  f'{r["mean_auc"]:.3f} | {r["epochs"]} | {r["seconds"]:.1f} | {r["pairs"]} |')
    for name, r in results['mean'].items():
        cells = ' | '.join(f'{band(r["auc"], part):.3f}' for part in BANDS.values())
        print(f'| mean | {name} | {cells} | | {r["mean_auc"]:.3f} | | | |')


if __name__ == '__main__':
    main()
