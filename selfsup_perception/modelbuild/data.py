"""Training data for the workstation models: loading, time-blocked splits, resizing, augmentation.

Self-supervised labels come from ``.npz`` exports (``selfsup dataset export --npz``: ``images``
(N, H, W, 3) uint8, ``labels``/``mask`` (N, K, S), ``stamps``) or dataset files. Segmentation data
comes from an ``.npz`` (``images`` + ``segmentation`` class ids), a PASCAL-VOC-style folder (images
and palette PNG masks, 255 = ignore) or COCO JSON (needs pycocotools). Everything is held in memory,
resized to the model's input size.
"""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import keras
import numpy as np
import yaml

from selfsup_perception.core import segmentation
from selfsup_perception.core.head import time_blocked_split
from selfsup_perception.core.segmentation import ClassList, ClassListError

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')
_VOC_DIRS = (('JPEGImages', 'SegmentationClass'), ('images', 'masks'))


class DataError(ValueError):
    """Training data is missing, malformed or inconsistent; the message names the file."""


def load_classes(path: str | Path) -> ClassList:
    """The class list (``core.segmentation.load_classes``), with model building's error type; a model's
    card records the traversable flags, so they must be given for every class or for none."""
    try:
        classes = segmentation.load_classes(path)
    except ClassListError as exc:
        raise DataError(str(exc)) from exc
    entries = yaml.safe_load(Path(path).read_text(encoding='utf-8'))['classes']
    if len({'traversable' in entry for entry in entries}) > 1:
        raise DataError(f'{path}: traversable must be true/false for every class or for none')
    return classes


def read_npz(path: str | Path, required: Sequence[str]) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` (no pickles); ``required`` names must be present."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f'{path}: not a readable .npz: {exc}') from exc
    missing = [name for name in required if name not in arrays]
    if missing:
        raise DataError(f'{path}: lacks the arrays {missing} (has {sorted(arrays)})')
    return arrays


@dataclass
class LabelledFrames:
    """Frames with self-supervised labels, in time order: labels/mask (N, K, S)."""

    images: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    stamps: np.ndarray
    distances: tuple[float, ...] | None = None
    sensors: tuple[str, ...] | None = None


def load_labelled(path: str | Path) -> LabelledFrames:
    """Read an ``.npz`` export, or a dataset file through ``core.dataset``."""
    path = Path(path)
    if path.suffix == '.npz':
        arrays = read_npz(path, ('images', 'labels', 'mask'))
        frames = LabelledFrames(
            arrays['images'],
            arrays['labels'],
            arrays['mask'].astype(bool),
            arrays.get('stamps', np.arange(len(arrays['images']), dtype=np.float64)),
            tuple(float(d) for d in arrays['distances']) if 'distances' in arrays else None,
            tuple(str(s) for s in arrays['sensors']) if 'sensors' in arrays else None,
        )
    else:
        from selfsup_perception.core.dataset import Dataset

        with Dataset(path) as dataset:
            batch = dataset.read_all(images=True)
            frames = LabelledFrames(
                batch.images,
                batch.labels,
                batch.mask,
                batch.stamps,
                tuple(dataset.distances.tolist()),
                tuple(dataset.sensors),
            )
    n = len(frames.images)
    if frames.images.ndim != 4 or frames.images.shape[-1] != 3 or frames.images.dtype != np.uint8:
        raise DataError(
            f'{path}: images must be (N, H, W, 3) uint8, got {frames.images.dtype} {frames.images.shape}'
        )
    if frames.labels.shape != frames.mask.shape or frames.labels.ndim != 3 or len(frames.labels) != n:
        raise DataError(
            f'{path}: labels and mask must both be (N={n}, K, S), '
            f'got {frames.labels.shape}, {frames.mask.shape}'
        )
    return frames


def split_frames(
    stamps: np.ndarray, fraction: float, blocks: int, guard: float
) -> tuple[np.ndarray, np.ndarray]:
    """Time-blocked (train, validation) indices (``core.head.time_blocked_split``); never random."""
    train, val = time_blocked_split(stamps, fraction, blocks, guard)
    if not len(train) or (fraction > 0 and not len(val)):
        raise DataError(
            f'{len(stamps)} frames are too few for a {fraction:.0%} validation split in {blocks} blocks'
        )
    return train, val


def resize_images(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Images (N, H, W, 3) to (N, h, w, 3) with area interpolation (unchanged if already that size)."""
    if images.shape[1:3] == tuple(size) or not len(images):
        return images.reshape(-1, *size, 3)
    return np.stack([cv2.resize(im, (size[1], size[0]), interpolation=cv2.INTER_AREA) for im in images])


def resize_masks(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Class-id masks (N, H, W) to (N, h, w) with nearest-neighbour interpolation (ids stay ids)."""
    if masks.shape[1:3] == tuple(size) or not len(masks):
        return masks.reshape(-1, *size)
    return np.stack([cv2.resize(m, (size[1], size[0]), interpolation=cv2.INTER_NEAREST) for m in masks])


@dataclass(frozen=True)
class Augmentation:
    """Photometric changes a robot camera sees (exposure, contrast) and horizontal flips."""

    brightness: float = 32.0
    contrast: float = 0.3
    flip: bool = True

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Augmented uint8 copies of a batch and which of them were flipped left-right."""
        n = len(images)
        x = images.astype(np.float32)
        mean = x.mean(axis=(1, 2, 3), keepdims=True)
        gain = rng.uniform(1 - self.contrast, 1 + self.contrast, (n, 1, 1, 1)).astype(np.float32)
        shift = rng.uniform(-self.brightness, self.brightness, (n, 1, 1, 1)).astype(np.float32)
        x = np.clip((x - mean) * gain + mean + shift, 0, 255)
        flipped = rng.random(n) < 0.5 if self.flip else np.zeros(n, bool)
        x[flipped] = x[flipped, :, ::-1]
        return np.rint(x).astype(np.uint8), flipped


class Batches(keras.utils.PyDataset):
    """Mini-batches of (pixels float32, targets) for ``model.fit``/``predict``, converted per batch.

    Shuffled each epoch unless ``shuffle`` is False (validation, prediction in order). ``flip_targets``
    mirrors the targets of flipped images (segmentation masks, or the sensor axis of obstacle labels);
    an augmentation that flips needs it.
    """

    def __init__(
        self,
        images: np.ndarray,
        targets: np.ndarray,
        batch_size: int,
        augmentation: Augmentation | None = None,
        flip_targets: Callable[[np.ndarray], np.ndarray] | None = None,
        seed: int = 0,
        shuffle: bool = True,
    ) -> None:
        super().__init__()
        if augmentation is not None and augmentation.flip and flip_targets is None:
            raise ValueError('flipping images needs flip_targets to flip their targets as well')
        self.images, self.targets, self.batch_size = images, targets, batch_size
        self.augmentation, self.flip_targets = augmentation, flip_targets
        self.rng, self.shuffle = np.random.default_rng(seed), shuffle
        self.order = self.rng.permutation(len(images)) if shuffle else np.arange(len(images))

    def __len__(self) -> int:
        return max(1, -(-len(self.images) // self.batch_size))

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        pick = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        images, targets = self.images[pick], self.targets[pick]
        if self.augmentation is not None:
            images, flipped = self.augmentation(images, self.rng)
            if flipped.any():
                targets = targets.copy()
                targets[flipped] = self.flip_targets(targets[flipped])
        return images.astype(np.float32), targets

    def on_epoch_end(self) -> None:
        if self.shuffle:
            self.order = self.rng.permutation(len(self.images))


@dataclass
class SegmentationData:
    """Images (N, h, w, 3) uint8, class-id masks (N, h, w) uint8, ``stamps`` (N,) ordering them in time;
    ``val`` marks the validation images where the source names them (VOC ``val.txt``)."""

    images: np.ndarray
    masks: np.ndarray
    stamps: np.ndarray
    val: np.ndarray | None = None


def _read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DataError(f'{path}: not a readable image')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _read_mask(path: Path, classes: ClassList) -> np.ndarray:
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


def load_voc(folder: Path, classes: ClassList, size: tuple[int, int]) -> SegmentationData:
    """A VOC-style folder: ``JPEGImages/`` + ``SegmentationClass/`` (or ``images/`` + ``masks/``), masks
    matched by file stem; ``ImageSets/Segmentation/val.txt`` (if present) names the validation images."""
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
    val_list = folder / 'ImageSets' / 'Segmentation' / 'val.txt'
    val_names = set(val_list.read_text().split()) if val_list.is_file() else None
    return SegmentationData(
        np.stack([resize_images(_read_rgb(p)[None], size)[0] for p in images]),
        np.stack([resize_masks(_read_mask(masks[p.stem], classes)[None], size)[0] for p in images]),
        np.arange(len(images), dtype=np.float64),
        None if val_names is None else np.array([p.stem in val_names for p in images]),
    )


def load_coco(
    annotations: Path, image_dir: Path, classes: ClassList, size: tuple[int, int], background: int = 0
) -> SegmentationData:
    """COCO JSON instance/stuff annotations rendered to class-id masks: categories are matched to
    ``classes`` by name (others and crowd regions become ignore), unannotated pixels are ``background``."""
    try:
        from pycocotools.coco import COCO
    except ImportError as exc:
        raise DataError('COCO annotations need pycocotools: pip install pycocotools') from exc
    coco = COCO(str(annotations))
    class_of = {
        cat['id']: classes.names.index(cat['name']) if cat['name'] in classes.names else classes.ignore_index
        for cat in coco.loadCats(coco.getCatIds())
    }
    images, masks = [], []
    for info in coco.loadImgs(sorted(coco.getImgIds())):
        mask = np.full((info['height'], info['width']), background, np.uint8)
        anns = sorted(coco.loadAnns(coco.getAnnIds(imgIds=info['id'])), key=lambda a: -a['area'])
        for ann in anns:  # largest first: small objects drawn on top stay visible
            ids = classes.ignore_index if ann.get('iscrowd') else class_of[ann['category_id']]
            mask[coco.annToMask(ann) > 0] = ids
        images.append(resize_images(_read_rgb(image_dir / info['file_name'])[None], size)[0])
        masks.append(resize_masks(mask[None], size)[0])
    if not images:
        raise DataError(f'{annotations}: no images')
    return SegmentationData(np.stack(images), np.stack(masks), np.arange(len(images), dtype=np.float64))


def load_segmentation(
    source: str | Path,
    classes: ClassList,
    size: tuple[int, int],
    coco_images: str | Path | None = None,
    background: int = 0,
) -> SegmentationData:
    """Segmentation data from an ``.npz`` (``images``, ``segmentation``), a VOC-style folder or a COCO
    ``.json``; resized to ``size`` (h, w). Ids other than classes and the ignore index are an error."""
    source = Path(source)
    if source.is_dir():
        data = load_voc(source, classes, size)
    elif source.suffix == '.json':
        data = load_coco(
            source, Path(coco_images) if coco_images else source.parent, classes, size, background
        )
    elif source.suffix == '.npz':
        arrays = read_npz(source, ('images', 'segmentation'))
        data = SegmentationData(
            resize_images(arrays['images'], size),
            resize_masks(arrays['segmentation'].astype(np.uint8), size),
            arrays.get('stamps', np.arange(len(arrays['images']), dtype=np.float64)),
        )
    else:
        raise DataError(f'{source}: expected an .npz, a VOC-style folder or a COCO .json')
    _read_binary_masks(data.masks, classes, source)
    bad = np.setdiff1d(np.unique(data.masks), [*range(len(classes.names)), classes.ignore_index])
    if bad.size:
        raise DataError(f'{source}: masks hold ids {bad.tolist()} outside the {len(classes.names)} classes')
    return data


def _read_binary_masks(masks: np.ndarray, classes: ClassList, source: Path) -> None:
    """Binary masks stored as 0/255 (the usual background/foreground "L" PNG) with 2 classes: 255 is the
    foreground, not ignore (the whole foreground would silently be left out). Maps 255 -> 1 in place, says so."""
    if len(classes.names) != 2 or set(np.unique(masks).tolist()) != {0, 255}:
        return
    print(f'note: {source}: the masks hold only 0 and 255 with 2 classes: read as binary masks, '
          f'255 -> 1 ({classes.names[1]}); masks holding a 1 anywhere keep 255 as ignore', file=sys.stderr)
    masks[masks == 255] = 1


def load_images(source: str | Path, size: tuple[int, int]) -> np.ndarray:
    """Images only (calibration): the ``images`` of an ``.npz`` or the image files of a folder (VOC
    ``JPEGImages/`` and ``images/`` subfolders included), resized to ``size``."""
    source = Path(source)
    if source.suffix == '.npz':
        return resize_images(read_npz(source, ('images',))['images'], size)
    folders = [source, *(source / name for name, _ in _VOC_DIRS)]
    files = sorted(
        p
        for folder in folders
        if folder.is_dir()
        for p in folder.iterdir()
        if p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise DataError(f'{source}: no .npz and no images in it')
    return np.stack([resize_images(_read_rgb(p)[None], size)[0] for p in files])
