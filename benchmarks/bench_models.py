"""Benchmark: inference speed of exported models on the CPU, one thread (goals: embedding >= 200 frames/s
at 120x160, FCN-8s >= 30 frames/s at 240x320, int8 TFLite on one core).

TFLite models run in ai_edge_litert (XNNPACK), ONNX models in onnxruntime's CPU provider, both with
one thread, on a fixed random image of the model's input shape. Each repeat times ``--runs``
inferences and keeps their median; the table shows the median of the repeats and their range (the
CPU is shared: the range says how noisy the machine was) and the ratio to the first model's median.

    python benchmarks/bench_models.py MODEL.tflite MODEL.onnx ... [--threads 1] [--runs 50] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from selfsup_perception.core.modelcard import ModelCardError, read_card

MODELS = Path(__file__).resolve().parents[1] / 'models'
SHIPPED = [MODELS / name for name in ('embedding.tflite', 'embedding.onnx', 'fcn8s_240x320.tflite',
                                      'fcn8s_240x320.onnx', 'fcn8s.tflite')]


def tflite_runner(path: Path, threads: int) -> tuple[Callable[[], None], str, list[int]]:
    """An invoke() on a loaded interpreter with a random input; its input dtype and shape."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    (detail,) = interpreter.get_input_details()
    rng = np.random.default_rng(0)
    interpreter.set_tensor(detail['index'], rng.integers(0, 256, detail['shape']).astype(detail['dtype']))
    return interpreter.invoke, np.dtype(detail['dtype']).name, [int(v) for v in detail['shape']]


def onnx_runner(path: Path, threads: int) -> tuple[Callable[[], None], str, list[int]]:
    """A session.run() with a random float input; its input dtype and shape."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
    (model_input,) = session.get_inputs()
    shape = [int(v) if isinstance(v, int) else 1 for v in model_input.shape]
    feed = {model_input.name: np.random.default_rng(0).uniform(0, 255, shape).astype(np.float32)}
    return lambda: session.run(None, feed), 'float32', shape


def describe(path: Path) -> str:
    """Kind and architecture from the model card, if there is one."""
    try:
        card = read_card(path)
    except ModelCardError:
        return '-'
    params = card.extra.get('architecture_params', {})
    details = ', '.join(f'{k} {v}' for k, v in params.items() if k in ('backbone', 'alpha', 'feature_layer', 'variant'))
    size = f', embedding {card.embedding_size}' if card.embedding_size else ''
    return f'{card.architecture} ({details}{size})'


def time_runs(run: Callable[[], None], runs: int, repeats: int, warmup: int) -> list[float]:
    """Median milliseconds per inference of each repeat."""
    for _ in range(warmup):
        run()
    medians = []
    for _ in range(repeats):
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        medians.append(1000 * statistics.median(times))
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('models', nargs='*', type=Path, default=SHIPPED,
                        help='.tflite and .onnx files (default: the shipped models)')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--runs', type=int, default=50, help='inferences per repeat')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=10)
    args = parser.parse_args()
    print('## Models on the CPU (issues 4 and 5)')
    print()
    print('| model | what | runtime | input | threads | median ms | range ms | frames/s | vs first |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    baseline = None
    for path in args.models:
        factory, runtime = (tflite_runner, 'LiteRT') if path.suffix == '.tflite' else (onnx_runner, 'ORT CPU')
        run, dtype, shape = factory(path, args.threads)
        medians = time_runs(run, args.runs, args.repeats, args.warmup)
        median = statistics.median(medians)
        baseline = baseline or median
        size = 'x'.join(map(str, shape))
        print(
            f'| {path.name} | {describe(path)} | {runtime} | {dtype} {size} | {args.threads} | {median:.2f} '
            f'| {min(medians):.2f}-{max(medians):.2f} | {1000 / median:.0f} | {median / baseline:.2f} |',
            flush=True,
        )


if __name__ == '__main__':
    main()
