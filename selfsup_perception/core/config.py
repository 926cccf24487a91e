"""Labeling configuration: the sensors and the rule's tolerances, loaded from a ROS 2 params YAML.

The same YAML file serves ``ros2 launch`` (as a parameters file, ``/**: ros__parameters: ...``)
and the offline CLI, so the node and ``selfsup bag2dataset`` always label with the same values.
Every value is validated here; an error names the offending key.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

SENSOR_MESSAGE_TYPES = ('range', 'laser_scan')
SENSOR_MODES = ('range', 'intensity')


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key."""


@dataclass(frozen=True)
class SensorConfig:
    """One short-range sensor: where its readings come from and when they mean 'obstacle'.

    ``msg_type`` is ``range`` (sensor_msgs/Range) or ``laser_scan`` (sensor_msgs/LaserScan, the
    reading is beam ``index``: a Thymio-style scan holding all sensors, or a one-beam scan).
    ``mode`` ``range``: obstacle when the range is below ``threshold`` (REP 117 for +-inf);
    ``intensity``: obstacle when the intensity is above ``threshold``.
    ``x``, ``y``, ``yaw`` are the mounting pose in the robot's base frame (REP 103).
    """

    name: str
    topic: str
    threshold: float
    max_range: float
    msg_type: str = 'range'
    index: int = 0
    mode: str = 'range'
    x: float = 0.0
    y: float = 0.0
    yaw: float = 0.0


@dataclass(frozen=True)
class LabelingConfig:
    """The labeling rule's parameters (DESIGN.md, 'The labeling rule'); lengths in m, times in s."""

    sensors: tuple[SensorConfig, ...]
    distances: tuple[float, ...] = tuple(round(0.05 * k, 2) for k in range(21))
    tolerance_forward: float = 0.025
    tolerance_lateral: float = 0.05
    tolerance_heading: float = 0.35
    sync_tolerance: float = 0.05
    horizon: float = 10.0
    max_odom_gap: float = 0.5
    max_odom_jump: float = 0.25
    reorder_window: float = 0.5
    reset_threshold: float = 2.0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def sensor_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sensors)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (stored with every dataset, so a dataset says how it was labelled)."""
        data = asdict(self)
        data.pop('extra')
        data['distances'] = list(self.distances)
        data['sensors'] = [asdict(s) for s in self.sensors]
        return data


_FLOAT_KEYS = {
    # key: (must be > 0 strictly, allow zero)
    'tolerance_forward': False,
    'tolerance_lateral': False,
    'tolerance_heading': False,
    'sync_tolerance': True,
    'horizon': False,
    'max_odom_gap': False,
    'max_odom_jump': False,
    'reorder_window': True,
    'reset_threshold': False,
}


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f'{key}: expected a number, got {value!r}')
    number = float(value)
    if not math.isfinite(number):
        raise ConfigError(f'{key}: must be finite, got {value!r}')
    return number


def _positive(value: Any, key: str, allow_zero: bool = False) -> float:
    number = _number(value, key)
    if number < 0 or (number == 0 and not allow_zero):
        bound = '>= 0' if allow_zero else '> 0'
        raise ConfigError(f'{key}: must be {bound}, got {value!r}')
    return number


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f'{key}: expected a non-empty string, got {value!r}')
    return value


def sensor_from_dict(name: str, data: Mapping[str, Any], prefix: str) -> SensorConfig:
    """Validate one sensor's mapping; ``prefix`` is the key path used in error messages."""
    if not isinstance(data, Mapping):
        raise ConfigError(f'{prefix}: expected a mapping of sensor settings, got {data!r}')
    known = {'topic', 'threshold', 'max_range', 'msg_type', 'index', 'mode', 'x', 'y', 'yaw'}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f'{prefix}.{unknown[0]}: unknown sensor setting (known: {sorted(known)})')
    for required in ('topic', 'threshold', 'max_range'):
        if required not in data:
            raise ConfigError(f'{prefix}.{required}: missing')
    msg_type = data.get('msg_type', 'range')
    if msg_type not in SENSOR_MESSAGE_TYPES:
        raise ConfigError(f'{prefix}.msg_type: must be one of {SENSOR_MESSAGE_TYPES}, got {msg_type!r}')
    mode = data.get('mode', 'range')
    if mode not in SENSOR_MODES:
        raise ConfigError(f'{prefix}.mode: must be one of {SENSOR_MODES}, got {mode!r}')
    index = data.get('index', 0)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ConfigError(f'{prefix}.index: must be an integer >= 0, got {index!r}')
    threshold = _number(data['threshold'], f'{prefix}.threshold')
    max_range = _positive(data['max_range'], f'{prefix}.max_range')
    if mode == 'range' and not 0 < threshold <= max_range:
        raise ConfigError(
            f'{prefix}.threshold: a range threshold must be in (0, max_range={max_range}], got {threshold!r}'
        )
    return SensorConfig(
        name=name,
        topic=_string(data['topic'], f'{prefix}.topic'),
        threshold=threshold,
        max_range=max_range,
        msg_type=msg_type,
        index=index,
        mode=mode,
        x=_number(data.get('x', 0.0), f'{prefix}.x'),
        y=_number(data.get('y', 0.0), f'{prefix}.y'),
        yaw=_number(data.get('yaw', 0.0), f'{prefix}.yaw'),
    )


def labeling_from_dict(params: Mapping[str, Any]) -> LabelingConfig:
    """Build a validated config from the ``ros__parameters`` mapping (``labeling``, ``sensors``)."""
    labeling = params.get('labeling', {})
    if not isinstance(labeling, Mapping):
        raise ConfigError(f'labeling: expected a mapping, got {labeling!r}')
    known = set(_FLOAT_KEYS) | {'distances'}
    unknown = sorted(set(labeling) - known)
    if unknown:
        raise ConfigError(f'labeling.{unknown[0]}: unknown setting (known: {sorted(known)})')
    values: dict[str, Any] = {}
    for key, allow_zero in _FLOAT_KEYS.items():
        if key in labeling:
            values[key] = _positive(labeling[key], f'labeling.{key}', allow_zero)
    if 'distances' in labeling:
        raw = labeling['distances']
        if not isinstance(raw, (list, tuple)) or not raw:
            raise ConfigError(f'labeling.distances: expected a non-empty list, got {raw!r}')
        distances = tuple(_number(d, f'labeling.distances[{i}]') for i, d in enumerate(raw))
        if any(b <= a for a, b in itertools.pairwise(distances)):
            raise ConfigError('labeling.distances: must be strictly increasing')
        if distances[0] < 0:
            raise ConfigError('labeling.distances: must be >= 0')
        values['distances'] = distances
    config = LabelingConfig(sensors=_sensors_from_dict(params.get('sensors')), **values)
    if config.reset_threshold < config.reorder_window:
        raise ConfigError(
            f'labeling.reset_threshold: must be >= labeling.reorder_window '
            f'({config.reorder_window}), got {config.reset_threshold}'
        )
    extra = {k: v for k, v in params.items() if k not in ('labeling', 'sensors')}
    object.__setattr__(config, 'extra', extra)
    return config


def _sensors_from_dict(sensors: Any) -> tuple[SensorConfig, ...]:
    if not isinstance(sensors, Mapping):
        raise ConfigError(
            f'sensors: expected a mapping with "names" and one entry per sensor, got {sensors!r}'
        )
    names = sensors.get('names')
    if not isinstance(names, (list, tuple)) or not names:
        raise ConfigError(f'sensors.names: expected a non-empty list of sensor names, got {names!r}')
    for i, name in enumerate(names):
        _string(name, f'sensors.names[{i}]')
    if len(set(names)) != len(names):
        raise ConfigError(f'sensors.names: duplicate names in {list(names)}')
    result = []
    for name in names:
        if name not in sensors:
            raise ConfigError(f'sensors.{name}: missing settings for sensor {name!r}')
        result.append(sensor_from_dict(name, sensors[name], f'sensors.{name}'))
    return tuple(result)


def labeling_from_stored(data: Mapping[str, Any]) -> LabelingConfig:
    """The config ``LabelingConfig.to_dict`` wrote (a dataset keeps the one it was labelled with)."""
    try:
        values = {key: data[key] for key in _FLOAT_KEYS if key in data}
        return LabelingConfig(sensors=tuple(SensorConfig(**sensor) for sensor in data['sensors']),
                              distances=tuple(float(d) for d in data['distances']), **values)
    except (KeyError, TypeError) as exc:
        raise ConfigError(f'stored labeling config is incomplete or malformed: {exc}') from exc


def ros_parameters(document: Any, node_name: str | None = None) -> dict[str, Any]:
    """Merge the ``ros__parameters`` of a params-file document (``/**`` first, then the node)."""
    if not isinstance(document, Mapping):
        raise ConfigError('config file: expected a mapping at the top level')
    merged: dict[str, Any] = {}
    found = False
    for key in ('/**', node_name, f'/{node_name}' if node_name else None):
        section = document.get(key) if key else None
        if isinstance(section, Mapping) and 'ros__parameters' in section:
            params = section['ros__parameters']
            if not isinstance(params, Mapping):
                raise ConfigError(f'{key}.ros__parameters: expected a mapping')
            _deep_merge(merged, params)
            found = True
    if not found:
        raise ConfigError('config file: no "/**: ros__parameters:" section found')
    return merged


def _deep_merge(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = dict(value) if isinstance(value, Mapping) else value


def load_config(path: str | Path, node_name: str | None = None) -> LabelingConfig:
    """Read and validate a params YAML file (e.g. ``config/robot.yaml``)."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f'cannot read config file {path}: {exc.strerror}') from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f'{path}: not valid YAML: {exc}') from exc
    try:
        return labeling_from_dict(ros_parameters(document, node_name))
    except ConfigError as exc:
        raise ConfigError(f'{path}: {exc}') from exc
