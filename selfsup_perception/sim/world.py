"""Procedural arenas: a walled room with random obstacles, floor, walls and lights, all drawn from a seed.

:func:`generate_arena` draws the plain-data :class:`Arena` (deterministic per seed, different between
seeds: domain randomisation over the appearance suite of :mod:`selfsup_perception.sim.appearance`);
:func:`add_arena` turns it into MuJoCo geoms. Obstacles and walls are vertical prisms (boxes, cylinders)
standing on the floor, in geom group :data:`RAY_GROUP`, the one the proximity sensors and the ground
truth cast rays against.

Held-out appearance rule: photographic textures (:mod:`selfsup_perception.sim.photos`) appear only in
worlds whose seed is in :data:`selfsup_perception.sim.seeds.BENCHMARK`, drawn from a random stream of
their own, so the rest of a benchmark world is drawn exactly as any other world is.
"""

from __future__ import annotations

import colorsys
import functools
import math
from dataclasses import dataclass, replace

import mujoco
import numpy as np

from selfsup_perception.sim import appearance
from selfsup_perception.sim.appearance import RGB
from selfsup_perception.sim.params import SimParamError, SimParams
from selfsup_perception.sim.photos import photo_kinds
from selfsup_perception.sim.seeds import BENCHMARK
from selfsup_perception.sim.textures import FLOOR_KINDS, OBSTACLE_KINDS, WALL_KINDS, make_texture

#: Segmentation class ids (``/ground_truth/segmentation``).
FLOOR, OBSTACLE, WALL = 0, 1, 2
#: Geom group of everything a proximity sensor can see (walls and obstacles).
RAY_GROUP = 1
WALL_THICKNESS = 0.1
#: How far the skirting boards stand out of the walls into the room.
SKIRTING_DEPTH = 0.008
#: Free space kept between obstacles, and between obstacles and walls, so the robot can pass.
PASSAGE = 0.25
#: Rendering grid spacing (m) of the floor and ceiling planes of rooms up to 3 m.
PLANE_GRID = 0.05
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
    'linoleum': (1.5, 3.0),
    'marble': (0.8, 2.4),
    'bricks': (0.6, 1.6),
    'blobs': (0.8, 2.5),
    'grid': (0.4, 1.6),
}
#: ... for a photographic floor.
_PHOTO_TILE = (0.8, 3.0)
#: Share of benchmark worlds that wear photographs, and the chance of each of floor, walls and obstacles
#: (then of each obstacle) doing so in such a world; at least one of the three always does.
PHOTO_WORLD_PROBABILITY = 0.5
PHOTO_SURFACE_PROBABILITY = 0.6
#: What an obstacle looks like: its own surface, or the wall's or the floor's material (look-alikes).
LOOKS = ('own', 'wall', 'floor')


@dataclass(frozen=True)
class Surface:
    """How a surface looks: a texture (kind, seed, base colour; None: drawn from the seed, or a photo's own)
    and its material.
    """

    kind: str
    texture_seed: int
    specular: float
    shininess: float
    colour: RGB | None = None


@dataclass(frozen=True)
class Obstacle:
    """A box (half sizes ``half_x``, ``half_y``) or cylinder (radius ``half_x``) standing on the floor.

    ``look`` 'wall' or 'floor': it wears that material (``surface`` is then the arena's wall or floor).
    """

    shape: str
    x: float
    y: float
    yaw: float
    half_x: float
    half_y: float
    height: float
    surface: Surface
    look: str = 'own'

    def __post_init__(self) -> None:
        if self.look not in LOOKS:
            raise ValueError(f'look: expected one of {", ".join(LOOKS)}, got {self.look!r}')

    @property
    def radius(self) -> float:
        """Radius of the footprint's bounding circle."""
        return math.hypot(self.half_x, self.half_y) if self.shape == 'box' else self.half_x


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

    @functools.cached_property
    def _footprints(self) -> np.ndarray:
        """(N, 6) x, y, cos(yaw), sin(yaw), half_x, half_y per obstacle (half_y 0: a cylinder), for is_free."""
        return np.array(
            [
                (o.x, o.y, math.cos(o.yaw), math.sin(o.yaw), o.half_x, o.half_y if o.shape == 'box' else 0.0)
                for o in self.obstacles
            ],
            np.float64,
        ).reshape(-1, 6)

    def is_free(self, x: float, y: float) -> bool:
        """Whether the floor point (x, y) is inside the room and outside every obstacle's footprint."""
        half = self.size / 2 - SKIRTING_DEPTH
        if not (-half < x < half and -half < y < half):
            return False
        x0, y0, c, s, half_x, half_y = self._footprints.T
        dx, dy = x - x0, y - y0
        box = (np.abs(c * dx + s * dy) < half_x) & (np.abs(c * dy - s * dx) < half_y)
        cylinder = (half_y == 0.0) & (dx * dx + dy * dy < half_x**2)
        return not (box | cylinder).any()


def _surface(rng: np.random.Generator, family: str, kinds: tuple[str, ...], shiny: float) -> Surface:
    kind = str(rng.choice(kinds))
    return Surface(
        kind=kind,
        texture_seed=int(rng.integers(2**31)),
        specular=float(rng.uniform(0.05, 0.2 + shiny)),
        shininess=float(rng.uniform(0.1, 0.3 + shiny)),
        colour=appearance.surface_colour(rng, family, kind),
    )


def _random_footprint(rng: np.random.Generator) -> tuple[str, float, float, float, float]:
    """Shape, yaw, half sizes and height of an obstacle."""
    shape = 'box' if rng.random() < 0.55 else 'cylinder'
    if shape == 'box':
        half_x, half_y = rng.uniform(0.04, 0.25, 2)
    else:
        half_x = half_y = rng.uniform(0.03, 0.18)
    # Mostly low clutter (bins, boxes, toys), sometimes tall (furniture, pillars).
    height = rng.uniform(0.6, 1.0) if rng.random() < 0.15 else rng.uniform(0.06, 0.4)
    return shape, float(rng.uniform(-math.pi, math.pi)), float(half_x), float(half_y), float(height)


def _obstacle_count(rng: np.random.Generator, params: SimParams, size: float) -> int:
    """Obstacles wanted: a clutter level's density times the floor area, within the parameters' bounds."""
    level = appearance.choose(rng, appearance.CLUTTER_PROBABILITIES)
    density = rng.uniform(*appearance.CLUTTER_DENSITIES[level])
    return int(np.clip(round(density * size**2), params.min_obstacles, params.max_obstacles))


def _place_obstacles(
    rng: np.random.Generator, params: SimParams, size: float, start: tuple[float, float, float]
) -> list[Obstacle]:
    """Rejection sampling: every obstacle keeps :data:`PASSAGE` from walls, others and the start. A dense room
    keeps what fits once ``min_obstacles`` stand; fewer than that raise SimParamError.
    """
    count = _obstacle_count(rng, params, size)
    half = size / 2
    placeholder = Surface('plain', 0, 0.0, 0.0)
    placed: list[Obstacle] = []
    for index in range(count):
        for _ in range(_PLACEMENT_TRIES):
            x, y = (float(v) for v in rng.uniform(-half, half, 2))
            shape, yaw, half_x, half_y, height = _random_footprint(rng)
            candidate = Obstacle(shape, x, y, yaw, half_x, half_y, height, placeholder)
            r = candidate.radius
            if half - max(abs(x), abs(y)) < r + PASSAGE:
                continue
            if math.hypot(x - start[0], y - start[1]) < r + START_CLEARANCE:
                continue
            if all(math.hypot(x - o.x, y - o.y) >= r + o.radius + PASSAGE for o in placed):
                placed.append(candidate)
                break
        else:
            if index >= params.min_obstacles:
                break
            raise SimParamError(
                f'max_obstacles: could place only {index} of {count} obstacles (seed {params.seed}; at least '
                f'min_obstacles={params.min_obstacles} needed) in a {size:g} m room keeping {PASSAGE} m '
                f'passages; lower max_obstacles/min_obstacles or raise room_size'
            )
    return placed


def _dress_obstacles(
    rng: np.random.Generator, placed: list[Obstacle], floor: Surface, wall: Surface
) -> tuple[Obstacle, ...]:
    """Give each obstacle its own surface, or (look-alikes) the wall's or the floor's."""
    looks = {'wall': appearance.LIKE_WALL_PROBABILITY, 'floor': appearance.LIKE_FLOOR_PROBABILITY}
    looks = {'own': 1.0 - sum(looks.values()), **looks}
    dressed = []
    for obstacle in placed:
        look = appearance.choose(rng, looks)
        surface = {'wall': wall, 'floor': floor}.get(look) or _surface(rng, 'obstacle', OBSTACLE_KINDS, 0.4)
        dressed.append(replace(obstacle, surface=surface, look=look))
    return tuple(dressed)


def _lights(rng: np.random.Generator, size: float, height: float) -> tuple[tuple[Light, ...], float]:
    """A main ceiling light casting shadows (its cone covers a 3 m room, so its shadow map stays sharp)
    and wide fill lights (up to two, more in big rooms); each between warm and cool white or, in coloured
    worlds, near one hue; all scaled by the world's light level. Returns the lights and the ambient term.
    """
    level = appearance.choose(rng, appearance.LIGHT_PROBABILITIES)
    scale = float(rng.uniform(*appearance.LIGHT_SCALES[level]))
    coloured = rng.random() < appearance.COLOURED_LIGHT_PROBABILITY
    tint = rng.random()
    lights = []
    warm, cool = np.array([1.0, 0.84, 0.66]), np.array([0.82, 0.9, 1.0])
    count = min(8, int(rng.integers(1, 4)) + max(0, round((size / 3) ** 2) - 1))
    for index in range(count):
        main = index == 0
        spread = 0.25 if main else 0.4
        x, y = rng.uniform(-spread * size, spread * size, 2)
        tx, ty = np.array([x, y]) * rng.uniform(0.0, 0.8)
        cover = math.degrees(math.atan(0.8 * size / height))
        if coloured:
            hue = (tint + rng.uniform(-0.08, 0.08)) % 1.0
            red, green, blue = colorsys.hsv_to_rgb(hue, rng.uniform(*appearance.COLOURED_LIGHT_SATURATION), 1.0)
        else:
            red, green, blue = warm + rng.random() * (cool - warm)
        lights.append(
            Light(
                position=(float(x), float(y), height - 0.05),
                target=(float(tx), float(ty)),
                colour=(float(red), float(green), float(blue)),
                intensity=scale * float(rng.uniform(0.6, 1.0) if main else rng.uniform(0.15, 0.45)),
                cutoff=float(np.clip(cover + rng.uniform(-3, 8), 25, 60) if main else rng.uniform(60, 80)),
                bulb_radius=float(rng.uniform(0.05, 0.3)),
                castshadow=main,
            )
        )
    return tuple(lights), scale * float(rng.uniform(0.2, 0.4))


def _photo_surface(rng: np.random.Generator, family: str, like: Surface) -> Surface:
    """A photographic surface for ``family`` with the material of ``like``."""
    return Surface(str(rng.choice(photo_kinds(family))), int(rng.integers(2**31)), like.specular, like.shininess)


def _with_photographs(arena: Arena, rng: np.random.Generator) -> Arena:
    """The benchmark world ``arena``, with photographs on some of its surfaces in some worlds."""
    if rng.random() >= PHOTO_WORLD_PROBABILITY:
        return arena
    parts = [part for part in ('floor', 'wall', 'obstacles') if rng.random() < PHOTO_SURFACE_PROBABILITY]
    parts = parts or [str(rng.choice(['floor', 'wall', 'obstacles']))]
    floor, floor_tile, wall = arena.floor, arena.floor_tile, arena.wall
    if 'floor' in parts:
        floor, floor_tile = _photo_surface(rng, 'floor', floor), float(rng.uniform(*_PHOTO_TILE))
    if 'wall' in parts:
        wall = _photo_surface(rng, 'wall', wall)
    obstacles = []
    for obstacle in arena.obstacles:
        surface = {'wall': wall, 'floor': floor}.get(obstacle.look, obstacle.surface)
        if obstacle.look == 'own' and 'obstacles' in parts and rng.random() < PHOTO_SURFACE_PROBABILITY:
            surface = _photo_surface(rng, 'obstacle', surface)
        obstacles.append(replace(obstacle, surface=surface))
    return replace(arena, floor=floor, floor_tile=floor_tile, wall=wall, obstacles=tuple(obstacles))


def generate_arena(params: SimParams) -> Arena:
    """Draw the arena of ``params.seed`` (same seed, same arena); raise SimParamError if it cannot fit.

    The room side is ``params.room_size``, or drawn per seed when that is 0. Photographs only in
    :data:`~selfsup_perception.sim.seeds.BENCHMARK` worlds.
    """
    rng = np.random.default_rng([params.seed, 0x5E1F])
    size = params.room_size or appearance.room_size(rng)
    half = size / 2
    margin = START_CLEARANCE
    start = (
        float(rng.uniform(-half + margin, half - margin)),
        float(rng.uniform(-half + margin, half - margin)),
        float(rng.uniform(-math.pi, math.pi)),
    )
    floor = _surface(rng, 'floor', FLOOR_KINDS, 0.3)
    wall_height = float(rng.uniform(2.2, 3.0))
    floor_tile = float(rng.uniform(*_FLOOR_TILE[floor.kind]))
    wall = _surface(rng, 'wall', WALL_KINDS, 0.0)
    skirting = tuple(float(c) for c in rng.uniform(0.1, 0.9) * np.ones(3) * rng.uniform(0.85, 1.0, 3))
    ceiling = tuple(float(c) for c in rng.uniform(0.75, 0.95) * np.ones(3))
    obstacles = _dress_obstacles(rng, _place_obstacles(rng, params, size, start), floor, wall)
    lights, ambient = _lights(rng, size, wall_height)
    arena = Arena(
        seed=params.seed,
        size=size,
        wall_height=wall_height,
        floor=floor,
        floor_tile=floor_tile,
        wall=wall,
        skirting=(skirting[0], skirting[1], skirting[2]),
        ceiling=(ceiling[0], ceiling[1], ceiling[2]),
        obstacles=obstacles,
        lights=lights,
        ambient=ambient,
        start=start,
    )
    if params.seed in BENCHMARK:
        arena = _with_photographs(arena, np.random.default_rng([params.seed, 0xF070]))
    return arena


def _material(
    spec: mujoco.MjSpec, name: str, family: str, surface: Surface, repeat: tuple[float, float], uniform: bool
) -> str:
    """Add the surface's texture and material to ``spec``; return the material name."""
    image = make_texture(family, surface.kind, surface.texture_seed, _TEXTURE_SIZE[family], surface.colour)
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
    # Lighting is per vertex of the floor's and ceiling's rendering grid: keep as many cells as a 3 m room
    # has at PLANE_GRID, so that big rooms do not render slower.
    grid = PLANE_GRID * max(1.0, arena.size / 3.0)
    floor_material = _material(spec, 'floor', 'floor', arena.floor, (floor_repeat, floor_repeat), True)
    world.add_geom(
        name='floor',
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[half, half, grid],
        contype=0,
        conaffinity=0,
        castshadow=False,
        material=floor_material,
    )
    world.add_geom(
        name='ceiling',
        type=mujoco.mjtGeom.mjGEOM_PLANE,
        size=[half, half, grid],
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
        # Look-alikes wear the wall's or floor's material itself: same texture at the same scale.
        material = {'wall': wall_material, 'floor': floor_material}.get(obstacle.look) or _material(
            spec, name, 'obstacle', obstacle.surface, (1.0, 1.0), False
        )
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
