"""Segmentation models scored side by side on the same held-out labelled images (``selfsup evaluate-seg``, the demo).

For each model: mean IoU, IoU per class, pixel accuracy, the confusion matrix and its speed (median ms per
frame, one frame at a time as the node runs it: resize, inference, arg-max). Predictions are scored at the
ground truth's resolution; pixels labelled ``ignore_index`` do not count. ``reports.segmentation`` writes
the document as metrics.json, summary.md and one confusion PNG per model.
"""

from __future__ import annotations

import statistics
import time
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from selfsup_perception.core.config import ConfigError, ros_parameters
from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.modelcard import model_base
from selfsup_perception.core.resources import sim_classes
from selfsup_perception.core.seghead import SegHead
from selfsup_perception.core.segmentation import (
    IGNORE_INDEX,
    CameraMount,
    FreeSpaceScanner,
    confusion_matrix,
    intrinsics_from_hfov,
    load_classes,
    scan_agreement,
    segmentation_scores,
)
from selfsup_perception.inference import create_backend
from selfsup_perception.inference.segmentation import SegmentationRunner

TIMING = 'median ms per frame, batch 1: resize to the model input, inference, arg-max, resize to the truth'


class EvaluationError(ValueError):
    """The data or the models cannot be evaluated as asked; the message says why."""


@dataclass(frozen=True)
class SegEvaluationOptions:
    """What to score and how: models (any of their formats), the inference backend for all of them, an
    optional class list (default: the first model card's), a report title and, for the free-space scan,
    a params YAML with the camera mounting (e.g. config/robot.yaml). A model ending in ``.npz`` is a
    segmentation head: it is scored on ``backbone`` (shipped and robot-adapted heads side by side)."""

    models: Sequence[Path]
    backend: str = 'auto'
    backbone: Path | None = None  # the split FCN's backbone that every head (.npz) among ``models`` runs on
    threads: int = 1
    device: str | None = None
    classes: Path | None = None
    title: str | None = None
    camera_config: Path | None = None


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


def evaluate_models(options: SegEvaluationOptions, images: np.ndarray, truth: np.ndarray,
                    data: Path) -> dict[str, Any]:
    """The report document: data description, classes and per-model results (see ``write_report``)."""
    classes = load_classes(options.classes) if options.classes else None
    names, ignore_index = (list(classes.names), classes.ignore_index) if classes else (None, IGNORE_INDEX)
    results: dict[str, Any] = {}
    for path in options.models:
        head = None
        if path.suffix == '.npz':
            if options.backbone is None:
                raise EvaluationError(f'{path} is a segmentation head: give the backbone it runs on (--backbone)')
            backend = create_backend(options.backend, options.backbone, threads=options.threads,
                                     device=options.device)
            head = SegHead.load(path, backbone=backend.card)
        else:
            backend = create_backend(options.backend, path, threads=options.threads, device=options.device)
        card = getattr(backend, 'card', None)
        card_names = list(card.classes) if card is not None and card.classes else None
        if names is None:
            names = card_names
            ignore_index = int(card.extra.get('ignore_index', IGNORE_INDEX)) if card is not None else IGNORE_INDEX
        elif card_names and card_names != names and classes is None:
            raise EvaluationError(f'{path}: its card names the classes {card_names}, an earlier model {names}; '
                                  'pass --classes to compare them anyway')
        name = _unique(model_base(path).name, results)
        results[name] = evaluate_model(backend, images, truth, names, ignore_index, scanner(options, truth, names),
                                       head)
        results[name].update({
            'model': str(path),
            'backbone': None if head is None else str(options.backbone),
            'backend': backend.name,
            'threads': options.threads,
            'input_size': list(backend.input_shape[:2]),
            'architecture': card.architecture if card is not None else None,
        })
        names = results[name]['classes']
    return {
        'title': options.title or f'Segmentation on {data.name}',
        'data': str(data),
        'frames': len(images),
        'image_size': list(images.shape[1:3]),
        'classes': names,
        'ignore_index': ignore_index,
        'timing': TIMING,
        'models': results,
    }


def scanner(options: SegEvaluationOptions, truth: np.ndarray, names: list[str] | None) -> FreeSpaceScanner | None:
    """The free-space scanner of the camera in ``options.camera_config`` at the data's image size, if asked for."""
    if options.camera_config is None:
        return None
    classes = load_classes(options.classes or sim_classes())
    if names is not None and list(classes.names) != list(names):
        raise EvaluationError(f'the free-space scan needs the traversable classes of {names}; pass --classes')
    try:
        params = ros_parameters(yaml.safe_load(options.camera_config.read_text()))
        height, width = truth.shape[1:3]
        mount = CameraMount(float(params['camera_mount_height']), float(params['camera_tilt']),
                            float(params.get('camera_mount_x', 0.0)))
        matrix = intrinsics_from_hfov(width, height, float(params['camera_hfov']))
    except (OSError, KeyError, ValueError, ConfigError) as exc:
        raise EvaluationError(f'{options.camera_config}: no usable camera mounting ({exc!r})') from exc
    return FreeSpaceScanner(matrix, (height, width), mount, classes.traversable_table)


def evaluate_model(
    backend: Any, images: np.ndarray, truth: np.ndarray, names: list[str] | None, ignore_index: int,
    free_space: FreeSpaceScanner | None = None, head: SegHead | None = None,
) -> dict[str, Any]:
    """Scores (``segmentation_scores``), ``ms_per_frame`` and, with a scanner, the free-space scan's
    agreement with the scan of the true masks, for one loaded backend on every frame (run as the
    segmenter node runs it: ``SegmentationRunner``; with ``head``, ``backend`` is its backbone)."""
    size = truth.shape[1:3]
    try:
        runner = SegmentationRunner(backend, head=head)
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
            hits, beams = scan_agreement(free_space.scan(labels), free_space.scan(predicted))
            close, judged = close + hits, judged + beams
    result = {**segmentation_scores(confusion, names), 'ms_per_frame': 1000 * statistics.median(seconds)}
    if free_space is not None:
        result['free_space'] = {'beams_judged': judged, 'beams_within_10_percent': close,
                                'fraction_within_10_percent': close / judged if judged else None}
    return result


def _unique(name: str, taken: Mapping[str, Any]) -> str:
    """``name``, or ``name (2)``, ``name (3)``... when models of the same name are compared."""
    candidate, index = name, 1
    while candidate in taken:
        index += 1
        candidate = f'{name} ({index})'
    return candidate


