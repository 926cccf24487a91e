"""The segmentation runner: one resize -> run -> class axis -> mask path for channels-last and channels-first models."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from selfsup_perception.core.segmentation import class_mask, resize_mask
from selfsup_perception.inference import create_backend, resize_to_input
from selfsup_perception.inference.segmentation import SegmentationRunner

DATA = Path(__file__).resolve().parents[1] / 'data'


class ChannelsFirst:
    """The tiny model answering (N, C, H, W), as many ONNX exports do; ``card`` as given."""

    def __init__(self, backend, card) -> None:
        self.backend, self.card, self.name = backend, card, 'channels-first'
        self.input_shape = backend.input_shape

    def run(self, batch):
        return np.ascontiguousarray(self.backend.run(batch).transpose(0, 3, 1, 2))


class ChannelsLast(ChannelsFirst):
    """The tiny model as it is (N, H, W, C), with ``card`` as given."""

    def run(self, batch):
        return self.backend.run(batch)


@pytest.fixture(scope='module')
def backend():
    return create_backend('tflite', DATA / 'tiny_seg.tflite')


@pytest.fixture
def image() -> np.ndarray:
    rgb = np.zeros((96, 128, 3), np.uint8)
    rgb[:40, :, 2] = 220  # blue wall above, red floor below
    rgb[40:, :, 0] = 220
    rgb[60:80, 50:70] = (0, 220, 0)  # a green obstacle
    return rgb


@pytest.mark.parametrize('classes', [None, 3])
def test_channels_last_and_first_give_the_same_mask(backend, image, classes):
    reference = class_mask(backend.run(resize_to_input(image, backend.input_shape)[None]))[0]
    assert set(np.unique(reference)) == {0, 1, 2}  # the scene shows floor, obstacle and wall
    last = SegmentationRunner(backend, classes)
    no_card = dataclasses.replace(backend.card, classes=None)
    for runner in (last, SegmentationRunner(ChannelsFirst(backend, backend.card), classes),
                   SegmentationRunner(ChannelsFirst(backend, no_card), classes),
                   SegmentationRunner(ChannelsLast(backend, no_card), classes)):
        assert (runner.classes, runner.grid) == (3, (24, 32))
        np.testing.assert_array_equal(runner.mask(image), reference)
        np.testing.assert_array_equal(runner.mask(image, (96, 128)), resize_mask(reference, (96, 128)))
        assert runner.scores(image).shape == (24, 32, 3)
        assert runner.last_inference_s > 0
    assert last.class_axis == 3
    assert SegmentationRunner(ChannelsFirst(backend, backend.card), classes).class_axis == 1


def test_a_class_count_the_model_does_not_give_is_refused(backend):
    with pytest.raises(ValueError, match=r'is not \(1, H, W, 4\) or \(1, 4, H, W\) for 4 classes'):
        SegmentationRunner(backend, 4)
    wrong_card = ChannelsFirst(backend, dataclasses.replace(backend.card, classes=('a', 'b')))
    with pytest.raises(ValueError, match='for 2 classes'):
        SegmentationRunner(wrong_card)


def test_an_output_that_is_no_score_map_is_refused(backend):
    class Flat(ChannelsFirst):
        def run(self, batch):
            return self.backend.run(batch).reshape(len(batch), -1)

    with pytest.raises(ValueError, match='not per-pixel class scores'):
        SegmentationRunner(Flat(backend, None))
