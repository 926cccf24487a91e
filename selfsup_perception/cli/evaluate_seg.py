"""``selfsup evaluate-seg``: score segmentation models side by side on the same held-out labelled images.

For each model: mean IoU, IoU per class, pixel accuracy, the confusion matrix (a PNG) and its speed
(median ms per frame, one frame at a time as the node runs it: resize, inference, arg-max). Writes
``metrics.json``, ``summary.md`` (one table row per model, e.g. FCN-32s vs 16s vs 8s) and
``confusion_<model>.png`` into the report directory. Predictions are scored at the ground truth's
resolution; pixels labelled ``ignore_index`` do not count.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import sys
import time
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from matplotlib.figure import Figure

from selfsup_perception.core.config import ConfigError, ros_parameters
from selfsup_perception.core.dataset import Dataset, DatasetError
from selfsup_perception.core.modelcard import ModelLoadError, atomic_write_bytes, model_base
from selfsup_perception.core.resources import sim_classes
from selfsup_perception.core.segmentation import (
    IGNORE_INDEX,
    CameraMount,
    ClassListError,
    FreeSpaceScanner,
    confusion_matrix,
    intrinsics_from_hfov,
    load_classes,
    scan_agreement,
    segmentation_scores,
)
from selfsup_perception.inference import BACKEND_NAMES, BackendUnavailable, create_backend
from selfsup_perception.inference.segmentation import SegmentationRunner

TIMING = 'median ms per frame, batch 1: resize to the model input, inference, arg-max, resize to the truth'


class EvaluationError(ValueError):
    """The data or the models cannot be evaluated as asked; the message says why."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--models', nargs='+', required=True, type=Path, metavar='MODEL',
                        help='segmentation models (.tflite, .onnx or _edgetpu.tflite, card beside each)')
    parser.add_argument('--data', required=True, type=Path,
                        help='held-out data: .npz with images (N, H, W, 3) uint8 and segmentation (N, H, W) '
                             'class ids (selfsup dataset export), or a dataset file with simulator ground truth')
    parser.add_argument('--report', required=True, type=Path, help='directory for the report files')
    parser.add_argument('--backend', default='auto', choices=BACKEND_NAMES, help='inference backend (all models)')
    parser.add_argument('--threads', type=int, default=1, help='CPU threads of the inference runtime')
    parser.add_argument('--device', default=None, help='Edge TPU device (usb, pci, usb:N, pci:N)')
    parser.add_argument('--classes', type=Path, default=None,
                        help="class list YAML (names, ignore_index); default: the first model card's classes")
    parser.add_argument('--title', default=None, help='report title (default: from the data file name)')
    parser.add_argument('--camera-config', type=Path, default=None,
                        help='params YAML with camera_hfov, camera_mount_height, camera_tilt, camera_mount_x '
                             '(e.g. config/robot.yaml): also score the free-space scan against the one of the '
                             'true masks (beams with an obstacle closer than 1.5 m, within 10%%)')


def run(args: argparse.Namespace) -> int:
    """Evaluate every model and write the report; 0 on success, 2 when data or models are unusable."""
    try:
        images, truth = load_data(args.data)
        document = evaluate(args, images, truth)
    except (EvaluationError, ClassListError, DatasetError, ModelLoadError, BackendUnavailable) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    paths = write_report(args.report, document)
    for name, result in document['models'].items():
        print(f'{name}: mIoU {_number(result["mean_iou"])}, pixel accuracy {_number(result["pixel_accuracy"])}, '
              f'{result["ms_per_frame"]:.2f} ms/frame ({result["backend"]})')
    print('\n'.join(str(p) for p in paths.values()))
    return 0


def load_data(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (N, H, W, 3) uint8, class ids (N, H, W)) from an .npz or a dataset file."""
    if path.suffix == '.npz':
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files if name in ('images', 'segmentation')}
                files = sorted(npz.files)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise EvaluationError(f'{path}: not a readable .npz: {exc}') from exc
        if len(arrays) != 2:
            raise EvaluationError(f'{path}: needs the arrays images and segmentation (has {files})')
        images, truth = arrays['images'], arrays['segmentation']
    else:
        with Dataset(path) as dataset:
            batch = dataset.read_all(images=True)
        if batch.segmentation is None:
            raise EvaluationError(f'{path}: has no segmentation ground truth (record it with the simulator)')
        images, truth = batch.images, batch.segmentation
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8 or not len(images):
        raise EvaluationError(f'{path}: images must be (N >= 1, H, W, 3) uint8, got {images.dtype} {images.shape}')
    if truth.shape != images.shape[:3] or truth.dtype.kind not in 'iu':
        raise EvaluationError(f'{path}: segmentation must be integer class ids {images.shape[:3]}, '
                              f'got {truth.dtype} {truth.shape}')
    return images, truth


def evaluate(args: argparse.Namespace, images: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """The report document: data description, classes and per-model results (see ``write_report``)."""
    classes = load_classes(args.classes) if args.classes else None
    names, ignore_index = (list(classes.names), classes.ignore_index) if classes else (None, IGNORE_INDEX)
    results: dict[str, Any] = {}
    for path in args.models:
        backend = create_backend(args.backend, path, threads=args.threads, device=args.device)
        card = getattr(backend, 'card', None)
        card_names = list(card.classes) if card is not None and card.classes else None
        if names is None:
            names = card_names
            ignore_index = int(card.extra.get('ignore_index', IGNORE_INDEX)) if card is not None else IGNORE_INDEX
        elif card_names and card_names != names and classes is None:
            raise EvaluationError(f'{path}: its card names the classes {card_names}, an earlier model {names}; '
                                  'pass --classes to compare them anyway')
        name = _unique(model_base(path).name, results)
        results[name] = evaluate_model(backend, images, truth, names, ignore_index, scanner(args, truth, names))
        results[name].update({
            'model': str(path),
            'backend': backend.name,
            'threads': args.threads,
            'input_size': list(backend.input_shape[:2]),
            'architecture': card.architecture if card is not None else None,
        })
        names = results[name]['classes']
    return {
        'title': args.title or f'Segmentation on {args.data.name}',
        'data': str(args.data),
        'frames': len(images),
        'image_size': list(images.shape[1:3]),
        'classes': names,
        'ignore_index': ignore_index,
        'timing': TIMING,
        'models': results,
    }


def scanner(args: argparse.Namespace, truth: np.ndarray, names: list[str] | None) -> FreeSpaceScanner | None:
    """The free-space scanner of the camera in ``--camera-config`` at the data's image size, if asked for."""
    if args.camera_config is None:
        return None
    classes = load_classes(args.classes or sim_classes())
    if names is not None and list(classes.names) != list(names):
        raise EvaluationError(f'the free-space scan needs the traversable classes of {names}; pass --classes')
    try:
        params = ros_parameters(yaml.safe_load(args.camera_config.read_text()))
        height, width = truth.shape[1:3]
        mount = CameraMount(float(params['camera_mount_height']), float(params['camera_tilt']),
                            float(params.get('camera_mount_x', 0.0)))
        matrix = intrinsics_from_hfov(width, height, float(params['camera_hfov']))
    except (OSError, KeyError, ValueError, ConfigError) as exc:
        raise EvaluationError(f'{args.camera_config}: no usable camera mounting ({exc!r})') from exc
    return FreeSpaceScanner(matrix, (height, width), mount, classes.traversable_table)


def evaluate_model(
    backend: Any, images: np.ndarray, truth: np.ndarray, names: list[str] | None, ignore_index: int,
    free_space: FreeSpaceScanner | None = None,
) -> dict[str, Any]:
    """Scores (``segmentation_scores``), ``ms_per_frame`` and, with a scanner, the free-space scan's
    agreement with the scan of the true masks, for one loaded backend on every frame."""
    size = truth.shape[1:3]
    try:
        runner = SegmentationRunner(backend)
    except ValueError as exc:
        raise EvaluationError(str(exc)) from exc
    count = runner.classes
    names = names or [f'class {i}' for i in range(count)]
    if count != len(names):
        raise EvaluationError(f'the model gives {count} class scores per pixel, but there are '
                              f'{len(names)} classes ({", ".join(names)})')
    confusion = np.zeros((count, count), np.int64)
    seconds = []
    close = judged = 0
    for image, labels in zip(images, truth, strict=True):
        start = time.perf_counter()
        predicted = runner.mask(image, size)
        seconds.append(time.perf_counter() - start)
        try:
            confusion += confusion_matrix(labels, predicted, len(confusion), ignore_index)
        except ValueError as exc:
            raise EvaluationError(str(exc)) from exc
        if free_space is not None:
            hits, count = scan_agreement(free_space.scan(labels), free_space.scan(predicted))
            close, judged = close + hits, judged + count
    result = {**segmentation_scores(confusion, names), 'ms_per_frame': 1000 * statistics.median(seconds)}
    if free_space is not None:
        result['free_space'] = {'beams_judged': judged, 'beams_within_10_percent': close,
                                'fraction_within_10_percent': close / judged if judged else None}
    return result


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
    axes.set_title(f'{name}\nmIoU {_number(result["mean_iou"])}, pixel accuracy '
                   f'{_number(result["pixel_accuracy"])}', fontsize=10)
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
        lines.append(f'| {name} | {r["backend"]} | {_number(r["mean_iou"])} | {_number(r["pixel_accuracy"])} | '
                     + ' | '.join(_number(v) for v in r['iou']) + f' | {r["ms_per_frame"]:.2f} |')
    for name, r in document['models'].items():
        lines += ['', f'## {name}: confusion matrix (pixels; rows true class, columns predicted)', '',
                  '| true \\ predicted | ' + ' | '.join(classes) + ' |', '| --- |' + ' --- |' * len(classes)]
        lines += [f'| {c} | ' + ' | '.join(str(v) for v in row) + ' |'
                  for c, row in zip(classes, r['confusion'], strict=True)]
        lines += ['', f'![{name} confusion matrix](confusion_{_slug(name)}.png)']
    return '\n'.join(lines) + '\n'


def _number(value: float | None) -> str:
    return '–' if value is None else f'{value:.4f}'


def _unique(name: str, taken: Mapping[str, Any]) -> str:
    """``name``, or ``name (2)``, ``name (3)``... when models of the same name are compared."""
    candidate, index = name, 1
    while candidate in taken:
        index += 1
        candidate = f'{name} ({index})'
    return candidate


def _slug(name: str) -> str:
    return re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_') or 'model'
