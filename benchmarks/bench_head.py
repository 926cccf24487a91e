"""Benchmark: train the numpy head on 10,000 cached embeddings on one core (goal: <= 10 s).

Synthetic data shaped like the robot's: embeddings from a random projection of a few latent factors
(sparse, non-negative like max-pooled ReLU features), labels from those factors, about 70 % unknown,
recorded as a continuous time series. Prints markdown table rows with the median of repeated runs.

    python benchmarks/bench_head.py [--frames 10000] [--embedding 1280] [--repeats 3]
"""

from __future__ import annotations

import os

for _var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_var] = '1'  # one core, set before numpy loads its BLAS

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from selfsup_perception.core.head import HeadOptions, train_head  # noqa: E402
from selfsup_perception.core.metrics import evaluate  # noqa: E402

DISTANCES = tuple(round(0.05 * k, 2) for k in range(21))
SENSORS = ('left', 'center_left', 'center', 'center_right', 'right')
OUTPUTS = {'distances': DISTANCES, 'sensors': SENSORS}
HELD_OUT = 2000  # later frames, for the AUC column


def synthetic(frames: int, size: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Embeddings (N, size), labels and mask (N, 21, 5), stamps (N,) at 10 Hz with slow latent drift."""
    rng = np.random.default_rng(seed)
    k, s = len(DISTANCES), len(SENSORS)
    latent = np.cumsum(rng.standard_normal((frames, 16)) * 0.3, axis=0)
    latent -= latent.mean(0)
    latent /= latent.std(0)
    projection = rng.standard_normal((16, size)).astype(np.float32)
    embeddings = np.maximum(latent.astype(np.float32) @ projection + rng.standard_normal((frames, size)), 0)
    readout = rng.standard_normal((16, k * s))
    logits = (latent @ readout).reshape(frames, k, s) - 1.0
    labels = (rng.random((frames, k, s)) < 1 / (1 + np.exp(-logits))).astype(np.uint8)
    mask = rng.random((frames, k, s)) < 0.3
    stamps = np.arange(frames) * 0.1
    return embeddings.astype(np.float32), labels, mask, stamps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--frames', type=int, default=10_000)
    parser.add_argument('--embedding', type=int, nargs='+', default=[2352])  # the shipped embedding
    parser.add_argument('--hidden', type=int, nargs='+', default=[0, 64])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument(
        '--fixed-epochs',
        type=int,
        default=50,
        help='also time this many epochs without early stopping (0: no)',
    )
    args = parser.parse_args()
    print(
        '| embedding | head | frames | epochs (best) | train s | s / epoch | predict ms / 1k | held-out AUC |'
    )
    print('| --- | --- | --- | --- | --- | --- | --- | --- |')
    for size in args.embedding:
        x, y, m, t = synthetic(args.frames + HELD_OUT, size)
        train, test = slice(None, args.frames), slice(args.frames, None)
        for hidden in args.hidden:
            variants = [HeadOptions(hidden=hidden)]
            if args.fixed_epochs:
                variants.append(
                    HeadOptions(hidden=hidden, max_epochs=args.fixed_epochs, validation_fraction=0)
                )
            for options in variants:
                seconds, predict = [], []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    head, history = train_head(x[train], y[train], m[train], t[train], options, **OUTPUTS)
                    seconds.append(time.perf_counter() - start)
                    start = time.perf_counter()
                    head.predict(x[:1000])
                    predict.append((time.perf_counter() - start) * 1000)
                auc = evaluate(head.predict(x[test]), y[test], m[test], n_bootstrap=0, **OUTPUTS)['mean_auc']
                median = statistics.median(seconds)
                epochs = len(history.train_loss)
                stop = f'{history.best_epoch}' if options.validation_fraction else 'fixed'
                print(
                    f'| {size} | {f"mlp-{hidden}" if hidden else "logistic"} | {args.frames} '
                    f'| {epochs} ({stop}) | {median:.2f} | {median / epochs:.3f} '
                    f'| {statistics.median(predict):.1f} | {auc:.3f} |'
                )


if __name__ == '__main__':
    main()
