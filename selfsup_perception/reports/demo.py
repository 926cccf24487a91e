"""The demo's report: report.md, metrics.json and the pictures a person looks at first.

Reads what the demo's phases left in the output directory (the robot's dataset, the evaluation run,
``selfsup evaluate`` and ``selfsup evaluate-seg`` reports) and puts the numbers side by side.
"""

from __future__ import annotations

import json
import platform
import shutil
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from selfsup_perception.core.config import load_config, pixel_labels_from_dict
from selfsup_perception.core.dataset import Dataset
from selfsup_perception.core.modelcard import atomic_write_bytes
from selfsup_perception.core.obstacles import draw_obstacle_points, nearest_obstacles
from selfsup_perception.core.pixel_labels import frame_camera
from selfsup_perception.core.resources import robot_config, sim_classes
from selfsup_perception.core.segmentation import load_classes, overlay

SHIPPED, FINETUNED = 'head_shipped', 'head_finetuned'
STRIP_FRAMES = 6


class DemoRun(Protocol):
    """What the report needs to know of the demo's options."""

    @property
    def seed(self) -> int: ...
    @property
    def models(self) -> Path: ...
    @property
    def backend(self) -> str: ...


def _labels_per_distance(dataset_path: Path) -> dict[str, Any]:
    with Dataset(dataset_path) as dataset:
        data = dataset.read_all(images=False)
        distances = [float(d) for d in dataset.distances]
    known = data.mask.sum(axis=(0, 2))
    positive = (data.labels.astype(bool) & data.mask).sum(axis=(0, 2))
    return {'frames': int(data.ids.size), 'distances': distances, 'known': known.tolist(),
            'positive': positive.tolist()}


def _frames_for_strip(truth: np.ndarray, count: int) -> np.ndarray:
    """Evaluation frames spread over the run, preferring ones with obstacles ahead."""
    with_obstacles = np.flatnonzero(truth.reshape(len(truth), -1).any(axis=1))
    pool = with_obstacles if with_obstacles.size >= count else np.arange(len(truth))
    chosen: np.ndarray = pool[np.linspace(0, pool.size - 1, count).astype(int)]
    return chosen


def _strip(rows: list[list[np.ndarray]], titles: list[str], scale: int = 2) -> np.ndarray:
    """A grid image: one row per frame, one column per title, labelled on top."""
    tiles = [[cv2.resize(t, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST) for t in row] for row in rows]
    w = tiles[0][0].shape[1]
    header = np.full((28, w * len(titles), 3), 255, np.uint8)
    for i, title in enumerate(titles):
        cv2.putText(header, title, (i * w + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([header, *[np.concatenate(row, axis=1) for row in tiles]], axis=0)


def _write_png(path: Path, rgb: np.ndarray) -> None:
    ok, blob = cv2.imencode('.png', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError(f'cannot encode {path}')
    atomic_write_bytes(path, blob.tobytes())


def draw_pictures(out: Path, models: Path, backend: str) -> dict[str, str]:
    """Frames with each sensor's predicted nearest obstacle on the floor (shipped vs fine-tuned head) beside the
    ground truth's, and segmentation overlays: self-labels, shipped FCN-8s, robot-adapted head, ground truth."""
    from selfsup_perception.core.head import Head
    from selfsup_perception.inference import create_backend
    from selfsup_perception.inference.embedder import Embedder
    from selfsup_perception.inference.segmentation import SegmentationRunner
    from selfsup_perception.pipeline.seg_heads import open_split_model

    config = load_config(robot_config())
    with Dataset(out / 'evaluation.db') as dataset:
        data = dataset.read_all(images=True)
    assert data.images is not None
    truth = data.ground_truth if data.ground_truth is not None else np.zeros_like(data.labels)
    chosen = _frames_for_strip(truth, STRIP_FRAMES)
    images = data.images[chosen]
    embedder = Embedder.open(models / 'embedding.tflite', backend=backend)
    camera = frame_camera(pixel_labels_from_dict(config.extra), *images.shape[1:3])
    heads = [Head.load(out / f'{name}.npz', embedder=embedder.card).predict(embedder.embed(images))
             for name in (SHIPPED, FINETUNED)]
    rows = []
    for k, (image, i) in enumerate(zip(images, chosen, strict=True)):
        real = nearest_obstacles(truth[i].astype(np.float32), config.distances, 0.5)
        rows.append([draw_obstacle_points(image, camera, config.sensors,
                                          nearest_obstacles(probs[k], config.distances, 0.5), real)
                     for probs in heads])
    pictures = {'frames_strip': 'frames_strip.png'}
    _write_png(out / pictures['frames_strip'], _strip(rows, ['shipped head', 'fine-tuned head'], scale=3))
    classes = load_classes(sim_classes())
    shipped = SegmentationRunner(create_backend(backend, models / 'fcn8s.tflite'), len(classes.names))
    adapted = open_split_model(models / 'fcn8s_backbone.tflite', out / 'fcn8s_head_adapted.npz', backend)
    seg_rows = []
    for i, image in zip(chosen, images, strict=True):
        row = [image]
        if data.pixel_labels is not None:
            labels = data.pixel_labels[i]
            row.append(np.where((labels != 255)[..., None], overlay(image, labels, classes.palette), image // 2))
        row += [overlay(image, runner.mask(image, image.shape[:2]), classes.palette) for runner in (shipped, adapted)]
        if data.segmentation is not None:
            row.append(overlay(image, data.segmentation[i], classes.palette))
        seg_rows.append(row)
    titles = ['camera', *(['self-labels'] if data.pixel_labels is not None else []), 'FCN-8s shipped',
              'adapted head', *(['ground truth'] if data.segmentation is not None else [])]
    pictures['segmentation_overlays'] = 'segmentation_overlays.png'
    _write_png(out / pictures['segmentation_overlays'], _strip(seg_rows, titles))
    return pictures


def _cell(value: Any, digits: int = 3) -> str:
    return '–' if value is None else f'{value:.{digits}f}'


def write_demo_report(out: Path, run: DemoRun, live: dict[str, Any], evaluation: dict[str, Any],
                      seconds: float) -> None:
    """report.md + metrics.json + PNGs in ``out`` for the demo ``run`` (world seed, models, backend)."""
    obstacles = evaluation['obstacles']
    truth = obstacles.get('ground_truth', {})
    shipped, finetuned = truth.get(SHIPPED), truth.get(FINETUNED)
    labels = _labels_per_distance(out / 'dataset.db')
    evaluation_dir = out / 'evaluation'
    shutil.copy(evaluation_dir / 'auc_vs_distance.png', out / 'auc_vs_distance.png')
    heatmaps = sorted(evaluation_dir.glob('heatmap_*finetuned*ground*.png')) or sorted(evaluation_dir.glob('heatmap_*'))
    shutil.copy(heatmaps[0], out / 'auc_heatmap.png')
    pictures = draw_pictures(out, run.models, run.backend)
    segmentation = evaluation['segmentation']
    seg_models = list(segmentation['models'].values())
    diagnostics = live['diagnostics']
    timings = {node: {k: diagnostics.get(node, {}).get(k) for k in ('inference_ms', 'processing_ms')}
               for node in ('obstacle_detector', 'segmenter')}
    metrics = {
        'world_seed': run.seed,
        'drive': {k: live[k] for k in ('sim_seconds', 'wall_seconds', 'heads_published', 'live_detector_auc',
                                       'live_segmentation_miou')},
        'labels_collected': labels,
        'evaluation_frames': evaluation['frames'],
        'obstacle_auc_vs_ground_truth': {'shipped': shipped, 'finetuned': finetuned},
        'segmentation': segmentation,
        'timings_ms': timings,
        'backend': run.backend,
        'demo_wall_seconds': seconds,
        'machine': f'{platform.processor() or platform.machine()}, Python {platform.python_version()}',
    }
    atomic_write_bytes(out / 'metrics.json', (json.dumps(metrics, indent=1) + '\n').encode())
    lines = [
        f'# selfsup_perception demo: world {run.seed}',
        '',
        f'The simulated robot drove {live["sim_seconds"]:.0f} s in world {run.seed}, which no model saw in '
        f'training ({live["wall_seconds"]:.0f} s wall clock), labelled its own camera frames with its proximity '
        f'sensors, and fine-tuned the obstacle head on them ({len(live["heads_published"])} heads published by '
        f'the trainer during the drive; the final head is refitted on all {labels["frames"]} frames). Both heads '
        f'were then scored on another run in the same world ({evaluation["frames"]} frames) against the '
        'simulator\'s ground truth, at every frame and distance, not only where the robot drove. '
        f'Backend: `{run.backend}`. Whole demo: {seconds / 60:.1f} min.',
        '',
        '![AUC vs distance](auc_vs_distance.png)',
        '',
        '## Obstacle detection: ROC AUC against ground truth, per distance',
        '',
        '| distance (m) | labels collected (positive) | shipped head | fine-tuned on the robot |',
        '| --- | --- | --- | --- |',
    ]
    for i, d in enumerate(labels['distances']):
        before = shipped['per_distance']['auc'][i] if shipped else None
        after = finetuned['per_distance']['auc'][i] if finetuned else None
        lines.append(f'| {d:.2f} | {labels["known"][i]} ({labels["positive"][i]}) | {_cell(before)} | {_cell(after)} |')
    lines += [
        '',
        f'Mean AUC over (distance, sensor) cells: shipped {_cell(shipped and shipped["mean_auc"])}, '
        f'fine-tuned {_cell(finetuned and finetuned["mean_auc"])}.',
        '',
        'Fine-tuned head, AUC per distance and sensor: ![heat map](auc_heatmap.png)',
        '',
        'Frames of the evaluation run: for each sensor (one colour each), the nearest obstacle the head predicts '
        '(filled dot) and the true one (ring), drawn where they lie on the floor; a line joins the two:',
        '',
        f'![frames]({pictures["frames_strip"]})',
        '',
        '## Segmentation: shipped FCN-8s and the head the robot adapted on its own pixel self-labels',
        '',
        '| model | mIoU | IoU floor / obstacle / wall | free-space scan within 10% |',
        '| --- | --- | --- | --- |',
        *[f'| {name} | {_cell(m.get("mean_iou"))} | {" / ".join(_cell(v) for v in m.get("iou", []))} | '
          f'{_cell((m.get("free_space") or {}).get("fraction_within_10_percent"))} |'
          for name, m in zip(('FCN-8s shipped', 'FCN-8s, head adapted on the robot'), seg_models, strict=False)],
        '',
        f'Live during the drive (the segmenter swapped in the trainer\'s heads): mIoU '
        f'{_cell(live["live_segmentation_miou"])}. Self-labels: floor where the robot later drove, obstacle '
        'where its sensors later hit (dimmed: unknown).',
        '',
        f'![segmentation]({pictures["segmentation_overlays"]})',
        '',
        '## Timings (median, during the drive)',
        '',
        '| node | model ms/frame | whole frame ms |',
        '| --- | --- | --- |',
        *[f'| {node} | {t["inference_ms"] or "–"} | {t["processing_ms"] or "–"} |' for node, t in timings.items()],
        '',
        'Files: `dataset.db` (the robot\'s own labelled data, use it with `selfsup train/evaluate`), '
        '`head_finetuned.npz` and `fcn8s_head_adapted.npz` (+ `.json`), `evaluation/` and `segmentation/` '
        '(full reports), `metrics.json`.',
        '',
    ]
    atomic_write_bytes(out / 'report.md', '\n'.join(lines).encode())
