"""Cost of the appearance suite: building a world and simulating one minute in it, training vs benchmark worlds.

For the first N training and benchmark worlds (benchmark worlds may wear photographs): the time to build
the ``Simulation`` (arena, textures, model, renderer) and to build it and run one simulated minute with the
default sensors (camera with ground truth at 10 Hz). Reports process CPU time (steady on a shared machine)
and wall time, medians and maxima. Pin it to one core: ``taskset -c 0 python benchmarks/bench_sim_worlds.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from selfsup_perception.core.config import load_config
from selfsup_perception.sim import SimParams, Simulation
from selfsup_perception.sim.describe import describe_arena
from selfsup_perception.sim.seeds import BENCHMARK, TRAINING, SeedRange

CONFIG = Path(__file__).resolve().parents[1] / 'config' / 'robot.yaml'


def world_cost(seed: int, seconds: float) -> tuple[float, float, float, bool]:
    """(build CPU s, build + run CPU s, build + run wall s, photographic) of world ``seed``."""
    config = load_config(CONFIG)
    wall, cpu = time.perf_counter(), time.process_time()
    with Simulation(SimParams(seed=seed), config) as simulation:
        built = time.process_time() - cpu
        while simulation.step().stamp < seconds:
            pass
        photographic = bool(describe_arena(simulation.arena)['photographic'])
    return built, time.process_time() - cpu, time.perf_counter() - wall, photographic


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--worlds', type=int, default=6, help='first worlds of each range to time')
    parser.add_argument('--seconds', type=float, default=60.0, help='simulated seconds per world')
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    if cores > 1:
        print(f'note: running on {cores} cores; pin to one with taskset -c 0', file=sys.stderr)
    print('## Simulator worlds (issue 10)')
    print()
    print(
        f'Build one world (arena, textures, MuJoCo model, renderer) and simulate {args.seconds:g} s in it with the '
        f'default sensors; the first {args.worlds} worlds of each range, {cores} core(s), EGL on the CPU.'
    )
    print()
    print('| worlds | build CPU s (median) | build + run CPU s (median, max) | wall s (median) | photographic |')
    print('| --- | --- | --- | --- | --- |')
    seeds: SeedRange
    for seeds in (TRAINING, BENCHMARK):
        costs = [world_cost(seed, args.seconds) for seed in seeds.first(args.worlds)]
        build, total, wall, photos = zip(*costs, strict=True)
        print(
            f'| {seeds.name} | {statistics.median(build):.2f} | {statistics.median(total):.1f}, {max(total):.1f} | '
            f'{statistics.median(wall):.1f} | {sum(photos)} of {len(costs)} |'
        )
    print()
    return 0


if __name__ == '__main__':
    sys.exit(main())
