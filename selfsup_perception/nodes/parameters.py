"""Node parameters: declared with descriptors, validated at start, errors that name the parameter.

Shared by every node: the labeling rule and sensors (``config/robot.yaml``'s layout), the inference
backend and the embedding model. A bad value raises ``ParameterError`` before the node does anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.parameter import Parameter

from selfsup_perception.core.config import ConfigError, LabelingConfig, SensorConfig, labeling_from_dict
from selfsup_perception.core.head import HeadOptions
from selfsup_perception.core.resources import robot_config
from selfsup_perception.inference import BACKEND_NAMES
from selfsup_perception.inference.embedder import Embedder


class ParameterError(ValueError):
    """A node parameter has an invalid value; raised at start so the node never runs half-configured."""


def declare(node: Node, name: str, default: Any, description: str, read_only: bool = True,
            valid: Callable[[Any], bool] | None = None, must: str = '') -> Any:
    """Declare a parameter with a descriptor and return its value.

    A value of the wrong type, or one ``valid`` rejects ('``name``: must be ``must``'), raises ``ParameterError``.
    """
    descriptor = ParameterDescriptor(name=name, description=description, read_only=read_only)
    try:
        parameter: Any = node.declare_parameter(name, default, descriptor)
        value = parameter.value
    except ParameterException as exc:  # e.g. a string given where a number is declared
        raise ParameterError(f'{name}: {exc}') from exc
    if valid is not None and not valid(value):
        raise ParameterError(f'{name}: must be {must}, got {value!r}')
    return value


def parameters_tree(node: Node, prefix: str) -> dict[str, Any]:
    """Nested dict of the declared parameters under ``prefix.`` (mirrors the YAML layout)."""
    tree: dict[str, Any] = {}
    declared: dict[str, Any] = node.get_parameters_by_prefix(prefix)  # Parameter objects (rclpy types it wrong)
    for name, parameter in declared.items():
        parts = name.split('.')
        level = tree
        for part in parts[:-1]:
            level = level.setdefault(part, {})
        value = parameter.value
        level[parts[-1]] = list(value) if isinstance(value, (list, tuple)) else value
    return tree


def declare_labeling_parameters(node: Node) -> LabelingConfig:
    """Declare ``labeling.*`` and ``sensors.*`` (the layout of config/robot.yaml) and validate them."""
    defaults = LabelingConfig(sensors=())
    for field in dataclasses.fields(LabelingConfig):
        if field.name in ('sensors', 'extra'):
            continue
        value = getattr(defaults, field.name)
        declare(node, f'labeling.{field.name}', list(value) if isinstance(value, tuple) else value,
                f'labeling rule: {field.name} (see config/robot.yaml)')
    # No default sensors: a robot's sensors come from its parameters file; an empty list reads as unset.
    names = declare(node, 'sensors.names', Parameter.Type.STRING_ARRAY, 'short-range sensor names')
    if not names:
        raise ParameterError(f'sensors.names: no sensors are configured; start the node with the robot\'s '
                             f'parameters file, e.g. --ros-args --params-file {robot_config()}')
    sensor_defaults = SensorConfig(name='', topic='', threshold=0.1, max_range=0.12)
    for name in names:
        for field in dataclasses.fields(SensorConfig):
            if field.name == 'name':
                continue
            default = f'/proximity/{name}' if field.name == 'topic' else getattr(sensor_defaults, field.name)
            declare(node, f'sensors.{name}.{field.name}', default, f'sensor {name}: {field.name}')
    try:
        return labeling_from_dict({'labeling': parameters_tree(node, 'labeling'),
                                   'sensors': parameters_tree(node, 'sensors')})
    except ConfigError as exc:
        raise ParameterError(str(exc)) from exc


def declare_backend(node: Node, device_help: str) -> tuple[str, int, str | None]:
    """Declare ``backend``, ``threads`` and ``device``: (backend, threads, device or None for the first)."""
    backend = declare(node, 'backend', 'auto', f'inference backend, one of {", ".join(BACKEND_NAMES)}',
                      valid=lambda v: v in BACKEND_NAMES, must=f'one of {", ".join(BACKEND_NAMES)}')
    threads = declare(node, 'threads', 1, 'CPU threads for inference (>= 1)', valid=lambda v: v >= 1, must='>= 1')
    device = declare(node, 'device', '', device_help)
    return backend, threads, device or None


def declare_embedder(node: Node) -> Embedder:
    """Declare ``embedding_model``, ``backend``, ``threads``, ``device`` and load the model (ParameterError)."""
    model = declare(node, 'embedding_model', '', 'embedding model file (.tflite, .onnx or _edgetpu.tflite); '
                    'its other formats beside it are used by the backends that need them')
    if not model:
        raise ParameterError('embedding_model: required (the path of the embedding model)')
    backend, threads, device = declare_backend(node, 'Edge TPU device: usb, usb:N, pci:N (empty: the first found)')
    try:
        embedder = Embedder.open(Path(model).expanduser(), backend, threads=threads, device=device,
                                 logger=node.get_logger())
    except Exception as exc:  # whatever stops the model from loading, the node must not start
        raise ParameterError(f'embedding_model/backend/device: {exc}') from exc
    node.get_logger().info(f'embedding model {embedder.description}')
    return embedder


def declare_head_options(node: Node) -> HeadOptions:
    """Declare the obstacle head's training parameters (``hidden``, ``max_epochs``, ``seed``,
    ``consistency_weight``, ``teacher_decay``; defaults those of ``HeadOptions``) and validate them."""
    hidden = declare(node, 'hidden', HeadOptions.hidden, 'hidden units of the head (0: logistic layer)')
    max_epochs = declare(node, 'max_epochs', HeadOptions.max_epochs, 'training epochs at most (>= 1)')
    seed = declare(node, 'seed', HeadOptions.seed, 'random seed of the training (and of the replay memory)')
    weight = declare(node, 'consistency_weight', HeadOptions.consistency_weight, 'weight of the state-consistency '
                     'term over pairs of frames that see the same place, labelled or not (0: labels only)')
    decay = declare(node, 'teacher_decay', HeadOptions.teacher_decay, 'consistency targets from a mean teacher '
                    'with this EMA decay (0: from the head itself)')
    try:
        return HeadOptions(hidden=hidden, max_epochs=max_epochs, seed=seed, consistency_weight=weight,
                           teacher_decay=decay)
    except ValueError as exc:
        raise ParameterError(f'hidden/max_epochs/consistency_weight/teacher_decay: {exc}') from exc
