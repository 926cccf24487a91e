"""Labeling configuration: the sensors and the rule's tolerances, loaded from a ROS 2 params YAML.

The same YAML file serves ``ros2 launch`` (as a parameters file, ``/**: ros__parameters: ...``)
and the offline CLI, so the node and ``selfsup bag2dataset`` always label with the same values.
Every value is validated here; an error names the offending key.
"""

from __future__ import annotations

import itertools
import math
import reprlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

SENSOR_MESSAGE_TYPES = ('range', 'laser_scan')
SENSOR_MODES = ('range', 'intensity')


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key."""


def _shown(value: Any) -> str:
    """``repr(value)`` shortened (depth, items, characters): an error message stays one readable line."""
    short = reprlib.Repr()
    short.maxlevel, short.maxstring, short.maxother, short.maxlist, short.maxdict = 2, 40, 40, 4, 4
    return short.repr(value)


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
    """The labeling rule's parameters (docs/architecture.md, 'The obstacle labeling rule'); lengths in m, times in s."""

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
        raise ConfigError(f'{key}: expected a number, got {_shown(value)}')
    try:
        number = float(value)
    except OverflowError as exc:
        raise ConfigError(f'{key}: too large, got {_shown(value)}') from exc
    if not math.isfinite(number):
        raise ConfigError(f'{key}: must be finite, got {_shown(value)}')
    return number


def _positive(value: Any, key: str, allow_zero: bool = False) -> float:
    number = _number(value, key)
    if number < 0 or (number == 0 and not allow_zero):
        bound = '>= 0' if allow_zero else '> 0'
        raise ConfigError(f'{key}: must be {bound}, got {_shown(value)}')
    return number


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f'{key}: expected a non-empty string, got {_shown(value)}')
    return value


def sensor_from_dict(name: str, data: Mapping[str, Any], prefix: str) -> SensorConfig:
    """Validate one sensor's mapping; ``prefix`` is the key path used in error messages."""
    if not isinstance(data, Mapping):
        raise ConfigError(f'{prefix}: expected a mapping of sensor settings, got {_shown(data)}')
    known = {'topic', 'threshold', 'max_range', 'msg_type', 'index', 'mode', 'x', 'y', 'yaw'}
    unknown = sorted(set(data) - known, key=str)
    if unknown:
        raise ConfigError(f'{prefix}.{unknown[0]}: unknown sensor setting (known: {sorted(known)})')
    for required in ('topic', 'threshold', 'max_range'):
        if required not in data:
            raise ConfigError(f'{prefix}.{required}: missing')
    msg_type = data.get('msg_type', 'range')
    if msg_type not in SENSOR_MESSAGE_TYPES:
        raise ConfigError(f'{prefix}.msg_type: must be one of {SENSOR_MESSAGE_TYPES}, got {_shown(msg_type)}')
    mode = data.get('mode', 'range')
    if mode not in SENSOR_MODES:
        raise ConfigError(f'{prefix}.mode: must be one of {SENSOR_MODES}, got {_shown(mode)}')
    index = data.get('index', 0)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise ConfigError(f'{prefix}.index: must be an integer >= 0, got {_shown(index)}')
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
        raise ConfigError(f'labeling: expected a mapping, got {_shown(labeling)}')
    known = set(_FLOAT_KEYS) | {'distances'}
    unknown = sorted(set(labeling) - known, key=str)
    if unknown:
        raise ConfigError(f'labeling.{unknown[0]}: unknown setting (known: {sorted(known)})')
    values: dict[str, Any] = {}
    for key, allow_zero in _FLOAT_KEYS.items():
        if key in labeling:
            values[key] = _positive(labeling[key], f'labeling.{key}', allow_zero)
    if 'distances' in labeling:
        raw = labeling['distances']
        if not isinstance(raw, (list, tuple)) or not raw:
            raise ConfigError(f'labeling.distances: expected a non-empty list, got {_shown(raw)}')
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
    pixel_labels_from_dict(params)  # fail early, naming the key, also where pixel labels are made later
    extra = {k: v for k, v in params.items() if k not in ('labeling', 'sensors')}
    object.__setattr__(config, 'extra', extra)
    return config


FOOTPRINT_SHAPES = ('disc', 'rectangle')


@dataclass(frozen=True)
class Footprint:
    """The robot's outline on the floor: a ``disc`` of ``radius`` or a ``rectangle`` ``length`` x ``width``
    (along x, y), centred ``offset`` m ahead of base_link. The other shape's sizes are ignored."""

    shape: str = 'disc'
    radius: float = 0.056
    length: float = 0.11
    width: float = 0.11
    offset: float = 0.0


@dataclass(frozen=True)
class PixelLabelConfig:
    """The self-supervised pixel labels' parameters (``pixel_labels`` and the camera mounting keys).

    ``obstacle_face_height``: how high above a proximity hit's ground contact the pixels are obstacle (m);
    ``beam_width``: the proximity beams' full opening angle (rad, sensor_msgs/Range field_of_view);
    ``max_heading``: the path counts only while the robot's heading stays within this of the frame's (rad);
    ``contact_window``: obstacle readings this long after the drive's first one still label (s).
    """

    footprint: Footprint = Footprint()
    obstacle_face_height: float = 0.05
    beam_width: float = 0.05
    max_heading: float = 0.35
    contact_window: float = 0.5
    camera_hfov: float = 1.22
    camera_mount_height: float = 0.10
    camera_tilt: float = 0.26
    camera_mount_x: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (stored with a dataset that holds pixel labels)."""
        return asdict(self)


_PIXEL_KEYS = {
    # key: (description, must be > 0 strictly)
    'obstacle_face_height': ('height above the ground contact of a proximity hit labelled obstacle (m)', True),
    'beam_width': ('full opening angle of the proximity beams (rad)', True),
    'max_heading': ('the path labels floor only while the heading stays within this of the frame (rad)', True),
    'contact_window': ('obstacle readings up to this long after the first one of a drive label (s)', False),
}
_FOOTPRINT_KEYS = {
    'shape': f'robot footprint shape: one of {FOOTPRINT_SHAPES}',
    'radius': 'disc footprint radius (m)',
    'length': 'rectangle footprint length along x (m)',
    'width': 'rectangle footprint width along y (m)',
    'offset': 'footprint centre ahead of base_link (m)',
}
_CAMERA_KEYS = {
    'camera_hfov': 'horizontal field of view (rad), used until camera_info arrives',
    'camera_mount_height': 'camera height above the floor (m)',
    'camera_tilt': 'camera pitch below the horizon (rad, positive looks down)',
    'camera_mount_x': 'camera position ahead of base_link (m)',
}


def pixel_label_parameters() -> dict[str, tuple[Any, str]]:
    """Every parameter ``pixel_labels_from_dict`` reads, flat (``pixel_labels.footprint.shape``, ...), with
    its default and a one-line description: what a node declares."""
    defaults = PixelLabelConfig()
    out: dict[str, tuple[Any, str]] = {key: (getattr(defaults, key), text) for key, text in _CAMERA_KEYS.items()}
    out.update({f'pixel_labels.{key}': (getattr(defaults, key), text) for key, (text, _) in _PIXEL_KEYS.items()})
    out.update({f'pixel_labels.footprint.{key}': (getattr(defaults.footprint, key), text)
                for key, text in _FOOTPRINT_KEYS.items()})
    return out


def pixel_labels_from_dict(params: Mapping[str, Any]) -> PixelLabelConfig:
    """Validate the ``pixel_labels`` mapping and the ``camera_*`` keys of ``ros__parameters`` (defaults for
    missing ones); e.g. ``pixel_labels_from_dict(load_config(path).extra)``."""
    section = params.get('pixel_labels', {})
    if not isinstance(section, Mapping):
        raise ConfigError(f'pixel_labels: expected a mapping, got {section!r}')
    unknown = sorted(set(section) - set(_PIXEL_KEYS) - {'footprint'})
    if unknown:
        raise ConfigError(f'pixel_labels.{unknown[0]}: unknown setting (known: {sorted([*_PIXEL_KEYS, "footprint"])})')
    values: dict[str, Any] = {}
    for key, (_, strict) in _PIXEL_KEYS.items():
        if key in section:
            values[key] = _positive(section[key], f'pixel_labels.{key}', allow_zero=not strict)
    if values.get('max_heading', 0.0) >= math.pi:
        raise ConfigError(f'pixel_labels.max_heading: must be < pi, got {values["max_heading"]!r}')
    if values.get('beam_width', 0.0) >= math.pi:
        raise ConfigError(f'pixel_labels.beam_width: must be < pi, got {values["beam_width"]!r}')
    values['footprint'] = _footprint_from_dict(section.get('footprint', {}))
    for key in _CAMERA_KEYS:
        if key in params:
            values[key] = _number(params[key], key)
    config = PixelLabelConfig(**values)
    if not 0 < config.camera_hfov < math.pi:
        raise ConfigError(f'camera_hfov: must be in (0, pi) rad, got {config.camera_hfov!r}')
    if config.camera_mount_height <= 0:
        raise ConfigError(f'camera_mount_height: must be > 0, got {config.camera_mount_height!r}')
    if not abs(config.camera_tilt) < math.pi / 2:
        raise ConfigError(f'camera_tilt: must be in (-pi/2, pi/2) rad, got {config.camera_tilt!r}')
    return config


def _footprint_from_dict(data: Any) -> Footprint:
    if not isinstance(data, Mapping):
        raise ConfigError(f'pixel_labels.footprint: expected a mapping, got {data!r}')
    unknown = sorted(set(data) - set(_FOOTPRINT_KEYS))
    if unknown:
        raise ConfigError(f'pixel_labels.footprint.{unknown[0]}: unknown setting (known: {sorted(_FOOTPRINT_KEYS)})')
    shape = data.get('shape', 'disc')
    if shape not in FOOTPRINT_SHAPES:
        raise ConfigError(f'pixel_labels.footprint.shape: must be one of {FOOTPRINT_SHAPES}, got {shape!r}')
    sizes = {key: _positive(data[key], f'pixel_labels.footprint.{key}') for key in ('radius', 'length', 'width')
             if key in data}
    offset = _number(data.get('offset', 0.0), 'pixel_labels.footprint.offset')
    return Footprint(shape, offset=offset, **sizes)


def _sensors_from_dict(sensors: Any) -> tuple[SensorConfig, ...]:
    if not isinstance(sensors, Mapping):
        raise ConfigError(
            f'sensors: expected a mapping with "names" and one entry per sensor, got {_shown(sensors)}'
        )
    names = sensors.get('names')
    if not isinstance(names, (list, tuple)) or not names:
        raise ConfigError(f'sensors.names: expected a non-empty list of sensor names, got {_shown(names)}')
    for i, name in enumerate(names):
        _string(name, f'sensors.names[{i}]')
    if len(set(names)) != len(names):
        raise ConfigError(f'sensors.names: duplicate names in {list(names)}')
    result = []
    for name in names:
        if name not in sensors:
            raise ConfigError(f'sensors.{name}: missing settings for sensor {_shown(name)}')
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
        document = yaml.safe_load(path.read_text(encoding='utf-8'))
        return labeling_from_dict(ros_parameters(document, node_name))
    except OSError as exc:
        raise ConfigError(f'cannot read config file {path}: {exc.strerror or exc}') from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f'{path}: not a text file ({exc.reason} at byte {exc.start})') from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f'{path}: not valid YAML: {_yaml_problem(exc)}') from exc
    except RecursionError as exc:
        raise ConfigError(f'{path}: nested too deeply to be a config file') from exc
    except ConfigError as exc:
        raise ConfigError(f'{path}: {exc}') from exc


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error in one line: what is wrong and where."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f'{exc.problem} (line {mark.line + 1}, column {mark.column + 1})'
    return ' '.join(str(exc).split())
