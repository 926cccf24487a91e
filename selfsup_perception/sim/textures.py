"""Procedural textures (numpy) for floors, walls and obstacles: real-looking surfaces from a seed.

Every function takes its own ``numpy.random.Generator`` and returns an ``(n, n, 3)`` uint8 RGB
image that tiles seamlessly, so one world is the same image every time it is built. A texture's base
colour comes from the world (:mod:`selfsup_perception.sim.appearance`), or is drawn from its seed; the
photographic kinds (``photo_*``) come from :mod:`selfsup_perception.sim.photos`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import cv2
import numpy as np

from selfsup_perception.sim.appearance import RGB, random_colour, surface_colour
from selfsup_perception.sim.photos import PHOTO_PREFIX, is_photo, photo_kinds, photo_texture


def smooth_noise(rng: np.random.Generator, n: int, cells: int, across: int | None = None) -> np.ndarray:
    """Tileable value noise in [0, 1] with about ``cells`` blobs along x (``across`` along y, default
    the same) over an ``n`` x ``n`` image; ``across`` > ``cells`` gives streaks along x.
    """
    grid = rng.random((across or cells, cells)).astype(np.float32)
    tiled = np.tile(grid, (3, 3))
    big = cv2.resize(tiled, (3 * n, 3 * n), interpolation=cv2.INTER_CUBIC)
    return np.clip(big[n : 2 * n, n : 2 * n], 0.0, 1.0)


def fractal_noise(rng: np.random.Generator, n: int, cells: int = 4, octaves: int = 4) -> np.ndarray:
    """Sum of value-noise octaves (each twice as fine, half as strong), normalised to [0, 1]."""
    total = np.zeros((n, n), np.float32)
    for octave in range(octaves):
        total += smooth_noise(rng, n, min(cells * 2**octave, n)) / 2**octave
    total -= total.min()
    return total / max(float(total.max()), 1e-6)


def _shade(colour: RGB, factor: np.ndarray) -> np.ndarray:
    """Colour times a per-pixel brightness factor, as float RGB."""
    return factor[..., None] * np.asarray(colour, np.float32)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)


def wood(rng: np.random.Generator, n: int, colour: RGB, planks: int = 4) -> np.ndarray:
    """Parquet planks along the image's x axis, each its own tone, with fine grain and staggered joints."""
    rows = np.arange(n)[:, None]
    cols = np.arange(n)[None, :]
    plank = rows * planks // n
    tone = (0.8 + 0.35 * rng.random(planks))[plank]
    streaks = smooth_noise(rng, n, 2, planks * 10)
    warp = smooth_noise(rng, n, 3)
    phase = (rng.random(planks) * 2 * np.pi)[plank]
    grain = 0.97 + 0.03 * np.sin(rows * (2 * np.pi * planks * 6 / n) + 2.0 * warp + phase)
    fine = (0.85 + 0.15 * streaks) * (0.95 + 0.05 * fractal_noise(rng, n, 24, 2))
    offset = (rng.integers(0, n, planks))[plank]
    joints = ((cols + offset) % n < 2) | (rows % (n // planks) < 1)
    factor = np.where(joints, 0.5, tone * grain * fine)
    return _to_uint8(_shade(colour, factor.astype(np.float32)))


def tiles(rng: np.random.Generator, n: int, colour: RGB, count: int = 2) -> np.ndarray:
    """Square ceramic tiles with grout lines and a slight tone change per tile."""
    index = np.arange(n) * count // n
    tone = 0.88 + 0.16 * rng.random((count, count))
    factor = tone[index[:, None], index[None, :]] * (0.93 + 0.07 * fractal_noise(rng, n, 8, 3))
    grout = (np.arange(n) % (n // count)) < max(2, n // 128)
    factor = np.where(grout[:, None] | grout[None, :], 0.55, factor)
    return _to_uint8(_shade(colour, factor.astype(np.float32)))


def carpet(rng: np.random.Generator, n: int, colour: RGB) -> np.ndarray:
    """Fine fibre noise over a mottled base: a carpet or felt mat."""
    fibre = rng.random((n, n)).astype(np.float32)
    factor = 0.7 + 0.2 * fractal_noise(rng, n, 6, 3) + 0.18 * fibre
    return _to_uint8(_shade(colour, factor))


def concrete(rng: np.random.Generator, n: int, colour: RGB) -> np.ndarray:
    """Low-frequency stains with dark and light specks: polished concrete or stone."""
    specks = rng.random((n, n)).astype(np.float32)
    factor = 0.72 + 0.3 * fractal_noise(rng, n, 3, 5)
    factor = np.where(specks < 0.01, factor * 0.85, np.where(specks > 0.99, factor * 1.1, factor))
    return _to_uint8(_shade(colour, factor))


def checker(rng: np.random.Generator, n: int, colour: RGB, other: RGB, count: int = 4) -> np.ndarray:
    """Two-colour vinyl checkerboard with wear noise (a lab arena floor)."""
    index = np.arange(n) * count // n
    mask = ((index[:, None] + index[None, :]) % 2).astype(bool)
    wear = 0.9 + 0.1 * fractal_noise(rng, n, 8, 3)
    image = np.where(mask[..., None], _shade(colour, wear), _shade(other, wear))
    return _to_uint8(image)


def plaster(rng: np.random.Generator, n: int, colour: RGB) -> np.ndarray:
    """Painted wall: almost flat colour with soft blotches and a fine grain."""
    factor = 0.9 + 0.07 * fractal_noise(rng, n, 3, 4) + 0.03 * rng.random((n, n)).astype(np.float32)
    return _to_uint8(_shade(colour, factor))


def stripes(rng: np.random.Generator, n: int, colour: RGB, other: RGB, count: int = 6) -> np.ndarray:
    """Vertical stripes (wallpaper, painted crates) with a fine grain."""
    band = (np.arange(n) * count * 2 // n) % 2 == 0
    grain = 0.92 + 0.08 * fractal_noise(rng, n, 12, 2)
    image = np.where(band[None, :, None], _shade(colour, grain), _shade(other, grain))
    return _to_uint8(image)


def cardboard(rng: np.random.Generator, n: int, colour: RGB) -> np.ndarray:
    """Corrugated cardboard with a band of packing tape."""
    corrugation = 0.95 + 0.05 * np.sin(np.arange(n) * (2 * np.pi * 24 / n))[None, :]
    factor = corrugation * (0.82 + 0.18 * fractal_noise(rng, n, 6, 4))
    image = _shade(colour, factor.astype(np.float32))
    start = int(rng.integers(n // 4, n // 2))
    image[start : start + n // 8] = image[start : start + n // 8] * 0.8 + 0.12
    return _to_uint8(image)


def dots(rng: np.random.Generator, n: int, colour: RGB, other: RGB, count: int = 6) -> np.ndarray:
    """Polka dots (toys, printed fabric)."""
    coords = (np.arange(n) + 0.5) * count / n % 1.0 - 0.5
    inside = coords[:, None] ** 2 + coords[None, :] ** 2 < 0.09
    grain = 0.93 + 0.07 * fractal_noise(rng, n, 8, 2)
    return _to_uint8(np.where(inside[..., None], _shade(other, grain), _shade(colour, grain)))


def bricks(rng: np.random.Generator, n: int, colour: RGB, rows: int = 6) -> np.ndarray:
    """Brickwork in running bond (walls, pavers): two-to-one bricks, each its own tone, in mortar joints.

    ``rows`` must be even for the bond to tile.
    """
    per_row = rows // 2
    y, x = np.arange(n)[:, None], np.arange(n)[None, :]
    row = y * rows // n
    shifted = (x + (row % 2) * (n // (2 * per_row))) % n
    tone = (0.75 + 0.35 * rng.random((rows, per_row)))[row, shifted * per_row // n]
    mortar_width = max(1, n // 96)
    joints = ((y * rows) % n < mortar_width * rows) | ((shifted * per_row) % n < mortar_width * per_row)
    rough = 0.85 + 0.15 * fractal_noise(rng, n, 16, 3)
    mortar = random_colour(rng, (0.0, 0.1), (0.55, 0.85))
    image = np.where(joints[..., None], _shade(mortar, rough), _shade(colour, (tone * rough).astype(np.float32)))
    return _to_uint8(image)


def marble(rng: np.random.Generator, n: int, colour: RGB, bands: int = 2) -> np.ndarray:
    """Polished stone with dark, turbulent veins."""
    y, x = np.arange(n)[:, None] / n, np.arange(n)[None, :] / n
    turbulence = fractal_noise(rng, n, 4, 5)
    phase = 2 * np.pi * (bands * x + int(rng.integers(0, 2)) * y) + 5.0 * turbulence
    veins = (1.0 - np.abs(np.sin(phase))) ** 5
    factor = (0.85 + 0.15 * fractal_noise(rng, n, 6, 4)) * (1.0 - 0.4 * veins)
    return _to_uint8(_shade(colour, factor.astype(np.float32)))


def blobs(rng: np.random.Generator, n: int, colour: RGB, other: RGB, third: RGB) -> np.ndarray:
    """Three-colour blotches (camouflage print, rugs, mottled plastic)."""
    noise = fractal_noise(rng, n, int(rng.integers(2, 5)), 3)
    low, high = np.quantile(noise, [0.45, 0.8])
    grain = 0.93 + 0.07 * fractal_noise(rng, n, 16, 2)
    image = np.where(
        (noise < low)[..., None],
        _shade(colour, grain),
        np.where((noise < high)[..., None], _shade(other, grain), _shade(third, grain)),
    )
    return _to_uint8(image)


def grid(rng: np.random.Generator, n: int, colour: RGB, line: RGB, count: int = 4) -> np.ndarray:
    """Thin lines on a plain ground (lab mats, pegboard, graph-paper prints)."""
    width = max(1, n // 128)
    lines = (np.arange(n) * count) % n < width * count
    grain = 0.92 + 0.08 * fractal_noise(rng, n, 8, 3)
    image = np.where((lines[:, None] | lines[None, :])[..., None], _shade(line, grain), _shade(colour, grain))
    return _to_uint8(image)


#: A texture from its generator, size and base colour.
Pattern = Callable[[np.random.Generator, int, RGB], np.ndarray]


def _any_colour(rng: np.random.Generator) -> RGB:
    """A second colour for two-colour patterns: any hue, from grey to vivid."""
    return random_colour(rng, (0.0, 1.0), (0.15, 1.0))


FLOOR_PATTERNS: dict[str, Pattern] = {
    'wood': lambda r, n, c: wood(r, n, c, planks=int(r.integers(4, 9))),
    'tiles': lambda r, n, c: tiles(r, n, c, int(r.integers(2, 5))),
    'carpet': carpet,
    'concrete': concrete,
    'checker': lambda r, n, c: checker(r, n, c, random_colour(r, (0.0, 0.6), (0.1, 0.45)), int(r.integers(2, 5))),
    'linoleum': plaster,
    'marble': lambda r, n, c: marble(r, n, c, int(r.integers(1, 4))),
    'bricks': lambda r, n, c: bricks(r, n, c, 2 * int(r.integers(2, 5))),
    'blobs': lambda r, n, c: blobs(r, n, c, _any_colour(r), _any_colour(r)),
    'grid': lambda r, n, c: grid(r, n, c, _any_colour(r), int(r.integers(2, 9))),
}
WALL_PATTERNS: dict[str, Pattern] = {
    'plaster': plaster,
    'wallpaper': lambda r, n, c: stripes(r, n, c, random_colour(r, (0.0, 0.4), (0.45, 0.9)), int(r.integers(6, 16))),
    'panels': lambda r, n, c: wood(r, n, c, planks=int(r.integers(6, 12))).transpose(1, 0, 2).copy(),
    'bricks': lambda r, n, c: bricks(r, n, c, 2 * int(r.integers(3, 7))),
    'tiles': lambda r, n, c: tiles(r, n, c, int(r.integers(3, 7))),
    'concrete': concrete,
    'marble': lambda r, n, c: marble(r, n, c, int(r.integers(1, 3))),
}
OBSTACLE_PATTERNS: dict[str, Pattern] = {
    'plain': plaster,
    'stripes': lambda r, n, c: stripes(r, n, c, random_colour(r, (0.0, 1.0), (0.2, 1.0)), int(r.integers(2, 6))),
    'checker': lambda r, n, c: checker(r, n, c, random_colour(r, (0.0, 1.0), (0.1, 0.9)), int(r.integers(2, 5))),
    'wood': lambda r, n, c: wood(r, n, c, planks=int(r.integers(2, 5))),
    'cardboard': cardboard,
    'dots': lambda r, n, c: dots(r, n, c, random_colour(r, (0.0, 1.0), (0.2, 1.0)), int(r.integers(3, 8))),
    'fabric': carpet,
    'bricks': lambda r, n, c: bricks(r, n, c, 2 * int(r.integers(1, 4))),
    'marble': lambda r, n, c: marble(r, n, c, int(r.integers(1, 3))),
    'blobs': lambda r, n, c: blobs(r, n, c, _any_colour(r), _any_colour(r)),
    'grid': lambda r, n, c: grid(r, n, c, _any_colour(r), int(r.integers(2, 7))),
    'concrete': concrete,
}
_PATTERNS = {'floor': FLOOR_PATTERNS, 'wall': WALL_PATTERNS, 'obstacle': OBSTACLE_PATTERNS}
#: The procedural kinds per family (every world may use them; the photo kinds are for benchmark worlds only).
FLOOR_KINDS = tuple(FLOOR_PATTERNS)
WALL_KINDS = tuple(WALL_PATTERNS)
OBSTACLE_KINDS = tuple(OBSTACLE_PATTERNS)


@functools.lru_cache(maxsize=32)
def make_texture(family: str, kind: str, seed: int, n: int, colour: RGB | None = None) -> np.ndarray:
    """The read-only ``n`` x ``n`` texture of ``kind`` in ``family`` (floor, wall, obstacle) for ``seed``, in
    base ``colour`` (None: drawn from the seed). Cached, so a world rebuilt for another run reuses its textures.
    """
    if family not in _PATTERNS:
        raise ValueError(f'family: unknown surface family {family!r}; expected one of {", ".join(_PATTERNS)}')
    rng = np.random.default_rng(seed)
    if is_photo(kind):
        photos = photo_kinds(family)
        if kind not in photos:
            raise ValueError(f'kind: {kind!r} is not a {family} photo; expected one of {", ".join(photos)}')
        image = photo_texture(kind.removeprefix(PHOTO_PREFIX), rng, n)
    else:
        patterns = _PATTERNS[family]
        if kind not in patterns:
            raise ValueError(f'kind: unknown {family} texture {kind!r}; expected one of {", ".join(patterns)}')
        image = patterns[kind](rng, n, surface_colour(rng, family, kind) if colour is None else colour)
    image.flags.writeable = False
    return image
