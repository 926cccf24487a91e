"""The appearance suite: it covers every listed condition, photographs only in benchmark worlds, look-alike
obstacles wear the wall's or floor's material, and each world can be described in words.
"""

from __future__ import annotations

import colorsys
import dataclasses
import math
from collections import Counter

import mujoco
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from simhelpers import cylinder, hand_made_arena

from selfsup_perception.sim import SimParams, Simulation, appearance
from selfsup_perception.sim.describe import describe_arena, surface_colour_name
from selfsup_perception.sim.photos import is_photo, photo_kinds
from selfsup_perception.sim.seeds import BENCHMARK, DEMO, TRAINING, TUNING
from selfsup_perception.sim.textures import FLOOR_KINDS, OBSTACLE_KINDS, WALL_KINDS
from selfsup_perception.sim.world import PASSAGE, Arena, Light, Surface, add_arena, generate_arena


@pytest.fixture(scope='module')
def training_arenas() -> list[Arena]:
    return [generate_arena(SimParams(seed=seed)) for seed in TRAINING.first(300)]


@pytest.fixture(scope='module')
def benchmark_arenas() -> list[Arena]:
    return [generate_arena(SimParams(seed=seed)) for seed in BENCHMARK.first(100)]


def _surfaces(arena: Arena) -> list[Surface]:
    return [arena.floor, arena.wall, *(o.surface for o in arena.obstacles)]


def test_training_tuning_and_demo_worlds_never_wear_photographs(training_arenas: list[Arena]) -> None:
    others = [generate_arena(SimParams(seed=seed)) for seed in (*TUNING.first(40), *DEMO.first(40), 1000, 1001)]
    for arena in training_arenas + others:
        assert not any(is_photo(surface.kind) for surface in _surfaces(arena)), arena.seed
        assert describe_arena(arena)['photographic'] is False


def test_benchmark_worlds_sometimes_do(benchmark_arenas: list[Arena]) -> None:
    photographic = [describe_arena(arena)['photographic'] for arena in benchmark_arenas]
    assert 20 <= sum(photographic) <= 80
    floors = {arena.floor.kind for arena in benchmark_arenas}
    walls = {arena.wall.kind for arena in benchmark_arenas}
    obstacles = {o.surface.kind for arena in benchmark_arenas for o in arena.obstacles}
    assert floors & set(photo_kinds('floor'))
    assert walls & set(photo_kinds('wall'))
    assert obstacles & set(photo_kinds('obstacle'))
    # Photographs replace surfaces only: the rest of a benchmark world is drawn like any other.
    assert floors & set(FLOOR_KINDS)
    assert walls & set(WALL_KINDS)


def test_benchmark_worlds_are_deterministic() -> None:
    for seed in BENCHMARK.first(12):
        assert generate_arena(SimParams(seed=seed)) == generate_arena(SimParams(seed=seed))


def test_the_suite_covers_every_condition(training_arenas: list[Arena]) -> None:
    seen: Counter[str] = Counter()
    for arena in training_arenas:
        words = describe_arena(arena)
        seen.update(f'floor {name}' for name in [words['floor_colour']])
        seen.update(f'wall {name}' for name in [words['wall_colour']])
        seen.update(f'obstacle {name}' for name in str(words['obstacle_colours']).split())
        seen.update([f'floor kind {arena.floor.kind}', f'wall kind {arena.wall.kind}'])
        seen.update(f'obstacle kind {o.surface.kind}' for o in arena.obstacles if o.look == 'own')
        seen.update([f'light {words["light"]}', f'room {words["room"]}', f'clutter {words["clutter"]}'])
        seen['coloured light'] += words['light_colour'] != 'white'
        seen['like wall'] += int(words['like_wall']) > 0
        seen['like floor'] += int(words['like_floor']) > 0
    wanted = [f'{family} {name}' for family in ('floor', 'wall', 'obstacle') for name in (*appearance.HUE_NAMES, 'grey')]
    wanted += [f'floor kind {kind}' for kind in FLOOR_KINDS] + [f'wall kind {kind}' for kind in WALL_KINDS]
    wanted += [f'obstacle kind {kind}' for kind in OBSTACLE_KINDS]
    wanted += [f'light {level}' for level in ('dim', 'normal', 'bright')] + ['coloured light']
    wanted += [f'room {size}' for size in ('small', 'medium', 'large')]
    wanted += [f'clutter {level}' for level in ('sparse', 'medium', 'dense')] + ['like wall', 'like floor']
    assert [condition for condition in wanted if seen[condition] < 3] == []


def test_the_suite_is_at_least_as_wide_as_before() -> None:
    """Earlier worlds: 3 m rooms, 5 to 12 obstacles, pastel walls, vivid obstacles, white light."""
    assert appearance.ROOM_SIZES[0] < 3.0 < appearance.ROOM_SIZES[1]
    low, high = appearance.CLUTTER_DENSITIES['sparse'][0], appearance.CLUTTER_DENSITIES['dense'][1]
    assert low < 5 / 9
    assert high > 12 / 9
    assert SimParams().min_obstacles <= 5
    assert SimParams().max_obstacles >= 12
    for family, saturation, value in (
        ('floor', (0.0, 0.7), (0.25, 0.95)),
        ('wall', (0.0, 0.35), (0.6, 0.95)),
        ('obstacle', (0.4, 1.0), (0.3, 0.95)),
    ):
        bounds = appearance.SURFACE_COLOURS[family]
        assert bounds.saturation[0] <= saturation[0]
        assert bounds.saturation[1] >= saturation[1]
        assert bounds.value[0] <= value[0]
        assert bounds.value[1] >= value[1]
        assert bounds.hue == (0.0, 1.0)
    assert appearance.LIGHT_SCALES['normal'] == (1.0, 1.0)


def test_light_levels_do_not_overlap() -> None:
    """Ambient in 0.2 .. 0.4 plus the main light in 0.6 .. 1.0, times the level's scale."""
    dim, bright = appearance.LIGHT_SCALES['dim'], appearance.LIGHT_SCALES['bright']
    assert dim[1] * (0.4 + 1.0) < appearance.DIM <= 0.2 + 0.6
    assert 0.4 + 1.0 <= appearance.BRIGHT < bright[0] * (0.2 + 0.6)
    warm, cool = (1.0, 0.84, 0.66), (0.82, 0.9, 1.0)
    assert not appearance.is_coloured_light(warm)
    assert not appearance.is_coloured_light(cool)
    assert appearance.COLOURED_LIGHT_SATURATION[0] > appearance.COLOURED_SATURATION


@given(st.integers(0, 11), st.floats(-14.0, 14.0), st.floats(0.13, 1.0), st.floats(0.05, 1.0))
def test_colour_names_follow_the_hue_circle(bin_index: int, offset: float, saturation: float, value: float) -> None:
    hue = ((bin_index * 30 + offset) / 360) % 1.0
    assert appearance.colour_name(colorsys.hsv_to_rgb(hue, saturation, value)) == appearance.HUE_NAMES[bin_index]
    assert appearance.colour_name(colorsys.hsv_to_rgb(hue, saturation * 0.11, value)) == 'grey'


def test_suite_colours_are_a_quarter_grey_and_within_bounds() -> None:
    rng = np.random.default_rng(3)
    bounds = appearance.SURFACE_COLOURS['wall']
    colours = [appearance.suite_colour(rng, bounds) for _ in range(2000)]
    hsv = np.array([colorsys.rgb_to_hsv(*colour) for colour in colours])
    greys = np.mean(hsv[:, 1] < appearance.GREY_SATURATION)
    assert 0.2 < greys < 0.3
    assert bounds.value[0] - 1e-9 <= hsv[:, 2].min()
    assert hsv[:, 2].max() <= bounds.value[1] + 1e-9
    assert hsv[:, 1].max() <= bounds.saturation[1] + 1e-9


@pytest.mark.parametrize('seed', [*TRAINING.first(30), *BENCHMARK.first(30)])
def test_every_world_keeps_passages(seed: int) -> None:
    arena = generate_arena(SimParams(seed=seed))
    half = arena.size / 2
    assert appearance.ROOM_SIZES[0] <= arena.size <= appearance.ROOM_SIZES[1]
    assert 1 <= len(arena.obstacles) <= SimParams().max_obstacles
    for obstacle in arena.obstacles:
        assert half - max(abs(obstacle.x), abs(obstacle.y)) >= obstacle.radius + PASSAGE
    points = np.array([(o.x, o.y, o.radius) for o in arena.obstacles])
    gaps = np.hypot(*(points[:, None, :2] - points[None, :, :2]).transpose(2, 0, 1))
    needed = points[:, None, 2] + points[None, :, 2] + PASSAGE
    np.fill_diagonal(gaps, math.inf)
    assert (gaps >= needed).all()
    assert arena.is_free(*arena.start[:2])


def test_a_fixed_room_size_is_kept() -> None:
    assert {generate_arena(SimParams(seed=seed, room_size=3.0)).size for seed in range(5)} == {3.0}


def test_a_dense_small_room_keeps_what_fits() -> None:
    arena = generate_arena(SimParams(seed=4, room_size=2.0, min_obstacles=1, max_obstacles=60))
    assert 1 <= len(arena.obstacles) < 60


def test_look_alike_obstacles_wear_the_wall_or_floor_material(training_arenas: list[Arena]) -> None:
    arena = next(a for a in training_arenas if {'wall', 'floor'} <= {o.look for o in a.obstacles})
    for obstacle in arena.obstacles:
        expected = {'wall': arena.wall, 'floor': arena.floor}.get(obstacle.look)
        assert expected is None or obstacle.surface == expected
    spec = mujoco.MjSpec()
    add_arena(spec, arena)
    model = spec.compile()
    material = {name: model.geom_matid[model.geom(name).id] for name in ('floor', 'wall_0')}
    for index, obstacle in enumerate(arena.obstacles):
        own = model.geom_matid[model.geom(f'obstacle_{index}').id]
        if obstacle.look == 'own':
            assert own not in material.values()
        else:
            assert own == material[{'wall': 'wall_0', 'floor': 'floor'}[obstacle.look]]


def test_an_unknown_look_is_refused() -> None:
    with pytest.raises(ValueError, match=r'^look: expected one of own, wall, floor'):
        dataclasses.replace(cylinder(0.5, 0.5), look='ceiling')


def test_describe_a_hand_made_arena() -> None:
    words = describe_arena(hand_made_arena())
    assert words == {
        'seed': 0,
        'seed_range': 'training',
        'room': 'medium',
        'room_size': 3.0,
        'clutter': 'sparse',
        'obstacles': 0,
        'floor': 'concrete',
        'floor_colour': surface_colour_name(Surface('concrete', 2, 0.1, 0.2), 'floor'),
        'wall': 'plaster',
        'wall_colour': surface_colour_name(Surface('plaster', 1, 0.1, 0.2), 'wall'),
        'obstacle_kinds': '',
        'obstacle_colours': '',
        'like_wall': 0,
        'like_floor': 0,
        'light': 'normal',
        'light_colour': 'white',
        'photographic': False,
    }


def test_describe_photographs_look_alikes_and_coloured_dim_light() -> None:
    base = hand_made_arena(size=1.9)
    red = Surface('plain', 3, 0.1, 0.2, (0.9, 0.1, 0.1))
    obstacles = (
        dataclasses.replace(cylinder(0.5, 0.5), surface=red),
        dataclasses.replace(cylinder(-0.5, 0.5), surface=base.floor, look='floor'),
    )
    light = Light((0.0, 0.0, 2.4), (0.0, 0.0), colorsys.hsv_to_rgb(0.66, 0.8, 1.0), 0.4, 50.0, 0.1, True)
    arena = dataclasses.replace(
        base, seed=100_003, wall=Surface('photo_brick', 5, 0.1, 0.2), obstacles=obstacles, lights=(light,), ambient=0.1
    )
    words = describe_arena(arena)
    assert words['seed_range'] == 'benchmark'
    assert (words['room'], words['clutter']) == ('small', 'medium')  # 2 obstacles on 3.61 m2
    assert (words['wall'], words['wall_colour'], words['photographic']) == ('photo_brick', 'photo', True)
    assert (words['obstacle_kinds'], words['obstacle_colours']) == ('plain', 'red')
    assert (words['like_wall'], words['like_floor']) == (0, 1)
    assert (words['light'], words['light_colour']) == ('dim', 'blue')


def test_descriptions_have_the_same_keys_and_plain_values(training_arenas: list[Arena]) -> None:
    keys = list(describe_arena(training_arenas[0]))
    for arena in training_arenas[:50]:
        words = describe_arena(arena)
        assert list(words) == keys
        assert all(isinstance(value, str | int | float | bool) for value in words.values())


def test_a_photographic_world_renders(robot_config, benchmark_arenas: list[Arena]) -> None:
    arena = next(a for a in benchmark_arenas if is_photo(a.floor.kind))
    with Simulation(SimParams(seed=arena.seed, camera_width=64, camera_height=48), robot_config) as simulation:
        assert simulation.arena == arena
        frame = simulation.step().camera
    assert frame is not None
    assert frame.image.shape == (48, 64, 3)
    assert frame.image.std() > 5  # a textured picture, not a blank
