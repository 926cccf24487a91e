"""End to end: the demo's closed loop on the simulator over real ROS 2 topics, with tiny models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfsup_perception.cli import main

DATA = Path(__file__).resolve().parents[1] / 'data'


@pytest.fixture
def tiny_models(tmp_path: Path, tiny_models_dir: Path) -> Path:
    """The test models under the shipped names, with a head trained for the tiny embedding."""
    models = tiny_models_dir
    bag, dataset = tmp_path / 'bag', tmp_path / 'd.db'
    assert main(['simulate', '--seed', '5', '--minutes', '0.5', '--out', str(bag)]) == 0
    assert main(['bag2dataset', str(bag), '--config', 'config/robot.yaml', '--out', str(dataset)]) == 0
    assert main(['train', str(dataset), '--embedding', str(models / 'embedding.tflite'), '--out',
                 str(models / 'head.npz')]) == 0
    return models


@pytest.mark.slow
def test_demo_runs_the_closed_loop_and_writes_the_report(tiny_models, tmp_path, capsys):
    out = tmp_path / 'demo_output'
    assert main(['demo', '--minutes', '0.5', '--eval-minutes', '0.3', '--retrain-after', '50', '--models',
                 str(tiny_models), '--out', str(out), '--backend', 'tflite']) == 0
    printed = capsys.readouterr().out
    assert '[drive] sim' in printed
    assert '[evaluate]' in printed
    for name in ('report.md', 'metrics.json', 'auc_vs_distance.png', 'auc_heatmap.png', 'frames_strip.png',
                 'segmentation_overlays.png', 'dataset.db', 'head_finetuned.npz', 'head_finetuned.json',
                 'fcn8s_head_adapted.npz', 'fcn8s_head_adapted.json'):
        assert (out / name).is_file(), name
    metrics = json.loads((out / 'metrics.json').read_text())
    assert metrics['drive']['sim_seconds'] >= 29.0
    assert metrics['labels_collected']['frames'] >= 250  # 10 Hz for 30 s, every frame kept
    assert sum(metrics['labels_collected']['known']) > 0
    for head in ('shipped', 'finetuned'):
        auc = metrics['obstacle_auc_vs_ground_truth'][head]['per_distance']['auc']
        assert len(auc) == 21
        assert any(a is not None for a in auc)
    assert metrics['world_seed'] == 30_000  # the demo range: no model building touches it
    segmentation = metrics['segmentation']['models']
    assert len(segmentation) == 2  # the shipped FCN-8s and the split one with the head adapted on the robot
    assert all(m['free_space']['beams_judged'] >= 0 for m in segmentation.values())
    report = (out / 'report.md').read_text()
    assert '| 0.50 |' in report
    assert '| FCN-8s, head adapted on the robot |' in report
    assert 'self-labels' in report
    # The robot's dataset and head work with the CLI.
    assert main(['dataset', 'info', str(out / 'dataset.db')]) == 0
