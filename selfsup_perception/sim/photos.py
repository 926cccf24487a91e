"""Photographic textures cut from the real photographs bundled with scikit-image: the held-out appearance family.

Only benchmark worlds wear them (:data:`selfsup_perception.sim.seeds.BENCHMARK`, enforced by
:func:`selfsup_perception.sim.world.generate_arena`), so a model built on training worlds has never seen a
photograph on a floor, wall or obstacle: it measures how perception transfers to an unseen look. A photo
kind is named ``photo_<name>`` after the scikit-image loader (``skimage.data.<name>``).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

PHOTO_PREFIX = 'photo_'
#: Photographs that could plausibly cover a floor (paving, lawn, gravel, rock, a coin tray).
FLOOR_PHOTOS = ('brick', 'grass', 'gravel', 'moon', 'coins')
#: ... a wall (brickwork, render, posters, printed pages).
WALL_PHOTOS = ('brick', 'gravel', 'page', 'text', 'camera', 'hubble_deep_field', 'coffee')
#: ... an obstacle (any of them: printed boxes, posters, crates).
OBSTACLE_PHOTOS = (
    'astronaut', 'brick', 'camera', 'chelsea', 'coffee', 'coins', 'grass', 'gravel', 'hubble_deep_field', 'moon',
    'page', 'retina', 'rocket', 'text',
)
_FAMILY_PHOTOS = {'floor': FLOOR_PHOTOS, 'wall': WALL_PHOTOS, 'obstacle': OBSTACLE_PHOTOS}
#: Share of the photograph's shorter side that one crop covers.
_CROP = (0.35, 1.0)


def photo_kinds(family: str) -> tuple[str, ...]:
    """The photo kinds a ``family`` (floor, wall, obstacle) surface can take."""
    return tuple(PHOTO_PREFIX + name for name in _FAMILY_PHOTOS[family])


def is_photo(kind: str) -> bool:
    """Whether a surface kind is photographic."""
    return kind.startswith(PHOTO_PREFIX)


@functools.cache
def photograph(name: str) -> np.ndarray:
    """The scikit-image photograph ``name`` as read-only float32 RGB in [0, 1] (loaded once per process)."""
    if name not in OBSTACLE_PHOTOS:
        raise ValueError(f'photo: unknown photograph {name!r}; expected one of {", ".join(OBSTACLE_PHOTOS)}')
    try:
        from skimage import data
    except ImportError as error:
        raise ImportError(
            'photographic textures (benchmark worlds) need scikit-image: pip install "selfsup_perception[sim]"'
        ) from error
    image = np.asarray(getattr(data, name)())
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    rgb = (image[..., :3].astype(np.float32) / 255.0).copy()
    rgb.flags.writeable = False
    return rgb


def photo_texture(name: str, rng: np.random.Generator, n: int) -> np.ndarray:
    """An ``n`` x ``n`` uint8 RGB tile of photograph ``name``: a random square crop, mirrored into a 2 x 2
    block so that it tiles without seams.
    """
    image = photograph(name)
    height, width = image.shape[:2]
    side = max(8, round(rng.uniform(*_CROP) * min(height, width)))
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    half = (n + 1) // 2
    crop = cv2.resize(image[top : top + side, left : left + side], (half, half), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.5:
        crop = crop.transpose(1, 0, 2)
    row = np.concatenate([crop, crop[:, ::-1]], axis=1)
    tile = np.concatenate([row, row[::-1]], axis=0)
    return np.clip(tile[:n, :n] * 255.0 + 0.5, 0, 255).astype(np.uint8)
