"""Procedural arenas: deterministic per seed, different between seeds, obstacles placed with passages."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from selfsup_perception.sim import SimParamError, SimParams, Simulation
from selfsup_perception.sim.textures import FLOOR_KINDS, OBSTACLE_KINDS, WALL_KINDS, make_texture
from selfsup_perception.sim.world import PASSAGE, START_CLEARANCE, generate_arena


def test_same_seed_gives_the_same_arena() -> None:
    assert generate_arena(SimParams(seed=7)) == generate_arena(SimParams(seed=7))


def test_different_seeds_give_different_arenas() -> None:
    arenas = [generate_arena(SimParams(seed=seed)) for seed in (0, 1, 2, 1000, 1001)]
    for a, b in itertools.combinations(arenas, 2):
        assert a.obstacles != b.obstacles
        assert a.start != b.start
        assert a.floor.texture_seed != b.floor.texture_seed
    # Over a few seeds the looks vary, not only the layout.
    assert len({a.floor.kind for a in arenas}) > 1
    assert len({a.wall.kind for a in arenas}) > 1
    assert len({len(a.obstacles) for a in arenas}) > 1


@pytest.mark.parametrize('seed', range(8))
def test_obstacles_leave_passages_and_a_free_start(seed: int) -> None:
    params = SimParams(seed=seed)
    arena = generate_arena(params)
    assert params.min_obstacles <= len(arena.obstacles) <= params.max_obstacles
    half = arena.size / 2
    for obstacle in arena.obstacles:
        assert half - max(abs(obstacle.x), abs(obstacle.y)) >= obstacle.radius + PASSAGE
        assert math.hypot(obstacle.x - arena.start[0], obstacle.y - arena.start[1]) >= (
            obstacle.radius + START_CLEARANCE
        )
        assert {obstacle.shape} <= {'box', 'cylinder'}
    for a, b in itertools.combinations(arena.obstacles, 2):
        assert math.hypot(a.x - b.x, a.y - b.y) >= a.radius + b.radius + PASSAGE
    assert arena.is_free(*arena.start[:2])


def test_too_many_obstacles_fail_with_a_clear_message() -> None:
    with pytest.raises(SimParamError, match=r'^max_obstacles: could place only \d+ of 60 obstacles'):
        generate_arena(SimParams(room_size=2.0, min_obstacles=60, max_obstacles=60))


def test_textures_are_deterministic_and_seeded() -> None:
    for family, kinds in (('floor', FLOOR_KINDS), ('wall', WALL_KINDS), ('obstacle', OBSTACLE_KINDS)):
        for kind in kinds:
            image = make_texture(family, kind, 5, 64)
            assert image.shape == (64, 64, 3)
            assert image.dtype == np.uint8
            np.testing.assert_array_equal(image, make_texture(family, kind, 5, 64))
            assert not np.array_equal(image, make_texture(family, kind, 6, 64))


def _first_frame(robot_config, seed: int) -> np.ndarray:
    with Simulation(SimParams(seed=seed), robot_config) as simulation:
        return simulation.step().camera.image


def test_training_and_evaluation_seeds_look_different(robot_config) -> None:
    frames = {seed: _first_frame(robot_config, seed) for seed in (0, 1, 1000, 1001)}
    np.testing.assert_array_equal(frames[0], _first_frame(robot_config, 0))
    for a, b in itertools.combinations(frames, 2):
        difference = np.abs(frames[a].astype(float) - frames[b].astype(float)).mean()
        assert difference > 10, (a, b, difference)
