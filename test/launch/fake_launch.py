"""Stand-ins for ``launch``/``launch_ros`` that record what a launch file asks for.

``launch`` is not on PyPI (the README says so), so the tests import each launch file with these
modules in ``sys.modules`` and check the recorded actions: executables, parameter files,
parameter names, remappings and included files. Where the real ``launch_ros`` is importable,
the tests run the launch files for real instead.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any


class Recorded:
    """Any launch object: keeps its positional and keyword arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.args}, {self.kwargs})'


def _classes(module: types.ModuleType, *names: str) -> None:
    for name in names:
        setattr(module, name, type(name, (Recorded,), {}))


def fake_modules() -> dict[str, types.ModuleType]:
    modules = {name: types.ModuleType(name) for name in (
        'launch', 'launch.actions', 'launch.conditions', 'launch.substitutions', 'launch.event_handlers',
        'launch.events', 'launch.launch_description_sources', 'launch_ros', 'launch_ros.actions',
        'launch_ros.substitutions')}
    _classes(modules['launch'], 'LaunchDescription')
    _classes(modules['launch.actions'], 'DeclareLaunchArgument', 'IncludeLaunchDescription', 'ExecuteProcess',
             'GroupAction', 'LogInfo', 'SetEnvironmentVariable', 'TimerAction', 'OpaqueFunction',
             'RegisterEventHandler', 'EmitEvent')
    _classes(modules['launch.event_handlers'], 'OnProcessExit', 'OnExecutionComplete', 'OnProcessStart')
    _classes(modules['launch.events'], 'Shutdown')
    _classes(modules['launch.conditions'], 'IfCondition', 'UnlessCondition')
    _classes(modules['launch.substitutions'], 'LaunchConfiguration', 'PathJoinSubstitution', 'PythonExpression',
             'TextSubstitution', 'EnvironmentVariable')
    _classes(modules['launch.launch_description_sources'], 'PythonLaunchDescriptionSource')
    _classes(modules['launch_ros.actions'], 'Node', 'SetParameter', 'PushRosNamespace')
    _classes(modules['launch_ros.substitutions'], 'FindPackageShare')
    for name, module in modules.items():
        parent, _, child = name.rpartition('.')
        if parent:
            setattr(modules[parent], child, module)
    return modules


def load_launch_description(path: Path, monkeypatch: Any) -> Recorded:
    """Import a launch file with the fake modules and return its recorded LaunchDescription."""
    for name, module in fake_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location(path.stem.replace('.', '_'), path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def evaluate(value: Any, arguments: dict[str, str]) -> Any:
    """What a recorded substitution becomes with launch ``arguments`` given (LaunchConfiguration,
    PythonExpression, text and lists of them; other values unchanged)."""
    if isinstance(value, list):
        return ''.join(str(evaluate(part, arguments)) for part in value)
    kind = type(value).__name__
    if kind == 'LaunchConfiguration':
        return arguments[value.args[0]]
    if kind == 'PythonExpression':
        return str(eval(evaluate(value.args[0], arguments)))  # the launch file's own expression
    if kind == 'TextSubstitution':
        return value.kwargs['text']
    return value


def walk(entity: Any) -> list[Recorded]:
    """Every recorded object reachable from ``entity`` (through args, kwargs, lists, dicts)."""
    found: list[Recorded] = []
    stack = [entity]
    while stack:
        item = stack.pop()
        if isinstance(item, Recorded):
            found.append(item)
            stack.extend(item.args)
            stack.extend(item.kwargs.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
    return found
