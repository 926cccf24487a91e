"""The training dataset: one SQLite file (WAL, versioned schema, one transaction per frame).

A robot can lose power at any moment and keep every committed frame; one writer (the labeler or
``bag2dataset``, held to one by a lock) appends while the trainer and the CLI read. Readers open the
file read-only and never create or change it (the embedding cache aside, written on its own connection).
Frames keep their image encoded (JPEG or PNG), stamp, pose, labels (int8 per distance x sensor,
-1 unknown) and, from the simulator, the ground truth. The labeling config is stored in the file, so a
dataset always says how it was labelled. A dataset holds one image size (its first frame's) and one
frame per (segment, stamp); readers resize frames of other sizes that older versions stored.
Frames may also keep pixel labels (schema 2: a PNG of the image's size, 0 floor / 1 obstacle / 255
unknown; ``core.pixel_labels``), with the pixel labels' config in the file.

Schema versions: 1 had no pixel labels; 2 adds the ``pixel_labels`` column. Only a writer migrates: opening
a version-1 file with ``DatasetWriter`` upgrades it in place in one transaction (the column and the version
number together, so a crash leaves version 1 or 2, never half). ``Dataset`` (read-only) opens either
version and never changes the file: on version 1 it reports no pixel labels.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .config import LabelingConfig, PixelLabelConfig
from .errors import InputError
from .images import decode_image, encode_image

SCHEMA_VERSION = 2
#: Versions this code reads (older ones are migrated by the writer).
READABLE_VERSIONS = (1, 2)
#: The value of an unknown pixel in ``pixel_labels`` (core.pixel_labels.UNKNOWN).
UNKNOWN_PIXEL = 255
IMAGE_FORMATS = ('jpeg', 'png')

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS frames (
    id INTEGER PRIMARY KEY,
    stamp REAL NOT NULL,
    segment INTEGER NOT NULL,
    x REAL, y REAL, yaw REAL,
    image_format TEXT NOT NULL,
    image BLOB NOT NULL,
    labels BLOB NOT NULL,
    ground_truth BLOB,
    segmentation BLOB,
    pixel_labels BLOB
);
CREATE INDEX IF NOT EXISTS frames_stamp ON frames (stamp);
CREATE TABLE IF NOT EXISTS embeddings (
    frame_id INTEGER NOT NULL REFERENCES frames (id),
    model_sha256 TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (model_sha256, frame_id)
);
"""
# One frame per (segment, stamp). Older files lack the index: the writer adds it, keeping the first copy of
# any frame stored twice (two writers at once), so those files stay openable.
_UNIQUE_FRAMES = 'frames_segment_stamp'


def _add_pixel_labels(db: sqlite3.Connection) -> None:
    """Version 1 -> 2: frames get a ``pixel_labels`` column (NULL for the frames already stored)."""
    db.execute('ALTER TABLE frames ADD COLUMN pixel_labels BLOB')


#: Migrations by the version they upgrade from; each runs inside the writer's opening transaction.
MIGRATIONS = {1: _add_pixel_labels}


class DatasetError(InputError, RuntimeError):
    """The dataset file is missing, of another schema version, or labelled differently."""


class FrameRejectedError(DatasetError):
    """One frame the dataset refuses (``kind``: ``image_size`` or ``duplicate``); the writer stays usable."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class FrameRecord:
    """One frame to store: RGB image (H, W, 3) uint8, labels (K, S) int8 (-1 unknown)."""

    stamp: float
    image: np.ndarray
    labels: np.ndarray
    pose: tuple[float, float, float] | None = None
    segment: int = 0
    ground_truth: np.ndarray | None = None
    segmentation: np.ndarray | None = None
    pixel_labels: np.ndarray | None = None


@dataclass
class FrameBatch:
    """A batch read back: ``labels``/``mask`` (B, K, S); ``images`` (B, H, W, 3) when requested;
    ``pixel_labels`` (B, H, W) uint8 when any frame has them (255 for the frames that have none)."""

    ids: np.ndarray
    stamps: np.ndarray
    poses: np.ndarray
    segments: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    images: np.ndarray | None
    ground_truth: np.ndarray | None
    segmentation: np.ndarray | None
    pixel_labels: np.ndarray | None = None
    resized: int = 0  # frames of another image size than the dataset's, resized to it


@dataclass(frozen=True)
class ExportSummary:
    """What ``export_npz`` wrote: frames, and how many of them were resized to the dataset's image size."""

    frames: int
    resized: int


def _connect(path: Path, timeout: float, mode: str) -> sqlite3.Connection:
    """A connection in ``mode`` ``ro`` (never creates or changes the file), ``rw`` or ``rwc`` (may create)."""
    # Nodes hand a connection between executor threads (one at a time), hence check_same_thread off.
    uri = f'{path.resolve().as_uri()}?mode={mode}'
    connection = sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)
    if mode != 'ro':
        connection.execute('PRAGMA synchronous=FULL')  # committed frames survive power loss too
        connection.execute('PRAGMA foreign_keys=ON')
    return connection


def _size_text(size: tuple[int, int]) -> str:
    return f'{size[1]}x{size[0]}'


def _fit(image: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """``image`` at ``size`` (h, w): unchanged when it has it, else resized (area for photos, nearest for ids)."""
    if image.shape[:2] == size:
        return image
    return cv2.resize(image, (size[1], size[0]), interpolation=interpolation)


class Dataset:
    """Read a dataset file, read-only (it is never created or changed); safe alongside a writer."""

    def __init__(self, path: str | Path, timeout: float = 10.0) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DatasetError(f'{self.path}: no such dataset')
        if not self.path.is_file():
            raise DatasetError(f'{self.path}: not a dataset file (a folder or a device)')
        try:
            db = _connect(self.path, timeout, 'ro')
        except sqlite3.Error as exc:
            raise DatasetError(f'{self.path}: cannot open ({exc})') from exc
        self._attach(db, timeout)

    def _attach(self, db: sqlite3.Connection, timeout: float) -> None:
        """Keep ``db`` as the reading connection and load the metadata (``db`` is closed if they are bad)."""
        self._db = db
        self._timeout = timeout
        self._cache_db: sqlite3.Connection | None = None
        self._image_size: tuple[int, int] | None = None
        try:
            meta = dict(db.execute('SELECT key, value FROM meta').fetchall())
            self.config, self.distances, self.sensors, self.image_format = _metadata(self.path, meta)
            self.schema_version = _schema_version(self.path, meta)
            self.pixel_config: dict[str, Any] | None = json.loads(meta['pixel_labels']) \
                if 'pixel_labels' in meta else None
        except sqlite3.DatabaseError as exc:
            db.close()
            raise DatasetError(f'{self.path}: not a readable dataset ({exc})') from exc
        except DatasetError:
            db.close()
            raise

    def close(self) -> None:
        if self._cache_db is not None and self._cache_db is not self._db:
            self._cache_db.close()
        self._db.close()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self._db.execute('SELECT COUNT(*) FROM frames').fetchone()[0])

    def last_id(self) -> int:
        return int(self._db.execute('SELECT COALESCE(MAX(id), 0) FROM frames').fetchone()[0])

    @property
    def image_size(self) -> tuple[int, int] | None:
        """(height, width) of the dataset's images: recorded by the writer, else the first frame's; None if empty."""
        if self._image_size is None:
            row = self._db.execute("SELECT value FROM meta WHERE key = 'image_size'").fetchone()
            if row is not None:
                height, width = json.loads(row[0])
                self._image_size = (int(height), int(width))
            else:
                first = self._db.execute('SELECT image FROM frames ORDER BY id LIMIT 1').fetchone()
                if first is not None:
                    height, width = decode_image(first[0]).shape[:2]
                    self._image_size = (int(height), int(width))
        return self._image_size

    def iter_batches(
        self, batch_size: int = 256, after_id: int = 0, images: bool = True, extras: bool = True,
        pixel_labels: bool = True,
    ) -> Iterator[FrameBatch]:
        """Frames with id > ``after_id`` in id (= arrival) order, ``batch_size`` at a time.

        Each batch is one read transaction, so frames committed meanwhile show up in later batches.
        Images and segmentations of another size than ``image_size`` (stored by older versions) are
        resized to it; ``FrameBatch.resized`` counts those frames.
        """
        shape = (self.distances.size, len(self.sensors))
        columns = 'id, stamp, segment, x, y, yaw, labels'
        if images:
            columns += ', image'
        pixel_labels = pixel_labels and self.schema_version >= 2
        if pixel_labels:
            columns += ', pixel_labels'
        if extras:
            columns += ', ground_truth, segmentation'
        last = after_id
        while True:
            rows = self._db.execute(
                f'SELECT {columns} FROM frames WHERE id > ? ORDER BY id LIMIT ?',
                (last, batch_size),
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            size = self.image_size if images or extras else None
            odd = np.zeros(len(rows), bool)
            labels = np.stack([np.frombuffer(r[6], np.int8).reshape(shape) for r in rows])
            gt = seg = pixels = None
            if extras and all(r[-2] is not None for r in rows):
                gt = np.stack([np.frombuffer(r[-2], np.uint8).reshape(shape) for r in rows])
            if extras and all(r[-1] is not None for r in rows):
                masks = [decode_image(r[-1], grayscale=True) for r in rows]
                odd |= [m.shape[:2] != size for m in masks]
                seg = np.stack([_fit(m, size, cv2.INTER_NEAREST) for m in masks]) if size else None
            if images:
                decoded = [decode_image(r[7]) for r in rows]
                odd |= [im.shape[:2] != size for im in decoded]
                pixels = np.stack([_fit(im, size, cv2.INTER_AREA) for im in decoded]) if size else None
            pixel_maps = None
            if pixel_labels:
                column = 8 if images else 7
                pixel_maps = _stack_pixel_labels(
                    [None if r[column] is None else _fit(decode_image(r[column], grayscale=True), size,
                                                         cv2.INTER_NEAREST) if size else
                     decode_image(r[column], grayscale=True) for r in rows],
                    [1] * len(rows),
                )
            yield FrameBatch(
                ids=np.array([r[0] for r in rows], dtype=np.int64),
                stamps=np.array([r[1] for r in rows], dtype=np.float64),
                segments=np.array([r[2] for r in rows], dtype=np.int64),
                poses=np.array(
                    [
                        (
                            np.nan if r[3] is None else r[3],
                            np.nan if r[4] is None else r[4],
                            np.nan if r[5] is None else r[5],
                        )
                        for r in rows
                    ],
                    dtype=np.float64,
                ),
                labels=np.maximum(labels, 0).astype(np.uint8),
                mask=labels >= 0,
                images=pixels,
                ground_truth=gt,
                segmentation=seg,
                pixel_labels=pixel_maps,
                resized=int(odd.sum()),
            )

    def read_all(self, images: bool = True) -> FrameBatch:
        """Every frame in one batch (for export and training on a workstation)."""
        batches = list(self.iter_batches(4096, images=images))
        if not batches:
            k, s = self.distances.size, len(self.sensors)
            empty = np.zeros((0, k, s))
            return FrameBatch(
                np.zeros(0, np.int64),
                np.zeros(0),
                np.zeros((0, 3)),
                np.zeros(0, np.int64),
                empty.astype(np.uint8),
                empty.astype(bool),
                None,
                None,
                None,
            )

        def cat(name: str) -> np.ndarray | None:
            parts = [getattr(b, name) for b in batches]
            if name == 'pixel_labels':
                return _stack_pixel_labels(parts, [b.ids.size for b in batches])
            return None if any(p is None for p in parts) else np.concatenate(parts)

        arrays = {name: cat(name) for name in FrameBatch.__dataclass_fields__ if name != 'resized'}
        return FrameBatch(**arrays, resized=sum(b.resized for b in batches))  # type: ignore[arg-type]

    # -- embedding cache (keyed by the embedding model's sha256) ----------------------------------
    def cached_embeddings(self, model_sha256: str, ids: np.ndarray) -> dict[int, np.ndarray]:
        found: dict[int, np.ndarray] = {}
        for start in range(0, len(ids), 500):
            chunk = [int(i) for i in ids[start : start + 500]]
            marks = ','.join('?' * len(chunk))
            rows = self._db.execute(
                f'SELECT frame_id, vector FROM embeddings WHERE model_sha256 = ? AND frame_id IN ({marks})',
                (model_sha256, *chunk),
            ).fetchall()
            found.update({int(r[0]): np.frombuffer(r[1], np.float32) for r in rows})
        return found

    def store_embeddings(self, model_sha256: str, ids: np.ndarray, vectors: np.ndarray) -> None:
        rows = [
            (int(i), model_sha256, np.ascontiguousarray(v, np.float32).tobytes())
            for i, v in zip(ids, vectors, strict=True)
        ]
        with _Transaction(self._cache_connection()) as db:
            db.executemany(
                'INSERT OR REPLACE INTO embeddings (frame_id, model_sha256, vector) VALUES (?, ?, ?)', rows
            )

    def _cache_connection(self) -> sqlite3.Connection:
        """The connection that writes the embedding cache, opened on first use (reading changes nothing)."""
        if self._cache_db is None:
            try:
                self._cache_db = _connect(self.path, self._timeout, 'rw')
            except sqlite3.Error as exc:
                raise DatasetError(f'{self.path}: cannot write the embedding cache ({exc})') from exc
        return self._cache_db

    def export_npz(self, out: str | Path, images: bool = True, overwrite: bool = False) -> ExportSummary:
        """Write the numpy view of the dataset (see README, 'Dataset export') through a temporary file.

        An existing ``out`` is kept unless ``overwrite``; on any failure ``out`` is untouched and the
        temporary file removed. Errors name ``out``.
        """
        out = Path(out)
        if out.exists() and not overwrite:
            raise DatasetError(f'{out}: already exists, not overwritten')
        data = self.read_all(images=images)
        arrays: dict[str, np.ndarray] = {
            'stamps': data.stamps,
            'poses': data.poses,
            'labels': data.labels,
            'mask': data.mask,
            'distances': self.distances,
            'sensors': np.asarray(self.sensors, dtype=np.str_),
        }
        if data.images is not None:
            arrays['images'] = data.images
        if data.ground_truth is not None:
            arrays['ground_truth'] = data.ground_truth
        if data.segmentation is not None:
            arrays['segmentation'] = data.segmentation
        if data.pixel_labels is not None:
            arrays['pixel_labels'] = data.pixel_labels
        tmp = out.with_name(f'.{out.name}.{os.getpid()}.tmp.npz')
        try:
            with open(tmp, 'wb') as stream:
                np.savez_compressed(stream, allow_pickle=False, **arrays)
            os.replace(tmp, out)
        except OSError as exc:
            raise DatasetError(f'{out}: cannot write ({exc.strerror or exc})') from exc
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        return ExportSummary(int(data.ids.size), data.resized)


def _schema_version(path: Path, meta: dict[str, str]) -> int:
    """The dataset's schema version, checked to be one this code reads."""
    version = meta.get('schema_version')
    if version is None:
        raise DatasetError(f'{path}: not a dataset (its meta table has no schema_version)')
    if not version.isdigit() or int(version) not in READABLE_VERSIONS:
        raise DatasetError(f'{path}: schema version {version!r}, this code reads {list(READABLE_VERSIONS)}')
    return int(version)


def _stack_pixel_labels(parts: list[np.ndarray | None], counts: list[int]) -> np.ndarray | None:
    """Stack per-frame (or per-batch) pixel labels, filling the missing ones with 255; None if all missing."""
    shapes = {p.shape[-2:] for p in parts if p is not None}
    if not shapes:
        return None
    if len(shapes) > 1:
        raise DatasetError(f'frames have pixel labels of different sizes {sorted(shapes)}')
    shape = shapes.pop()
    filled = [p.reshape(-1, *shape) if p is not None else np.full((n, *shape), UNKNOWN_PIXEL, np.uint8)
              for p, n in zip(parts, counts, strict=True)]
    return np.concatenate(filled)


def _metadata(path: Path, meta: dict[str, str]) -> tuple[dict[str, Any], np.ndarray, list[str], str]:
    """Check a dataset's meta table: (labeling config, distances, sensor names, image format)."""
    _schema_version(path, meta)
    if 'config' not in meta:
        raise DatasetError(f'{path}: not a dataset this package wrote (no labeling config, meta.config)')
    try:
        config = json.loads(meta['config'])
        distances = np.asarray(config['distances'], dtype=np.float64).reshape(-1)
        sensors = [str(sensor['name']) for sensor in config['sensors']]
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        raise DatasetError(f'{path}: its labeling config (meta.config) is unreadable ({exc!r})') from exc
    image_format = meta.get('image_format')
    if image_format not in IMAGE_FORMATS:
        raise DatasetError(f'{path}: meta.image_format is {image_format!r}, expected one of {IMAGE_FORMATS}')
    return config, distances, sensors, image_format


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute('BEGIN IMMEDIATE')
        return self._db

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self._db.execute('ROLLBACK' if exc_type else 'COMMIT')


class _WriterLock:
    """An exclusive ``flock`` on ``<dataset>.lock``, held for a writer's lifetime.

    The kernel drops it when the process ends, however it ends (kill -9 too), so no stale lock blocks
    the next writer. The file stays (removing it would let two writers lock different files); it holds
    the pid of the writer holding the lock, for the error message.
    """

    def __init__(self, dataset: Path) -> None:
        self.path = dataset.with_name(dataset.name + '.lock')
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise DatasetError(f'{dataset}: cannot create the writer lock {self.path} ({exc.strerror})') from exc
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            pid = os.pread(self._fd, 32, 0).decode(errors='replace').strip()
            os.close(self._fd)
            holder = f' (pid {pid})' if pid.isdigit() else ''
            raise DatasetError(
                f'{dataset}: another writer{holder} has it open; one labeler or bag2dataset per dataset file '
                f'(readers need no lock)'
            ) from exc
        except OSError as exc:
            os.close(self._fd)
            raise DatasetError(f'{dataset}: cannot lock {self.path} ({exc.strerror})') from exc
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f'{os.getpid()}\n'.encode(), 0)

    def release(self) -> None:
        if self._fd >= 0:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = -1


def _tables(db: sqlite3.Connection, kind: str = 'table') -> set[str]:
    return {row[0] for row in db.execute('SELECT name FROM sqlite_master WHERE type = ?', (kind,))}


def _prepare(path: Path, config: LabelingConfig, image_format: str, timeout: float,
             pixel_config: PixelLabelConfig | None = None) -> tuple[sqlite3.Connection, int]:
    """Open ``path`` for writing: a new (or empty) file gets the schema, a dataset its migrations.

    Returns the connection and how many frames stored twice by older versions were removed. A file
    that is not a dataset is refused before anything in it changes.
    """
    new = not path.exists() or path.stat().st_size == 0
    try:
        db = _connect(path, timeout, 'rwc')
    except sqlite3.OperationalError as exc:
        raise DatasetError(f'{path}: cannot open for writing ({exc})') from exc
    except sqlite3.DatabaseError as exc:
        raise DatasetError(f'{path}: not a readable dataset ({exc})') from exc
    try:
        if not new and not {'meta', 'frames'} <= _tables(db):
            raise DatasetError(f'{path}: an SQLite file but not a dataset (tables: {sorted(_tables(db))})')
        version = SCHEMA_VERSION
        if not new:
            version = _schema_version(path, dict(db.execute('SELECT key, value FROM meta').fetchall()))
        db.execute('PRAGMA journal_mode=WAL')
        removed = 0
        with _Transaction(db):
            while version < SCHEMA_VERSION:  # older files: migrated in this one transaction
                MIGRATIONS[version](db)
                version += 1
                db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
            for statement in _SCHEMA.split(';'):
                if statement.strip():
                    db.execute(statement)
            if _UNIQUE_FRAMES not in _tables(db, 'index'):
                first = 'SELECT MIN(id) FROM frames GROUP BY segment, stamp'
                db.execute(f'DELETE FROM embeddings WHERE frame_id NOT IN ({first})')
                removed = db.execute(f'DELETE FROM frames WHERE id NOT IN ({first})').rowcount
                db.execute(f'CREATE UNIQUE INDEX {_UNIQUE_FRAMES} ON frames (segment, stamp)')
            if new:
                meta = {
                    'schema_version': str(SCHEMA_VERSION),
                    'config': json.dumps(config.to_dict()),
                    'image_format': image_format,
                    'created': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                }
                db.executemany('INSERT INTO meta (key, value) VALUES (?, ?)', meta.items())
            if pixel_config is not None:
                db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('pixel_labels', ?)",
                           (json.dumps(pixel_config.to_dict()),))
    except sqlite3.DatabaseError as exc:
        db.close()
        raise DatasetError(f'{path}: not a readable dataset ({exc})') from exc
    except BaseException:
        db.close()
        raise
    return db, removed


class DatasetWriter(Dataset):
    """Appends frames, one transaction each; creates the file or reopens one labelled alike (migrating an
    older schema in place). With ``pixel_config`` the pixel labels' config is stored, and a file whose
    pixel labels were made with another one is refused.

    One writer per file (``_WriterLock``); readers go on meanwhile. ``duplicates_removed`` counts the
    frames an older version had stored twice, removed when the file was opened.
    """

    def __init__(
        self,
        path: str | Path,
        config: LabelingConfig,
        image_format: str = 'jpeg',
        jpeg_quality: int = 90,
        timeout: float = 10.0,
        pixel_config: PixelLabelConfig | None = None,
    ) -> None:
        if image_format not in IMAGE_FORMATS:
            raise DatasetError(f'image_format must be one of {IMAGE_FORMATS}, got {image_format!r}')
        path = Path(path)
        if path.exists() and not path.is_file():
            raise DatasetError(f'{path}: not a dataset file (a folder or a device)')
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatasetError(f'{path}: cannot create its folder ({exc.strerror})') from exc
        self.path = path
        self._lock = _WriterLock(path)
        try:
            db, self.duplicates_removed = _prepare(path, config, image_format, timeout, pixel_config)
            self._attach(db, timeout)
        except BaseException:
            self._lock.release()
            raise
        wanted = config.to_dict()
        for key in ('distances', 'sensors'):
            if self.config.get(key) != wanted[key]:
                self.close()
                raise DatasetError(
                    f'{path}: was labelled with other {key} ({self.config.get(key)}); '
                    f'use a new dataset file for this config'
                )
        if pixel_config is not None and self.pixel_config != json.loads(json.dumps(pixel_config.to_dict())):
            self.close()
            raise DatasetError(f'{path}: its pixel labels were made with another pixel_labels config '
                               f'({self.pixel_config}); use a new dataset file for this config')
        self.jpeg_quality = jpeg_quality

    def close(self) -> None:
        super().close()
        self._lock.release()

    def _cache_connection(self) -> sqlite3.Connection:
        return self._db

    def append(self, frame: FrameRecord) -> int:
        """Store one frame in its own transaction; returns its id once committed.

        Raises ``FrameRejectedError`` for a frame of another image size than the dataset's first frame, or
        one whose (segment, stamp) is already stored; the writer stays usable.
        """
        expected = (self.distances.size, len(self.sensors))
        if frame.labels.shape != expected:
            raise DatasetError(f'labels shape {frame.labels.shape}, expected {expected}')
        size = (int(frame.image.shape[0]), int(frame.image.shape[1]))
        known = self.image_size
        if known is not None and size != known:
            raise FrameRejectedError(
                'image_size',
                f'{self.path}: frame at stamp {frame.stamp}: image of {_size_text(size)} pixels, this dataset '
                f'holds {_size_text(known)} (its first frame\'s size; one image size per camera)',
            )
        if frame.segmentation is not None and frame.segmentation.shape[:2] != size:
            raise FrameRejectedError(
                'image_size',
                f'{self.path}: frame at stamp {frame.stamp}: segmentation of '
                f'{_size_text(frame.segmentation.shape[:2])} pixels for an image of {_size_text(size)}',
            )
        image = encode_image(frame.image, self.image_format, self.jpeg_quality)
        gt = None
        if frame.ground_truth is not None:
            gt = np.ascontiguousarray(frame.ground_truth, np.uint8).reshape(expected).tobytes()
        seg = None if frame.segmentation is None else encode_image(frame.segmentation, 'png')
        pixels = None
        if frame.pixel_labels is not None:
            if frame.pixel_labels.shape != size:
                raise FrameRejectedError('image_size', f'{self.path}: frame at stamp {frame.stamp}: pixel labels '
                                         f'of {_size_text(frame.pixel_labels.shape[:2])} for an image of '
                                         f'{_size_text(size)}')
            pixels = encode_image(np.ascontiguousarray(frame.pixel_labels, np.uint8), 'png')
        x, y, yaw = frame.pose if frame.pose is not None else (None, None, None)
        try:
            with _Transaction(self._db) as db:
                cursor = db.execute(
                    'INSERT INTO frames (stamp, segment, x, y, yaw, image_format, image, labels, ground_truth,'
                    ' segmentation, pixel_labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
                    (
                        frame.stamp,
                        frame.segment,
                        x,
                        y,
                        yaw,
                        self.image_format,
                        image,
                        np.ascontiguousarray(frame.labels, np.int8).tobytes(),
                        gt,
                        seg,
                        pixels,
                    ),
                )
                if known is None:
                    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('image_size', ?)",
                               (json.dumps(size),))
        except sqlite3.IntegrityError as exc:
            if 'UNIQUE' not in str(exc):
                raise DatasetError(f'{self.path}: cannot store the frame at stamp {frame.stamp} ({exc})') from exc
            raise FrameRejectedError(
                'duplicate',
                f'{self.path}: a frame at stamp {frame.stamp} (segment {frame.segment}) is already stored',
            ) from exc
        if known is None:
            self._image_size = size
        return int(cursor.lastrowid or 0)
