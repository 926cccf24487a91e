"""The appearance suite the procedural worlds are drawn from: colours, lights, clutter and room sizes.

Every draw covers what a robot meets indoors and contains the narrower ranges of earlier versions:
surface colours over the whole hue circle and greys, dim, ordinary, bright and coloured light, sparse to
dense clutter, small to large rooms. The names used in reports (:func:`colour_name`, :func:`light_level`,
:func:`clutter_level`, :func:`room_class`) are computed from the drawn values, so they describe any arena,
hand-made ones included.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np

RGB = tuple[float, float, float]

#: Below this HSV saturation a colour counts as a grey.
GREY_SATURATION = 0.12
#: Share of surfaces painted grey (the rest take a hue anywhere on the circle).
GREY_PROBABILITY = 0.25
#: Names of the twelve 30-degree hue bins, the first centred on red (0 degrees).
HUE_NAMES = (
    'red', 'orange', 'yellow', 'lime', 'green', 'spring', 'cyan', 'azure', 'blue', 'violet', 'magenta', 'rose'
)


@dataclass(frozen=True)
class ColourRange:
    """HSV saturation and value bounds (in [0, 1]) of a surface's base colour, plus an optional hue band."""

    saturation: tuple[float, float]
    value: tuple[float, float]
    hue: tuple[float, float] = (0.0, 1.0)


#: Base colours per surface family (any hue, greys included).
SURFACE_COLOURS = {
    'floor': ColourRange((0.0, 0.85), (0.2, 0.95)),
    'wall': ColourRange((0.0, 0.8), (0.35, 0.95)),
    'obstacle': ColourRange((0.0, 1.0), (0.15, 1.0)),
}
#: Natural tones (wood, cardboard) that these (family, kind) pairs take half of the time.
NATURAL_COLOURS = {
    ('floor', 'wood'): ColourRange((0.35, 0.7), (0.35, 0.85), (0.04, 0.11)),
    ('wall', 'panels'): ColourRange((0.2, 0.6), (0.4, 0.9), (0.04, 0.12)),
    ('obstacle', 'wood'): ColourRange((0.35, 0.7), (0.35, 0.85), (0.04, 0.11)),
    ('obstacle', 'cardboard'): ColourRange((0.35, 0.55), (0.55, 0.8), (0.07, 0.1)),
}

#: Brightness scale of every light and the ambient term per light level (1 = an ordinarily lit room).
LIGHT_SCALES = {'dim': (0.2, 0.55), 'normal': (1.0, 1.0), 'bright': (1.8, 2.5)}
LIGHT_PROBABILITIES = {'dim': 0.2, 'normal': 0.55, 'bright': 0.25}
#: Ambient + strongest light intensity below DIM is 'dim', above BRIGHT 'bright' (normal spans 0.8 .. 1.4).
DIM, BRIGHT = 0.8, 1.4
#: Share of worlds lit in colour, and the saturation of those lights (white lights stay below 0.35).
COLOURED_LIGHT_PROBABILITY = 0.25
COLOURED_LIGHT_SATURATION = (0.45, 0.9)
#: A light more saturated than this counts as coloured.
COLOURED_SATURATION = 0.4

#: Obstacles per m2 of floor per clutter level, and how often each level is drawn.
CLUTTER_DENSITIES = {'sparse': (0.1, 0.5), 'medium': (0.55, 1.35), 'dense': (1.4, 2.5)}
CLUTTER_PROBABILITIES = {'sparse': 0.25, 'medium': 0.45, 'dense': 0.3}
#: Fewer obstacles per m2 than SPARSE is 'sparse', more than DENSE 'dense'.
SPARSE, DENSE = 0.5, 1.35

#: Side of the square room in m when not fixed by a parameter: log-uniform between these.
ROOM_SIZES = (1.8, 7.0)
#: Rooms smaller than SMALL_ROOM m are 'small', larger than LARGE_ROOM 'large'.
SMALL_ROOM, LARGE_ROOM = 2.5, 4.5

#: Per obstacle: chance of wearing the wall's material, and the floor's (look-alike obstacles).
LIKE_WALL_PROBABILITY = 0.1
LIKE_FLOOR_PROBABILITY = 0.1


def random_colour(
    rng: np.random.Generator,
    saturation: tuple[float, float],
    value: tuple[float, float],
    hue: tuple[float, float] = (0.0, 1.0),
) -> RGB:
    """A colour drawn uniformly in HSV (ranges in [0, 1]), returned as RGB in [0, 1]."""
    h, s, v = rng.uniform(*hue) % 1.0, rng.uniform(*saturation), rng.uniform(*value)
    return colorsys.hsv_to_rgb(h, s, v)


def suite_colour(rng: np.random.Generator, bounds: ColourRange) -> RGB:
    """A grey (saturation below :data:`GREY_SATURATION`) with :data:`GREY_PROBABILITY`, else a colour at least
    that saturated: together they cover ``bounds``.
    """
    low, high = bounds.saturation
    grey = rng.random() < GREY_PROBABILITY
    saturation = (low, min(high, GREY_SATURATION)) if grey else (max(low, GREY_SATURATION), high)
    return random_colour(rng, saturation, bounds.value, bounds.hue)


def surface_colour(rng: np.random.Generator, family: str, kind: str) -> RGB:
    """The base colour of a ``kind`` surface of ``family`` (floor, wall, obstacle): natural tones for wood
    and cardboard half of the time, else the family's suite colour.
    """
    natural = NATURAL_COLOURS.get((family, kind))
    if natural is not None and rng.random() < 0.5:
        return random_colour(rng, natural.saturation, natural.value, natural.hue)
    return suite_colour(rng, SURFACE_COLOURS[family])


def colour_name(colour: RGB) -> str:
    """'grey', or the name of the colour's 30-degree hue bin (see :data:`HUE_NAMES`)."""
    hue, saturation, _ = colorsys.rgb_to_hsv(*colour)
    if saturation < GREY_SATURATION:
        return 'grey'
    return HUE_NAMES[round(hue * len(HUE_NAMES)) % len(HUE_NAMES)]


def choose(rng: np.random.Generator, probabilities: dict[str, float]) -> str:
    """A key of ``probabilities`` drawn with those probabilities (they sum to 1)."""
    names = list(probabilities)
    return names[int(rng.choice(len(names), p=list(probabilities.values())))]


def light_level(ambient: float, intensities: list[float]) -> str:
    """'dim', 'normal' or 'bright' from the ambient term plus the strongest light's intensity."""
    level = ambient + max(intensities, default=0.0)
    return 'dim' if level < DIM else 'bright' if level > BRIGHT else 'normal'


def is_coloured_light(colour: RGB) -> bool:
    """Whether a light's colour is clearly not a white (warm and cool whites stay below the threshold)."""
    return colorsys.rgb_to_hsv(*colour)[1] > COLOURED_SATURATION


def clutter_level(count: int, size: float) -> str:
    """'sparse', 'medium' or 'dense' from obstacles per m2 in a ``size`` x ``size`` room."""
    density = count / size**2
    return 'sparse' if density < SPARSE else 'dense' if density > DENSE else 'medium'


def room_class(size: float) -> str:
    """'small', 'medium' or 'large' room."""
    return 'small' if size < SMALL_ROOM else 'large' if size > LARGE_ROOM else 'medium'


def room_size(rng: np.random.Generator) -> float:
    """A room side drawn log-uniformly in :data:`ROOM_SIZES`."""
    low, high = ROOM_SIZES
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))
