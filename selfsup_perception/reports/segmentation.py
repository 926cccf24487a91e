"""The segmentation evaluation's report: metrics.json (the whole document), summary.md, one confusion PNG per model."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from selfsup_perception.core.modelcard import atomic_write_bytes


def write_report(out_dir: Path, document: Mapping[str, Any]) -> dict[str, Path]:
    """metrics.json (the whole document), summary.md and one confusion PNG per model; their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {'metrics': out_dir / 'metrics.json'}
    atomic_write_bytes(paths['metrics'], (json.dumps(document, indent=1, allow_nan=False) + '\n').encode())
    for name, result in document['models'].items():
        path = paths[f'confusion {name}'] = out_dir / f'confusion_{_slug(name)}.png'
        buffer = io.BytesIO()
        confusion_figure(result, name).savefig(buffer, format='png', dpi=110)
        atomic_write_bytes(path, buffer.getvalue())
    paths['summary'] = out_dir / 'summary.md'
    atomic_write_bytes(paths['summary'], summary_markdown(document).encode())
    return paths


def confusion_figure(result: Mapping[str, Any], name: str) -> Figure:
    """Row-normalised confusion matrix (share of each true class), each cell with its share and pixels."""
    confusion = np.asarray(result['confusion'], np.float64)
    classes = result['classes']
    totals = confusion.sum(axis=1, keepdims=True)
    with np.errstate(invalid='ignore', divide='ignore'):
        share = confusion / totals
    side = 1.0 * len(classes) + 2.5
    figure = Figure(figsize=(side + 1.0, side), layout='constrained')
    axes = figure.subplots()
    axes.set_facecolor('0.85')
    image = axes.imshow(np.ma.masked_invalid(share), cmap='Blues', vmin=0.0, vmax=1.0)
    for (i, j), value in np.ndenumerate(share):
        text = '–' if np.isnan(value) else f'{100 * value:.1f}%\n{int(confusion[i, j])}'
        axes.text(j, i, text, ha='center', va='center', fontsize=8,
                  color='white' if value > 0.6 else 'black')
    axes.set_xticks(range(len(classes)), classes, rotation=30, ha='right')
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel('predicted class')
    axes.set_ylabel('true class')
    axes.set_title(f'{name}\nmIoU {number(result["mean_iou"])}, pixel accuracy '
                   f'{number(result["pixel_accuracy"])}', fontsize=10)
    figure.colorbar(image, ax=axes, label='share of the true class', shrink=0.8)
    return figure


def summary_markdown(document: Mapping[str, Any]) -> str:
    """One table row per model (mIoU, pixel accuracy, IoU per class, speed), then each confusion matrix."""
    classes = document['classes']
    height, width = document['image_size']
    lines = [
        f'# {document["title"]}', '',
        f'{document["frames"]} frames ({width}x{height}) from `{document["data"]}`; classes '
        f'{", ".join(classes)}; pixels labelled {document["ignore_index"]} ignored. Speed: {document["timing"]}.',
        '', '| model | backend | mIoU | pixel accuracy | ' + ' | '.join(f'IoU {c}' for c in classes)
        + ' | ms / frame |',
        '| --- |' + ' --- |' * (len(classes) + 4),
    ]
    for name, r in document['models'].items():
        lines.append(f'| {name} | {r["backend"]} | {number(r["mean_iou"])} | {number(r["pixel_accuracy"])} | '
                     + ' | '.join(number(v) for v in r['iou']) + f' | {r["ms_per_frame"]:.2f} |')
    for name, r in document['models'].items():
        lines += ['', f'## {name}: confusion matrix (pixels; rows true class, columns predicted)', '',
                  '| true \\ predicted | ' + ' | '.join(classes) + ' |', '| --- |' + ' --- |' * len(classes)]
        lines += [f'| {c} | ' + ' | '.join(str(v) for v in row) + ' |'
                  for c, row in zip(classes, r['confusion'], strict=True)]
        lines += ['', f'![{name} confusion matrix](confusion_{_slug(name)}.png)']
    return '\n'.join(lines) + '\n'


def number(value: float | None) -> str:
    return '–' if value is None else f'{value:.4f}'


def _slug(name: str) -> str:
    return re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_') or 'model'
