"""Image conversion: ROS image fields to RGB numpy arrays, and encoding for storage.

ROS-free: the nodes pass the message fields in, so the same validation serves live topics and
bags. Every malformed input raises ``ImageError`` with a message saying what is wrong. With
``max_pixels`` an image larger than that is refused before any pixel is decoded: a few kB of PNG or
JPEG can declare a gigapixel image (a decompression bomb), so the size comes from the header first.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np

DEFAULT_MAX_PIXELS = 4096 * 4096  # 16.8 Mpx: above any robot camera's frame (4K UHD is 8.3 Mpx)
_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# JPEG start-of-frame markers (baseline, progressive, lossless, ...; not DHT C4, JPG C8, DAC CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RSTn, SOI: markers without a length

# encoding -> (channels, bytes per channel, conversion to RGB or None)
_ENCODINGS: dict[str, tuple[int, int, int | None]] = {
    'rgb8': (3, 1, None),
    'bgr8': (3, 1, cv2.COLOR_BGR2RGB),
    '8UC3': (3, 1, cv2.COLOR_BGR2RGB),
    'rgba8': (4, 1, cv2.COLOR_RGBA2RGB),
    'bgra8': (4, 1, cv2.COLOR_BGRA2RGB),
    'mono8': (1, 1, cv2.COLOR_GRAY2RGB),
    '8UC1': (1, 1, cv2.COLOR_GRAY2RGB),
    'mono16': (1, 2, cv2.COLOR_GRAY2RGB),
}
SUPPORTED_ENCODINGS = tuple(_ENCODINGS)


class ImageError(ValueError):
    """An image message or blob that cannot be turned into an RGB image."""


def raw_to_rgb(
    encoding: str,
    height: int,
    width: int,
    step: int,
    data: bytes | bytearray | memoryview,
    is_bigendian: bool = False,
    max_pixels: int | None = None,
) -> np.ndarray:
    """Convert sensor_msgs/Image fields to an (H, W, 3) uint8 RGB array (copies the data)."""
    if encoding not in _ENCODINGS:
        raise ImageError(f'unsupported encoding {encoding!r} (supported: {", ".join(SUPPORTED_ENCODINGS)})')
    channels, depth, conversion = _ENCODINGS[encoding]
    if height <= 0 or width <= 0:
        raise ImageError(f'empty image ({width}x{height})')
    _check_pixels(width, height, max_pixels)
    row_bytes = width * channels * depth
    if step < row_bytes:
        raise ImageError(f'step {step} is smaller than width * pixel size = {row_bytes}')
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size < step * height:
        raise ImageError(f'truncated image: {buffer.size} bytes, expected step * height = {step * height}')
    rows = buffer[: step * height].reshape(height, step)[:, :row_bytes]
    if depth == 2:
        dtype = np.dtype('>u2' if is_bigendian else '<u2')
        pixels = (np.ascontiguousarray(rows).view(dtype).reshape(height, width) >> 8).astype(np.uint8)
    else:
        pixels = rows.reshape(height, width, channels) if channels > 1 else rows.reshape(height, width)
    if conversion is None:
        return np.ascontiguousarray(pixels)
    return cv2.cvtColor(np.ascontiguousarray(pixels), conversion)


def rgb_to_raw(image: np.ndarray, encoding: str = 'rgb8') -> tuple[int, int, int, bytes]:
    """(height, width, step, data) for publishing an RGB (or mono8 2-D) uint8 image."""
    if image.dtype != np.uint8:
        raise ImageError(f'expected uint8 pixels, got {image.dtype}')
    if encoding == 'rgb8' and image.ndim == 3 and image.shape[2] == 3:
        pixels = image
    elif encoding == 'bgr8' and image.ndim == 3 and image.shape[2] == 3:
        pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif encoding == 'mono8' and image.ndim == 2:
        pixels = image
    else:
        raise ImageError(f'cannot publish an image of shape {image.shape} as {encoding}')
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    return height, width, pixels.strides[0], pixels.tobytes()


def _check_pixels(width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise ImageError(f'image of {width}x{height} pixels is larger than the {max_pixels} pixels accepted '
                         '(max_image_pixels)')


def compressed_size(blob: bytes | bytearray | memoryview) -> tuple[int, int]:
    """(width, height) a PNG or JPEG blob declares in its header, read without decoding any pixel."""
    data = bytes(memoryview(blob)[:65536]) if len(blob) > 65536 else bytes(blob)  # headers come first
    if data.startswith(_PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b'IHDR':
            raise ImageError('PNG without an IHDR header')
        width, height = struct.unpack('>II', data[16:24])
        return width, height
    if not data.startswith(b'\xff\xd8'):
        raise ImageError(f'compressed image is neither PNG nor JPEG ({len(blob)} bytes)')
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise ImageError(f'corrupt JPEG: no marker at byte {i}')
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _JPEG_STANDALONE:
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, or the scan before any frame header
            break
        if marker in _JPEG_SOF and i + 9 <= len(data):
            height, width = struct.unpack('>HH', data[i + 5 : i + 9])
            return width, height
        i += 2 + struct.unpack('>H', data[i + 2 : i + 4])[0]
    raise ImageError('JPEG without a frame header (SOF) in its first 64 kB')


def decode_image(
    blob: bytes | bytearray | memoryview, grayscale: bool = False, max_pixels: int | None = None
) -> np.ndarray:
    """Decode a JPEG/PNG blob to RGB (H, W, 3), or to (H, W) with ``grayscale`` (class masks).

    With ``max_pixels`` only PNG and JPEG are accepted, and only when their header's size is within it.
    """
    buffer = np.frombuffer(blob, dtype=np.uint8)
    if buffer.size == 0:
        raise ImageError('empty compressed image')
    if max_pixels is not None:
        _check_pixels(*compressed_size(blob), max_pixels)
    flags = cv2.IMREAD_UNCHANGED if grayscale else cv2.IMREAD_COLOR
    image = cv2.imdecode(buffer, flags)
    if image is None:
        raise ImageError(f'corrupt or unsupported compressed image ({buffer.size} bytes)')
    if grayscale:
        return image if image.ndim == 2 else image[..., 0]
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def encode_image(image: np.ndarray, image_format: str, jpeg_quality: int = 90) -> bytes:
    """Encode RGB (H, W, 3) or single-channel (H, W) uint8 as 'jpeg' or 'png'."""
    pixels = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    if image_format == 'jpeg':
        ok, blob = cv2.imencode('.jpg', pixels, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    elif image_format == 'png':
        ok, blob = cv2.imencode('.png', pixels)
    else:
        raise ImageError(f'unknown image format {image_format!r} (jpeg or png)')
    if not ok:
        raise ImageError(f'could not encode a {image.shape} image as {image_format}')
    return blob.tobytes()
