"""reports.pixel_labels: frames with their self-labels tinted, in a grid, saved as PNG."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from selfsup_perception.core.pixel_labels import FLOOR, OBSTACLE, UNKNOWN
from selfsup_perception.reports.pixel_labels import LABEL_COLOURS, label_overlay, pixel_label_sheet, save_png


def _frame() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image = np.full((12, 16, 3), 100, np.uint8)
    labels = np.full((12, 16), UNKNOWN, np.uint8)
    labels[8:, 4:10] = FLOOR
    labels[3:5, 0:3] = OBSTACLE
    truth = np.zeros((12, 16), np.uint8)
    truth[:6] = 2
    return image, labels, truth


def test_overlay_tints_only_labelled_pixels():
    image, labels, _ = _frame()
    out = label_overlay(image, labels, alpha=1.0)
    assert (out[labels == UNKNOWN] == 100).all()
    assert (out[labels == FLOOR] == LABEL_COLOURS[FLOOR]).all()
    assert (out[labels == OBSTACLE] == LABEL_COLOURS[OBSTACLE]).all()
    with pytest.raises(ValueError, match='same size'):
        label_overlay(image, labels[:4])
    with pytest.raises(ValueError, match='alpha'):
        label_overlay(image, labels, alpha=2.0)


def test_sheet_layout_and_png(tmp_path):
    image, labels, truth = _frame()
    sheet = pixel_label_sheet([image] * 3, [labels] * 3, [truth] * 3, ['a', 'b', 'c'], columns=2, scale=2)
    # Two columns of (overlay | truth) tiles 24 x 64 px, two rows, 4 px gaps.
    assert sheet.shape == (2 * 24 + 4, 2 * 64 + 4, 3)
    assert (sheet[28:, 68:] == 255).all()  # the empty fourth place
    path = save_png(sheet, tmp_path / 'sheet.png')
    np.testing.assert_array_equal(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), sheet)
    assert not list(tmp_path.glob('*.tmp'))
    with pytest.raises(ValueError, match='one label image'):
        pixel_label_sheet([image], [])
