from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from selfsup_perception.core.config import PixelLabelConfig
from selfsup_perception.core.dataset import Dataset, DatasetError, DatasetWriter, FrameRecord, FrameRejectedError
from selfsup_perception.core.images import encode_image

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
        assert writer.export_npz(tmp_path / 'out.npz').frames == 3
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
for i in range(100000):  # every run its own stamps: a (segment, stamp) is stored once
    frame_id = writer.append(FrameRecord(1e6 * int(sys.argv[3]) + i, image, np.zeros(shape, np.int8)))
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


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_writer_refuses_another_image_size_and_goes_on(tmp_path, robot_config):
    with DatasetWriter(tmp_path / 'd.db', robot_config) as writer:
        writer.append(_frame(0, robot_config))
        tiny = dataclasses.replace(_frame(1, robot_config), image=np.zeros((1, 1, 3), np.uint8))
        with pytest.raises(FrameRejectedError, match=r'image of 1x1 pixels, this dataset holds 32x24') as caught:
            writer.append(tiny)
        assert caught.value.kind == 'image_size'
        writer.append(_frame(2, robot_config))
    with DatasetWriter(tmp_path / 'd.db', robot_config) as writer:  # the size is the file's, not the writer's
        with pytest.raises(FrameRejectedError, match='1x1'):
            writer.append(tiny)
        assert len(writer) == 2


def _store_raw(path: Path, frame: FrameRecord, image_format: str = 'png') -> None:
    """Insert a frame as an older version did: no size check (mixed sizes), no unique index."""
    from selfsup_perception.core.images import encode_image

    db = sqlite3.connect(path)
    seg = None if frame.segmentation is None else encode_image(frame.segmentation, 'png')
    gt = None if frame.ground_truth is None else frame.ground_truth.tobytes()
    db.execute('INSERT INTO frames (stamp, segment, image_format, image, labels, ground_truth, segmentation) '
               'VALUES (?, ?, ?, ?, ?, ?, ?)', (frame.stamp, frame.segment, image_format,
                                                encode_image(frame.image, image_format),
                                                frame.labels.tobytes(), gt, seg))
    db.commit()
    db.close()


def test_readers_resize_frames_of_another_size(tmp_path, robot_config):
    path = tmp_path / 'd.db'
    with DatasetWriter(path, robot_config, image_format='png') as writer:
        for i in range(3):
            writer.append(_frame(i, robot_config, gt=True))
    odd = dataclasses.replace(_frame(3, robot_config, gt=True), image=np.full((1, 1, 3), 200, np.uint8),
                              segmentation=np.full((1, 1), 2, np.uint8))
    _store_raw(path, odd)
    with Dataset(path) as dataset:
        assert dataset.image_size == (24, 32)
        data = dataset.read_all()
        assert data.images.shape == (4, 24, 32, 3)
        assert data.segmentation.shape == (4, 24, 32)
        assert data.resized == 1
        assert (data.images[3] == 200).all()
        assert (data.segmentation[3] == 2).all()
        batches = list(dataset.iter_batches(batch_size=2))
        assert [b.resized for b in batches] == [0, 1]
        assert len(dataset.read_all(images=False).ids) == 4  # the same frames with or without images
        summary = dataset.export_npz(tmp_path / 'out.npz')
    assert (summary.frames, summary.resized) == (4, 1)
    assert np.load(tmp_path / 'out.npz', allow_pickle=False)['images'].shape == (4, 24, 32, 3)


def test_one_writer_at_a_time_and_readers_go_on(tmp_path, robot_config):
    path = tmp_path / 'd.db'
    writer = DatasetWriter(path, robot_config)
    writer.append(_frame(0, robot_config))
    with pytest.raises(DatasetError, match=rf'another writer \(pid {os.getpid()}\) has it open'):
        DatasetWriter(path, robot_config)
    with Dataset(path) as reader:
        assert len(reader) == 1
        reader.store_embeddings('abc', np.array([1]), np.ones((1, 4), np.float32))  # the trainer's cache
        writer.append(_frame(1, robot_config))
        assert len(reader) == 2
        assert sorted(reader.cached_embeddings('abc', np.array([1, 2]))) == [1]
    writer.close()
    with DatasetWriter(path, robot_config) as again:
        assert len(again) == 2


HOLDER = """
import sys
from selfsup_perception.core.config import load_config
from selfsup_perception.core.dataset import DatasetWriter
writer = DatasetWriter(sys.argv[1], load_config(sys.argv[2]))
print('ready', flush=True)
sys.stdin.read()
"""


def test_a_killed_writer_leaves_no_stale_lock(tmp_path, robot_config):
    path = tmp_path / 'd.db'
    proc = subprocess.Popen([sys.executable, '-c', HOLDER, str(path), str(ROOT / 'config/robot.yaml')],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == 'ready'
        with pytest.raises(DatasetError, match=rf'another writer \(pid {proc.pid}\)'):
            DatasetWriter(path, robot_config)
    finally:
        proc.kill()  # SIGKILL: no cleanup code runs
        proc.communicate()
    with DatasetWriter(path, robot_config) as writer:
        writer.append(_frame(0, robot_config))


def test_a_frame_is_never_stored_twice(tmp_path, robot_config):
    path = tmp_path / 'd.db'
    with DatasetWriter(path, robot_config) as writer:
        writer.append(_frame(0, robot_config))
        with pytest.raises(FrameRejectedError, match=r'a frame at stamp 0.0 \(segment 0\) is already stored') as caught:
            writer.append(_frame(0, robot_config))
        assert caught.value.kind == 'duplicate'
        writer.append(dataclasses.replace(_frame(0, robot_config), segment=1))  # after a time reset
        writer.append(_frame(1, robot_config))
        assert len(writer) == 3


def test_an_older_dataset_with_frames_stored_twice_stays_openable(tmp_path, robot_config):
    path = tmp_path / 'd.db'
    with DatasetWriter(path, robot_config, image_format='png') as writer:
        for i in range(3):
            writer.append(_frame(i, robot_config))
        writer.store_embeddings('abc', np.array([1, 2, 3]), np.ones((3, 4), np.float32))
    db = sqlite3.connect(path)
    db.execute('DROP INDEX frames_segment_stamp')  # as older versions made it
    db.commit()
    db.close()
    for i in range(3):
        _store_raw(path, _frame(i, robot_config))  # a second labeler stored every frame again
    with Dataset(path) as reader:
        assert len(reader) == 6
    with DatasetWriter(path, robot_config) as writer:
        assert writer.duplicates_removed == 3
        assert [int(i) for i in writer.read_all(images=False).ids] == [1, 2, 3]
        assert sorted(writer.cached_embeddings('abc', np.arange(1, 7))) == [1, 2, 3]
        with pytest.raises(FrameRejectedError):
            writer.append(_frame(1, robot_config))
    with DatasetWriter(path, robot_config) as writer:
        assert writer.duplicates_removed == 0


def test_readers_never_create_or_change_a_file(tmp_path, robot_config):
    empty = tmp_path / 'empty.db'
    empty.touch()
    with pytest.raises(DatasetError, match='empty.db: not a readable dataset'):
        Dataset(empty)
    assert empty.stat().st_size == 0
    with pytest.raises(DatasetError, match='missing.db: no such dataset'):
        Dataset(tmp_path / 'missing.db')
    assert not (tmp_path / 'missing.db').exists()
    path = tmp_path / 'd.db'
    with DatasetWriter(path, robot_config) as writer:
        writer.append(_frame(0, robot_config))
    before = _digest(path)
    with Dataset(path) as reader:
        reader.read_all()
        reader.export_npz(tmp_path / 'out.npz')
    assert _digest(path) == before


@pytest.mark.parametrize(('key', 'value', 'message'), [
    ('config', None, r'not a dataset this package wrote \(no labeling config, meta.config\)'),
    ('config', '{"distances": [0.1]}', r'its labeling config \(meta.config\) is unreadable'),
    ('schema_version', 'abc', r"schema version 'abc', this code reads \[1, 2\]"),
    ('schema_version', None, 'not a dataset'),
])
def test_bad_metadata_is_one_clear_error(tmp_path, robot_config, key, value, message):
    path = tmp_path / 'd.db'
    DatasetWriter(path, robot_config).close()
    db = sqlite3.connect(path)
    if value is None:
        db.execute('DELETE FROM meta WHERE key = ?', (key,))
    else:
        db.execute('UPDATE meta SET value = ? WHERE key = ?', (value, key))
    db.commit()
    db.close()
    with pytest.raises(DatasetError, match=message):
        Dataset(path)


def test_writer_refuses_files_that_are_not_datasets_and_leaves_them_alone(tmp_path, robot_config):
    text = tmp_path / 'notes.txt'
    text.write_text('not a dataset\n' * 50)
    other = tmp_path / 'other.db3'
    db = sqlite3.connect(other)
    db.execute('CREATE TABLE messages (id INTEGER PRIMARY KEY, data BLOB)')
    db.commit()
    db.close()
    for path, message in ((text, 'not a readable dataset'), (other, r"an SQLite file but not a dataset \(tables: \['messages'\]\)")):
        before = _digest(path)
        with pytest.raises(DatasetError, match=message):
            DatasetWriter(path, robot_config)
        assert _digest(path) == before
        DatasetWriter(tmp_path / 'fine.db', robot_config).close()  # the failed writer's lock was released
    with pytest.raises(DatasetError, match='not a dataset file'):
        DatasetWriter(tmp_path, robot_config)


def test_export_keeps_existing_files_and_leaves_no_temporary(tmp_path, robot_config):
    with DatasetWriter(tmp_path / 'd.db', robot_config) as writer:
        writer.append(_frame(0, robot_config))
    out = tmp_path / 'out.npz'
    out.write_bytes(b'keep me')
    with Dataset(tmp_path / 'd.db') as dataset:
        with pytest.raises(DatasetError, match=rf'^{out}: already exists, not overwritten$'):
            dataset.export_npz(out)
        assert out.read_bytes() == b'keep me'
        assert dataset.export_npz(out, overwrite=True).frames == 1
        assert np.load(out, allow_pickle=False)['labels'].shape == (1, 21, 5)
        folder = tmp_path / 'a_folder.npz'
        folder.mkdir()
        with pytest.raises(DatasetError, match=rf'^{folder}: cannot write \(Is a directory\)$'):
            dataset.export_npz(folder, overwrite=True)
        with pytest.raises(DatasetError, match=rf'^{tmp_path}/nowhere/x.npz: cannot write'):
            dataset.export_npz(tmp_path / 'nowhere' / 'x.npz')
    assert not list(tmp_path.rglob('*.tmp.npz'))


def _pixel_frame(i: int, config, with_labels: bool = True) -> FrameRecord:
    labels = np.random.default_rng(100 + i).choice(np.array([0, 1, 255], np.uint8), (24, 32))
    return dataclasses.replace(_frame(i, config), pixel_labels=labels if with_labels else None)


def test_pixel_labels_round_trip_and_export(tmp_path, robot_config):
    frames = [_pixel_frame(0, robot_config), _pixel_frame(1, robot_config, with_labels=False),
              _pixel_frame(2, robot_config)]
    pixels = PixelLabelConfig(camera_mount_x=0.032)
    with DatasetWriter(tmp_path / 'd.db', robot_config, image_format='png', pixel_config=pixels) as writer:
        for frame in frames:
            writer.append(frame)
        with pytest.raises(DatasetError, match='pixel labels of 2x2 for an image of 32x24'):
            writer.append(dataclasses.replace(frames[0], pixel_labels=np.zeros((2, 2), np.uint8)))
        writer.export_npz(tmp_path / 'out.npz', images=False)
    with Dataset(tmp_path / 'd.db') as dataset:
        assert dataset.schema_version == 2
        assert dataset.pixel_config is not None
        assert dataset.pixel_config['camera_mount_x'] == 0.032
        data = dataset.read_all()
        batches = list(dataset.iter_batches(batch_size=1, images=False))
    np.testing.assert_array_equal(data.pixel_labels[0], frames[0].pixel_labels)
    assert (data.pixel_labels[1] == 255).all()
    np.testing.assert_array_equal(data.pixel_labels[2], frames[2].pixel_labels)
    assert batches[1].pixel_labels is None  # a batch with no pixel labels at all
    exported = np.load(tmp_path / 'out.npz', allow_pickle=False)
    np.testing.assert_array_equal(exported['pixel_labels'], data.pixel_labels)
    other = PixelLabelConfig(obstacle_face_height=0.2)
    with pytest.raises(DatasetError, match='another pixel_labels config'):
        DatasetWriter(tmp_path / 'd.db', robot_config, pixel_config=other)
    DatasetWriter(tmp_path / 'd.db', robot_config).close()  # without pixel labels: fine


#: The frames table as schema version 1 wrote it (before pixel labels).
V1_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE frames (
    id INTEGER PRIMARY KEY, stamp REAL NOT NULL, segment INTEGER NOT NULL, x REAL, y REAL, yaw REAL,
    image_format TEXT NOT NULL, image BLOB NOT NULL, labels BLOB NOT NULL, ground_truth BLOB, segmentation BLOB
);
CREATE INDEX frames_stamp ON frames (stamp);
CREATE TABLE embeddings (
    frame_id INTEGER NOT NULL REFERENCES frames (id), model_sha256 TEXT NOT NULL, vector BLOB NOT NULL,
    PRIMARY KEY (model_sha256, frame_id)
);
"""


def _version_1_file(path: Path, config, frames: int = 3) -> None:
    db = sqlite3.connect(path)
    db.execute('PRAGMA journal_mode=WAL')
    db.executescript(V1_SCHEMA)
    meta = {'schema_version': '1', 'config': json.dumps(config.to_dict()), 'image_format': 'png',
            'created': '2026-11-01T00:00:00Z'}
    db.executemany('INSERT INTO meta VALUES (?, ?)', meta.items())
    for i in range(frames):
        frame = _frame(i, config)
        db.execute('INSERT INTO frames (stamp, segment, x, y, yaw, image_format, image, labels) '
                   'VALUES (?, 0, ?, ?, ?, ?, ?, ?)',
                   (frame.stamp, *frame.pose, 'png', encode_image(frame.image, 'png'), frame.labels.tobytes()))
    db.commit()
    db.close()


def _file_version(path: Path) -> tuple[str, bool]:
    """(stored schema version, whether frames has the pixel_labels column), read with plain sqlite3."""
    db = sqlite3.connect(path)
    try:
        assert db.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'
        version = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        columns = {row[1] for row in db.execute('PRAGMA table_info(frames)')}
    finally:
        db.close()
    return version, 'pixel_labels' in columns


def test_version_1_is_read_as_is_and_migrated_only_by_the_writer(tmp_path, robot_config):
    path = tmp_path / 'v1.db'
    _version_1_file(path, robot_config)
    with Dataset(path) as reader:
        assert reader.schema_version == 1
        data = reader.read_all()
        assert data.pixel_labels is None
        assert len(data.ids) == 3
        reader.export_npz(tmp_path / 'v1.npz')
    assert 'pixel_labels' not in np.load(tmp_path / 'v1.npz', allow_pickle=False)
    assert _file_version(path) == ('1', False)  # reading never migrates
    early_reader = Dataset(path)  # opened on version 1, stays usable across the migration
    with DatasetWriter(path, robot_config, image_format='png') as writer:
        assert writer.schema_version == 2
        writer.append(_pixel_frame(3, robot_config))
    assert _file_version(path) == ('2', True)
    assert [int(i) for b in early_reader.iter_batches(images=False) for i in b.ids] == [1, 2, 3, 4]
    early_reader.close()
    with Dataset(path) as dataset:
        data = dataset.read_all()
    np.testing.assert_array_equal(data.images[0], _frame(0, robot_config).image)  # old frames kept
    assert (data.pixel_labels[:3] == 255).all()
    np.testing.assert_array_equal(data.pixel_labels[3], _pixel_frame(3, robot_config).pixel_labels)


def test_a_newer_schema_is_refused(tmp_path, robot_config):
    path = tmp_path / 'v9.db'
    _version_1_file(path, robot_config)
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '9' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    for opener in (lambda: Dataset(path), lambda: DatasetWriter(path, robot_config)):
        with pytest.raises(DatasetError, match="schema version '9'"):
            opener()


MIGRATOR = """
import sys, time
from selfsup_perception.core import dataset
from selfsup_perception.core.config import load_config
original = dataset.MIGRATIONS[1]
def slow(db):
    original(db)
    print('migrating', flush=True)
    time.sleep(float(sys.argv[3]))  # killed here: after the change, before the commit
dataset.MIGRATIONS[1] = slow
dataset.DatasetWriter(sys.argv[1], load_config(sys.argv[2])).close()
print('done', flush=True)
"""


def _migrate_in_subprocess(path: Path, pause: float) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, '-c', MIGRATOR, str(path), str(ROOT / 'config/robot.yaml'), str(pause)],
                            stdout=subprocess.PIPE, text=True, env={**os.environ})


@pytest.mark.slow
def test_kill_9_mid_migration_leaves_version_1_or_2(tmp_path, robot_config):
    # Killed inside the migration's transaction: the file is still version 1, whole.
    path = tmp_path / 'd.db'
    _version_1_file(path, robot_config, frames=50)
    proc = _migrate_in_subprocess(path, 60.0)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == 'migrating'
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert _file_version(path) == ('1', False)
    # Killed at random moments around the migration: version 1 or 2, never half.
    rng = np.random.default_rng(0)
    for attempt in range(8):
        copy = tmp_path / f'copy{attempt}.db'
        _version_1_file(copy, robot_config, frames=50)
        proc = _migrate_in_subprocess(copy, float(rng.uniform(0.0, 0.05)))
        time.sleep(float(rng.uniform(0.0, 1.5)))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert _file_version(copy) in {('1', False), ('2', True)}
        with DatasetWriter(copy, robot_config) as writer:  # and the next writer finishes the job
            assert len(writer) == 50
            assert writer.schema_version == 2
