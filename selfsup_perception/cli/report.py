"""``selfsup report``: redraw a head report from one or more metrics.json files (e.g. to compare heads)."""

from __future__ import annotations

import argparse
from pathlib import Path

from selfsup_perception.reports.heads import Metrics, load_report, write_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``selfsup report``: redraw a report from one or more metrics.json files (e.g. to compare heads)."""
    parser.add_argument('metrics', nargs='+', type=Path, help='metrics.json files of earlier reports')
    parser.add_argument('--out', type=Path, required=True, help='directory for the combined report')
    parser.add_argument('--title', default=None, help="plot and summary title (default: the first file's)")


def run(args: argparse.Namespace) -> int:
    """Merge the runs of every file (names must differ) and write the report; 0 on success."""
    runs: dict[str, Metrics] = {}
    truth: dict[str, Metrics] = {}
    titles = []
    for path in args.metrics:
        more_runs, more_truth, title = load_report(path)
        clash = (runs.keys() & more_runs.keys()) | (truth.keys() & more_truth.keys())
        if clash:
            raise ValueError(f'{path}: run names {sorted(clash)} appear in more than one file')
        runs.update(more_runs)
        truth.update(more_truth)
        titles.append(title)
    paths = write_report(args.out, runs, ground_truth=truth, title=args.title or titles[0] or 'ROC AUC')
    print('\n'.join(str(p) for p in paths.values()))
    return 0
