"""The evaluation report: files are written, metrics.json holds the numbers, the CLI merges reports."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from selfsup_perception.cli import report as report_cli
from selfsup_perception.core.metrics import evaluate
from selfsup_perception.reports import heads as report

DISTANCES = (0.0, 0.25, 0.5)
SENSORS = ('left', 'center', 'right')
PNG = b'\x89PNG\r\n\x1a\n'


def metrics(seed: int, bootstrap: int = 50, ground_truth: bool = False) -> dict:
    rng = np.random.default_rng(seed)
    labels = (rng.random((200, 3, 3)) < 0.4).astype(np.uint8)
    probs = np.clip(labels * 0.4 + rng.random(labels.shape) * 0.7, 0, 1)
    mask = np.ones(labels.shape, bool) if ground_truth else rng.random(labels.shape) < 0.5
    mask[:, 2, 0] = ground_truth  # an empty cell in the self-supervised runs
    return evaluate(
        probs, labels, mask, distances=DISTANCES, sensors=SENSORS, n_bootstrap=bootstrap, seed=seed
    )


def test_report_files_and_numbers(tmp_path: Path) -> None:
    runs = {'shipped head': metrics(0), 'fine-tuned': metrics(1)}
    truth = {'shipped head': metrics(2, bootstrap=0, ground_truth=True)}
    paths = report.write_report(tmp_path / 'out', runs, ground_truth=truth, title='test report')
    names = sorted(p.name for p in (tmp_path / 'out').iterdir())
    assert names == [
        'auc_vs_distance.png',
        'heatmap_fine_tuned.png',
        'heatmap_shipped_head.png',
        'heatmap_shipped_head_ground_truth.png',
        'metrics.json',
        'summary.md',
    ]
    for path in paths.values():
        if path.suffix == '.png':
            assert path.read_bytes().startswith(PNG)
    document = json.loads(paths['metrics'].read_text())
    assert document['runs'] == runs
    assert document['ground_truth'] == truth
    assert document['runs']['fine-tuned']['cells']['auc'][2][0] is None
    summary = paths['summary'].read_text()
    pooled = runs['fine-tuned']['per_distance']
    low, high = pooled['auc_low'][1], pooled['auc_high'][1]
    assert (
        f'{pooled["auc"][1]:.3f} [{low:.2f}, {high:.2f}] ({pooled["labels"][1]} / {pooled["positives"][1]})'
        in summary
    )
    assert f'| {runs["shipped head"]["mean_auc"]:.3f} |' in summary
    assert '## shipped head (ground truth): AUC per distance and sensor' in summary


def test_runs_must_share_their_layout(tmp_path: Path) -> None:
    other = {**metrics(0), 'sensors': ['a', 'b', 'c']}
    with pytest.raises(ValueError, match='share distances and sensors'):
        report.write_report(tmp_path, {'a': metrics(0), 'b': other})
    with pytest.raises(ValueError, match='at least one run'):
        report.write_report(tmp_path, {})


def test_cli_merges_earlier_reports(tmp_path: Path) -> None:
    report.write_report(tmp_path / 'a', {'shipped head': metrics(0)}, title='first')
    report.write_report(tmp_path / 'b', {'fine-tuned': metrics(1)})
    parser = argparse.ArgumentParser()
    report_cli.add_arguments(parser)
    args = parser.parse_args(
        [str(tmp_path / 'a/metrics.json'), str(tmp_path / 'b/metrics.json'), '--out', str(tmp_path / 'c')]
    )
    assert report_cli.run(args) == 0
    merged = json.loads((tmp_path / 'c/metrics.json').read_text())
    assert list(merged['runs']) == ['shipped head', 'fine-tuned']
    assert merged['title'] == 'first'
    clash = parser.parse_args([str(tmp_path / 'a/metrics.json')] * 2 + ['--out', str(tmp_path / 'd')])
    with pytest.raises(ValueError, match='more than one file'):
        report_cli.run(clash)
    (tmp_path / 'bad.json').write_text('{"title": "x"}')
    with pytest.raises(ValueError, match='not a metrics.json'):
        report.load_report(tmp_path / 'bad.json')
