"""Training frames read from files one block at a time, never all of them: dataset files, npz shards, VOC, COCO.

A source knows the stamps of its frames (for the time-blocked split) without reading any image, and
reads the images and targets of given positions on demand, resized to the model's input size.
Targets are obstacle labels (``'labels'``: (K, S) float32, 1/0 where known, ``UNKNOWN_LABEL``
elsewhere) or class-id masks (``'segmentation'``: (h, w) uint8). Memory held by a read: one block,
i.e. ``SQLITE_BLOCK`` consecutive frames of a dataset file, a whole ``.npz`` (so keep exports to
shards of a few thousand frames), or ``FILE_BLOCK`` image files of a VOC folder or COCO set.
"""

from __future__ import annotations

import sys
import zipfile
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from selfsup_perception.core.dataset import Dataset, DatasetError
from selfsup_perception.core.npzfile import npz_headers
from selfsup_perception.core.segmentation import ClassList, resize_mask
from selfsup_perception.modelbuild.data import IMAGE_SUFFIXES, DataError, read_npz, resize_images, split_frames

TARGETS = ('labels', 'segmentation')
UNKNOWN_LABEL = -1.0
SQLITE_BLOCK = 256
FILE_BLOCK = 64
_VOC_DIRS = (('JPEGImages', 'SegmentationClass'), ('images', 'masks'))


def masked_targets(labels: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Pretraining targets: labels (0/1) where known, ``UNKNOWN_LABEL`` elsewhere, float32."""
    return np.where(np.asarray(mask, bool), np.asarray(labels, np.float32), np.float32(UNKNOWN_LABEL))


def spread(count: int, limit: int) -> np.ndarray:
    """Up to ``limit`` indices spread evenly over ``count`` items (calibration and BN images)."""
    return np.unique(np.linspace(0, count - 1, min(limit, count)).astype(int))


class FrameSource(ABC):
    """One file (or folder) of training frames; ``stamps`` order them in time, ``val`` (if the source
    names its validation frames, as VOC's ``val.txt`` does) marks the validation ones."""

    block = FILE_BLOCK

    def __init__(self, path: Path, target: str, classes: ClassList | None, stamps: np.ndarray,
                 val: np.ndarray | None = None) -> None:
        if target not in TARGETS:
            raise ValueError(f'target must be one of {TARGETS}, got {target!r}')
        if target == 'segmentation' and classes is None:
            raise ValueError('segmentation targets need the class list')
        if not len(stamps):
            raise DataError(f'{path}: no frames')
        self.path, self.target, self.classes = path, target, classes
        self.stamps, self.val = np.asarray(stamps, np.float64), val
        self.distances: tuple[float, ...] | None = None
        self.sensors: tuple[str, ...] | None = None
        self.label_shape: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.stamps)

    @abstractmethod
    def _read(self, positions: np.ndarray) -> tuple[np.ndarray | list[np.ndarray], np.ndarray | list[np.ndarray]]:
        """Images (H, W, 3) uint8 and raw targets (labels as ``masked_targets``, or masks) of sorted
        ``positions`` that lie in one block."""

    def blocks(self, positions: np.ndarray) -> list[np.ndarray]:
        """Sorted ``positions`` cut where they cross a block boundary (a block is read at once)."""
        positions = np.sort(np.asarray(positions, np.int64))
        if not len(positions):
            return []
        return np.split(positions, np.flatnonzero(np.diff(positions // self.block)) + 1)

    def read(self, positions: np.ndarray, size: tuple[int, int]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(image (h, w, 3) uint8, target) of each of ``positions``, block by block, in sorted order."""
        for block in self.blocks(positions):
            images, targets = self._read(block)
            for image, stored in zip(images, targets, strict=True):
                if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
                    raise DataError(f'{self.path}: images must be (H, W, 3) uint8, got {image.dtype} {image.shape}')
                target = stored
                if self.target == 'segmentation':
                    self._check_ids(stored)
                    target = resize_mask(np.asarray(stored, np.uint8), size)
                yield resize_images(image[None], size)[0], target

    def image_size(self) -> tuple[int, int]:
        """(height, width) of the first frame's image as stored."""
        images, _ = self._read(np.zeros(1, np.int64))
        return int(images[0].shape[0]), int(images[0].shape[1])

    def target_shape(self, size: tuple[int, int]) -> tuple[int, ...]:
        """Shape of one target at the model input ``size``: (K, S) labels or an (h, w) mask."""
        return tuple(size) if self.target == 'segmentation' else self.label_shape

    def check(self) -> None:
        """Read the first frame, so that a bad file fails when opened rather than mid-training."""
        next(self.read(np.zeros(1, np.int64), self.image_size()))

    def _check_ids(self, mask: np.ndarray) -> None:
        assert self.classes is not None
        counts = np.bincount(np.asarray(mask, np.uint8).ravel(), minlength=256)
        counts[: len(self.classes.names)] = 0
        counts[self.classes.ignore_index] = 0
        if counts.any():
            raise DataError(f'{self.path}: masks hold ids {np.flatnonzero(counts).tolist()} outside the '
                            f'{len(self.classes.names)} classes')


class SqliteFrames(FrameSource):
    """A dataset file (``core.dataset``): an index of ids and stamps up front, images per block of
    ``SQLITE_BLOCK`` consecutive frames, each block one read transaction."""

    block = SQLITE_BLOCK

    def __init__(self, path: Path, target: str, classes: ClassList | None = None) -> None:
        try:
            with Dataset(path) as dataset:
                index = [(b.ids, b.stamps) for b in dataset.iter_batches(8192, images=False, extras=False)]
                distances, sensors = tuple(float(d) for d in dataset.distances), tuple(dataset.sensors)
        except DatasetError as exc:
            raise DataError(str(exc)) from exc
        self.ids = np.concatenate([ids for ids, _ in index]) if index else np.zeros(0, np.int64)
        super().__init__(path, target, classes, np.concatenate([s for _, s in index]) if index else self.ids)
        self.distances, self.sensors = distances, sensors
        self.label_shape = (len(distances), len(sensors))

    def _read(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        first, last = int(positions[0]), int(positions[-1])
        segmentation = self.target == 'segmentation'
        try:
            with Dataset(self.path) as dataset:
                batches = dataset.iter_batches(last - first + 1, int(self.ids[first]) - 1, extras=segmentation)
                batch = next(batches, None)
        except DatasetError as exc:
            raise DataError(str(exc)) from exc
        pick = positions - first
        if batch is None or len(batch.ids) <= pick[-1] or not np.array_equal(batch.ids[pick], self.ids[positions]):
            raise DataError(f'{self.path}: frames were removed while training read it')
        assert batch.images is not None
        if not segmentation:
            return batch.images[pick], masked_targets(batch.labels[pick], batch.mask[pick])
        if batch.segmentation is None:
            raise DataError(f'{self.path}: frames without segmentation ground truth (it comes from the simulator)')
        return batch.images[pick], batch.segmentation[pick]


class NpzFrames(FrameSource):
    """An ``.npz`` shard: ``images`` with ``labels`` + ``mask`` (obstacle labels, as ``selfsup dataset
    export --npz`` writes) or ``segmentation``; optional ``stamps``, ``distances``, ``sensors``. The
    index reads only ``stamps``; a read loads the shard's images and targets (the whole shard)."""

    def __init__(self, path: Path, target: str, classes: ClassList | None = None) -> None:
        self.names = ('images', 'labels', 'mask') if target == 'labels' else ('images', 'segmentation')
        members = npz_members(path)
        missing = [name for name in self.names if name not in members]
        if missing:
            raise DataError(f'{path}: lacks the arrays {missing} (has {sorted(members)})')
        shape, dtype = members['images']
        if len(shape) != 4 or shape[-1] != 3 or dtype != np.uint8:
            raise DataError(f'{path}: images must be (N, H, W, 3) uint8, got {dtype} {shape}')
        optional = read_npz(path, [name for name in ('stamps', 'distances', 'sensors') if name in members])
        super().__init__(path, target, classes, optional.get('stamps', np.arange(shape[0], dtype=np.float64)))
        if len(self.stamps) != shape[0]:
            raise DataError(f'{path}: {len(self.stamps)} stamps for {shape[0]} images')
        if 'distances' in optional:
            self.distances = tuple(float(d) for d in optional['distances'])
        if 'sensors' in optional:
            self.sensors = tuple(str(s) for s in optional['sensors'])
        targets = [members[name][0] for name in self.names[1:]]
        if target == 'labels' and (targets[0] != targets[1] or len(targets[0]) != 3 or targets[0][0] != shape[0]):
            raise DataError(
                f'{path}: labels and mask must both be (N={shape[0]}, K, S), got {targets[0]}, {targets[1]}'
            )
        if target == 'labels':
            self.label_shape = targets[0][1:]
        elif targets[0][:1] != shape[:1] or len(targets[0]) != 3:
            raise DataError(f'{path}: segmentation must be (N={shape[0]}, H, W), got {targets[0]}')
        self.block = shape[0]
        self.stored_size = (shape[1], shape[2])

    def image_size(self) -> tuple[int, int]:
        return self.stored_size

    def check(self) -> None:
        """Nothing to read: the headers were checked when opened (a read would load the whole shard)."""

    def _read(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        arrays = read_npz(self.path, self.names)
        if self.target == 'labels':
            return arrays['images'][positions], masked_targets(arrays['labels'][positions], arrays['mask'][positions])
        return arrays['images'][positions], arrays['segmentation'][positions]


def npz_members(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Array name -> (shape, dtype) of every member of an ``.npz``, read from the headers (no data loaded)."""
    try:
        return npz_headers(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f'{path}: not a readable .npz: {exc}') from exc


#: Masks of a VOC folder looked at to tell binary 0/255 masks.
BINARY_PROBE = 8


class VocFrames(FrameSource):
    """A VOC-style folder: ``JPEGImages/`` + ``SegmentationClass/`` (or ``images/`` + ``masks/``), masks
    matched by file stem; ``ImageSets/Segmentation/val.txt`` (if present) names the validation images."""

    def __init__(self, folder: Path, classes: ClassList) -> None:
        for image_dir, mask_dir in _VOC_DIRS:
            if (folder / image_dir).is_dir() and (folder / mask_dir).is_dir():
                break
        else:
            raise DataError(f'{folder}: expected JPEGImages/ + SegmentationClass/ or images/ + masks/ inside')
        masks = {p.stem: p for p in (folder / mask_dir).iterdir() if p.suffix.lower() == '.png'}
        images = sorted(
            p for p in (folder / image_dir).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.stem in masks
        )
        if not images:
            raise DataError(f'{folder}: no image has a mask of the same name in {mask_dir}/')
        self.files = [(p, masks[p.stem]) for p in images]
        val_list = folder / 'ImageSets' / 'Segmentation' / 'val.txt'
        val = None
        if val_list.is_file():
            names = set(val_list.read_text().split())
            val = np.array([p.stem in names for p in images])
        super().__init__(folder, 'segmentation', classes, np.arange(len(images), dtype=np.float64), val)
        self.binary = _binary_masks(folder, [mask for _, mask in self.files[:BINARY_PROBE]], classes)

    def _read(self, positions: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        assert self.classes is not None
        pairs = [self.files[p] for p in positions]
        masks = [read_mask(mask, self.classes) for _, mask in pairs]
        if self.binary:
            masks = [np.where(mask == 255, np.uint8(1), mask) for mask in masks]
        return [read_rgb(image) for image, _ in pairs], masks


def _binary_masks(folder: Path, masks: Sequence[Path], classes: ClassList) -> bool:
    """Whether a 2-class folder's masks are binary 0/255 PNGs (the usual background/foreground "L" image),
    judged on its first masks: then 255 is the foreground, not ignore (else all of it would silently be
    left out), and a note says so. Masks holding a 1 keep 255 as the ignore index."""
    if len(classes.names) != 2:
        return False
    values: set[int] = set()
    for path in masks:
        values |= set(np.unique(read_mask(path, classes)).tolist())
    if values != {0, 255}:
        return False
    print(f'note: {folder}: the masks hold only 0 and 255 with 2 classes: read as binary masks, 255 -> 1 '
          f'({classes.names[1]}); masks holding a 1 keep 255 as ignore', file=sys.stderr)
    return True


class CocoFrames(FrameSource):
    """COCO JSON instance/stuff annotations rendered to class-id masks per image (needs pycocotools):
    categories match ``classes`` by name (others and crowd regions become ignore), unannotated pixels
    are ``background``."""

    def __init__(self, annotations: Path, image_dir: Path, classes: ClassList, background: int = 0) -> None:
        try:
            from pycocotools.coco import COCO
        except ImportError as exc:
            raise DataError('COCO annotations need pycocotools: pip install pycocotools') from exc
        self.coco = COCO(str(annotations))
        self.image_dir, self.background = image_dir, background
        self.class_of = {
            cat['id']: classes.names.index(cat['name']) if cat['name'] in classes.names else classes.ignore_index
            for cat in self.coco.loadCats(self.coco.getCatIds())
        }
        self.image_ids = sorted(self.coco.getImgIds())
        super().__init__(annotations, 'segmentation', classes, np.arange(len(self.image_ids), dtype=np.float64))

    def _read(self, positions: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        assert self.classes is not None
        images, masks = [], []
        for info in self.coco.loadImgs([self.image_ids[p] for p in positions]):
            mask = np.full((info['height'], info['width']), self.background, np.uint8)
            anns = sorted(self.coco.loadAnns(self.coco.getAnnIds(imgIds=info['id'])), key=lambda a: -a['area'])
            for ann in anns:  # largest first: small objects drawn on top stay visible
                ids = self.classes.ignore_index if ann.get('iscrowd') else self.class_of[ann['category_id']]
                mask[self.coco.annToMask(ann) > 0] = ids
            images.append(read_rgb(self.image_dir / info['file_name']))
            masks.append(mask)
        return images, masks


def read_rgb(path: Path) -> np.ndarray:
    """An image file as RGB (H, W, 3) uint8."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f'{path}: not a readable image')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_mask(path: Path, classes: ClassList) -> np.ndarray:
    """Class ids from a palette/grey PNG (the values are ids) or an RGB PNG (colours of ``classes``)."""
    from PIL import Image

    with Image.open(path) as image:
        if image.mode in ('P', 'L'):
            return np.asarray(image).astype(np.uint8)
        rgb = np.asarray(image.convert('RGB'))
    ids = np.full(rgb.shape[:2], classes.ignore_index, np.uint8)
    for class_id, color in enumerate(classes.colors):
        ids[np.all(rgb == color, axis=-1)] = class_id
    return ids


def load_images(source: str | Path, size: tuple[int, int], limit: int) -> np.ndarray:
    """Up to ``limit`` images spread over the ``images`` of an ``.npz`` or the image files of a folder
    (VOC ``JPEGImages/`` and ``images/`` subfolders included), resized to ``size`` (calibration)."""
    source = Path(source)
    if source.suffix == '.npz':
        images = read_npz(source, ('images',))['images']
        return resize_images(images[spread(len(images), limit)], size)
    folders = [source, *(source / name for name, _ in _VOC_DIRS)]
    files = sorted(p for folder in folders if folder.is_dir() for p in folder.iterdir()
                   if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise DataError(f'{source}: no .npz and no images in it')
    return np.stack([resize_images(read_rgb(files[i])[None], size)[0] for i in spread(len(files), limit)])


def open_labelled(paths: Sequence[str | Path]) -> tuple[FrameSource, ...]:
    """Sources of obstacle labels (dataset files or ``.npz``), checked to agree on distances x sensors."""
    sources = [
        NpzFrames(Path(p), 'labels') if Path(p).suffix == '.npz' else SqliteFrames(Path(p), 'labels') for p in paths
    ]
    if not sources:
        raise DataError('no datasets given')
    shapes = {s.label_shape for s in sources}
    if len(shapes) != 1 or len({(s.distances, s.sensors) for s in sources if s.sensors}) > 1:
        raise DataError(f'datasets disagree on distances x sensors: {sorted(shapes)}')
    return sources_checked(sources)


def open_segmentation(paths: Sequence[str | Path], classes: ClassList, coco_images: str | Path | None = None,
                      background: int = 0) -> tuple[FrameSource, ...]:
    """Segmentation sources: ``.npz`` (``images``, ``segmentation``), dataset files with the simulator's
    masks, VOC-style folders or COCO ``.json`` (images in ``coco_images``, default beside it)."""
    sources: list[FrameSource] = []
    for path in map(Path, paths):
        if path.is_dir():
            sources.append(VocFrames(path, classes))
        elif path.suffix == '.json':
            sources.append(CocoFrames(path, Path(coco_images) if coco_images else path.parent, classes, background))
        elif path.suffix == '.npz':
            sources.append(NpzFrames(path, 'segmentation', classes))
        elif path.exists():
            sources.append(SqliteFrames(path, 'segmentation', classes))
        else:
            raise DataError(f'{path}: no such file (expected an .npz, a dataset file, a VOC folder or a COCO .json)')
    if not sources:
        raise DataError('no segmentation data given')
    return sources_checked(sources)


def sources_checked(sources: Sequence[FrameSource]) -> tuple[FrameSource, ...]:
    """``sources`` after reading each one's first frame (a bad file fails here, not mid-training)."""
    for source in sources:
        source.check()
    return tuple(sources)


@dataclass(frozen=True)
class Split:
    """Sorted positions of the training and the validation frames, one array per source."""

    train: tuple[np.ndarray, ...]
    val: tuple[np.ndarray, ...]

    @property
    def train_frames(self) -> int:
        return sum(len(p) for p in self.train)

    @property
    def val_frames(self) -> int:
        return sum(len(p) for p in self.val)


def split_sources(sources: Sequence[FrameSource], fraction: float, blocks: int, guard: float) -> Split:
    """Each source split on its own: its ``val`` flags where it has them, else time blocks
    (``split_frames``: never random, neighbouring frames are near-duplicates)."""
    train, val = [], []
    for source in sources:
        if source.val is not None:
            t, v = np.flatnonzero(~source.val), np.flatnonzero(source.val)
        else:
            t, v = split_frames(source.stamps, fraction, blocks, guard)
        if not len(t):
            raise DataError(f'{source.path}: no training frames')
        train.append(np.sort(t))
        val.append(np.sort(v))
    return Split(tuple(train), tuple(val))


def gather(sources: Sequence[FrameSource], positions: Sequence[np.ndarray], limit: int,
           size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Images and targets of up to ``limit`` frames spread evenly over all ``positions`` (calibration,
    batch-norm statistics); every source is read only where a picked frame lies."""
    offsets = np.cumsum([0, *(len(p) for p in positions)])
    picks = spread(int(offsets[-1]), limit)
    images, targets = [], []
    for index, source in enumerate(sources):
        mine = picks[(picks >= offsets[index]) & (picks < offsets[index + 1])] - offsets[index]
        for image, target in source.read(positions[index][mine], size):
            images.append(image)
            targets.append(target)
    return np.stack(images), np.stack(targets)
