"""The unseen-world benchmark's report: metrics.json (the whole document), report.md and benchmark.png.

report.md: how the numbers were made, median and worst per metric against the issue's goals, one row per
world, failures, and the legacy evaluation worlds apart. benchmark.png: one panel per metric, the
per-world values of every entry (e.g. shipped vs robot-trained head) with their medians. Every file is
written to a temporary name and renamed into place.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from selfsup_perception.core.modelcard import atomic_write_bytes
from selfsup_perception.pipeline.benchmark import columns, score_of

PLOT = 'benchmark.png'
PANELS_PER_ROW = 3


def write_report(out_dir: Path, document: Mapping[str, Any]) -> dict[str, Path]:
    """metrics.json, report.md and the plot into ``out_dir``; their paths by role."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {'metrics': out_dir / 'metrics.json', 'plot': out_dir / PLOT, 'report': out_dir / 'report.md'}
    atomic_write_bytes(paths['metrics'], (json.dumps(document, indent=1, allow_nan=False) + '\n').encode())
    buffer = io.BytesIO()
    plot_figure(document).savefig(buffer, format='png', dpi=90)
    atomic_write_bytes(paths['plot'], buffer.getvalue())
    atomic_write_bytes(paths['report'], report_markdown(document).encode())
    return paths


def label(column: tuple[str, str, str]) -> str:
    """'robot-trained AUC 0.2 m': the entry and its metric (the stage is implied by the metric)."""
    return f'{column[1]} {column[2]}'


def number(value: float | None) -> str:
    return '–' if value is None or not math.isfinite(value) else f'{value:.3f}'


def world_table(rows: Sequence[Mapping[str, Any]], table_columns: Sequence[tuple[str, str, str]]) -> list[str]:
    """Markdown rows: seed, world, drive / scoring frames, every score; a failed world says why."""
    lines = ['| seed | world | frames drive / scoring | ' + ' | '.join(map(label, table_columns)) + ' |',
             '| --- | --- | --- |' + ' --- |' * len(table_columns)]
    for row in rows:
        frames = row['frames']
        counts = f'{frames.get("drive", "–")} / {frames.get("scoring", "–")}'
        world = row['world'] or '–'
        if row['error']:
            world += f' **failed: {row["error"]}**'
        cells = [number(score_of(row, column)) for column in table_columns]
        lines.append(f'| {row["seed"]} | {world.replace("|", "/")} | {counts} | ' + ' | '.join(cells) + ' |')
    return lines


def summary_table(document: Mapping[str, Any]) -> list[str]:
    """Markdown: median (with its bootstrap interval over worlds) and worst per metric over the benchmark worlds,
    with the issue's goal where it sets one."""
    goals = {(g['stage'], g['entry'], g['metric']): g for g in document['goals']}
    coverage = document.get('interval', {}).get('coverage', 0.95)
    lines = [f'| metric | median | median {coverage:.0%} interval | worst | worlds | goal: median (worst) | met |',
             '| --- |' + ' --- |' * 6]
    for entry in document['summary']:
        key = (entry['stage'], entry['entry'], entry['metric'])
        goal, met = goals.get(key), ''
        if goal is not None:
            reached = [value is not None and value >= wanted
                       for value, wanted in ((entry['median'], goal['median']), (entry['worst'], goal['worst']))]
            met = 'yes' if all(reached) else 'median only' if reached[0] else 'worst only' if reached[1] else 'no'
        target = f'≥ {goal["median"]:.2f} (≥ {goal["worst"]:.2f})' if goal else ''
        interval = f'{number(entry.get("median_low"))}–{number(entry.get("median_high"))}'
        lines.append(f'| {label(key)} | {number(entry["median"])} | {interval} | {number(entry["worst"])} | '
                     f'{entry["worlds"]} | {target} | {met} |')
    return lines


def report_markdown(document: Mapping[str, Any]) -> str:
    """The whole report.md."""
    settings, worlds, legacy = document['settings'], document['worlds'], document['legacy_worlds']
    table_columns = columns([*worlds, *legacy])
    low, high = document['benchmark_range']
    load = document['load_average']
    models = ', '.join(f'`{name}` ({digest[:12]})' for name, digest in document['models']['sha256'].items())
    lines = [
        f'# {document["title"]}', '',
        f'Worlds from the benchmark seed range {low}..{high}, which no model building or tuning uses. In each '
        f'world the robot drives {settings["minutes"]:g} simulated minutes (run 0) and labels its own data; '
        'the shipped head is fine-tuned on that drive as the trainer node does, once per training variant '
        '(the ablation: **robot-trained** on the labels only, **+ consistency** adds the state-consistency loss, '
        '**+ mean teacher** takes its targets from a moving average of the weights)'
        + default_text(document) + '. A second '
        f'run in the same world ({settings["eval_minutes"]:g} simulated minutes, run 1, other random turns) is '
        'scored against the simulator\'s ground truth: obstacle-head ROC AUC at each distance (sensors pooled), '
        'segmentation mIoU over floor / obstacle / wall and over traversable (floor) vs not, and the free-space '
        'scan: the share of bearings with a true obstacle closer than 1.5 m whose range from the predicted '
        'mask is within 10%.', '',
        f'Models: `{document["models"]["folder"]}`: {models}; backend {settings["backend"]}. '
        f'{document["wall_seconds"] / 60:.1f} minutes wall time with {settings["workers"]} worker processes on '
        f'{document["cpus"]} CPUs (load average {load["start"][0]:.1f} at the start, {load["end"][0]:.1f} at the end); '
        + making_text(document['dataset_making']),
    ]
    if document['outside_range']:
        lines += ['', '**Not a benchmark result**: some seeds lie outside the benchmark range (--allow-any-seed).']
    if document['failed']:
        lines += ['', f'**Failed worlds**: {", ".join(map(str, document["failed"]))} (see the tables).']
    interval = document.get('interval')
    bootstrap = [] if not interval else ['', f'Median intervals: {interval["coverage"]:.0%} percentile bootstrap over '
                                         f'the worlds ({interval["resamples"]} resamples of the worlds, seed '
                                         f'{interval["seed"]}).']
    lines += ['', f'## Median and worst over the {len(worlds)} worlds', *bootstrap, '', *summary_table(document),
              '', '## Per world', '', *world_table(worlds, table_columns),
              '', f'![per-world values]({PLOT})']
    if legacy:
        lines += ['', f'## Legacy evaluation worlds {", ".join(str(r["seed"]) for r in legacy)} (not in the '
                  'median)', '', 'The evaluation worlds of earlier results; they lie in the training seed range.',
                  '', *world_table(legacy, table_columns)]
    return '\n'.join(lines) + '\n'


def default_text(document: Mapping[str, Any]) -> str:
    """Which robot-trained entry the trainer node and ``selfsup train`` use by default (the goals are its)."""
    default = document.get('default_head')
    return '' if not default else (f'; the trainer node and `selfsup train` use the {default["variant"]} variant '
                                   f'by default (**{default["entry"]}**, `core/head.py` DEFAULT_VARIANT)')


def making_text(making: Mapping[str, Any]) -> str:
    """Which worlds were simulated in this run, and what simulating and labelling a world costs."""
    seconds = making['median_seconds_per_world']
    cost = '' if seconds is None else f'; simulating and labelling a world took a median of {seconds:.0f} s'
    made, worlds = making['made_now'], making['worlds']
    fresh = f'all {worlds} worlds' if made == worlds else f'{made} of {worlds} worlds ({worlds - made} from the cache)'
    return f'{fresh} simulated in this run{cost}.'


def plot_figure(document: Mapping[str, Any]) -> Figure:
    """One panel per (stage, metric): each entry's value per benchmark world, worlds of one seed joined by a
    grey line (before / after), each entry's median dashed, the issue's goal for the median dotted."""
    worlds = [row for row in document['worlds'] if not row['error']]
    table_columns = columns(worlds)
    panels: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    for column in table_columns:
        panels.setdefault((column[0], column[2]), []).append(column)
    goals = {(g['stage'], g['entry'], g['metric']): g['median'] for g in document['goals']}
    rows = max(1, math.ceil(len(panels) / PANELS_PER_ROW))
    figure = Figure(figsize=(4.6 * PANELS_PER_ROW, 3.4 * rows + 0.6), layout='constrained')
    axes_grid = np.atleast_1d(figure.subplots(rows, PANELS_PER_ROW, squeeze=False).ravel())
    x = np.arange(len(worlds))
    colours: dict[str, Any] = {}
    for axes, ((stage, metric), panel) in zip(axes_grid, panels.items(), strict=False):
        values = np.array([[_value(score_of(row, column)) for column in panel] for row in worlds]).reshape(
            len(worlds), len(panel))
        for i in x:
            finite = values[i][np.isfinite(values[i])]
            if finite.size > 1:
                axes.plot([i, i], [finite.min(), finite.max()], color='0.75', linewidth=1, zorder=1)
        lowest = 1.0
        for j, column in enumerate(panel):
            entry = column[1]
            finite = values[:, j][np.isfinite(values[:, j])]
            median = float(np.median(finite)) if finite.size else math.nan
            points = axes.scatter(x, values[:, j], s=18, color=colours.get(entry), zorder=2,
                                  label=f'{entry} (median {number(median)})')
            colours.setdefault(entry, points.get_facecolor()[0])
            if finite.size:
                axes.axhline(median, color=colours[entry], linestyle='--', linewidth=1)
                lowest = min(lowest, float(finite.min()))
            if column in goals:
                axes.axhline(goals[column], color='black', linestyle=':', linewidth=1,
                             label=f'goal for the median ({entry})')
                lowest = min(lowest, goals[column])
        axes.set_ylim(max(0.0, lowest - 0.05), 1.005)
        axes.set_title(f'{stage}: {metric}', fontsize=10)
        axes.set_xticks(x, [str(row['seed']) for row in worlds], rotation=90, fontsize=6)
        axes.grid(alpha=0.3)
        axes.legend(fontsize=7, loc='best')
    for axes in axes_grid[len(panels):]:
        axes.set_visible(False)
    figure.suptitle(f'{document["title"]}: per world (dashed: median)', fontsize=11)
    return figure


def _value(value: float | None) -> float:
    return math.nan if value is None else float(value)
