"""``selfsup evaluate-seg``: report files whose numbers equal metrics.json and an independent computation."""

from __future__ import annotations

import argparse
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from selfsup_perception.cli import evaluate_seg as evaluate_seg_cli
from selfsup_perception.core.dataset import DatasetWriter, FrameRecord
from selfsup_perception.core.segmentation import class_mask, confusion_matrix, segmentation_scores
from selfsup_perception.inference import create_backend, resize_to_input

DATA = Path(__file__).resolve().parents[1] / 'data'
ROOT = Path(__file__).resolve().parents[2]
CODE = np.array([[220, 0, 0], [0, 220, 0], [0, 0, 220]], np.uint8)  # the test model's colours per class


def held_out(frames: int = 4, size: tuple[int, int] = (60, 80)) -> tuple[np.ndarray, np.ndarray]:
    """Images drawn in the tiny model's colour code from their class masks, with some wrong pixels."""
    rng = np.random.default_rng(5)
    truth = np.zeros((frames, *size), np.uint8)
    for i in range(frames):
        horizon = int(rng.integers(15, 30))
        truth[i, :horizon] = 2
        left = int(rng.integers(0, 50))
        truth[i, horizon + 5:, left:left + 20] = 1
    images = CODE[truth]
    images[:, -6:, :10] = CODE[1]  # floor that looks like an obstacle: the model gets it wrong
    truth[:, :3, :] = 255  # unlabelled rows
    return images, truth


def copy_model(directory: Path, name: str) -> Path:
    for suffix in ('.tflite', '.onnx', '.json'):
        shutil.copy(DATA / f'tiny_seg{suffix}', directory / f'{name}{suffix}')
    return directory / f'{name}.tflite'


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    evaluate_seg_cli.add_arguments(parser)
    return evaluate_seg_cli.run(parser.parse_args(argv))


def expected_scores(model: Path, backend: str, images: np.ndarray, truth: np.ndarray) -> dict:
    runner = create_backend(backend, model)
    predicted = np.stack([class_mask(runner.run(resize_to_input(image, runner.input_shape)[None]),
                                     size=truth.shape[1:])[0] for image in images])
    return segmentation_scores(confusion_matrix(truth, predicted, 3), ['floor', 'obstacle', 'wall'])


def table_rows(summary: str) -> dict[str, list[str]]:
    rows = {}
    for line in summary.splitlines():
        cells = [c.strip() for c in line.strip('|').split('|')]
        if len(cells) == 8 and cells[0] not in ('model', '---'):
            rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.parametrize('backend', ['tflite', 'onnx-cpu'])
def test_report_numbers_equal_metrics_json_and_an_independent_computation(tmp_path, backend):
    images, truth = held_out()
    npz = tmp_path / 'held_out.npz'
    np.savez_compressed(npz, images=images, segmentation=truth, stamps=np.arange(len(images), dtype=float))
    models = [copy_model(tmp_path, 'fcn32s'), copy_model(tmp_path, 'fcn8s')]
    report = tmp_path / 'report'
    assert run_cli('--models', *map(str, models), '--data', str(npz), '--report', str(report),
                   '--backend', backend) == 0

    metrics = json.loads((report / 'metrics.json').read_text())
    assert (metrics['frames'], metrics['image_size'], metrics['ignore_index']) == (4, [60, 80], 255)
    assert metrics['classes'] == ['floor', 'obstacle', 'wall']
    assert list(metrics['models']) == ['fcn32s', 'fcn8s']
    want = expected_scores(models[0], backend, images, truth)
    for name, result in metrics['models'].items():
        assert result['backend'] == backend
        assert result['confusion'] == want['confusion']
        assert result['mean_iou'] == pytest.approx(want['mean_iou'])
        assert result['iou'] == pytest.approx(want['iou'])
        assert result['pixel_accuracy'] == pytest.approx(want['pixel_accuracy'])
        assert result['ms_per_frame'] > 0
        png = (report / f'confusion_{name}.png').read_bytes()
        assert png[:8] == b'\x89PNG\r\n\x1a\n'
        assert len(png) > 5000
    assert 0.5 < want['mean_iou'] < 1.0  # the painted-over corner costs something
    assert want['pixels'] == int((truth != 255).sum())

    summary = (report / 'summary.md').read_text()
    rows = table_rows(summary)
    assert list(rows) == ['fcn32s', 'fcn8s']
    for name, cells in rows.items():
        result = metrics['models'][name]
        numbers = [result['mean_iou'], result['pixel_accuracy'], *result['iou']]
        assert cells[0] == backend
        assert [float(c) for c in cells[1:6]] == [round(v, 4) for v in numbers]
        assert float(cells[6]) == round(result['ms_per_frame'], 2)
    confusion_rows = re.findall(r'^\| (floor|obstacle|wall) \| ([\d |]+) \|$', summary, re.MULTILINE)
    assert [[int(v) for v in row.split('|')] for _, row in confusion_rows[:3]] == want['confusion']
    assert '![fcn8s confusion matrix](confusion_fcn8s.png)' in summary


def test_dataset_file_input_and_the_same_name_twice(tmp_path, robot_config):
    images, truth = held_out(frames=2)
    truth[truth == 255] = 0  # stored segmentation PNGs hold class ids only
    with DatasetWriter(tmp_path / 'd.db', robot_config, image_format='png') as writer:
        labels = np.full((len(robot_config.distances), len(robot_config.sensors)), -1, np.int8)
        for i, (image, mask) in enumerate(zip(images, truth, strict=True)):
            writer.append(FrameRecord(float(i), image, labels, segmentation=mask))
    model = copy_model(tmp_path, 'tiny')
    report = tmp_path / 'report'
    assert run_cli('--models', str(model), str(model.with_suffix('.onnx')), '--data', str(tmp_path / 'd.db'),
                   '--report', str(report), '--classes', str(ROOT / 'config' / 'classes_sim.yaml'),
                   '--title', 'FCN on the simulator') == 0
    metrics = json.loads((report / 'metrics.json').read_text())
    assert list(metrics['models']) == ['tiny', 'tiny (2)']
    assert metrics['title'] == 'FCN on the simulator'
    want = expected_scores(model, 'tflite', images, truth)
    assert metrics['models']['tiny']['confusion'] == want['confusion']
    assert (report / 'confusion_tiny_2.png').is_file()


def test_unusable_data_or_classes_fail_with_a_message(tmp_path, capsys):
    images, truth = held_out(frames=1)
    model = copy_model(tmp_path, 'tiny')
    no_truth = tmp_path / 'no_truth.npz'
    np.savez(no_truth, images=images)
    assert run_cli('--models', str(model), '--data', str(no_truth), '--report', str(tmp_path / 'r')) == 2
    assert 'needs the arrays images and segmentation' in capsys.readouterr().err

    bad_ids = tmp_path / 'bad_ids.npz'
    np.savez(bad_ids, images=images, segmentation=np.full(truth.shape, 7, np.uint8))
    assert run_cli('--models', str(model), '--data', str(bad_ids), '--report', str(tmp_path / 'r')) == 2
    assert 'ground truth has class ids outside 0..2' in capsys.readouterr().err

    two = tmp_path / 'two.yaml'
    two.write_text('classes:\n  - {name: floor, color: [0, 0, 0]}\n  - {name: rest, color: [1, 1, 1]}\n')
    good = tmp_path / 'good.npz'
    np.savez(good, images=images, segmentation=truth)
    assert run_cli('--models', str(model), '--data', str(good), '--report', str(tmp_path / 'r'),
                   '--classes', str(two)) == 2
    assert 'gives 3 class scores per pixel, but there are 2 classes' in capsys.readouterr().err
    assert run_cli('--models', str(tmp_path / 'missing.tflite'), '--data', str(good), '--report',
                   str(tmp_path / 'r'), '--backend', 'tflite') == 2
    assert 'does not exist' in capsys.readouterr().err
    assert not (tmp_path / 'r').exists()


def test_free_space_scan_scored_against_the_true_masks(tmp_path):
    images, truth = held_out(frames=3, size=(120, 160))
    truth[:, :3, :] = 2  # no ignored pixels: the scan of the true masks needs every class
    npz = tmp_path / 'held_out.npz'
    np.savez(npz, images=images, segmentation=truth)
    assert run_cli('--models', str(copy_model(tmp_path, 'fcn8s')), '--data', str(npz), '--report',
                   str(tmp_path / 'r'), '--backend', 'tflite', '--camera-config', str(ROOT / 'config/robot.yaml')) == 0
    free_space = json.loads((tmp_path / 'r' / 'metrics.json').read_text())['models']['fcn8s']['free_space']
    assert free_space['beams_judged'] > 0
    assert 0 < free_space['fraction_within_10_percent'] <= 1


def test_scan_agreement_counts_only_near_finite_beams():
    from selfsup_perception.core.segmentation import scan_agreement

    truth = np.array([0.5, 1.0, 2.0, np.inf, np.nan, 1.4])
    predicted = np.array([0.54, 1.2, 2.0, 0.3, 1.0, np.inf])
    assert scan_agreement(truth, predicted) == (1, 3)
