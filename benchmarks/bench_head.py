"""Benchmark: train the numpy head on 10,000 cached embeddings on one core (goal: <= 10 s, whatever the pairs).

Synthetic data shaped like the robot's: embeddings from a random projection of a few latent factors
(sparse, non-negative like max-pooled ReLU features), labels from those factors, about 70 % unknown,
recorded as a continuous time series. With consistency, random pairs (10^4 and 10^6 of them: a batch
draws one per frame, so the cost must not depend on how many there are), embeddings held as float16 as
the replay memory holds them. Prints markdown table rows with the median of repeated runs.

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

from selfsup_perception.core.consistency import ConsistencyPairs  # noqa: E402
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


def random_pairs(frames: int, count: int, seed: int = 0) -> ConsistencyPairs:
    """``count`` pairs between random frames, the far side at a random distance beyond the near one."""
    rng = np.random.default_rng(seed)
    far_k = rng.integers(1, len(DISTANCES), count)
    return ConsistencyPairs(rng.integers(0, frames, count).astype(np.int32), far_k.astype(np.int16),
                            rng.integers(0, frames, count).astype(np.int32),
                            (rng.random(count) * far_k).astype(np.int16), count)


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
    parser.add_argument('--pairs', type=int, nargs='*', default=[10_000, 1_000_000],
                        help='also train with this many random consistency pairs')
    args = parser.parse_args()
    print(
        '| embedding | head | frames | consistency pairs | epochs (best) | train s | s / epoch | predict ms / 1k '
        '| held-out AUC |'
    )
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for size in args.embedding:
        x, y, m, t = synthetic(args.frames + HELD_OUT, size)
        train, test = slice(None, args.frames), slice(args.frames, None)
        for hidden in args.hidden:
            variants = [(HeadOptions(hidden=hidden), None)]
            if args.fixed_epochs:
                variants.append(
                    (HeadOptions(hidden=hidden, max_epochs=args.fixed_epochs, validation_fraction=0), None)
                )
            variants += [(HeadOptions(hidden=hidden, consistency_weight=1.0), random_pairs(args.frames, count))
                         for count in args.pairs]
            for options, pairs in variants:
                inputs = x[train] if pairs is None else x[train].astype(np.float16)
                seconds, predict = [], []
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    head, history = train_head(inputs, y[train], m[train], t[train], options, pairs=pairs,
                                               **OUTPUTS)
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
                    f'| {"-" if pairs is None else f"{len(pairs):,} (float16)"} '
                    f'| {epochs} ({stop}) | {median:.2f} | {median / epochs:.3f} '
                    f'| {statistics.median(predict):.1f} | {auc:.3f} |'
                )


if __name__ == '__main__':
    main()
