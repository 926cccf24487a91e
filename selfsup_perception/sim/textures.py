"""Procedural textures (numpy) for floors, walls and obstacles: real-looking surfaces from a seed.

Every function takes its own ``numpy.random.Generator`` and returns an ``(n, n, 3)`` uint8 RGB
image that tiles seamlessly, so one world is the same image every time it is built.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable

import cv2
import numpy as np

RGB = tuple[float, float, float]


def random_colour(
    rng: np.random.Generator,
    saturation: tuple[float, float],
    value: tuple[float, float],
    hue: tuple[float, float] = (0.0, 1.0),
) -> RGB:
    """A colour drawn in HSV (ranges in [0, 1]), returned as RGB in [0, 1]."""
    h, s, v = rng.uniform(*hue) % 1.0, rng.uniform(*saturation), rng.uniform(*value)
    return colorsys.hsv_to_rgb(h, s, v)


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


Pattern = Callable[[np.random.Generator, int], np.ndarray]


def _floor_patterns(rng: np.random.Generator) -> dict[str, Pattern]:
    """Floor looks with their colours drawn here (plausible indoor floors, wide variety)."""
    wood_colour = random_colour(rng, (0.35, 0.7), (0.35, 0.85), (0.04, 0.11))
    return {
        'wood': lambda r, n: wood(r, n, wood_colour, planks=int(r.integers(4, 9))),
        'tiles': lambda r, n: tiles(r, n, random_colour(r, (0.0, 0.3), (0.5, 0.95)), int(r.integers(2, 5))),
        'carpet': lambda r, n: carpet(r, n, random_colour(r, (0.15, 0.7), (0.25, 0.75))),
        'concrete': lambda r, n: concrete(r, n, random_colour(r, (0.0, 0.12), (0.4, 0.8))),
        'checker': lambda r, n: checker(
            r,
            n,
            random_colour(r, (0.0, 0.6), (0.55, 0.95)),
            random_colour(r, (0.0, 0.6), (0.1, 0.45)),
            int(r.integers(2, 5)),
        ),
    }


def _wall_patterns(rng: np.random.Generator) -> dict[str, Pattern]:
    paint = random_colour(rng, (0.0, 0.35), (0.6, 0.95))
    return {
        'plaster': lambda r, n: plaster(r, n, paint),
        'wallpaper': lambda r, n: stripes(
            r, n, paint, random_colour(r, (0.0, 0.4), (0.45, 0.9)), int(r.integers(6, 16))
        ),
        'panels': lambda r, n: (
            wood(r, n, random_colour(r, (0.2, 0.6), (0.4, 0.9), (0.04, 0.12)), planks=int(r.integers(6, 12)))
            .transpose(1, 0, 2)
            .copy()
        ),
    }


def _obstacle_patterns(rng: np.random.Generator) -> dict[str, Pattern]:
    base = random_colour(rng, (0.4, 1.0), (0.3, 0.95))
    return {
        'plain': lambda r, n: plaster(r, n, base),
        'stripes': lambda r, n: stripes(
            r, n, base, random_colour(r, (0.0, 1.0), (0.2, 1.0)), int(r.integers(2, 6))
        ),
        'checker': lambda r, n: checker(
            r, n, base, random_colour(r, (0.0, 1.0), (0.1, 0.9)), int(r.integers(2, 5))
        ),
        'wood': lambda r, n: wood(
            r, n, random_colour(r, (0.35, 0.7), (0.35, 0.85), (0.04, 0.11)), planks=int(r.integers(2, 5))
        ),
        'cardboard': lambda r, n: cardboard(r, n, random_colour(r, (0.35, 0.55), (0.55, 0.8), (0.07, 0.1))),
        'dots': lambda r, n: dots(
            r, n, base, random_colour(r, (0.0, 1.0), (0.2, 1.0)), int(r.integers(3, 8))
        ),
        'fabric': lambda r, n: carpet(r, n, base),
    }


FLOOR_KINDS = ('wood', 'tiles', 'carpet', 'concrete', 'checker')
WALL_KINDS = ('plaster', 'wallpaper', 'panels')
OBSTACLE_KINDS = ('plain', 'stripes', 'checker', 'wood', 'cardboard', 'dots', 'fabric')
_FAMILIES = {'floor': _floor_patterns, 'wall': _wall_patterns, 'obstacle': _obstacle_patterns}


def make_texture(family: str, kind: str, seed: int, n: int) -> np.ndarray:
    """The ``n`` x ``n`` texture of ``kind`` in ``family`` (floor, wall, obstacle) for ``seed``."""
    rng = np.random.default_rng(seed)
    return _FAMILIES[family](rng)[kind](rng, n)
