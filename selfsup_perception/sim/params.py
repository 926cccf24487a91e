"""The simulator's parameters, validated once at start so a bad value fails early, naming the parameter.

The same names are the ROS parameters of the ``sim_robot`` node and (with dashes) the options of
``selfsup simulate``. Lengths in m, angles in rad, rates in Hz, times in s (REP 103).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

#: Physics steps per simulated second; every stream rate must be at most this.
PHYSICS_RATE = 250.0


class SimParamError(ValueError):
    """A simulator parameter is invalid; the message starts with the parameter's name."""


@dataclass(frozen=True)
class SimParams:
    """Everything that defines one simulated run besides the sensors of ``config/robot.yaml``."""

    seed: int = 0
    run: int = 0
    room_size: float = 0.0
    min_obstacles: int = 1
    max_obstacles: int = 60
    camera_width: int = 160
    camera_height: int = 120
    camera_hfov: float = 1.22
    camera_mount_height: float = 0.10
    camera_tilt: float = 0.26
    camera_rate: float = 10.0
    camera_noise: float = 2.0
    proximity_rate: float = 20.0
    proximity_noise: float = 0.002
    odom_rate: float = 50.0
    odom_noise: float = 1.0
    clock_rate: float = 100.0
    forward_speed: float = 0.15
    turn_speed: float = 1.5
    random_turn_rate: float = 0.1

    def __post_init__(self) -> None:
        validate(self)


#: One-line help per parameter (CLI ``--help`` and the node's parameter descriptors).
DESCRIPTIONS: dict[str, str] = {
    'seed': 'arena, lighting and noise seed (>= 0); each seed is a different world',
    'run': 'another run in the same world (>= 0): other random turns and sensor noise, same arena',
    'room_size': 'side of the square walled room in m (1 to 20; 0 = drawn per seed, 1.8 to 7)',
    'min_obstacles': 'fewest obstacles in the room',
    'max_obstacles': 'most obstacles in the room (the count follows a clutter density drawn per seed, '
    'kept between min and max; a dense room keeps what fits)',
    'camera_width': 'camera image width in pixels',
    'camera_height': 'camera image height in pixels',
    'camera_hfov': 'camera horizontal field of view in rad (0, pi)',
    'camera_mount_height': 'camera height above the floor in m',
    'camera_tilt': 'camera pitch below the horizon in rad (positive looks down)',
    'camera_rate': 'camera frames per second',
    'camera_noise': 'std dev of the image noise in 8-bit levels (0 = none)',
    'proximity_rate': 'proximity readings per second (each sensor)',
    'proximity_noise': 'std dev of the proximity range noise in m',
    'odom_rate': 'odometry messages per second',
    'odom_noise': 'scale of the wheel odometry errors (0 = perfect odometry, 1 = typical)',
    'clock_rate': '/clock messages per second',
    'forward_speed': 'wander controller forward speed in m/s',
    'turn_speed': 'wander controller turn rate in rad/s',
    'random_turn_rate': 'random turns per second on average (0 = only turn at obstacles)',
}

_RATES = ('camera_rate', 'proximity_rate', 'odom_rate', 'clock_rate')
_POSITIVE = ('camera_hfov', 'camera_mount_height', 'forward_speed', 'turn_speed', *_RATES)
_NON_NEGATIVE = ('camera_noise', 'proximity_noise', 'odom_noise', 'random_turn_rate')


def _integer(params: SimParams, name: str, low: int, high: int) -> None:
    value = getattr(params, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SimParamError(f'{name}: expected an integer, got {value!r}')
    if not low <= value <= high:
        raise SimParamError(f'{name}: must be in [{low}, {high}], got {value}')


def validate(params: SimParams) -> None:
    """Raise :class:`SimParamError` naming the first invalid parameter."""
    for item in fields(params):
        value = getattr(params, item.name)
        number = not isinstance(value, bool) and isinstance(value, (int, float))
        if item.type == 'float' and not (number and math.isfinite(value)):
            raise SimParamError(f'{item.name}: expected a finite number, got {value!r}')
    _integer(params, 'seed', 0, 2**63 - 1)
    _integer(params, 'run', 0, 2**31 - 1)
    _integer(params, 'camera_width', 16, 4096)
    _integer(params, 'camera_height', 16, 4096)
    _integer(params, 'min_obstacles', 0, 200)
    _integer(params, 'max_obstacles', 0, 200)
    for name in _POSITIVE:
        if getattr(params, name) <= 0:
            raise SimParamError(f'{name}: must be > 0, got {getattr(params, name)!r}')
    for name in _NON_NEGATIVE:
        if getattr(params, name) < 0:
            raise SimParamError(f'{name}: must be >= 0, got {getattr(params, name)!r}')
    for name in _RATES:
        if getattr(params, name) > PHYSICS_RATE:
            raise SimParamError(
                f'{name}: must be <= {PHYSICS_RATE:g} Hz (the physics rate), got {getattr(params, name)!r}'
            )
    if params.room_size != 0 and not 1.0 <= params.room_size <= 20.0:
        raise SimParamError(f'room_size: must be 0 (drawn per seed) or in [1, 20] m, got {params.room_size!r}')
    if params.max_obstacles < params.min_obstacles:
        raise SimParamError(
            f'max_obstacles: must be >= min_obstacles ({params.min_obstacles}), got {params.max_obstacles}'
        )
    if params.camera_hfov >= math.pi:
        raise SimParamError(f'camera_hfov: must be < pi rad, got {params.camera_hfov!r}')
    if params.camera_mount_height > 0.5:
        raise SimParamError(
            f'camera_mount_height: must be <= 0.5 m (a small robot), got {params.camera_mount_height!r}'
        )
    if abs(params.camera_tilt) >= math.pi / 2:
        raise SimParamError(f'camera_tilt: must be in (-pi/2, pi/2) rad, got {params.camera_tilt!r}')
    if params.forward_speed > 1.0:
        raise SimParamError(f'forward_speed: must be <= 1 m/s, got {params.forward_speed!r}')


