"""Frame sources: dataset files, npz shards, VOC folders and COCO JSON read a block at a time, with their
stamps known up front; time-blocked or named splits; evenly spread picks for calibration."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from modelbuild_helpers import smooth_images

from selfsup_perception.core.config import LabelingConfig, SensorConfig
from selfsup_perception.core.dataset import Dataset, DatasetWriter, FrameRecord
from selfsup_perception.modelbuild.data import DataError, load_classes
from selfsup_perception.modelbuild.sources import (
    SQLITE_BLOCK,
    UNKNOWN_LABEL,
    NpzFrames,
    SqliteFrames,
    gather,
    load_images,
    open_labelled,
    open_segmentation,
    split_sources,
)

CLASSES = """
classes:
  - {name: floor, color: [0, 128, 0]}
  - {name: obstacle, color: [200, 0, 0]}
  - {name: wall, color: [128, 128, 128]}
"""
CONFIG = LabelingConfig(
    sensors=(SensorConfig('left', '/left', 0.1, 0.2), SensorConfig('right', '/right', 0.1, 0.2)),
    distances=(0.0, 0.1, 0.2),
)


@pytest.fixture
def classes(tmp_path: Path):
    path = tmp_path / 'classes.yaml'
    path.write_text(CLASSES)
    return load_classes(path)


def _dataset(path: Path, frames: int, segmentation: bool = False) -> Path:
    """Frame i: image value i % 256 everywhere, labels[0, 0] = i % 2 (known), the rest unknown."""
    with DatasetWriter(path, CONFIG, image_format='png') as writer:
        for i in range(frames):
            labels = np.full((3, 2), -1, np.int8)
            labels[0, 0] = i % 2
            mask = np.full((8, 10), i % 3, np.uint8) if segmentation else None
            writer.append(FrameRecord(0.1 * i, np.full((8, 10, 3), i % 256, np.uint8), labels, segmentation=mask))
    return path


def test_a_dataset_file_is_indexed_without_images_and_read_block_by_block(tmp_path: Path, monkeypatch) -> None:
    source = SqliteFrames(_dataset(tmp_path / 'd.db', 600), 'labels')
    assert len(source) == 600
    np.testing.assert_allclose(source.stamps, 0.1 * np.arange(600))
    assert source.label_shape == (3, 2)
    assert source.sensors == ('left', 'right')
    requested = []
    original = Dataset.iter_batches

    def spy(self, batch_size=256, after_id=0, images=True, extras=True):
        requested.append(batch_size)
        return original(self, batch_size, after_id, images, extras)

    monkeypatch.setattr(Dataset, 'iter_batches', spy)
    positions = np.array([3, 4, 250, 255, 256, 257, 599])
    frames = list(source.read(positions, (4, 5)))
    assert [int(image[0, 0, 0]) for image, _ in frames] == [p % 256 for p in positions]
    assert frames[0][0].shape == (4, 5, 3)
    assert [target[0, 0] for _, target in frames] == [p % 2 for p in positions]
    assert all((target.ravel()[1:] == UNKNOWN_LABEL).all() for _, target in frames)
    assert max(requested) <= SQLITE_BLOCK  # never more than one block in memory
    assert len(requested) == 3  # blocks 0, 1 and 2


def test_dataset_segmentation_and_its_class_ids(tmp_path: Path, classes) -> None:
    (source,) = open_segmentation([_dataset(tmp_path / 'd.db', 5, segmentation=True)], classes)
    masks = [target for _, target in source.read(np.arange(5), (4, 5))]
    assert [int(m[0, 0]) for m in masks] == [0, 1, 2, 0, 1]
    assert masks[0].shape == (4, 5)
    with pytest.raises(DataError, match='segmentation ground truth'):
        open_segmentation([_dataset(tmp_path / 'e.db', 3)], classes)


def test_labelled_npz_shards(tmp_path: Path) -> None:
    path = tmp_path / 'd.npz'
    labels = np.ones((4, 3, 2), np.uint8)
    mask = np.zeros((4, 3, 2), bool)
    mask[:, 0] = True
    images = smooth_images(4, 8, 8)
    np.savez(path, images=images, labels=labels, mask=mask, stamps=np.arange(4.0) * 2,
             distances=np.array([0.0, 0.1, 0.2]), sensors=np.array(['left', 'right']))
    (source,) = open_labelled([path])
    assert source.sensors == ('left', 'right')
    assert source.distances == (0.0, 0.1, 0.2)
    assert source.image_size() == (8, 8)
    np.testing.assert_array_equal(source.stamps, [0, 2, 4, 6])
    (image, target), = source.read(np.array([2]), (8, 8))
    np.testing.assert_array_equal(image, images[2])
    assert (target[0] == 1).all()
    assert (target[1:] == UNKNOWN_LABEL).all()
    np.savez(path, images=images, labels=labels, mask=np.ones((4, 3), bool))
    with pytest.raises(DataError, match='labels and mask'):
        NpzFrames(path, 'labels')
    np.savez(path, images=images.astype(np.float32), labels=labels, mask=mask)
    with pytest.raises(DataError, match='uint8'):
        NpzFrames(path, 'labels')


def test_datasets_must_agree_on_distances_and_sensors(tmp_path: Path) -> None:
    path = tmp_path / 'd.npz'
    np.savez(path, images=smooth_images(2, 8, 8), labels=np.ones((2, 4, 2), np.uint8), mask=np.ones((2, 4, 2), bool))
    with pytest.raises(DataError, match='disagree'):
        open_labelled([_dataset(tmp_path / 'a.db', 3), path])


def test_npz_segmentation_is_resized_and_checked(tmp_path: Path, classes) -> None:
    path = tmp_path / 's.npz'
    seg = np.zeros((3, 20, 30), np.uint8)
    seg[:, 10:] = 2
    seg[:, :, :2] = 255
    np.savez(path, images=smooth_images(3, 20, 30), segmentation=seg)
    (source,) = open_segmentation([path], classes)
    frames = list(source.read(np.arange(3), (10, 15)))
    assert frames[0][0].shape == (10, 15, 3)
    assert set(np.unique([m for _, m in frames])) == {0, 2, 255}
    seg[2, 4:8, 10:16] = 7
    np.savez(path, images=smooth_images(3, 20, 30), segmentation=seg)
    (source,) = open_segmentation([path], classes)  # the first frame is fine
    with pytest.raises(DataError, match=r'ids \[7\]'):
        list(source.read(np.arange(3), (10, 15)))


def _png(path: Path, ids: np.ndarray, palette: bool) -> None:
    from PIL import Image

    image = Image.fromarray(ids, mode='L')
    if palette:
        image = image.convert('P')
        image.putpalette([v for i in range(256) for v in (i, 255 - i, 0)])
    image.save(path)


def test_voc_folder_with_palette_masks_and_its_validation_list(tmp_path: Path, classes) -> None:
    (tmp_path / 'JPEGImages').mkdir()
    (tmp_path / 'SegmentationClass').mkdir()
    (tmp_path / 'ImageSets' / 'Segmentation').mkdir(parents=True)
    for i, image in enumerate(smooth_images(3, 24, 32)):
        cv2.imwrite(str(tmp_path / 'JPEGImages' / f'{i:03d}.jpg'), image[..., ::-1])
        ids = np.full((24, 32), 1, np.uint8)
        ids[:4] = 255
        _png(tmp_path / 'SegmentationClass' / f'{i:03d}.png', ids, palette=i != 1)
    (tmp_path / 'ImageSets' / 'Segmentation' / 'val.txt').write_text('002\n')
    sources = open_segmentation([tmp_path], classes)
    frames = list(sources[0].read(np.arange(3), (12, 16)))
    assert frames[0][0].shape == (12, 16, 3)
    assert set(np.unique([m for _, m in frames])) == {1, 255}
    split = split_sources(sources, 0.5, 2, 0.0)
    assert split.train[0].tolist() == [0, 1]
    assert split.val[0].tolist() == [2]
    assert load_images(tmp_path, (12, 16), 2).shape == (2, 12, 16, 3)


def test_coco_annotations_become_class_masks(tmp_path: Path, classes) -> None:
    pytest.importorskip('pycocotools')
    cv2.imwrite(str(tmp_path / 'a.png'), smooth_images(1, 20, 20)[0])
    coco = {
        'images': [{'id': 1, 'file_name': 'a.png', 'height': 20, 'width': 20}],
        'categories': [{'id': 5, 'name': 'obstacle'}, {'id': 6, 'name': 'person'}],
        'annotations': [
            {
                'id': 1,
                'image_id': 1,
                'category_id': 5,
                'iscrowd': 0,
                'area': 100.0,
                'segmentation': [[0, 0, 10, 0, 10, 10, 0, 10]],
                'bbox': [0, 0, 10, 10],
            },
            {
                'id': 2,
                'image_id': 1,
                'category_id': 6,
                'iscrowd': 0,
                'area': 25.0,
                'segmentation': [[12, 12, 17, 12, 17, 17, 12, 17]],
                'bbox': [12, 12, 5, 5],
            },
        ],
    }
    (tmp_path / 'ann.json').write_text(json.dumps(coco))
    (source,) = open_segmentation([tmp_path / 'ann.json'], classes, background=0)
    ((_, mask),) = source.read(np.array([0]), (20, 20))
    assert mask[5, 5] == 1  # obstacle
    assert mask[14, 14] == 255  # a category not in the class list is ignored
    assert mask[19, 0] == 0  # background


def test_split_is_per_source_and_gather_spreads_over_all(tmp_path: Path) -> None:
    sources = open_labelled([_dataset(tmp_path / 'a.db', 100), _dataset(tmp_path / 'b.db', 50)])
    split = split_sources(sources, 0.2, 2, guard=0.0)
    assert split.val[0].tolist() == [*range(40, 50), *range(90, 100)]
    assert split.train_frames + split.val_frames == 150
    images, targets = gather(sources, split.train, 4, (8, 10))
    assert images.shape == (4, 8, 10, 3)
    assert targets.shape == (4, 3, 2)
    # picks 0, 39, 79, 119 of the 80 + 40 training frames: a's 0, 39, 89, then b's last training frame, 44
    assert [int(v) for v in images[:, 0, 0, 0]] == [0, 39, 89, 44]


def _binary_voc(folder: Path, values: tuple[int, int]) -> None:
    (folder / 'images').mkdir(parents=True)
    (folder / 'masks').mkdir()
    for i, image in enumerate(smooth_images(2, 24, 32)):
        cv2.imwrite(str(folder / 'images' / f'{i}.png'), image[..., ::-1])
        ids = np.full((24, 32), values[0], np.uint8)
        ids[8:16, 10:20] = values[1]
        _png(folder / 'masks' / f'{i}.png', ids, palette=False)


def _masks(folder: Path, classes) -> set[int]:
    source = open_segmentation([folder], classes)[0]
    return {int(v) for _, mask in source.read(np.arange(2), (24, 32)) for v in np.unique(mask)}


def test_binary_masks_stored_as_0_255_are_read_as_two_classes(tmp_path: Path, capsys) -> None:
    path = tmp_path / 'two.yaml'
    path.write_text('classes:\n  - {name: background, color: [0, 0, 0]}\n  - {name: person, color: [255, 255, 255]}\n')
    two = load_classes(path)
    _binary_voc(tmp_path / 'binary', (0, 255))
    assert _masks(tmp_path / 'binary', two) == {0, 1}
    assert 'masks hold only 0 and 255 with 2 classes: read as binary masks, 255 -> 1 (person)' in \
        capsys.readouterr().err
    _binary_voc(tmp_path / 'labelled', (1, 255))  # a 1 somewhere: 255 is the ignore index as usual
    assert _masks(tmp_path / 'labelled', two) == {1, 255}
    assert 'binary' not in capsys.readouterr().err


def test_0_255_masks_with_more_classes_keep_255_as_ignore(tmp_path: Path, classes, capsys) -> None:
    _binary_voc(tmp_path / 'binary', (0, 255))
    assert _masks(tmp_path / 'binary', classes) == {0, 255}
    assert 'binary' not in capsys.readouterr().err
