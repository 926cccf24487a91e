"""Speed of the embedded simulator: simulated seconds per wall-clock second (goal: >= 5x real time).

Times ``simulate_to_bag`` (bag writer, default 160x120 camera at 10 Hz, the five proximity sensors of
config/robot.yaml at 20 Hz, odometry 50 Hz, clock 100 Hz, ground truth with every frame), raw and
JPEG-compressed, and the bare ``Simulation.step()`` loop for comparison. Prints the median of repeated
runs as a markdown section (benchmarks/run.py collects it into benchmarks/RESULTS.md). Pin it to one
core: ``taskset -c 0 python benchmarks/bench_sim.py [--seconds 30] [--repeats 3]`` (run.py does).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from selfsup_perception.core.config import load_config
from selfsup_perception.sim import SimParams, Simulation, simulate_to_bag

CONFIG = Path(__file__).resolve().parents[1] / 'config' / 'robot.yaml'


def bag_speed(seconds: float, seed: int, compressed: bool) -> float:
    """Real-time factor of one bag recording (setup included)."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        simulate_to_bag(Path(folder) / 'bench', seed, seconds, CONFIG, compressed=compressed)
        return seconds / (time.perf_counter() - start)


def step_speed(seconds: float, seed: int) -> float:
    """Real-time factor of the bare simulation loop (no messages, no bag)."""
    start = time.perf_counter()
    with Simulation(SimParams(seed=seed), load_config(CONFIG)) as simulation:
        while simulation.step().stamp < seconds:
            pass
    return seconds / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=30.0, help='simulated seconds per run')
    parser.add_argument('--repeats', type=int, default=3, help='runs per case (the median is reported)')
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    if cores > 1:
        print(f'note: running on {cores} cores; pin to one with taskset -c 0', file=sys.stderr)
    cases = {
        'bag writer, raw rgb8': lambda seed: bag_speed(args.seconds, seed, compressed=False),
        'bag writer, --compressed (JPEG)': lambda seed: bag_speed(args.seconds, seed, compressed=True),
        'Simulation.step() only': lambda seed: step_speed(args.seconds, seed),
    }
    defaults = SimParams()
    print('## Simulator (issue 3)')
    print()
    print(
        f'Embedded MuJoCo simulator, default sensors: {defaults.camera_width}x{defaults.camera_height} '
        f'camera at {defaults.camera_rate:g} Hz with ground truth, 5 proximity sensors at '
        f'{defaults.proximity_rate:g} Hz, odometry at {defaults.odom_rate:g} Hz, /clock at '
        f'{defaults.clock_rate:g} Hz; {args.seconds:g} s of simulated time per run (setup included), '
        f'{cores} core(s), headless EGL rendering on the CPU (Mesa llvmpipe).'
    )
    print()
    print('| case | simulated s per wall-clock s (median) | runs | min .. max |')
    print('| --- | --- | --- | --- |')
    for name, case in cases.items():
        speeds = [case(seed) for seed in range(args.repeats)]
        print(
            f'| {name} | {statistics.median(speeds):.1f}x real time | {args.repeats} | '
            f'{min(speeds):.1f} .. {max(speeds):.1f} |'
        )
    print()
    return 0


if __name__ == '__main__':
    sys.exit(main())
