"""The head training entry: frames of a dataset with their poses, consistency pairs, the id ranges a head
trained on, and retraining from the replay memory on only the frames new since the last time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from selfsup_perception.core.config import LabelingConfig
from selfsup_perception.core.dataset import Dataset, DatasetWriter, FrameRecord
from selfsup_perception.core.head import HeadOptions
from selfsup_perception.core.metrics import roc_auc
from selfsup_perception.core.replay import ReplayOptions
from selfsup_perception.inference.embedder import Embedder
from selfsup_perception.pipeline.frames import update_embeddings
from selfsup_perception.pipeline.robot_training import (
    dataset_frames,
    fit_obstacle_head,
    id_ranges,
    replay_memory,
    retrain,
    trained_on,
)

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
        first = retrain(memory, dataset, robot_config, OPTIONS, dataset=path, embedding_sha256=embedder.sha256)
        assert memory.last_id == 330
        assert len(memory) == 200
        write_drive(path, robot_config, 170, start=330)
        update_embeddings(dataset, embedder, after_id=330)
        second = retrain(memory, dataset, robot_config, OPTIONS, dataset=path, embedding_sha256=embedder.sha256,
                         start=first.head)
    assert memory.last_id == 500
    held = memory.frames()
    assert len(held.ids) == 200
    assert held.ids.max() == 500  # the newest clips are held
    assert held.embeddings.dtype == np.float16
    assert second.pairs.found > 0
    assert trained_on(second.head, path, held.ids).sum() > 100
    assert not trained_on(second.head, path, np.setdiff1d(np.arange(1, 501), held.ids)).any()
    short = tmp_path / 'short.db'
    write_drive(short, robot_config, 10)
    with Dataset(short) as dataset:
        update_embeddings(dataset, embedder)
        fresh = replay_memory(dataset, embedder.embedding_size)
        with pytest.raises(ValueError, match='no complete clip'):
            retrain(fresh, dataset, robot_config, OPTIONS, dataset=short, embedding_sha256=embedder.sha256)
