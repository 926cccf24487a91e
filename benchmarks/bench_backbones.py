"""Benchmark: every backbone of ``modelbuild/backbones.py`` measured on the target in one run (issue 14,
first part: speed, size and Edge TPU mapping; quality needs the same training budget for each and is not
measured here).

For each backbone: the SPP embedding extractor at 120x160 and FCN-8s (3 classes) at 120x160 and 240x320,
random weights (``weights=None``) with batch-norm statistics recalibrated on smooth synthetic images (so
the int8 ranges are an untrained net's, not garbage), exported int8 TFLite (calibrated on the same images)
and ONNX. Measured: int8 LiteRT (XNNPACK) and ONNX Runtime CPU latency on one thread (each repeat times
``--runs`` inferences and keeps the median; the table gives the median of the repeats), the Edge TPU op
check of each int8 file (``modelbuild/ops.py``: Coral's op table, static shapes, fully integer; not the
Edge TPU compiler itself, which is not installed here), int8 file size and parameter count; then ratios
against mobilenet_v2_0.35 measured in the same run.

    python benchmarks/bench_backbones.py [--runs 20] [--repeats 3] [--backbones NAME ...]
"""

from __future__ import annotations

import os

for _var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[_var] = '1'  # one core, set before numpy loads its BLAS
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import onnx_runner, tflite_runner, time_runs  # noqa: E402

BASELINE = 'mobilenet_v2_0.35'
SMALL, LARGE = (120, 160), (240, 320)
# (key, what, input size): the three models each backbone is measured as.
MODELS = (('emb', 'embedding', SMALL), ('fcn', 'FCN-8s', SMALL), ('fcn_l', 'FCN-8s', LARGE))


def smooth_images(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Blurry random RGB images (N, h, w, 3) uint8, like the tests' calibration images."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (count, max(2, height // 8), max(2, width // 8), 3), dtype=np.uint8)
    return np.stack([cv2.resize(c, (width, height), interpolation=cv2.INTER_LINEAR) for c in coarse])


@dataclass
class Measured:
    """One model of one backbone: parameters, int8 size, latencies (ms) and the Edge TPU check."""

    params: int = 0
    int8_bytes: int = 0
    litert_ms: float = float('nan')
    ort_ms: float = float('nan')
    edgetpu: list[str] = field(default_factory=list)  # problems; empty: every op mapped
    embedding: int = 0


def measure(name: str, key: str, size: tuple[int, int], args: argparse.Namespace, out: Path) -> Measured:
    import keras

    from selfsup_perception.modelbuild.backbone import recalibrate_batch_norm
    from selfsup_perception.modelbuild.embedding import build_embedding_extractor
    from selfsup_perception.modelbuild.export import convert_int8_tflite, convert_onnx
    from selfsup_perception.modelbuild.fcn import build_fcn
    from selfsup_perception.modelbuild.ops import check_edgetpu

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    model = build_embedding_extractor(size, name) if key == 'emb' else build_fcn('fcn8s', 3, size, name)
    images = smooth_images(args.calibration, *size, seed=1)
    recalibrate_batch_norm(model, images, batch_size=8)
    result = Measured(params=int(model.count_params()))
    if key == 'emb':
        result.embedding = int(model.output_shape[-1])
    tflite = out / f'{name}_{key}.tflite'
    tflite.write_bytes(convert_int8_tflite(model, images))
    onnx = out / f'{name}_{key}.onnx'
    onnx.write_bytes(convert_onnx(model))
    result.int8_bytes = tflite.stat().st_size
    result.edgetpu = check_edgetpu(tflite).problems()
    for path, factory, attribute in ((tflite, tflite_runner, 'litert_ms'), (onnx, onnx_runner, 'ort_ms')):
        run = factory(path, 1)[0]
        setattr(result, attribute, statistics.median(time_runs(run, args.runs, args.repeats, args.warmup)))
    return result


def fps(ms: float) -> str:
    return f'{1000 / ms:.0f}'


def report(results: dict[str, dict[str, Measured]], args: argparse.Namespace, seconds: float) -> None:
    print('## Backbones on the target (issue 14, first part: speed, size, Edge TPU mapping)')
    print()
    print(f'{len(results)} backbones, random weights (quality not measured here), int8 LiteRT (XNNPACK) and ONNX '
          f'Runtime CPU on one thread; each latency is the median of {args.repeats} repeats of the median of '
          f'{args.runs} inferences ({args.calibration} calibration images; {seconds / 60:.1f} min for the whole '
          'run). Goals for the shipped pick: embedding >= 200 frames/s at 120x160, FCN-8s >= 30 frames/s at '
          '240x320, one core, every int8 model Edge-TPU mappable.')
    print()
    print('| backbone | params emb / FCN-8s | embedding | int8 KiB emb / FCN-8s 120x160 / 240x320 | '
          'LiteRT ms emb 120x160 | LiteRT ms FCN-8s 120x160 | LiteRT ms FCN-8s 240x320 | '
          'ORT ms emb / FCN-8s 120x160 / 240x320 | Edge TPU op check |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for name, models in results.items():
        emb, fcn, fcn_l = models['emb'], models['fcn'], models['fcn_l']
        problems = sorted({p for m in models.values() for p in m.edgetpu})
        check = 'all mapped (3 models)' if not problems else '; '.join(problems)
        sizes = ' / '.join(f'{m.int8_bytes / 1024:.0f}' for m in (emb, fcn, fcn_l))
        ort = ' / '.join(f'{m.ort_ms:.2f}' for m in (emb, fcn, fcn_l))
        print(f'| {name} | {emb.params / 1e6:.2f} M / {fcn.params / 1e6:.2f} M | {emb.embedding} | {sizes} | '
              f'{emb.litert_ms:.2f} ({fps(emb.litert_ms)}/s) | {fcn.litert_ms:.2f} ({fps(fcn.litert_ms)}/s) | '
              f'{fcn_l.litert_ms:.2f} ({fps(fcn_l.litert_ms)}/s) | {ort} | {check} |')
    if BASELINE not in results:
        return
    base = results[BASELINE]
    print()
    print(f'Against {BASELINE} in the same run (ratio > 1: slower / bigger). "Pareto" marks the backbones no other '
          'beats on both FCN-8s 240x320 LiteRT latency (lower) and parameter count (higher, a stand-in for '
          'capacity until the quality part measures quality); "goals" says whether the embedding reaches 200/s '
          'and FCN-8s 240x320 30/s.')
    print()
    print('| backbone | LiteRT emb | LiteRT FCN-8s 120x160 | LiteRT FCN-8s 240x320 | ORT FCN-8s 240x320 | '
          'params FCN-8s | int8 size FCN-8s | Pareto | goals |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    points = {name: (m['fcn_l'].litert_ms, m['fcn'].params) for name, m in results.items()}
    for name, models in results.items():
        latency, params = points[name]
        dominated = any(other[0] <= latency and other[1] >= params and other != points[name]
                        for other in points.values())
        goals = models['emb'].litert_ms <= 5.0 and models['fcn_l'].litert_ms <= 1000 / 30
        ratios = [models['emb'].litert_ms / base['emb'].litert_ms, models['fcn'].litert_ms / base['fcn'].litert_ms,
                  models['fcn_l'].litert_ms / base['fcn_l'].litert_ms, models['fcn_l'].ort_ms / base['fcn_l'].ort_ms,
                  models['fcn'].params / base['fcn'].params, models['fcn'].int8_bytes / base['fcn'].int8_bytes]
        print(f'| {name} | ' + ' | '.join(f'{r:.2f}' for r in ratios)
              + f' | {"no" if dominated else "yes"} | {"met" if goals else "missed"} |')


def main() -> None:
    from selfsup_perception.modelbuild.backbones import BACKBONE_NAMES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--backbones', nargs='+', default=list(BACKBONE_NAMES), choices=BACKBONE_NAMES)
    parser.add_argument('--runs', type=int, default=20, help='inferences per repeat')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--calibration', type=int, default=16, help='images for BN statistics and int8 calibration')
    args = parser.parse_args()
    names = [BASELINE, *[n for n in args.backbones if n != BASELINE]]
    start = time.monotonic()
    results: dict[str, dict[str, Measured]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            results[name] = {}
            for key, what, size in MODELS:
                results[name][key] = measure(name, key, size, args, Path(tmp))
                m = results[name][key]
                print(f'{name} {what} {size[0]}x{size[1]}: LiteRT {m.litert_ms:.2f} ms, ORT {m.ort_ms:.2f} ms, '
                      f'{m.params} params, edge tpu {m.edgetpu or "ok"} ({time.monotonic() - start:.0f} s)',
                      file=sys.stderr, flush=True)
    report(results, args, time.monotonic() - start)


if __name__ == '__main__':
    main()
