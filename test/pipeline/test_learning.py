"""Embedding cache, head fitting on a dataset and fair comparison, and the train / evaluate CLIs end to end."""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from selfsup_perception.cli import evaluate as evaluate_cli
from selfsup_perception.cli import train as train_cli
from selfsup_perception.core.config import LabelingConfig
from selfsup_perception.core.dataset import Dataset, DatasetWriter, FrameRecord
from selfsup_perception.core.head import Head, HeadLoadError, HeadOptions, time_blocked_split
from selfsup_perception.core.metrics import roc_auc
from selfsup_perception.core.modelcard import ModelLoadError
from selfsup_perception.inference.embedder import Embedder
from selfsup_perception.pipeline.frames import load_frames, update_embeddings
from selfsup_perception.pipeline.heads import id_ranges, load_head, mean_auc, trained_ids, validation_index
from selfsup_perception.pipeline.robot_training import train_on_dataset
from selfsup_perception.testing.datasets import write_dataset

DATA = Path(__file__).resolve().parents[1] / 'data'
FLOAT_MODEL = DATA / 'tiny_float.tflite'
FAST = HeadOptions(max_epochs=60, guard=0.2)  # test datasets are short: 1 s guards would eat them


class CountingEmbedder(Embedder):
    """Counts the frames the model really runs on (beyond the one probe at load)."""

    frames_run = 0

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.frames_run += len(batch)
        return super().run(batch)


@pytest.fixture
def embedder() -> Embedder:
    return Embedder.open(FLOAT_MODEL, 'tflite')


@pytest.fixture
def dataset_path(tmp_path: Path, robot_config: LabelingConfig) -> Path:
    path = tmp_path / 'd.db'
    write_dataset(path, robot_config, 120, ground_truth=True)
    return path


def test_embedder_resizes_any_image_and_knows_its_model(embedder: Embedder) -> None:
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    out = embedder.embed([image, image[:32, :32]])
    assert out.shape == (2, 16)
    assert out.dtype == np.float32
    from selfsup_perception.inference import resize_to_input
    np.testing.assert_array_equal(out[0], embedder.backend.run(resize_to_input(image, (32, 32))[None])[0])
    assert embedder.embedding_size == 16
    assert embedder.sha256 == json.loads((DATA / 'tiny_float.json').read_text())['sha256']['tflite']
    onnx = Embedder.open(FLOAT_MODEL, 'onnx-cpu')
    assert onnx.path.suffix == '.onnx'
    assert onnx.sha256 != embedder.sha256  # another file, another cache key
    assert set(onnx.card.sha256.values()) == set(embedder.card.sha256.values())  # same model, one card


def test_embedder_without_a_card_or_with_a_wrong_one(tmp_path: Path) -> None:
    shutil.copy(FLOAT_MODEL, tmp_path / 'bare.tflite')
    bare = Embedder.open(tmp_path / 'bare.tflite', 'tflite')
    assert bare.embedding_size == 16
    assert bare.card.sha256 == {'tflite': bare.sha256}
    shutil.copy(FLOAT_MODEL, tmp_path / 'seg.tflite')
    card = json.loads((DATA / 'tiny_float.json').read_text())
    (tmp_path / 'seg.json').write_text(json.dumps({**card, 'kind': 'segmentation'}))
    with pytest.raises(ModelLoadError, match='not an embedding model'):
        Embedder.open(tmp_path / 'seg.tflite', 'tflite')
    (tmp_path / 'seg.json').write_text(json.dumps({**card, 'embedding_size': 1280}))
    with pytest.raises(ModelLoadError, match='size 16, its card says 1280'):
        Embedder.open(tmp_path / 'seg.tflite', 'tflite')


def test_cache_hit_avoids_recomputation(dataset_path: Path, robot_config: LabelingConfig) -> None:
    counting = CountingEmbedder(Embedder.open(FLOAT_MODEL, 'tflite').backend, FLOAT_MODEL)
    counting.frames_run = 0
    with Dataset(dataset_path) as dataset:
        first = update_embeddings(dataset, counting)
        assert (first.computed, counting.frames_run, first.last_id) == (120, 120, 120)
        assert first.labelled.all()  # half of 105 labels known: every frame has some
        again = update_embeddings(dataset, counting)
        assert again.computed == 0
        assert counting.frames_run == 120
        frames = load_frames(dataset, counting)
        assert counting.frames_run == 120
        assert frames.computed == 0
        images = dataset.read_all().images
    np.testing.assert_allclose(frames.embeddings, Embedder.open(FLOAT_MODEL, 'tflite').embed(images), atol=1e-6)
    write_dataset(dataset_path, robot_config, 7, start=120, seed=1)
    with Dataset(dataset_path) as dataset:
        newer = update_embeddings(dataset, counting, after_id=first.last_id)
        assert (newer.computed, newer.ids.size, counting.frames_run) == (7, 7, 127)
        assert load_frames(dataset, counting).embeddings.shape == (127, 16)
        assert counting.frames_run == 127
        int8 = Embedder.open(DATA / 'tiny_int8.tflite', 'tflite')
        assert update_embeddings(dataset, int8).computed == 127  # another model: its own cache entries
        assert update_embeddings(dataset, counting).computed == 0


def test_load_frames_of_an_empty_dataset(tmp_path: Path, robot_config: LabelingConfig, embedder: Embedder) -> None:
    write_dataset(tmp_path / 'e.db', robot_config, 0)
    with Dataset(tmp_path / 'e.db') as dataset:
        frames = load_frames(dataset, embedder, ground_truth=True)
        assert update_embeddings(dataset, embedder).last_id is None
    assert frames.embeddings.shape == (0, 16)
    assert frames.labels.shape == (0, 21, 5)
    assert frames.ground_truth is None
    with pytest.raises(ValueError, match='has no frames'):
        train_on_dataset(tmp_path / 'e.db', embedder, FAST)
    writer = DatasetWriter(tmp_path / 'u.db', robot_config, image_format='png')
    for i in range(20):
        writer.append(FrameRecord(stamp=0.1 * i, image=np.zeros((8, 8, 3), np.uint8),
                                  labels=np.full(frames.labels.shape[1:], -1, np.int8)))
    writer.close()
    with pytest.raises(ValueError, match='no training frame has a known label'):
        train_on_dataset(tmp_path / 'u.db', embedder, FAST)


def test_a_head_trained_on_a_dataset_learns_and_records_its_frames(dataset_path: Path, robot_config: LabelingConfig,
                                                embedder: Embedder) -> None:
    with Dataset(dataset_path) as dataset:
        frames = load_frames(dataset, embedder, ground_truth=True)
    assert frames.ground_truth is not None
    result = train_on_dataset(dataset_path, embedder, FAST)
    head, history = result.head, result.history
    train, _ = time_blocked_split(frames.stamps, FAST.validation_fraction, FAST.validation_blocks, FAST.guard)
    assert head.training['data'] == {'dataset': str(dataset_path.resolve()), 'last_id': 120, 'frames': 120,
                                     'trained_id_ranges': id_ranges(frames.ids[train])}
    index = validation_index(frames, FAST)
    assert 0 < index.size < 40
    assert mean_auc(head, frames, index) > 0.9
    assert result.validation_auc == pytest.approx(mean_auc(head, frames, index))
    assert 0 < result.validation_frames <= index.size
    assert mean_auc(head, frames, np.zeros(0, np.int64)) is None
    probs = head.predict(frames.embeddings)
    assert roc_auc(probs, frames.ground_truth) > 0.9
    # The head's recorded training frames, and for a head that records only its last frame its own split
    # replayed, are exactly its training frames; its validation frames are what is left.
    legacy = replace(head, training={**head.training, 'data': {'dataset': str(dataset_path.resolve()), 'last_id': 120}})
    for which in (head, legacy):
        np.testing.assert_array_equal(np.sort(trained_ids(which, frames)), np.sort(frames.ids[train]))
        np.testing.assert_array_equal(validation_index(frames, FAST, [which]), index)
    assert history.n_train == train.size


def test_comparison_leaves_out_frames_an_older_head_trained_on(tmp_path: Path, robot_config: LabelingConfig,
                                                               embedder: Embedder) -> None:
    path = tmp_path / 'd.db'
    write_dataset(path, robot_config, 100)
    with Dataset(path) as dataset:
        update_embeddings(dataset, embedder)
    old = train_on_dataset(path, embedder, FAST).head
    write_dataset(path, robot_config, 100, start=100, seed=1)
    with Dataset(path) as dataset:
        frames = load_frames(dataset, embedder)
    seen = trained_ids(old, frames)
    assert seen.size
    assert seen.max() <= 100
    fair = validation_index(frames, FAST, [old])
    assert not np.isin(frames.ids[fair], seen).any()
    assert fair.size < validation_index(frames, FAST).size
    foreign = replace(old, training={**old.training, 'data': {**old.training['data'], 'dataset': '/elsewhere.db'}})
    assert trained_ids(foreign, frames).size == 0
    assert trained_ids(replace(old, training={}), frames).size == 0


def test_load_head_refuses_other_outputs_or_embedders(tmp_path: Path, dataset_path: Path,
                                                      robot_config: LabelingConfig, embedder: Embedder) -> None:
    head = train_on_dataset(dataset_path, embedder, replace(FAST, max_epochs=2)).head
    head.save(tmp_path / 'h.npz')
    distances, sensors = robot_config.distances, robot_config.sensor_names
    assert isinstance(load_head(tmp_path / 'h.npz', embedder, distances, sensors), Head)
    with pytest.raises(HeadLoadError, match='expected'):
        load_head(tmp_path / 'h.npz', embedder, distances, sensors[::-1])
    with pytest.raises(HeadLoadError, match='expected'):
        load_head(tmp_path / 'h.npz', embedder, distances[:-1], sensors)
    with pytest.raises(HeadLoadError, match='retrain it'):
        load_head(tmp_path / 'h.npz', Embedder.open(DATA / 'tiny_int8.tflite', 'tflite'), distances, sensors)


def cli(module, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.run(parser.parse_args([str(a) for a in argv]))


def test_train_then_evaluate_with_the_clis(tmp_path: Path, dataset_path: Path, capsys) -> None:
    head = tmp_path / 'heads' / 'a.npz'
    assert cli(train_cli, dataset_path, '--embedding', FLOAT_MODEL, '--out', head, '--backend', 'tflite',
               '--max-epochs', '60') == 0
    out = capsys.readouterr().out
    assert 'embeddings: 120 computed, 0 cached' in out
    assert 'validation mean AUC: 0.9' in out or 'validation mean AUC: 1.000' in out
    assert sorted(p.name for p in head.parent.iterdir()) == ['a.json', 'a.npz']  # nothing half-written left
    card = json.loads(head.with_suffix('.json').read_text())
    assert card['metrics']['validation_mean_auc'] > 0.9
    assert card['made_by']['trainer'] == 'selfsup train'
    other = tmp_path / 'b.npz'
    assert cli(train_cli, dataset_path, '--embedding', DATA / 'tiny_float.onnx', '--out', other, '--hidden', '4',
               '--backend', 'onnx-cpu', '--max-epochs', '3', '--seed', '1') == 0
    assert 'embeddings: 120 computed' in capsys.readouterr().out  # another file, another cache key
    report = tmp_path / 'report'
    assert cli(evaluate_cli, dataset_path, '--embedding', FLOAT_MODEL, '--head', head, '--compare', other,
               '--report', report, '--bootstrap', '50', '--frames', 'validation') == 0
    out = capsys.readouterr().out
    assert 'a vs labels: mean AUC' in out
    assert 'b vs ground truth: mean AUC' in out
    metrics = json.loads((report / 'metrics.json').read_text())
    assert set(metrics['runs']) == {'a', 'b'}
    assert set(metrics['ground_truth']) == {'a', 'b'}
    assert metrics['runs']['a']['mean_auc'] > 0.9
    assert metrics['runs']['a']['cells']['auc_low'][0][0] is not None
    assert metrics['runs']['a']['n_frames'] < 40  # only validation frames neither head trained on
    assert {p.name for p in report.iterdir()} >= {'summary.md', 'auc_vs_distance.png', 'heatmap_a.png',
                                                  'heatmap_a_ground_truth.png'}


def test_clis_report_bad_input(tmp_path: Path, dataset_path: Path, capsys) -> None:
    assert cli(train_cli, dataset_path, '--embedding', FLOAT_MODEL, '--out', tmp_path / 'h.txt') == 2
    assert 'must end in .npz' in capsys.readouterr().err
    assert cli(train_cli, tmp_path / 'none.db', '--embedding', FLOAT_MODEL, '--out', tmp_path / 'h.npz') == 2
    assert 'no such dataset' in capsys.readouterr().err
    assert cli(train_cli, dataset_path, '--embedding', tmp_path / 'none.tflite', '--out', tmp_path / 'h.npz') == 2
    assert 'no backend can run' in capsys.readouterr().err
    assert cli(train_cli, dataset_path, '--embedding', FLOAT_MODEL, '--out', tmp_path / 'h.npz',
               '--hidden', '-1') == 2
    assert 'hidden=-1' in capsys.readouterr().err
    for flag, value, message in (('--consistency-weight', '-1', '--consistency-weight must be a number >= 0, got -1.0'),
                                 ('--consistency-weight', 'inf', 'a number >= 0, got inf'),
                                 ('--teacher-decay', '1', '--teacher-decay must be in [0, 1), got 1.0'),
                                 ('--max-epochs', '0', '--max-epochs must be >= 1, got 0')):
        assert cli(train_cli, dataset_path, '--embedding', FLOAT_MODEL, '--out', tmp_path / 'h.npz', flag, value) == 2
        err = capsys.readouterr().err
        assert message in err
        assert err.count('\n') == 1  # one line
    assert not (tmp_path / 'h.npz').exists()
    assert cli(train_cli, dataset_path, '--embedding', FLOAT_MODEL, '--out', tmp_path / 'h.npz',
               '--max-epochs', '2') == 0
    capsys.readouterr()
    assert cli(evaluate_cli, dataset_path, '--embedding', DATA / 'tiny_int8.tflite', '--head', tmp_path / 'h.npz',
               '--report', tmp_path / 'r') == 2
    assert 'retrain it' in capsys.readouterr().err
    assert not (tmp_path / 'r').exists()
