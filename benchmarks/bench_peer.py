"""Peer comparison (issue 5): our FCN-8s int8 (LiteRT) vs torchvision's LR-ASPP MobileNetV3-Large, 240x320.

Both on one core, one thread, in this run. torchvision lives in a benchmark-only environment (never a
dependency of the package): ``make bench`` creates ``.venv-torch`` with
``pip install torch==2.14.1 torchvision==0.29.1``; point ``SELFSUP_TORCH_PYTHON`` elsewhere if you have
one. Random weights: only the speed is compared.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / 'models' / 'fcn8s_240x320.tflite'
SIZE = (240, 320)
RUNS, REPEATS = 30, 5

PEER = """
import json, statistics, sys, time, torch, torchvision
height, width, repeats, runs = map(int, sys.argv[1:])
torch.set_num_threads(1)
model = torchvision.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None).eval()
x = torch.rand(1, 3, height, width)
medians = []
with torch.inference_mode():
    for _ in range(5):
        model(x)
    for _ in range(repeats):
        times = []
        for _ in range(runs):
            start = time.perf_counter(); model(x); times.append(time.perf_counter() - start)
        medians.append(1000 * statistics.median(times))
print(json.dumps({'medians': medians, 'torch': torch.__version__, 'torchvision': torchvision.__version__}))
"""


def ours() -> list[float]:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(MODEL), num_threads=1)
    interpreter.allocate_tensors()
    (detail,) = interpreter.get_input_details()
    interpreter.set_tensor(detail['index'], np.random.default_rng(0).integers(0, 256, detail['shape'], np.uint8))
    for _ in range(5):
        interpreter.invoke()
    medians = []
    for _ in range(REPEATS):
        times = []
        for _ in range(RUNS):
            start = time.perf_counter()
            interpreter.invoke()
            times.append(time.perf_counter() - start)
        medians.append(1000 * statistics.median(times))
    return medians


def main() -> None:
    print('## Segmentation peer: FCN-8s int8 vs LR-ASPP MobileNetV3-Large (issue 5)')
    print()
    python = os.environ.get('SELFSUP_TORCH_PYTHON', str(ROOT / '.venv-torch' / 'bin' / 'python'))
    if not Path(python).exists():
        print(f'Not measured: no torchvision environment at {python} (make bench creates it).')
        return
    mine = statistics.median(ours())
    result = subprocess.run([python, '-c', PEER, *map(str, (*SIZE, REPEATS, RUNS))], capture_output=True,
                            text=True, check=True)
    peer = json.loads(result.stdout.strip().splitlines()[-1])
    theirs = statistics.median(peer['medians'])
    print(f'Input {SIZE[0]}x{SIZE[1]}, one thread, median of {REPEATS} repeats x {RUNS} runs.')
    print()
    print('| model | runtime | median ms | frames/s |')
    print('| --- | --- | --- | --- |')
    print(f'| FCN-8s (MobileNetV2 a0.35), int8 | LiteRT {_litert_version()} | {mine:.2f} | {1000 / mine:.0f} |')
    print(f'| LR-ASPP MobileNetV3-Large, float32 | torch {peer["torch"]}, torchvision {peer["torchvision"]} | '
          f'{theirs:.2f} | {1000 / theirs:.0f} |')
    print()
    print(f'FCN-8s is {theirs / mine:.1f}x faster than the peer (goal: >= 1.5x).')


def _litert_version() -> str:
    from importlib.metadata import version

    return version('ai-edge-litert')


if __name__ == '__main__':
    main()
