"""Procedural arenas: a walled room with random obstacles, floor, walls and lights, all drawn from a seed.

:func:`generate_arena` draws the plain-data :class:`Arena` (deterministic per seed, different between
seeds: domain randomisation); :func:`add_arena` turns it into MuJoCo geoms. Obstacles and walls are
vertical prisms (boxes, cylinders) standing on the floor, in geom group :data:`RAY_GROUP`, the one
the proximity sensors and the ground truth cast rays against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mujoco
import numpy as np

from selfsup_perception.sim.params import SimParamError, SimParams
from selfsup_perception.sim.textures import FLOOR_KINDS, OBSTACLE_KINDS, RGB, WALL_KINDS, make_texture

#: Segmentation class ids (``/ground_truth/segmentation``).
FLOOR, OBSTACLE, WALL = 0, 1, 2
#: Geom group of everything a proximity sensor can see (walls and obstacles).
RAY_GROUP = 1
WALL_THICKNESS = 0.1
#: How far the skirting boards stand out of the walls into the room.
SKIRTING_DEPTH = 0.008
#: Free space kept between obstacles, and between obstacles and walls, so the robot can pass.
PASSAGE = 0.25
#: Radius kept free around the robot's start.
START_CLEARANCE = 0.35
_RAY_GROUPS = np.array([int(group == RAY_GROUP) for group in range(6)], np.uint8)
_PLACEMENT_TRIES = 300
_TEXTURE_SIZE = {'floor': 512, 'wall': 256, 'obstacle': 128}
#: Physical size (m) that one copy of a floor texture covers, per floor kind.
_FLOOR_TILE = {
    'wood': (0.9, 1.6),
    'tiles': (0.6, 1.6),
    'carpet': (0.6, 1.2),
    'concrete': (1.5, 3.0),
    'checker': (0.8, 2.0),
}


@dataclass(frozen=True)
class Surface:
    """How a surface looks: a procedural texture (kind, seed) and its material."""

    kind: str
    texture_seed: int
    specular: float
    shininess: float


@dataclass(frozen=True)
class Obstacle:
    """A box (half sizes ``half_x``, ``half_y``) or cylinder (radius ``half_x``) standing on the floor."""

    shape: str
    x: float
    y: float
    yaw: float
    half_x: float
    half_y: float
    height: float
    surface: Surface

    @property
    def radius(self) -> float:
        """Radius of the footprint's bounding circle."""
        return math.hypot(self.half_x, self.half_y) if self.shape == 'box' else self.half_x

    def contains(self, x: float, y: float) -> bool:
        """Whether the floor point (x, y) is inside the footprint."""
        dx, dy = x - self.x, y - self.y
        if self.shape == 'cylinder':
            return dx * dx + dy * dy < self.half_x**2
        c, s = math.cos(self.yaw), math.sin(self.yaw)
        return abs(c * dx + s * dy) < self.half_x and abs(-s * dx + c * dy) < self.half_y


@dataclass(frozen=True)
class Light:
    """A spot light hanging from the ceiling, pointing down at ``target``."""

    position: tuple[float, float, float]
    target: tuple[float, float]
    colour: RGB
    intensity: float
    cutoff: float
    bulb_radius: float
    castshadow: bool


@dataclass(frozen=True)
class Arena:
    """A square room of side ``size`` centred at the origin, its obstacles, looks, lights and robot start."""

    seed: int
    size: float
    wall_height: float
    floor: Surface
    floor_tile: float
    wall: Surface
    skirting: RGB
    ceiling: RGB
    obstacles: tuple[Obstacle, ...]
    lights: tuple[Light, ...]
    ambient: float
    start: tuple[float, float, float]

    def is_free(self, x: float, y: float) -> bool:
        """Whether the floor point (x, y) is inside the room and outside every obstacle."""
        half = self.size / 2 - SKIRTING_DEPTH
        if not (-half < x < half and -half < y < half):
            return False
        return not any(o.contains(x, y) for o in self.obstacles)


def _surface(rng: np.random.Generator, kinds: tuple[str, ...], shiny: float) -> Surface:
    return Surface(
        kind=str(rng.choice(kinds)),
        texture_seed=int(rng.integers(2**31)),
        specular=float(rng.uniform(0.05, 0.2 + shiny)),
        shininess=float(rng.uniform(0.1, 0.3 + shiny)),
    )


def _random_obstacle(rng: np.random.Generator, x: float, y: float) -> Obstacle:
    shape = 'box' if rng.random() < 0.55 else 'cylinder'
    if shape == 'box':
        half_x, half_y = rng.uniform(0.04, 0.25, 2)
    else:
        half_x = half_y = rng.uniform(0.03, 0.18)
    # Mostly low clutter (bins, boxes, toys), sometimes tall (furniture, pillars).
    height = rng.uniform(0.6, 1.0) if rng.random() < 0.15 else rng.uniform(0.06, 0.4)
    return Obstacle(
        shape,
        x,
        y,
        float(rng.uniform(-math.pi, math.pi)),
        float(half_x),
        float(half_y),
        float(height),
        _surface(rng, OBSTACLE_KINDS, 0.4),
    )


def _place_obstacles(
    rng: np.random.Generator, params: SimParams, start: tuple[float, float, float]
) -> tuple[Obstacle, ...]:
    """Rejection sampling: every obstacle keeps :data:`PASSAGE` from walls, others and the start."""
    count = int(rng.integers(params.min_obstacles, params.max_obstacles + 1))
    half = params.room_size / 2
    placed: list[Obstacle] = []
    for index in range(count):
        for _ in range(_PLACEMENT_TRIES):
            x, y = rng.uniform(-half, half, 2)
            candidate = _random_obstacle(rng, float(x), float(y))
            r = candidate.radius
            if half - max(abs(x), abs(y)) < r + PASSAGE:
                continue
            if math.hypot(x - start[0], y - start[1]) < r + START_CLEARANCE:
                continue
            if all(math.hypot(x - o.x, y - o.y) >= r + o.radius + PASSAGE for o in placed):
                placed.append(candidate)
                break
        else:
            raise SimParamError(
                f'max_obstacles: could place only {index} of {count} obstacles (seed {params.seed}) in a '
                f'room_size={params.room_size:g} m room keeping {PASSAGE} m passages; lower '
                f'max_obstacles/min_obstacles or raise room_size'
            )
    return tuple(placed)


def _lights(rng: np.random.Generator, size: float, height: float) -> tuple[Light, ...]:
    """A main ceiling light casting shadows (its cone covers a 3 m room, so its shadow map stays sharp)
    and wide fill lights (up to two, more in big rooms); each between warm and cool white.
    """
    lights = []
    warm, cool = np.array([1.0, 0.84, 0.66]), np.array([0.82, 0.9, 1.0])
    count = min(8, int(rng.integers(1, 4)) + max(0, round((size / 3) ** 2) - 1))
    for index in range(count):
        main = index == 0
        spread = 0.25 if main else 0.4
        x, y = rng.uniform(-spread * size, spread * size, 2)
        tx, ty = np.array([x, y]) * rng.uniform(0.0, 0.8)
        cover = math.degrees(math.atan(0.8 * size / height))
        lights.append(
            Light(
                position=(float(x), float(y), height - 0.05),
                target=(float(tx), float(ty)),
                colour=tuple(float(c) for c in warm + rng.random() * (cool - warm)),
                intensity=float(rng.uniform(0.6, 1.0) if main else rng.uniform(0.15, 0.45)),
                cutoff=float(np.clip(cover + rng.uniform(-3, 8), 25, 60) if main else rng.uniform(60, 80)),
                bulb_radius=float(rng.uniform(0.05, 0.3)),
                castshadow=main,
            )
        )
    return tuple(lights)


def generate_arena(params: SimParams) -> Arena:
    """Draw the arena of ``params.seed`` (same seed, same arena); raise SimParamError if it cannot fit."""
    rng = np.random.default_rng([params.seed, 0x5E1F])
    half = params.room_size / 2
    margin = START_CLEARANCE
    start = (
        float(rng.uniform(-half + margin, half - margin)),
        float(rng.uniform(-half + margin, half - margin)),
        float(rng.uniform(-math.pi, math.pi)),
    )
    floor = _surface(rng, FLOOR_KINDS, 0.3)
    wall_height = float(rng.uniform(2.2, 3.0))
    return Arena(
        seed=params.seed,
        size=params.room_size,
        wall_height=wall_height,
        floor=floor,
        floor_tile=float(rng.uniform(*_FLOOR_TILE[floor.kind])),
        wall=_surface(rng, WALL_KINDS, 0.0),
        skirting=tuple(float(c) for c in rng.uniform(0.1, 0.9) * np.ones(3) * rng.uniform(0.85, 1.0, 3)),
        ceiling=tuple(float(c) for c in rng.uniform(0.75, 0.95) * np.ones(3)),
        obstacles=_place_obstacles(rng, params, start),
        lights=_lights(rng, params.room_size, wall_height),
        ambient=float(rng.uniform(0.2, 0.4)),
        start=start,
    )


def _material(
    spec: mujoco.MjSpec, name: str, family: str, surface: Surface, repeat: tuple[float, float], uniform: bool
) -> str:
    """Add the surface's texture and material to ``spec``; return the material name."""
    image = make_texture(family, surface.kind, surface.texture_seed, _TEXTURE_SIZE[family])
    texture = spec.add_texture(
        name=name,
        type=mujoco.mjtTexture.mjTEXTURE_2D,
        width=image.shape[1],
        height=image.shape[0],
        nchannel=3,
    )
    texture.data = image.tobytes()
    material = spec.add_material(
        name=name,
        texrepeat=list(repeat),
        texuniform=uniform,
        specular=surface.specular,
        shininess=surface.shininess,
    )
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = name
    return name


def _yaw_quat(yaw: float) -> list[float]:
    return [math.cos(yaw / 2), 0.0, 0.0, math.sin(yaw / 2)]


def add_arena(spec: mujoco.MjSpec, arena: Arena) -> dict[str, int]:
    """Add the room, obstacles and lights to ``spec``; return {geom name: segmentation class}."""
    classes: dict[str, int] = {}
    world = spec.worldbody
    half, height = arena.size / 2, arena.wall_height
    # Static geoms collide with the robot (contype 2) only; nothing collides with the floor.
    static = {'contype': 1, 'conaffinity': 2, 'group': RAY_GROUP}
    floor_repeat = 1.0 / arena.floor_tile
    world.add_geom(
        name='floor',
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[half, half, 0.05],
        contype=0,
        conaffinity=0,
        castshadow=False,
        material=_material(spec, 'floor', 'floor', arena.floor, (floor_repeat, floor_repeat), True),
    )
    world.add_geom(
        name='ceiling',
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[half, half, 0.05],
        pos=[0, 0, height],
        quat=[0, 1, 0, 0],
        contype=0,
        conaffinity=0,
        castshadow=False,
        rgba=[*arena.ceiling, 1],
    )
    classes['floor'], classes['ceiling'] = FLOOR, WALL
    wall_material = _material(spec, 'wall', 'wall', arena.wall, (1.0, 1.0), True)
    skirting_height = 0.06
    # Every wall is the same box turned about z, so its texture maps the same way on all four sides.
    length, offset = half + WALL_THICKNESS, WALL_THICKNESS / 2
    for index, yaw in enumerate((0.0, math.pi / 2, math.pi, -math.pi / 2)):
        normal_x, normal_y = round(math.sin(yaw)), -round(math.cos(yaw))
        centre = [-(half + offset) * normal_x, -(half + offset) * normal_y]
        world.add_geom(
            name=f'wall_{index}',
            type=mujoco.mjtGeom.mjGEOM_BOX,
            pos=[*centre, height / 2],
            quat=_yaw_quat(yaw),
            size=[length, offset, height / 2],
            material=wall_material,
            castshadow=False,
            **static,
        )
        # A skirting board standing slightly out of the wall (part of the wall class).
        world.add_geom(
            name=f'skirting_{index}',
            type=mujoco.mjtGeom.mjGEOM_BOX,
            pos=[*centre, skirting_height / 2],
            quat=_yaw_quat(yaw),
            size=[length, offset + SKIRTING_DEPTH, skirting_height / 2],
            rgba=[*arena.skirting, 1],
            castshadow=False,
            **static,
        )
        classes[f'wall_{index}'] = classes[f'skirting_{index}'] = WALL
    for index, obstacle in enumerate(arena.obstacles):
        name = f'obstacle_{index}'
        material = _material(spec, name, 'obstacle', obstacle.surface, (1.0, 1.0), False)
        if obstacle.shape == 'box':
            geom_type, size = (
                mujoco.mjtGeom.mjGEOM_BOX,
                [obstacle.half_x, obstacle.half_y, obstacle.height / 2],
            )
        else:
            geom_type, size = mujoco.mjtGeom.mjGEOM_CYLINDER, [obstacle.half_x, obstacle.height / 2, 0.0]
        world.add_geom(
            name=name,
            type=geom_type,
            pos=[obstacle.x, obstacle.y, obstacle.height / 2],
            quat=_yaw_quat(obstacle.yaw),
            size=size,
            material=material,
            **static,
        )
        classes[name] = OBSTACLE
    for index, light in enumerate(arena.lights):
        direction = np.array([light.target[0], light.target[1], 0.0]) - np.array(light.position)
        world.add_light(
            name=f'light_{index}',
            pos=list(light.position),
            dir=list(direction / np.linalg.norm(direction)),
            diffuse=[c * light.intensity for c in light.colour],
            specular=[0.3 * light.intensity] * 3,
            cutoff=light.cutoff,
            exponent=2.0,
            bulbradius=light.bulb_radius,
            castshadow=light.castshadow,
        )
    spec.visual.headlight.ambient = [arena.ambient] * 3
    spec.visual.headlight.diffuse = [0.0] * 3
    spec.visual.headlight.specular = [0.0] * 3
    return classes


def ray_distance(
    model: mujoco.MjModel, data: mujoco.MjData, x: float, y: float, z: float, yaw: float
) -> float:
    """Distance along the horizontal ray from (x, y, z) heading ``yaw`` to a wall or obstacle (or inf)."""
    origin = np.array([x, y, z])
    direction = np.array([math.cos(yaw), math.sin(yaw), 0.0])
    distance = mujoco.mj_ray(model, data, origin, direction, _RAY_GROUPS, True, -1, np.zeros(1, np.int32))
    return math.inf if distance < 0 else distance
