"""The head training entry: frames of a dataset with their poses, consistency pairs, the id ranges a head
trained on, ``selfsup train`` with consistency, retraining from the replay memory on only the frames new
since the last time, compared with the head in use, and the consistency term lifting the far range where
labels are rare (synthetic drives scored against their ground truth)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from selfsup_perception.cli import main
from selfsup_perception.core.config import LabelingConfig
from selfsup_perception.core.consistency import odometry_pieces
from selfsup_perception.core.dataset import Dataset, DatasetWriter, FrameRecord
from selfsup_perception.core.head import Head, HeadOptions
from selfsup_perception.core.metrics import evaluate, roc_auc
from selfsup_perception.core.replay import ReplayOptions, TrainingFrames
from selfsup_perception.inference.embedder import Embedder
from selfsup_perception.pipeline.frames import update_embeddings
from selfsup_perception.pipeline.heads import id_ranges, trained_on
from selfsup_perception.pipeline.robot_training import (
    dataset_frames,
    fit_obstacle_head,
    replay_memory,
    retrain,
    trained_through,
)
from selfsup_perception.testing.perception import synthetic_frames
from selfsup_perception.testing.synthetic import DriveSpec

DATA = Path(__file__).resolve().parents[1] / 'data'
OPTIONS = HeadOptions(max_epochs=30, guard=0.2, consistency_weight=1.0)


def write_drive(path: Path, config: LabelingConfig, frames: int, start: int = 0) -> None:
    """Frames 0.1 s apart of a robot driving straight on (1 cm a frame); bright images: obstacle ahead.

    Near labels are known, far ones mostly not; a teleport (new segment) every 150 frames.
    """
    rng = np.random.default_rng(start)
    shape = (len(config.distances), len(config.sensors))
    writer = DatasetWriter(path, config, image_format='png')
    try:
        for i in range(start, start + frames):
            level = rng.uniform(0, 1)
            image = (rng.integers(0, 256, (32, 32, 3)) * level).astype(np.uint8)
            labels = np.full(shape, np.int8(-1))
            labels[:3] = int(level > 0.5)
            writer.append(FrameRecord(stamp=0.1 * i, image=image, labels=labels, pose=(0.01 * i, 0.0, 0.0),
                                      segment=i // 150))
    finally:
        writer.close()


@pytest.fixture
def embedder() -> Embedder:
    return Embedder.open(DATA / 'tiny_float.tflite', 'tflite')


def test_a_dataset_trains_with_its_pairs_and_records_what_it_trained_on(
        tmp_path: Path, robot_config: LabelingConfig, embedder: Embedder) -> None:
    path = tmp_path / 'd.db'
    write_drive(path, robot_config, 400)
    with Dataset(path) as dataset:
        frames = dataset_frames(dataset, embedder)
    assert frames.ids.tolist() == list(range(1, 401))
    np.testing.assert_allclose(frames.poses[:, 0], 0.01 * np.arange(400))
    assert frames.pieces.tolist() == (np.arange(400) // 150).tolist()  # the segments
    fit = fit_obstacle_head(frames, robot_config, OPTIONS, dataset=path, embedding_sha256=embedder.sha256)
    assert fit.pairs.found == len(fit.pairs) > 1000
    assert (frames.pieces[fit.pairs.far] == frames.pieces[fit.pairs.near]).all()
    assert 0 < fit.history.consistency_pairs < len(fit.pairs)
    assert fit.head.training['pairs_found'] == fit.pairs.found
    seen = trained_on(fit.head, path, frames.ids)
    assert 250 < seen.sum() < 400
    assert not trained_on(fit.head, path, fit.validation_ids).any()
    assert fit.validation_ids.size > 40
    assert not trained_on(fit.head, tmp_path / 'other.db', frames.ids).any()
    probs = fit.head.predict(frames.embeddings)
    assert roc_auc(probs[:, 0], frames.labels[:, 0]) > 0.9
    alone = fit_obstacle_head(frames, robot_config, replace(OPTIONS, consistency_weight=0.0), dataset=path,
                              embedding_sha256=embedder.sha256)
    assert not len(alone.pairs)
    assert alone.history.consistency_pairs == 0


def test_heads_that_record_no_ranges_count_as_having_seen_everything_up_to_their_last_frame(
        tmp_path: Path, robot_config: LabelingConfig, embedder: Embedder) -> None:
    path = tmp_path / 'd.db'
    write_drive(path, robot_config, 200)
    with Dataset(path) as dataset:
        frames = dataset_frames(dataset, embedder)
    fit = fit_obstacle_head(frames, robot_config, OPTIONS, dataset=path, embedding_sha256='')
    data = {k: v for k, v in fit.head.training['data'].items() if k != 'trained_id_ranges'}
    legacy = replace(fit.head, training={**fit.head.training, 'data': {**data, 'last_id': 120}})
    assert trained_on(legacy, path, np.array([1, 120, 121, 500])).tolist() == [True, True, False, False]


def test_id_ranges_are_runs_of_consecutive_ids() -> None:
    assert id_ranges(np.array([7, 3, 4, 5, 9, 10, 4])) == [[3, 5], [7, 7], [9, 10]]
    assert id_ranges(np.zeros(0, np.int64)) == []


def test_retraining_reads_only_new_frames_into_a_bounded_memory(
        tmp_path: Path, robot_config: LabelingConfig, embedder: Embedder) -> None:
    path = tmp_path / 'd.db'
    write_drive(path, robot_config, 330)
    with Dataset(path) as dataset:
        update_embeddings(dataset, embedder)
        memory = replay_memory(dataset, embedder.embedding_size, ReplayOptions(capacity=200, clip_frames=20))
        first = retrain(memory, dataset, robot_config, OPTIONS, None, dataset=path, embedding_sha256=embedder.sha256)
        assert memory.last_id == 330
        assert len(memory) == 200
        assert first.frames == 210  # and the 10 frames waiting for their clip
        assert first.better
        assert first.old_auc is None
        assert first.new_auc is not None
        assert first.new_auc > 0.9
        write_drive(path, robot_config, 70, start=330)
        update_embeddings(dataset, embedder, after_id=330)
        write_drive(path, robot_config, 100, start=400)  # the labeler appends frames not embedded yet
        second = retrain(memory, dataset, robot_config, OPTIONS, first.head, dataset=path,
                         embedding_sha256=embedder.sha256, until=400)
        assert memory.last_id == 400
        update_embeddings(dataset, embedder, after_id=400)
        third = retrain(memory, dataset, robot_config, OPTIONS, second.head, dataset=path,
                        embedding_sha256=embedder.sha256)
        # Nothing new, from scratch: the same head again, which is not better than itself.
        again = retrain(memory, dataset, robot_config, OPTIONS, third.head, dataset=path,
                        embedding_sha256=embedder.sha256, fine_tune=False)
        same = retrain(memory, dataset, robot_config, OPTIONS, again.head, dataset=path,
                       embedding_sha256=embedder.sha256, fine_tune=False)
    assert same.new_auc == same.old_auc
    assert not same.better
    np.testing.assert_array_equal(same.head.layers[0][0], again.head.layers[0][0])  # deterministic
    assert memory.last_id == 500
    assert second.old_auc is not None  # compared with the head in use, on frames it did not train on
    held = memory.frames()
    assert len(held.ids) == 200
    assert held.ids.max() == 500  # the newest clips are held
    assert held.embeddings.dtype == np.float16
    assert third.fit.pairs.found > 0
    assert trained_through(third.head, path) == 500
    assert trained_on(third.head, path, held.ids).sum() > 100
    assert not trained_on(third.head, path, np.setdiff1d(np.arange(1, 501), held.ids)).any()
    fair = third.fit.validation_ids[~trained_on(second.head, path, third.fit.validation_ids)]
    assert third.validation_frames == fair.size
    short = tmp_path / 'short.db'
    write_drive(short, robot_config, 10)
    with Dataset(short) as dataset:
        update_embeddings(dataset, embedder)
        fresh = replay_memory(dataset, embedder.embedding_size)
        with pytest.raises(ValueError, match='holds no frames'):
            retrain(fresh, dataset, robot_config, OPTIONS, None, dataset=short, embedding_sha256=embedder.sha256,
                    until=0)


def test_selfsup_train_finds_consistency_pairs_with_the_datasets_tolerances(
        tmp_path: Path, robot_config: LabelingConfig, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / 'd.db'
    write_drive(path, robot_config, 300)
    common = [str(path), '--embedding', str(DATA / 'tiny_float.tflite'), '--backend', 'tflite', '--max-epochs', '5']
    for name in ('a', 'b'):
        assert main(['train', *common, '--out', str(tmp_path / f'{name}.npz'), '--consistency-weight', '0.5',
                     '--teacher-decay', '0.9']) == 0
    assert 'consistency pairs: ' in capsys.readouterr().out
    card = json.loads((tmp_path / 'a.json').read_text())
    assert card['training']['options']['consistency_weight'] == 0.5
    assert card['training']['options']['teacher_decay'] == 0.9
    assert card['training']['pairs_found'] > 1000
    assert card['training']['consistency_pairs'] > 0
    assert card['training']['data']['trained_id_ranges']
    a, b = (Head.load(tmp_path / f'{name}.npz') for name in 'ab')
    np.testing.assert_array_equal(a.layers[0][0], b.layers[0][0])  # deterministic for a seed
    assert main(['train', *common, '--out', str(tmp_path / 'c.npz')]) == 0
    assert json.loads((tmp_path / 'c.json').read_text())['training']['options']['consistency_weight'] == \
        HeadOptions.consistency_weight  # the default variant's


def synthetic_world(config: LabelingConfig, seed: int) -> tuple[TrainingFrames, np.ndarray, np.ndarray]:
    """The first 10 minutes of a synthetic drive to train on; the last 3 to score (embeddings, ground truth)."""
    frames = synthetic_frames(config, DriveSpec(duration=780), seed)
    train, score = frames.part(slice(0, 6000)), frames.part(slice(6000, None))
    pieces = odometry_pieces(train.stamps, train.poses, train.segments, config.max_odom_jump)
    return (TrainingFrames(np.arange(1, 6001), train.stamps, train.poses, pieces, train.labels, train.mask,
                           train.embeddings), score.embeddings, score.ground_truth)


def test_consistency_lifts_the_far_range_on_synthetic_drives(robot_config: LabelingConfig) -> None:
    far = slice(14, None)  # 0.70-1.00 m: labels are rare there
    for seed in (11, 12):
        train, embeddings, truth = synthetic_world(robot_config, seed)
        auc = {}
        for weight in (0.0, 1.0):
            fit = fit_obstacle_head(train, robot_config, HeadOptions(max_epochs=25, consistency_weight=weight),
                                    dataset=f'synthetic {seed}', embedding_sha256='')
            assert (fit.history.consistency_pairs > 0) == (weight > 0)
            scores = evaluate(fit.head.predict(embeddings), truth, np.ones(truth.shape, bool),
                              distances=robot_config.distances, sensors=robot_config.sensor_names, n_bootstrap=0)
            auc[weight] = np.array(scores['per_distance']['auc'], float)
        assert auc[1.0][far].mean() > auc[0.0][far].mean() + 0.01
        assert auc[1.0][:5].mean() > auc[0.0][:5].mean() - 0.01  # the near range kept
