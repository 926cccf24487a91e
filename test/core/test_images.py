from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from selfsup_perception.core.images import (
    DEFAULT_MAX_PIXELS,
    ImageError,
    compressed_size,
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


def declared(blob: bytes, width: int, height: int) -> bytes:
    """``blob`` (a PNG or JPEG) with its header claiming ``width`` x ``height`` (a decompression bomb's trick)."""
    if blob.startswith(b'\x89PNG'):
        ihdr = b'IHDR' + struct.pack('>II', width, height) + blob[24:29]
        return blob[:12] + ihdr + struct.pack('>I', zlib.crc32(ihdr)) + blob[33:]
    sof = next(i for i in range(2, len(blob) - 1) if blob[i] == 0xFF and blob[i + 1] in (0xC0, 0xC2))
    return blob[: sof + 5] + struct.pack('>HH', height, width) + blob[sof + 9:]


@settings(max_examples=40, deadline=None)
@given(height=st.integers(1, 300), width=st.integers(1, 300), image_format=st.sampled_from(['png', 'jpeg']),
       exif=st.booleans())
def test_compressed_size_is_read_from_the_header(height, width, image_format, exif):
    blob = encode_image(np.zeros((height, width, 3), np.uint8), image_format)
    if exif and image_format == 'jpeg':  # an APP1 segment before the frame header, as cameras write
        blob = blob[:2] + b'\xff\xe1' + struct.pack('>H', 2 + 300) + bytes(300) + blob[2:]
    assert compressed_size(blob) == (width, height)
    assert decode_image(blob, max_pixels=width * height).shape == (height, width, 3)
    with pytest.raises(ImageError, match=f'{width}x{height} pixels is larger than'):
        decode_image(blob, max_pixels=width * height - 1)


def test_progressive_jpeg_size():
    ok, blob = cv2.imencode('.jpg', np.zeros((30, 50, 3), np.uint8), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    assert compressed_size(blob.tobytes()) == (50, 30)


@pytest.mark.parametrize('image_format', ['png', 'jpeg'])
def test_a_bomb_is_refused_before_any_pixel_is_decoded(image_format):
    bomb = declared(encode_image(np.zeros((8, 8, 3), np.uint8), image_format), 20_000, 20_000)
    assert len(bomb) < 2_000
    with pytest.raises(ImageError, match='20000x20000 pixels is larger than'):  # the header check, not the decoder
        decode_image(bomb, max_pixels=DEFAULT_MAX_PIXELS)


@pytest.mark.parametrize(('blob', 'message'), [
    (b'GIF89a' + bytes(20), 'neither PNG nor JPEG'),
    (b'\x89PNG\r\n\x1a\n' + bytes(4), 'without an IHDR'),
    (b'\xff\xd8\xff\xd9', 'without a frame header'),
    (b'\xff\xd8\x00\x00\x00\x00', 'no marker at byte 2'),
])
def test_headers_that_declare_no_size_are_refused(blob, message):
    with pytest.raises(ImageError, match=message):
        decode_image(blob, max_pixels=DEFAULT_MAX_PIXELS)


def test_raw_images_larger_than_max_pixels_are_refused():
    with pytest.raises(ImageError, match='4x2 pixels is larger than the 7 pixels'):
        raw_to_rgb('rgb8', 2, 4, 12, bytes(24), max_pixels=7)
    assert raw_to_rgb('rgb8', 2, 4, 12, bytes(24), max_pixels=8).shape == (2, 4, 3)
