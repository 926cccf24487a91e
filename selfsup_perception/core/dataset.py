"""The training dataset: one SQLite file (WAL, versioned schema, one transaction per frame).

A robot can lose power at any moment and keep every committed frame; the labeler writes while the
trainer and the CLI read. Frames keep their image encoded (JPEG or PNG), stamp, pose, labels
(int8 per distance x sensor, -1 unknown), pixel labels (PNG, image size, 0 floor / 1 obstacle / 255
unknown; schema 2) and, from the simulator, the ground truth. The labeling config (and the pixel labels'
config) is stored in the file, so a dataset always says how it was labelled.

Schema versions: 1 had no pixel labels; 2 adds the ``pixel_labels`` column. Only a writer migrates: opening
a version-1 file with ``DatasetWriter`` upgrades it in place in one transaction (the column and the version
number together, so a crash leaves version 1 or 2, never half). ``Dataset`` (read-only use) opens either
version and never changes the file: on version 1 it reports no pixel labels; a reader opened before a
migration keeps reading the old columns until it is reopened.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import LabelingConfig, PixelLabelConfig
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


class DatasetError(RuntimeError):
    """The dataset file is missing, of another schema version, or labelled differently."""


def _add_pixel_labels(db: sqlite3.Connection) -> None:
    """Version 1 -> 2: frames get a ``pixel_labels`` column (NULL for the frames already stored)."""
    db.execute('ALTER TABLE frames ADD COLUMN pixel_labels BLOB')


#: Migrations by the version they upgrade from; each runs inside the writer's opening transaction.
MIGRATIONS = {1: _add_pixel_labels}


def _migrate(db: sqlite3.Connection, version: int) -> None:
    """Upgrade an open transaction's file from ``version`` to SCHEMA_VERSION (the caller commits)."""
    while version < SCHEMA_VERSION:
        MIGRATIONS[version](db)
        version += 1
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))


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


def _stack_pixel_labels(parts: list[np.ndarray | None], counts: list[int]) -> np.ndarray | None:
    """Stack per-frame (or per-batch) pixel labels, filling the missing ones with 255; None if all missing."""
    shapes = {p.shape[-2:] for p in parts if p is not None}
    if not shapes:
        return None
    if len(shapes) > 1:
        raise DatasetError(f'frames have pixel labels of different sizes {sorted(shapes)}: read them in smaller parts')
    shape = shapes.pop()
    filled = [p.reshape(-1, *shape) if p is not None else np.full((n, *shape), UNKNOWN_PIXEL, np.uint8)
              for p, n in zip(parts, counts, strict=True)]
    return np.concatenate(filled)


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    # Nodes hand a connection between executor threads (one at a time), hence check_same_thread off.
    connection = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    connection.execute('PRAGMA journal_mode=WAL')
    connection.execute('PRAGMA synchronous=FULL')  # committed frames survive power loss too
    connection.execute('PRAGMA foreign_keys=ON')
    return connection


class Dataset:
    """Read (and, with ``DatasetWriter``, append to) a dataset file; safe alongside a writer."""

    def __init__(self, path: str | Path, timeout: float = 10.0) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DatasetError(f'{self.path}: no such dataset')
        try:
            self._db = _connect(self.path, timeout)
            meta = dict(self._db.execute('SELECT key, value FROM meta').fetchall())
        except sqlite3.DatabaseError as exc:
            raise DatasetError(f'{self.path}: not a readable dataset ({exc})') from exc
        version = int(meta.get('schema_version', -1))
        if version not in READABLE_VERSIONS:
            raise DatasetError(f'{self.path}: schema version {version}, this code reads {READABLE_VERSIONS}')
        self.schema_version = version
        self.config: dict[str, Any] = json.loads(meta['config'])
        self.pixel_config: dict[str, Any] | None = json.loads(meta['pixel_labels']) if 'pixel_labels' in meta \
            else None
        self.distances = np.asarray(self.config['distances'], dtype=np.float64)
        self.sensors: list[str] = [s['name'] for s in self.config['sensors']]
        self.image_format: str = meta['image_format']

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Dataset:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __len__(self) -> int:
        return int(self._db.execute('SELECT COUNT(*) FROM frames').fetchone()[0])

    def last_id(self) -> int:
        return int(self._db.execute('SELECT COALESCE(MAX(id), 0) FROM frames').fetchone()[0])

    def iter_batches(
        self,
        batch_size: int = 256,
        after_id: int = 0,
        images: bool = True,
        extras: bool = True,
        pixel_labels: bool = True,
    ) -> Iterator[FrameBatch]:
        """Frames with id > ``after_id`` in id (= arrival) order, ``batch_size`` at a time.

        Each batch is one read transaction, so frames committed meanwhile show up in later batches.
        """
        shape = (self.distances.size, len(self.sensors))
        pixel_labels = pixel_labels and self.schema_version >= 2
        columns = 'id, stamp, segment, x, y, yaw, labels'
        if images:
            columns += ', image'
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
            labels = np.stack([np.frombuffer(r[6], np.int8).reshape(shape) for r in rows])
            gt = seg = None
            if extras and all(r[-2] is not None for r in rows):
                gt = np.stack([np.frombuffer(r[-2], np.uint8).reshape(shape) for r in rows])
            if extras and all(r[-1] is not None for r in rows):
                seg = np.stack([decode_image(r[-1], grayscale=True) for r in rows])
            pixels = None
            if pixel_labels:
                column = 8 if images else 7
                pixels = _stack_pixel_labels(
                    [None if r[column] is None else decode_image(r[column], grayscale=True) for r in rows],
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
                images=np.stack([decode_image(r[7]) for r in rows]) if images else None,
                ground_truth=gt,
                segmentation=seg,
                pixel_labels=pixels,
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

        return FrameBatch(**{name: cat(name) for name in FrameBatch.__dataclass_fields__})  # type: ignore[arg-type]

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
        with self._transaction():
            self._db.executemany(
                'INSERT OR REPLACE INTO embeddings (frame_id, model_sha256, vector) VALUES (?, ?, ?)', rows
            )

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def export_npz(self, out: str | Path, images: bool = True) -> int:
        """Write the numpy view of the dataset (see README, 'Dataset export'); returns frames."""
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
        out = Path(out)
        tmp = out.with_name(out.name + '.tmp.npz')
        np.savez_compressed(tmp, **arrays)
        tmp.replace(out)
        return int(data.ids.size)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute('BEGIN IMMEDIATE')
        return self._db

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        self._db.execute('ROLLBACK' if exc_type else 'COMMIT')


class DatasetWriter(Dataset):
    """Appends frames, one transaction each; creates the file or reopens one labelled alike (migrating an
    older schema in place). With ``pixel_config`` the pixel labels' config is stored, and a file whose
    pixel labels were made with another one is refused."""

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
        path.parent.mkdir(parents=True, exist_ok=True)
        db = _connect(path, timeout)
        try:
            with _Transaction(db):
                for statement in _SCHEMA.split(';'):
                    if statement.strip():
                        db.execute(statement)
                stored = dict(db.execute('SELECT key, value FROM meta').fetchall())
                if not stored:
                    meta = {
                        'schema_version': str(SCHEMA_VERSION),
                        'config': json.dumps(config.to_dict()),
                        'image_format': image_format,
                        'created': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                    }
                    db.executemany('INSERT INTO meta (key, value) VALUES (?, ?)', meta.items())
                elif stored.get('schema_version', '').isdigit() and int(stored['schema_version']) in MIGRATIONS:
                    _migrate(db, int(stored['schema_version']))
                if pixel_config is not None and 'pixel_labels' not in stored:
                    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('pixel_labels', ?)",
                               (json.dumps(pixel_config.to_dict()),))
        except sqlite3.DatabaseError as exc:
            raise DatasetError(f'{path}: not a writable dataset ({exc})') from exc
        finally:
            db.close()
        super().__init__(path, timeout)
        stored_config = self.config
        wanted = config.to_dict()
        for key in ('distances', 'sensors'):
            if stored_config[key] != wanted[key]:
                raise DatasetError(
                    f'{path}: was labelled with other {key} ({stored_config[key]}); '
                    f'use a new dataset file for this config'
                )
        if pixel_config is not None and self.pixel_config != json.loads(json.dumps(pixel_config.to_dict())):
            raise DatasetError(
                f'{path}: its pixel labels were made with another pixel_labels config ({self.pixel_config}); '
                f'use a new dataset file for this config'
            )
        self.jpeg_quality = jpeg_quality

    def append(self, frame: FrameRecord) -> int:
        """Store one frame in its own transaction; returns its id once committed."""
        expected = (self.distances.size, len(self.sensors))
        if frame.labels.shape != expected:
            raise DatasetError(f'labels shape {frame.labels.shape}, expected {expected}')
        image = encode_image(frame.image, self.image_format, self.jpeg_quality)
        gt = None
        if frame.ground_truth is not None:
            gt = np.ascontiguousarray(frame.ground_truth, np.uint8).reshape(expected).tobytes()
        seg = None if frame.segmentation is None else encode_image(frame.segmentation, 'png')
        pixels = None
        if frame.pixel_labels is not None:
            if frame.pixel_labels.shape != frame.image.shape[:2]:
                raise DatasetError(f'pixel labels shape {frame.pixel_labels.shape}, expected the image\'s '
                                   f'{frame.image.shape[:2]}')
            pixels = encode_image(np.ascontiguousarray(frame.pixel_labels, np.uint8), 'png')
        x, y, yaw = frame.pose if frame.pose is not None else (None, None, None)
        with self._transaction() as db:
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
        return int(cursor.lastrowid or 0)
