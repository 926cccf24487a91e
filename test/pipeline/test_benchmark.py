"""The unseen-world benchmark: a tiny version end to end (2 worlds, short drives, tiny models), and its parts."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pytest

from selfsup_perception.cli import main
from selfsup_perception.core.config import load_config
from selfsup_perception.core.head import HeadOptions
from selfsup_perception.core.resources import robot_config
from selfsup_perception.inference.embedder import Embedder
from selfsup_perception.pipeline.benchmark import (
    BENCHMARK_SEEDS,
    LEGACY_SEEDS,
    BenchmarkOptions,
    columns,
    summarize,
    traversable_confusion,
    world_jobs,
)
from selfsup_perception.pipeline.robot_training import train_on_dataset
from selfsup_perception.pipeline.worlds import simulated_dataset
from selfsup_perception.reports.benchmark import report_markdown
from selfsup_perception.testing.datasets import write_dataset

DATA = Path(__file__).resolve().parents[1] / 'data'
FIRST = BENCHMARK_SEEDS.start


@pytest.fixture
def tiny_models(tmp_path: Path, tiny_models_dir: Path) -> Path:
    """The test models under the shipped names, with a head trained for the tiny embedding."""
    models = tiny_models_dir
    dataset = tmp_path / 'synthetic.db'
    write_dataset(dataset, load_config(robot_config()), 300)
    embedder = Embedder.open(models / 'embedding.tflite', 'tflite')
    train_on_dataset(dataset, embedder, HeadOptions(max_epochs=20)).head.save(models / 'head.npz')
    return models


@pytest.mark.slow
def test_a_tiny_benchmark_runs_end_to_end(tiny_models, tmp_path, capsys):
    out, work = tmp_path / 'report', tmp_path / 'work'
    assert main(['benchmark', '--worlds', '2', '--minutes', '0.3', '--eval-minutes', '0.2', '--models',
                 str(tiny_models), '--out', str(out), '--work', str(work), '--workers', '2', '--no-legacy']) == 0
    for name in ('report.md', 'metrics.json', 'benchmark.png'):
        assert (out / name).is_file(), name
    assert (out / 'benchmark.png').stat().st_size < 300_000
    document = json.loads((out / 'metrics.json').read_text())
    worlds = document['worlds']
    assert [row['seed'] for row in worlds] == [FIRST, FIRST + 1]
    assert document['legacy_worlds'] == []
    assert document['failed'] == []
    assert not document['outside_range']
    for row in worlds:
        assert row['error'] is None
        assert row['frames']['drive'] >= 170
        assert row['frames']['scoring'] >= 110
        assert set(row['scores']['detector']) == {'shipped', 'robot-trained', 'robot-trained + consistency',
                                                  'robot-trained + consistency, mean teacher'}
        assert set(row['scores']['segmentation']) == {'FCN-8s', 'FCN-8s robot-adapted'}
        assert set(row['scores']['segmentation']['FCN-8s']) == {'mIoU', 'traversable mIoU', 'free space within 10%'}
        assert row['details']['detector']['heads']['robot-trained + consistency']['pairs_found'] > 0
        assert row['details']['detector']['heads']['robot-trained']['labelled_frames'] > 0
        for entries in row['scores'].values():
            for metrics in entries.values():
                assert all(v is None or 0.0 <= v <= 1.0 for v in metrics.values())
        assert row['scores']['segmentation']['FCN-8s']['mIoU'] is not None
    # Median and worst are those of the per-world values (where defined).
    for entry in document['summary']:
        values = [row['scores'][entry['stage']][entry['entry']][entry['metric']] for row in worlds]
        values = [v for v in values if v is not None]
        assert entry['worlds'] == len(values)
        if values:
            assert entry['median'] == pytest.approx(statistics.median(values))
            assert entry['worst'] == pytest.approx(min(values))
        if len(values) == 2:
            low, high = entry['median_95']
            assert min(values) <= low <= entry['median'] <= high <= max(values)
    comparisons = {(c['entry'], c['metric']): c for c in document['comparisons']}
    adapted = comparisons[('FCN-8s robot-adapted', 'traversable mIoU')]
    assert adapted['worlds'] == 2
    assert 0 <= adapted['better'] <= 2
    report = (out / 'report.md').read_text()
    assert report.startswith(f'# Unseen-world benchmark: 2 worlds (seeds {FIRST}..{FIRST + 1})\n')
    assert f'| {FIRST} | ' in report
    assert f'| {FIRST + 1} | ' in report
    assert '| robot-trained AUC 0.2 m |' in report
    assert '| FCN-8s traversable mIoU |' in report
    assert '| FCN-8s robot-adapted | FCN-8s | traversable mIoU |' in report
    assert 'Legacy' not in report
    assert '| robot-trained AUC 0.5 m |' in capsys.readouterr().out
    # The simulated datasets stay in the work folder: asking again makes nothing new.
    (datasets,) = work.glob('datasets-*')
    names = [f'world_{s}_run{r}_{t}s' for s in (FIRST, FIRST + 1) for r, t in ((0, 18), (1, 12))]
    kept = sorted(p.name for p in datasets.iterdir() if not p.name.endswith(('-wal', '-shm')))  # SQLite's own
    assert kept == sorted(f'{n}.{e}' for n in names for e in ('db', 'json'))
    assert document['dataset_making']['made_now'] == 2
    assert document['dataset_making']['median_seconds_per_world'] > 0
    assert 'all 2 worlds simulated in this run' in report
    path = datasets / f'{names[0]}.db'
    stamp = path.stat().st_mtime_ns
    again, making = simulated_dataset(datasets, FIRST, 0, 0.3)
    assert again == path
    assert path.stat().st_mtime_ns == stamp
    assert making['cached']
    assert making['sim_seconds'] == pytest.approx(18.0)
    assert worlds[0]['datasets']['drive'] == {**making, 'cached': False}
    # A chosen subset of the entries (the backbone study's): only those are made and scored, from the cache.
    assert main(['benchmark', '--worlds', '1', '--minutes', '0.3', '--eval-minutes', '0.2', '--models',
                 str(tiny_models), '--out', str(out / 'subset'), '--work', str(work), '--no-legacy',
                 '--entries', 'robot-trained', 'FCN-8s']) == 0
    subset = json.loads((out / 'subset' / 'metrics.json').read_text())
    (row,) = subset['worlds']
    assert {stage: set(entries) for stage, entries in row['scores'].items()} == {
        'detector': {'robot-trained'}, 'segmentation': {'FCN-8s'}}
    assert subset['dataset_making']['made_now'] == 0
    assert subset['comparisons'] == []
    assert {g['entry'] for g in subset['goals']} == {'robot-trained', 'FCN-8s'}
    assert subset['settings']['entries'] == ['robot-trained', 'FCN-8s']


@pytest.mark.parametrize(('first', 'worlds'), [(5, 2), (BENCHMARK_SEEDS.stop - 1, 2), (1000, 1)])
def test_seeds_outside_the_benchmark_range_are_refused(first, worlds, tmp_path, capsys):
    assert main(['benchmark', '--first-seed', str(first), '--worlds', str(worlds), '--out', str(tmp_path)]) == 2
    assert 'not all benchmark worlds' in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_other_seeds_only_when_allowed_and_then_said_so():
    options = BenchmarkOptions(first_seed=5, worlds=2, allow_any_seed=True)
    assert options.seeds == [5, 6]
    assert options.outside_range
    assert not BenchmarkOptions(first_seed=BENCHMARK_SEEDS.stop - 2, worlds=2).outside_range
    with pytest.raises(ValueError, match='minutes'):
        BenchmarkOptions(minutes=0.0)
    with pytest.raises(ValueError, match='workers'):
        BenchmarkOptions(workers=0)
    with pytest.raises(ValueError, match="entries: unknown 'FCN-9s'"):
        BenchmarkOptions(entries=('FCN-8s', 'FCN-9s'))


def test_the_legacy_worlds_are_scored_unless_left_out(tmp_path):
    options = BenchmarkOptions(worlds=3, work=tmp_path)
    jobs = world_jobs(options)
    assert [(j.seed, j.legacy) for j in jobs] == [(FIRST, False), (FIRST + 1, False), (FIRST + 2, False),
                                                  *((seed, True) for seed in LEGACY_SEEDS)]
    assert len({j.datasets for j in jobs}) == 1
    assert [j.seed for j in world_jobs(BenchmarkOptions(worlds=1, legacy=False))] == [FIRST]


def _row(seed: int, auc: float | None, miou: float, error: str | None = None, legacy: bool = False) -> dict:
    scores = {} if error else {'detector': {'robot-trained': {'AUC 0.2 m': auc}},
                               'segmentation': {'FCN-8s': {'mIoU': miou}}}
    return {'seed': seed, 'legacy': legacy, 'world': f'world {seed}', 'frames': {'drive': 10, 'scoring': 5},
            'scores': scores, 'details': {}, 'seconds': {}, 'error': error}


def test_median_and_worst_over_the_worlds_where_a_score_is_defined():
    rows = [_row(1, 0.9, 0.5), _row(2, None, 0.7), _row(3, 0.7, 0.9), _row(4, 0.8, 0.2), _row(5, 0, 0, 'boom')]
    summary = {(s['stage'], s['entry'], s['metric']): s for s in summarize(rows)}
    assert list(summary) == [('detector', 'robot-trained', 'AUC 0.2 m'), ('segmentation', 'FCN-8s', 'mIoU')]
    auc, miou = summary.values()
    assert (auc['median'], auc['worst'], auc['worlds']) == (pytest.approx(0.8), 0.7, 3)
    assert (miou['median'], miou['worst'], miou['worlds']) == (pytest.approx(0.6), 0.2, 4)
    assert summarize([_row(1, 0, 0, 'boom')]) == []
    assert columns([]) == []


def test_the_report_shows_failures_legacy_worlds_and_goals():
    rows = [_row(FIRST, 0.97, 0.8), _row(FIRST + 1, 0.85, 0.9), _row(FIRST + 2, 0, 0, 'ValueError: no labels')]
    document = {
        'title': 'T', 'benchmark_range': [BENCHMARK_SEEDS.start, BENCHMARK_SEEDS.stop - 1], 'outside_range': True,
        'settings': {'minutes': 4.5, 'eval_minutes': 1.5, 'backend': 'tflite', 'workers': 2},
        'models': {'folder': 'models', 'sha256': {'head.npz': 'ab' * 32}}, 'wall_seconds': 60.0,
        'load_average': {'start': [1.0, 1.0, 1.0], 'end': [2.0, 2.0, 2.0]}, 'cpus': 2,
        'dataset_making': {'worlds': 4, 'made_now': 1, 'median_seconds_per_world': 95.2},
        'summary': summarize(rows), 'worlds': rows, 'legacy_worlds': [_row(1000, 0.99, 0.95, legacy=True)],
        'failed': [FIRST + 2],
        'goals': [{'stage': 'detector', 'entry': 'robot-trained', 'metric': 'AUC 0.2 m', 'median': 0.95,
                   'worst': 0.90}],
    }
    report = report_markdown(document)
    assert '**Not a benchmark result**' in report
    assert '1 of 4 worlds (3 from the cache) simulated in this run; simulating and labelling a world took a median of 95 s' in report
    assert f'**Failed worlds**: {FIRST + 2}' in report
    assert '**failed: ValueError: no labels**' in report
    assert '| robot-trained AUC 0.2 m | 0.910 [0.850, 0.970] | 0.850 | 2 | ≥ 0.95 (≥ 0.90) | no |' in report
    assert '| FCN-8s mIoU | 0.850 [0.800, 0.900] | 0.800 | 2 |  |  |' in report
    legacy = report.split('## Legacy evaluation worlds 1000')[1]
    assert '| 1000 | world 1000 | 10 / 5 | 0.990 | 0.950 |' in legacy


def test_traversable_confusion_pools_the_classes_that_are_not_floor():
    confusion = np.array([[50, 3, 2], [4, 20, 6], [1, 7, 30]])
    pooled = traversable_confusion(confusion, [True, False, False])
    np.testing.assert_array_equal(pooled, [[20 + 6 + 7 + 30, 4 + 1], [3 + 2, 50]])
    assert pooled.sum() == confusion.sum()
    with pytest.raises(ValueError, match='3 classes'):
        traversable_confusion(np.eye(2), [True, False, False])
