"""``selfsup benchmark`` (``make benchmark``): the unseen-world benchmark, the project's quality scoreboard.

In N worlds of the benchmark seed range (which no model building touches): the robot's own drive and a
second scoring run, simulated as fast as the simulator runs; the shipped head fine-tuned on the drive as
the trainer node does; detector AUC per distance (shipped and robot-trained head), FCN-8s mIoU (3 classes
and traversable vs not) and the free-space scan against ground truth. Writes ``report.md``,
``metrics.json`` and ``benchmark.png`` into ``--out``; the simulated datasets stay in ``--work`` so a
rerun (e.g. with new models) only scores. Exit status 1 when a world failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from selfsup_perception.core.resources import package_file
from selfsup_perception.inference import BACKEND_NAMES
from selfsup_perception.pipeline.benchmark import (
    BENCHMARK_SEEDS,
    DEFAULT_WORLDS,
    ENTRIES,
    LEGACY_SEEDS,
    BenchmarkOptions,
    default_workers,
    run_benchmark,
)
from selfsup_perception.reports.benchmark import summary_table, write_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--worlds', type=int, default=DEFAULT_WORLDS, help='how many benchmark worlds')
    parser.add_argument('--first-seed', type=int, default=BENCHMARK_SEEDS.start,
                        help=f'seed of the first world (benchmark range {BENCHMARK_SEEDS.start}..'
                             f'{BENCHMARK_SEEDS.stop - 1})')
    parser.add_argument('--minutes', type=float, default=4.5, help="simulated minutes of the robot's own drive")
    parser.add_argument('--eval-minutes', type=float, default=1.5, help='simulated minutes of the scoring run')
    parser.add_argument('--models', type=Path, default=package_file('models'),
                        help='folder with embedding.tflite, head.npz and fcn8s.tflite (default: the shipped models)')
    parser.add_argument('--out', type=Path, default=Path('benchmark_output'), help='folder for the report')
    parser.add_argument('--work', type=Path, default=Path('build/benchmark'),
                        help='cache of the simulated, labelled datasets (reused by later runs)')
    parser.add_argument('--workers', type=int, default=default_workers(),
                        help='worlds simulated and scored at once, one process each (default: CPUs, at most 2)')
    parser.add_argument('--backend', choices=BACKEND_NAMES, default='tflite', help='inference backend')
    parser.add_argument('--no-legacy', action='store_true',
                        help=f'do not score the legacy evaluation worlds {" and ".join(map(str, LEGACY_SEEDS))}')
    parser.add_argument('--entries', nargs='+', choices=ENTRIES, default=[], metavar='ENTRY',
                        help=f'score only these entries (default all: {", ".join(map(repr, ENTRIES))})')
    parser.add_argument('--allow-any-seed', action='store_true',
                        help='score seeds outside the benchmark range (the report then says it is no benchmark)')


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and write its report; 0 when every world was scored, 1 when one failed."""
    options = BenchmarkOptions(worlds=args.worlds, first_seed=args.first_seed, minutes=args.minutes,
                               eval_minutes=args.eval_minutes, models=args.models, work=args.work,
                               workers=args.workers, backend=args.backend, legacy=not args.no_legacy,
                               allow_any_seed=args.allow_any_seed, entries=tuple(args.entries))
    document = run_benchmark(options)
    paths = write_report(args.out, document)
    print(f'# {document["title"]} ({document["wall_seconds"] / 60:.1f} min)')
    print('\n'.join(summary_table(document)))
    if document['failed']:
        print(f'failed worlds: {", ".join(map(str, document["failed"]))} (see {paths["report"]})')
    print('\n'.join(str(path) for path in paths.values()))
    return 1 if document['failed'] else 0
