"""Training data: class lists, npz/VOC/COCO loading, time-blocked splits, augmentation with flips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('tensorflow')

from modelbuild_helpers import smooth_images

from selfsup_perception.modelbuild.data import (
    Augmentation,
    Batches,
    DataError,
    load_classes,
    load_images,
    load_labelled,
    load_segmentation,
    split_frames,
)

ROOT = Path(__file__).resolve().parents[2]
CLASSES = """
classes:
  - {name: floor, color: [0, 128, 0]}
  - {name: obstacle, color: [200, 0, 0]}
  - {name: wall, color: [128, 128, 128]}
"""


@pytest.fixture
def classes(tmp_path: Path):
    path = tmp_path / 'classes.yaml'
    path.write_text(CLASSES)
    return load_classes(path)


def test_shipped_simulator_classes_load() -> None:
    classes = load_classes(ROOT / 'config' / 'classes_sim.yaml')
    assert classes.names == ('floor', 'obstacle', 'wall')
    assert classes.ignore_index == 255
    assert classes.traversable == (True, False, False)


@pytest.mark.parametrize(
    ('text', 'match'),
    [
        ('classes: [{name: a}]', 'not a class list'),
        ('classes: [{name: a, color: [1, 2, 3]}, {name: a, color: [1, 2, 3]}]', 'unique'),
        ('classes: [{name: a, color: [1, 2, 3]}]\nignore_index: 0', 'ignore_index'),
        (
            'classes: [{name: a, color: [1, 2, 3], traversable: true}, {name: b, color: [1, 2, 3]}]',
            'traversable',
        ),
    ],
)
def test_bad_class_lists_are_refused(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / 'c.yaml'
    path.write_text(text)
    with pytest.raises(DataError, match=match):
        load_classes(path)


def test_labelled_npz_loads_without_pickles(tmp_path: Path) -> None:
    path = tmp_path / 'd.npz'
    labels = np.ones((4, 3, 2), np.uint8)
    np.savez(
        path,
        images=smooth_images(4, 8, 8),
        labels=labels,
        mask=labels > 0,
        stamps=np.arange(4.0),
        distances=np.array([0.0, 0.1, 0.2]),
        sensors=np.array(['left', 'right']),
    )
    frames = load_labelled(path)
    assert frames.sensors == ('left', 'right')
    assert frames.distances == (0.0, 0.1, 0.2)
    np.savez(path, images=smooth_images(4, 8, 8), labels=labels, mask=np.ones((4, 3), bool))
    with pytest.raises(DataError, match='labels and mask'):
        load_labelled(path)


def test_time_blocked_split_is_contiguous_and_refuses_tiny_data() -> None:
    train, val = split_frames(np.arange(100.0), 0.2, 2, guard=3.0)
    assert set(val) == set(range(40, 50)) | set(range(90, 100))  # the end of each half
    assert not set(train) & set(range(37, 53))  # guard frames dropped
    with pytest.raises(DataError, match='too few'):
        split_frames(np.arange(2.0), 0.2, 5, 0.0)


def test_batches_flip_targets_with_their_images() -> None:
    images = np.zeros((6, 4, 6, 3), np.uint8)
    images[:, :, :2] = 200  # bright left third
    masks = (images[..., 0] > 100).astype(np.uint8)
    batches = Batches(
        images, masks, 6, Augmentation(brightness=10, contrast=0.1), lambda m: m[:, :, ::-1], seed=3
    )
    x, y = batches[0]
    assert x.dtype == np.float32
    assert x.shape == images.shape
    assert (y == (x[..., 0] > 100)).all()  # every mask still matches its (maybe flipped) image
    flipped = y[:, 0, -1] == 1
    assert 0 < flipped.sum() < 6
    with pytest.raises(ValueError, match='flip_targets'):
        Batches(images, masks, 2, Augmentation())


def test_npz_segmentation_is_resized_and_checked(tmp_path: Path, classes) -> None:
    path = tmp_path / 's.npz'
    seg = np.zeros((3, 20, 30), np.uint8)
    seg[:, 10:] = 2
    seg[:, :, 0] = 255
    np.savez(path, images=smooth_images(3, 20, 30), segmentation=seg)
    data = load_segmentation(path, classes, (10, 15))
    assert data.images.shape == (3, 10, 15, 3)
    assert set(np.unique(data.masks)) == {0, 2, 255}
    seg[0, 4:8, 10:16] = 7
    np.savez(path, images=smooth_images(3, 20, 30), segmentation=seg)
    with pytest.raises(DataError, match=r'ids \[7\]'):
        load_segmentation(path, classes, (10, 15))


def _png(path: Path, ids: np.ndarray, palette: bool) -> None:
    from PIL import Image

    image = Image.fromarray(ids, mode='L')
    if palette:
        image = image.convert('P')
        image.putpalette([v for i in range(256) for v in (i, 255 - i, 0)])
    image.save(path)


def test_voc_folder_with_palette_masks(tmp_path: Path, classes) -> None:
    import cv2

    (tmp_path / 'JPEGImages').mkdir()
    (tmp_path / 'SegmentationClass').mkdir()
    (tmp_path / 'ImageSets' / 'Segmentation').mkdir(parents=True)
    for i, image in enumerate(smooth_images(3, 24, 32)):
        cv2.imwrite(str(tmp_path / 'JPEGImages' / f'{i:03d}.jpg'), image[..., ::-1])
        ids = np.full((24, 32), 1, np.uint8)
        ids[:4] = 255
        _png(tmp_path / 'SegmentationClass' / f'{i:03d}.png', ids, palette=i != 1)
    (tmp_path / 'ImageSets' / 'Segmentation' / 'val.txt').write_text('002\n')
    data = load_segmentation(tmp_path, classes, (12, 16))
    assert data.images.shape == (3, 12, 16, 3)
    assert set(np.unique(data.masks)) == {1, 255}
    assert data.val.tolist() == [False, False, True]
    assert load_images(tmp_path, (12, 16)).shape == (3, 12, 16, 3)


def test_coco_annotations_become_class_masks(tmp_path: Path, classes) -> None:
    pytest.importorskip('pycocotools')
    import cv2

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
    data = load_segmentation(tmp_path / 'ann.json', classes, (20, 20), background=0)
    mask = data.masks[0]
    assert mask[5, 5] == 1  # obstacle
    assert mask[14, 14] == 255  # a category not in the class list is ignored
    assert mask[19, 0] == 0  # background


def _binary_voc(folder: Path, values: tuple[int, int]) -> None:
    import cv2

    (folder / 'images').mkdir(parents=True)
    (folder / 'masks').mkdir()
    for i, image in enumerate(smooth_images(2, 24, 32)):
        cv2.imwrite(str(folder / 'images' / f'{i}.png'), image[..., ::-1])
        ids = np.full((24, 32), values[0], np.uint8)
        ids[8:16, 10:20] = values[1]
        _png(folder / 'masks' / f'{i}.png', ids, palette=False)


def test_binary_masks_stored_as_0_255_are_read_as_two_classes(tmp_path: Path, capsys) -> None:
    path = tmp_path / 'two.yaml'
    path.write_text('classes:\n  - {name: background, color: [0, 0, 0]}\n  - {name: person, color: [255, 255, 255]}\n')
    two = load_classes(path)
    _binary_voc(tmp_path / 'binary', (0, 255))
    data = load_segmentation(tmp_path / 'binary', two, (24, 32))
    assert set(np.unique(data.masks)) == {0, 1}
    assert (data.masks[:, 8:16, 10:20] == 1).all()
    note = capsys.readouterr().err
    assert 'binary: the masks hold only 0 and 255 with 2 classes: read as binary masks, 255 -> 1 (person)' in note
    _binary_voc(tmp_path / 'labelled', (1, 255))  # a 1 somewhere: 255 is the ignore index as usual
    assert set(np.unique(load_segmentation(tmp_path / 'labelled', two, (24, 32)).masks)) == {1, 255}
    assert capsys.readouterr().err == ''


def test_0_255_masks_with_more_classes_keep_255_as_ignore(tmp_path: Path, classes, capsys) -> None:
    _binary_voc(tmp_path / 'binary', (0, 255))
    assert set(np.unique(load_segmentation(tmp_path / 'binary', classes, (24, 32)).masks)) == {0, 255}
    assert capsys.readouterr().err == ''
