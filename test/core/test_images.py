from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from selfsup_perception.core.images import (
    ImageError,
    decode_image,
    encode_image,
    raw_to_rgb,
    rgb_to_raw,
)

images = st.integers(1, 12).flatmap(lambda h: st.integers(1, 12).flatmap(
    lambda w: arrays(np.uint8, (h, w, 3))))


@settings(max_examples=60, deadline=None)
@given(image=images, padding=st.integers(0, 7), encoding=st.sampled_from(['rgb8', 'bgr8']))
def test_raw_roundtrip_with_row_padding(image, padding, encoding):
    height, width, step, data = rgb_to_raw(image, encoding)
    padded = b''.join(data[r * step:(r + 1) * step] + bytes(padding) for r in range(height))
    np.testing.assert_array_equal(raw_to_rgb(encoding, height, width, step + padding, padded), image)


@settings(max_examples=30, deadline=None)
@given(image=images)
def test_four_channel_and_mono_encodings(image):
    h, w = image.shape[:2]
    rgba = np.concatenate([image, np.full((h, w, 1), 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(raw_to_rgb('rgba8', h, w, w * 4, rgba.tobytes()), image)
    bgra = cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA)
    np.testing.assert_array_equal(raw_to_rgb('bgra8', h, w, w * 4, bgra.tobytes()), image)
    mono = image[..., 0].copy()
    np.testing.assert_array_equal(raw_to_rgb('mono8', h, w, w, mono.tobytes()), np.repeat(mono[..., None], 3, 2))
    mono16 = (mono.astype(np.uint16) * 256).astype('>u2')
    np.testing.assert_array_equal(raw_to_rgb('mono16', h, w, w * 2, mono16.tobytes(), is_bigendian=True)[..., 0],
                                  mono)


@pytest.mark.parametrize(('args', 'message'), [
    (('yuv422', 2, 2, 4, bytes(8)), 'unsupported encoding'),
    (('rgb8', 0, 4, 12, b''), 'empty image'),
    (('rgb8', 2, 4, 10, bytes(24)), 'step 10 is smaller'),
    (('rgb8', 2, 4, 12, bytes(23)), 'truncated image'),
])
def test_malformed_raw_images_are_rejected(args, message):
    with pytest.raises(ImageError, match=message):
        raw_to_rgb(*args)


@given(blob=st.binary(max_size=64))
@settings(max_examples=50, deadline=None)
def test_garbage_compressed_never_crashes(blob):
    try:
        image = decode_image(blob)
    except ImageError:
        return
    assert image.ndim == 3


def test_png_roundtrip_and_mask():
    image = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(decode_image(encode_image(image, 'png')), image)
    mask = np.arange(35, dtype=np.uint8).reshape(5, 7) % 3
    np.testing.assert_array_equal(decode_image(encode_image(mask, 'png'), grayscale=True), mask)
    with pytest.raises(ImageError, match='unknown image format'):
        encode_image(image, 'gif')
