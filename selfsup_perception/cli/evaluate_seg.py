"""``selfsup evaluate-seg``: score segmentation models side by side on the same held-out labelled images.

For each model: mean IoU, IoU per class, pixel accuracy, the confusion matrix (a PNG) and its speed
(median ms per frame, one frame at a time as the node runs it: resize, inference, arg-max). Writes
``metrics.json``, ``summary.md`` (one table row per model, e.g. FCN-32s vs 16s vs 8s) and
``confusion_<model>.png`` into the report directory. Predictions are scored at the ground truth's
resolution; pixels labelled ``ignore_index`` do not count.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from selfsup_perception.core.dataset import DatasetError
from selfsup_perception.core.modelcard import ModelLoadError
from selfsup_perception.core.segmentation import ClassListError
from selfsup_perception.inference import BACKEND_NAMES, BackendUnavailable
from selfsup_perception.pipeline.segmentation import EvaluationError, SegEvaluationOptions, evaluate_models, load_data
from selfsup_perception.reports.segmentation import number, write_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--models', nargs='+', required=True, type=Path, metavar='MODEL',
                        help='segmentation models (.tflite, .onnx or _edgetpu.tflite, card beside each), or '
                             'segmentation heads (.npz) of a split FCN, each run on --backbone')
    parser.add_argument('--backbone', type=Path, default=None,
                        help='the split FCN backbone (e.g. models/fcn8s_backbone.tflite) the .npz heads run on')
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
    options = SegEvaluationOptions(models=args.models, backend=args.backend, backbone=args.backbone,
                                   threads=args.threads, device=args.device, classes=args.classes, title=args.title,
                                   camera_config=args.camera_config)
    try:
        images, truth = load_data(args.data)
        document = evaluate_models(options, images, truth, args.data)
    except (EvaluationError, ClassListError, DatasetError, ModelLoadError, BackendUnavailable) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    paths = write_report(args.report, document)
    for name, result in document['models'].items():
        print(f'{name}: mIoU {number(result["mean_iou"])}, pixel accuracy {number(result["pixel_accuracy"])}, '
              f'{result["ms_per_frame"]:.2f} ms/frame ({result["backend"]})')
    print('\n'.join(str(p) for p in paths.values()))
    return 0
