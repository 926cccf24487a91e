"""Textures of every kind, procedural and photographic: seeded, deterministic, seamless, in the given colour."""

from __future__ import annotations

import colorsys

import numpy as np
import pytest

from selfsup_perception.sim.photos import photo_kinds, photo_texture
from selfsup_perception.sim.textures import FLOOR_KINDS, OBSTACLE_KINDS, WALL_KINDS, make_texture

KINDS = [
    (family, kind)
    for family, kinds in (('floor', FLOOR_KINDS), ('wall', WALL_KINDS), ('obstacle', OBSTACLE_KINDS))
    for kind in (*kinds, *photo_kinds(family))
]


@pytest.mark.parametrize(('family', 'kind'), KINDS)
def test_texture_is_seeded_deterministic_and_read_only(family: str, kind: str) -> None:
    image = make_texture(family, kind, 5, 96)
    assert image.shape == (96, 96, 3)
    assert image.dtype == np.uint8
    assert not image.flags.writeable
    make_texture.cache_clear()
    np.testing.assert_array_equal(image, make_texture(family, kind, 5, 96))
    assert not np.array_equal(image, make_texture(family, kind, 6, 96))


@pytest.mark.parametrize(('family', 'kind'), KINDS)
def test_texture_tiles_without_a_seam(family: str, kind: str) -> None:
    """The step across the wrap-around edge is no bigger than the biggest step inside the image."""
    image = make_texture(family, kind, 11, 128).astype(np.float64)
    for axis in (0, 1):
        steps = np.abs(np.diff(image, axis=axis)).mean(axis=(1 - axis, 2))
        seam = np.abs(image.take(0, axis) - image.take(-1, axis)).mean()
        assert seam <= steps.max() + 1.0, (axis, seam, steps.max())


@pytest.mark.parametrize(('family', 'kind'), [(f, k) for f, k in KINDS if not k.startswith('photo_')])
def test_a_given_colour_is_the_base_colour(family: str, kind: str) -> None:
    blue = colorsys.hsv_to_rgb(0.62, 0.9, 0.8)
    image = make_texture(family, kind, 2, 64, blue).reshape(-1, 3).astype(np.float64)
    # At least a quarter of the pixels are clearly blue (two-colour patterns add a second colour).
    assert np.mean(image[:, 2] > image[:, 0] + 20) > 0.25
    assert not np.array_equal(make_texture(family, kind, 2, 64, blue), make_texture(family, kind, 2, 64))


def test_unknown_family_kind_and_photograph_are_named() -> None:
    with pytest.raises(ValueError, match=r"^family: unknown surface family 'ceiling'"):
        make_texture('ceiling', 'plaster', 1, 32)
    with pytest.raises(ValueError, match=r"^kind: unknown wall texture 'wood'"):
        make_texture('wall', 'wood', 1, 32)
    with pytest.raises(ValueError, match=r"^kind: 'photo_astronaut' is not a floor photo"):
        make_texture('floor', 'photo_astronaut', 1, 32)
    with pytest.raises(ValueError, match=r"^photo: unknown photograph 'selfie'"):
        photo_texture('selfie', np.random.default_rng(0), 32)
