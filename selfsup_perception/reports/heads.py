"""The evaluation report: metrics.json, AUC heat maps, an AUC-vs-distance plot and a markdown summary.

Input: named ``metrics.evaluate`` dicts, e.g. {'shipped head': ..., 'fine-tuned': ...}, and optionally
the same heads scored against simulator ground truth. Plots use matplotlib's Agg canvas through the
object API (no pyplot, no global backend switch), so this runs headless inside any process.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from selfsup_perception.core.modelcard import atomic_write_bytes

Metrics = Mapping[str, Any]
CHANCE = 0.5


def write_report(
    out_dir: str | os.PathLike[str],
    runs: Mapping[str, Metrics],
    *,
    ground_truth: Mapping[str, Metrics] | None = None,
    title: str = 'Obstacle detection: ROC AUC',
) -> dict[str, Path]:
    """Write every report file into ``out_dir``; returns their paths by role.

    ``runs`` are scored against the self-supervised labels; ``ground_truth`` (same names where they
    are the same heads) against the simulator's ground truth for every frame and distance.
    """
    if not runs:
        raise ValueError('a report needs at least one run')
    ground_truth = dict(ground_truth or {})
    layouts = {(tuple(m['distances']), tuple(m['sensors'])) for m in (*runs.values(), *ground_truth.values())}
    if len(layouts) > 1:
        raise ValueError(f'runs of one report must share distances and sensors, got {sorted(layouts)}')
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    document = {'title': title, 'runs': dict(runs), 'ground_truth': ground_truth}
    paths = {'metrics': out / 'metrics.json'}
    atomic_write_bytes(paths['metrics'], (json.dumps(document, indent=1, allow_nan=False) + '\n').encode())
    for group, entries in (('', runs), ('ground truth', ground_truth)):
        for name, metrics in entries.items():
            label = f'{name} ({group})' if group else name
            key = f'heatmap {label}'
            paths[key] = out / f'heatmap_{_slug(label)}.png'
            _save(heatmap_figure(metrics, label), paths[key])
    paths['auc_vs_distance'] = out / 'auc_vs_distance.png'
    _save(auc_vs_distance_figure(runs, ground_truth, title), paths['auc_vs_distance'])
    paths['summary'] = out / 'summary.md'
    atomic_write_bytes(paths['summary'], summary_markdown(runs, ground_truth, title).encode())
    return paths


def heatmap_figure(metrics: Metrics, name: str) -> Figure:
    """Distance (rows, nearest at the bottom) x sensor AUC, each cell annotated; grey where undefined."""
    auc = _array(metrics['cells']['auc'])
    labels = np.asarray(metrics['cells']['labels'])
    distances, sensors = metrics['distances'], metrics['sensors']
    figure = Figure(figsize=(1.3 * len(sensors) + 2.4, 0.34 * len(distances) + 1.6), layout='constrained')
    axes = figure.subplots()
    axes.set_facecolor('0.85')
    image = axes.imshow(
        np.ma.masked_invalid(auc), origin='lower', aspect='auto', cmap='viridis', vmin=CHANCE, vmax=1.0
    )
    for (i, j), value in np.ndenumerate(auc):
        if np.isnan(value):
            text, color = '–', '0.3'
        else:
            text, color = f'{value:.2f}', 'black' if value > 0.8 else 'white'
        axes.text(j, i, text, ha='center', va='center', fontsize=8, color=color)
    axes.set_xticks(range(len(sensors)), sensors, rotation=30, ha='right')
    axes.set_yticks(range(len(distances)), [f'{d:.2f}' for d in distances])
    axes.set_xlabel('sensor')
    axes.set_ylabel('distance ahead (m)')
    mean = metrics.get('mean_auc')
    axes.set_title(f'{name}\nmean AUC {_fmt(mean)}, {int(labels.sum())} labels; –: undefined', fontsize=10)
    figure.colorbar(image, ax=axes, label=f'ROC AUC (< {CHANCE} clipped)', shrink=0.8)
    return figure


def auc_vs_distance_figure(
    runs: Mapping[str, Metrics], ground_truth: Mapping[str, Metrics], title: str
) -> Figure:
    """AUC per distance (sensors pooled) with its interval band; ground-truth curves dashed, same colour."""
    figure = Figure(figsize=(7.5, 4.5), layout='constrained')
    axes = figure.subplots()
    colours: dict[str, Any] = {}
    lowest = CHANCE
    for group, entries in (('', runs), ('ground truth', ground_truth)):
        for name, metrics in entries.items():
            distances = np.asarray(metrics['distances'], dtype=float)
            pooled = metrics['per_distance']
            auc, low, high = (_array(pooled[k]) for k in ('auc', 'auc_low', 'auc_high'))
            ci = metrics.get('ci', 0.95)
            label = f'{name} (ground truth)' if group else name
            (line,) = axes.plot(
                distances,
                auc,
                marker='o' if not group else None,
                markersize=4,
                linestyle='--' if group else '-',
                color=colours.get(name),
                label=label,
            )
            colours.setdefault(name, line.get_color())
            if np.isfinite(low).any():
                axes.fill_between(distances, low, high, color=line.get_color(), alpha=0.15, linewidth=0)
                line.set_label(f'{label}, {ci:.0%} CI')
            finite = np.concatenate([auc, low])[np.isfinite(np.concatenate([auc, low]))]
            lowest = min(lowest, finite.min(initial=CHANCE))
    axes.axhline(CHANCE, color='0.5', linewidth=1, linestyle=':', label='chance')
    axes.set_ylim(max(0.0, lowest - 0.05), 1.01)
    axes.set_xlabel('distance ahead (m)')
    axes.set_ylabel('ROC AUC (sensors pooled)')
    axes.set_title(title, fontsize=11)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc='best')
    return figure


def summary_markdown(runs: Mapping[str, Metrics], ground_truth: Mapping[str, Metrics], title: str) -> str:
    """Markdown: mean AUC per run, AUC per distance side by side, then each run's distance x sensor table."""
    everything = {**runs, **{f'{n} (ground truth)': m for n, m in ground_truth.items()}}
    first = next(iter(everything.values()))
    ci = f'{first.get("ci", 0.95):.0%} CI'
    lines = [f'# {title}', '', '| run | mean AUC (cells) | labels | positives |', '| --- | --- | --- | --- |']
    for name, m in everything.items():
        labels, positives = np.sum(m['cells']['labels']), np.sum(m['cells']['positives'])
        lines.append(f'| {name} | {_fmt(m.get("mean_auc"))} | {labels} | {positives} |')
    lines += ['', f'## AUC per distance, sensors pooled [{ci}] (labels / positives)', '']
    lines.append('| distance (m) | ' + ' | '.join(everything) + ' |')
    lines.append('| --- |' + ' --- |' * len(everything))
    for i, distance in enumerate(first['distances']):
        cells = []
        for m in everything.values():
            p = m['per_distance']
            auc = _auc_text(p['auc'][i], p['auc_low'][i], p['auc_high'][i])
            cells.append(f'{auc} ({p["labels"][i]} / {p["positives"][i]})')
        lines.append(f'| {distance:.2f} | ' + ' | '.join(cells) + ' |')
    for name, m in everything.items():
        lines += ['', f'## {name}: AUC per distance and sensor [{ci}]', '']
        lines.append('| distance (m) | ' + ' | '.join(m['sensors']) + ' |')
        lines.append('| --- |' + ' --- |' * len(m['sensors']))
        c = m['cells']
        for i, distance in enumerate(m['distances']):
            row = [_auc_text(*v) for v in zip(c['auc'][i], c['auc_low'][i], c['auc_high'][i], strict=True)]
            lines.append(f'| {distance:.2f} | ' + ' | '.join(row) + ' |')
    return '\n'.join(lines) + '\n'


def load_report(path: str | os.PathLike[str]) -> tuple[dict[str, Metrics], dict[str, Metrics], str]:
    """(runs, ground_truth, title) from a metrics.json written by ``write_report``."""
    try:
        document = json.loads(Path(path).read_text(encoding='utf-8'))
        return dict(document['runs']), dict(document.get('ground_truth', {})), str(document.get('title', ''))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f'{path} is not a metrics.json written by a report: {exc}') from exc


def _save(figure: Figure, path: Path) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format='png', dpi=110)
    atomic_write_bytes(path, buffer.getvalue())


def _array(values: Any) -> np.ndarray:
    """JSON numbers with None (undefined) -> float array with NaN."""
    return np.array(values, dtype=float)


def _fmt(value: float | None) -> str:
    return '–' if value is None or not np.isfinite(value) else f'{value:.3f}'


def _auc_text(auc: float | None, low: float | None, high: float | None) -> str:
    """'0.912 [0.88, 0.94]', without the interval when there is none."""
    return _fmt(auc) if low is None or high is None else f'{_fmt(auc)} [{low:.2f}, {high:.2f}]'


def _slug(name: str) -> str:
    return re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_') or 'run'
