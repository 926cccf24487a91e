from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from selfsup_perception.core.dataset import Dataset, DatasetError, DatasetWriter, FrameRecord

ROOT = Path(__file__).resolve().parents[2]


def _frame(i: int, config, gt: bool = False) -> FrameRecord:
    rng = np.random.default_rng(i)
    shape = (len(config.distances), len(config.sensors))
    return FrameRecord(
        stamp=0.1 * i, image=rng.integers(0, 255, (24, 32, 3), dtype=np.uint8),
        labels=rng.integers(-1, 2, shape).astype(np.int8), pose=(i * 0.01, 0.0, 0.1),
        ground_truth=rng.integers(0, 2, shape).astype(np.uint8) if gt else None,
        segmentation=rng.integers(0, 3, (24, 32)).astype(np.uint8) if gt else None,
    )


def test_roundtrip_png_is_lossless(tmp_path, robot_config):
    frames = [_frame(i, robot_config, gt=True) for i in range(5)]
    with DatasetWriter(tmp_path / 'd.db', robot_config, image_format='png') as writer:
        ids = [writer.append(f) for f in frames]
    assert ids == [1, 2, 3, 4, 5]
    with Dataset(tmp_path / 'd.db') as dataset:
        data = dataset.read_all()
        assert dataset.sensors == list(robot_config.sensor_names)
        assert dataset.config['horizon'] == robot_config.horizon
    np.testing.assert_array_equal(data.images, np.stack([f.image for f in frames]))
    labels = np.stack([f.labels for f in frames])
    np.testing.assert_array_equal(data.mask, labels >= 0)
    np.testing.assert_array_equal(data.labels[data.mask], labels[labels >= 0])
    np.testing.assert_array_equal(data.ground_truth, np.stack([f.ground_truth for f in frames]))
    np.testing.assert_array_equal(data.segmentation, np.stack([f.segmentation for f in frames]))
    np.testing.assert_allclose(data.stamps, [f.stamp for f in frames])


def test_frame_without_pose_and_jpeg(tmp_path, robot_config):
    rows, cols = np.mgrid[0:24, 0:32]
    smooth = np.stack([rows * 8, cols * 6, rows + cols], axis=2).astype(np.uint8)
    frame = dataclasses.replace(_frame(0, robot_config), pose=None, image=smooth)
    with DatasetWriter(tmp_path / 'd.db', robot_config) as writer:
        writer.append(frame)
    with Dataset(tmp_path / 'd.db') as dataset:
        data = dataset.read_all()
    assert np.isnan(data.poses).all()
    assert np.abs(data.images.astype(int) - frame.image).mean() < 4  # JPEG: lossy but the same picture
    assert data.ground_truth is None


def test_reopening_with_another_config_is_refused(tmp_path, robot_config):
    DatasetWriter(tmp_path / 'd.db', robot_config).close()
    other = dataclasses.replace(robot_config, distances=(0.0, 0.5))
    with pytest.raises(DatasetError, match='labelled with other distances'):
        DatasetWriter(tmp_path / 'd.db', other)
    with pytest.raises(DatasetError, match='labels shape'):
        DatasetWriter(tmp_path / 'd.db', robot_config).append(
            dataclasses.replace(_frame(0, robot_config), labels=np.zeros((2, 2), np.int8)))


def test_not_a_dataset(tmp_path):
    (tmp_path / 'x.db').write_bytes(b'this is not sqlite' * 100)
    with pytest.raises(DatasetError, match='not a readable dataset'):
        Dataset(tmp_path / 'x.db')
    with pytest.raises(DatasetError, match='no such dataset'):
        Dataset(tmp_path / 'missing.db')


def test_reader_sees_frames_appended_meanwhile(tmp_path, robot_config):
    writer = DatasetWriter(tmp_path / 'd.db', robot_config)
    for i in range(3):
        writer.append(_frame(i, robot_config))
    reader = Dataset(tmp_path / 'd.db')
    batches = reader.iter_batches(batch_size=2, images=False)
    first = next(batches)
    for i in range(3, 6):
        writer.append(_frame(i, robot_config))  # the writer goes on while the reader is mid-way
    rest = list(batches)
    assert [int(i) for b in [first, *rest] for i in b.ids] == [1, 2, 3, 4, 5, 6]
    writer.close()
    reader.close()


def test_embedding_cache(tmp_path, robot_config):
    with DatasetWriter(tmp_path / 'd.db', robot_config) as writer:
        for i in range(4):
            writer.append(_frame(i, robot_config))
        vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
        writer.store_embeddings('abc', np.array([1, 2, 3]), vectors)
        cached = writer.cached_embeddings('abc', np.array([1, 2, 3, 4]))
        assert sorted(cached) == [1, 2, 3]
        np.testing.assert_array_equal(cached[2], vectors[1])
        assert writer.cached_embeddings('other', np.array([1])) == {}


def test_export_npz(tmp_path, robot_config):
    with DatasetWriter(tmp_path / 'd.db', robot_config, image_format='png') as writer:
        for i in range(3):
            writer.append(_frame(i, robot_config, gt=True))
        assert writer.export_npz(tmp_path / 'out.npz') == 3
        writer.export_npz(tmp_path / 'small.npz', images=False)
    data = np.load(tmp_path / 'out.npz', allow_pickle=False)
    assert data['labels'].shape == (3, 21, 5)
    assert data['mask'].dtype == bool
    assert data['images'].shape == (3, 24, 32, 3)
    assert data['ground_truth'].shape == (3, 21, 5)
    assert data['segmentation'].shape == (3, 24, 32)
    assert data['stamps'].dtype == np.float64
    assert list(data['sensors']) == list(robot_config.sensor_names)
    assert 'images' not in np.load(tmp_path / 'small.npz', allow_pickle=False)


WRITER = """
import sys
import numpy as np
from selfsup_perception.core.config import load_config
from selfsup_perception.core.dataset import DatasetWriter, FrameRecord
config = load_config(sys.argv[2])
writer = DatasetWriter(sys.argv[1], config)
shape = (len(config.distances), len(config.sensors))
rng = np.random.default_rng(int(sys.argv[3]))
image = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
for i in range(100000):
    frame_id = writer.append(FrameRecord(float(i), image, np.zeros(shape, np.int8)))
    print(frame_id, flush=True)
"""


@pytest.mark.slow
def test_kill_9_never_loses_a_committed_frame(tmp_path):
    path = tmp_path / 'd.db'
    rng = np.random.default_rng(0)
    committed: set[int] = set()
    for attempt in range(12):
        proc = subprocess.Popen([sys.executable, '-c', WRITER, str(path), str(ROOT / 'config/robot.yaml'),
                                 str(attempt)], stdout=subprocess.PIPE, text=True, env={**os.environ})
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the writer is up and committing
        assert first.strip().isdigit()
        time.sleep(float(rng.uniform(0.0, 0.4)))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        committed |= {int(line) for line in [first, *out.splitlines()] if line.strip().isdigit()}
        connection = sqlite3.connect(path)
        assert connection.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'
        connection.close()
        with Dataset(path) as dataset:
            stored = {int(i) for b in dataset.iter_batches(images=True) for i in b.ids}
        assert committed <= stored, f'attempt {attempt}: lost {sorted(committed - stored)[:5]}'
    assert len(committed) > 12
