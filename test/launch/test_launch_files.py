"""Launch files, checked as far as this machine allows (``launch``/``launch_ros`` are not installable).

Each launch file is imported with recording stand-ins for ``launch``: every executable it starts must
be a console script of the package, every file it passes must exist in the package, and every
parameter it sets must be declared by the real node (instantiated here with rclpy). Where the real
``launch_ros`` is importable, the launch descriptions are also built with it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path

import pytest
from fake_launch import evaluate, load_launch_description, walk

from selfsup_perception.nodes import NODES

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((ROOT / 'launch').glob('*.launch.py'))
DATA = ROOT / 'test' / 'data'


def console_scripts() -> dict[str, str]:
    """name -> 'module:function' of the package's console scripts, as installed (setup.py reads ``NODES``)."""
    scripts = {e.name: e.value for e in importlib.metadata.entry_points(group='console_scripts')
               if e.dist is not None and e.dist.name.replace('-', '_') == 'selfsup_perception'}
    assert scripts == {'selfsup': 'selfsup_perception.cli:main', **{n: f'{m}:main' for n, m in NODES.items()}}, \
        're-install the package (make venv): its console scripts differ from selfsup_perception.nodes.NODES'
    return scripts


def nodes_started(path: Path, monkeypatch) -> list:
    return [r for r in walk(load_launch_description(path, monkeypatch)) if type(r).__name__ == 'Node']


def text(value) -> str | None:
    """A literal string, or the share-relative path of PathJoinSubstitution([FindPackageShare, ...])."""
    if isinstance(value, str):
        return value
    if type(value).__name__ == 'PathJoinSubstitution':
        parts = value.args[0]
        if type(parts[0]).__name__ == 'FindPackageShare' and parts[0].args[0] == 'selfsup_perception':
            return '/'.join(p for p in parts[1:] if isinstance(p, str))
    return None


def test_there_are_the_launch_files_users_expect():
    names = {p.name for p in LAUNCH_FILES}
    assert {'robot.launch.py', 'replay.launch.py', 'sim.launch.py', 'gazebo.launch.py',
            'pipeline.launch.py'} <= names


@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_executables_are_console_scripts_and_files_exist(path, monkeypatch):
    scripts = console_scripts()
    for node in nodes_started(path, monkeypatch):
        if node.kwargs['package'] != 'selfsup_perception':
            continue
        assert node.kwargs['executable'] in scripts, f'{path.name}: no console script {node.kwargs["executable"]}'
    for record in walk(load_launch_description(path, monkeypatch)):
        relative = text(record) if type(record).__name__ == 'PathJoinSubstitution' else None
        if relative and '.' in relative.rsplit('/', 1)[-1] and not relative.startswith('models/'):
            assert (ROOT / relative).exists(), f'{path.name} names {relative}, which the package does not have'


def test_pipeline_arguments_all_used(monkeypatch):
    records = walk(load_launch_description(ROOT / 'launch/pipeline.launch.py', monkeypatch))
    declared = {r.args[0] for r in records if type(r).__name__ == 'DeclareLaunchArgument'}
    used = {r.args[0] for r in records if type(r).__name__ == 'LaunchConfiguration'}
    assert declared == used


def _instantiate(executable: str, context, tmp_path: Path):
    """The real node behind ``executable``, with small test models so it can start here."""
    from rclpy.parameter import Parameter

    module_name, _, _ = console_scripts()[executable].partition(':')
    module = importlib.import_module(module_name)
    node_class = next(v for k, v in vars(module).items() if k.endswith('Node') and isinstance(v, type)
                      and v.__module__ == module_name)
    overrides = {
        'labeler': {'dataset_path': str(tmp_path / 'd.db')},
        'trainer': {'dataset_path': str(tmp_path / 'd.db'), 'embedding_model': str(DATA / 'tiny_float.tflite'),
                    'head_path': str(tmp_path / 'h.npz')},
        'obstacle_detector': {'embedding_model': str(DATA / 'tiny_float.tflite')},
        'segmenter': {'model_path': str(DATA / 'tiny_seg.tflite')},
        'sim_robot': {'real_time_factor': 1.0},
    }[executable]
    return node_class(context=context, cli_args=['--ros-args', '--params-file', str(ROOT / 'config/robot.yaml')],
                      parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])


@pytest.fixture(scope='module')
def declared(tmp_path_factory) -> dict[str, set[str]]:
    """executable -> the parameter names its node declares (every node of the package, started here)."""
    rclpy = pytest.importorskip('rclpy')
    from selfsup_perception.core.config import load_config
    from selfsup_perception.core.dataset import DatasetWriter

    tmp_path = tmp_path_factory.mktemp('nodes')
    DatasetWriter(tmp_path / 'd.db', load_config(ROOT / 'config/robot.yaml')).close()
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=201)
    names: dict[str, set[str]] = {}
    try:
        for executable in console_scripts():
            if executable == 'selfsup':
                continue
            node = _instantiate(executable, context, tmp_path)
            names[executable] = set(node._parameters)  # no public list of declared names
            node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    return names


@pytest.mark.slow
@pytest.mark.parametrize('path', LAUNCH_FILES, ids=lambda p: p.name)
def test_parameters_are_declared_by_the_nodes(path, monkeypatch, declared):
    """What a launch file sets for a node, the node declares; a file's ``/**`` part, some node declares."""
    import yaml

    anyone = set().union(*declared.values())
    for launched in nodes_started(path, monkeypatch):
        if launched.kwargs['package'] != 'selfsup_perception':
            continue
        executable = launched.kwargs['executable']
        for entry in launched.kwargs.get('parameters', []):
            if isinstance(entry, dict):
                own, shared = set(entry), set()
            else:
                document = yaml.safe_load((ROOT / (text(entry) or 'config/robot.yaml')).read_text())
                shared = set(_flatten(document['/**']['ros__parameters']))
                own = set(_flatten(document.get(launched.kwargs['name'], {}).get('ros__parameters', {})))
            assert own <= declared[executable], f'{path.name}: {executable} does not declare {own - declared[executable]}'
            assert shared <= anyone, f'{path.name}: no node declares {shared - anyone}'


def _flatten(tree: dict, prefix: str = ''):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _flatten(value, f'{prefix}{key}.')
        else:
            yield f'{prefix}{key}'


def test_real_launch_when_available():
    if importlib.util.find_spec('launch_ros') is None:
        pytest.skip('launch_ros is not installable from PyPI: checked with recording stand-ins above')
    from launch import LaunchDescription

    for path in LAUNCH_FILES:
        spec = importlib.util.spec_from_file_location(path.stem.replace('.', '_'), path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert isinstance(module.generate_launch_description(), LaunchDescription)


def _declared_defaults(records) -> dict:
    return {r.args[0]: r.kwargs.get('default_value') for r in records if type(r).__name__ == 'DeclareLaunchArgument'}


@pytest.mark.parametrize('transport', ['raw', 'compressed'])
def test_sim_passes_transport_and_config_to_the_simulator_and_the_pipeline(monkeypatch, transport):
    description = load_launch_description(ROOT / 'launch/sim.launch.py', monkeypatch)
    records = walk(description)
    defaults = _declared_defaults(records)
    assert text(defaults['config']) == 'config/robot.yaml'
    assert defaults['camera_transport'] == 'raw'
    arguments = {'config': '/elsewhere/my_robot.yaml', 'camera_transport': transport, 'seed': '1',
                 'real_time_factor': '1.0'}
    (sim,) = [n for n in nodes_started(ROOT / 'launch/sim.launch.py', monkeypatch) if n.kwargs['executable'] == 'sim_robot']
    files = [evaluate(p, arguments) for p in sim.kwargs['parameters'] if not isinstance(p, dict)]
    (own,) = [p for p in sim.kwargs['parameters'] if isinstance(p, dict)]
    assert files == ['/elsewhere/my_robot.yaml']
    assert evaluate(own['config_file'], arguments) == '/elsewhere/my_robot.yaml'
    assert evaluate(own['compressed'], arguments) == str(transport == 'compressed')  # yaml: True/False
    (include,) = [r for r in records if type(r).__name__ == 'IncludeLaunchDescription']
    passed = dict(include.kwargs['launch_arguments'])
    assert {k: evaluate(v, arguments) for k, v in passed.items()} == {
        'use_sim_time': 'true', 'config': '/elsewhere/my_robot.yaml', 'camera_transport': transport}


def test_replay_ends_the_launch_when_the_player_ends(monkeypatch):
    description = load_launch_description(ROOT / 'launch/replay.launch.py', monkeypatch)
    entities = description.args[0]
    kinds = [type(e).__name__ for e in entities]
    players = [e for e in entities if type(e).__name__ == 'ExecuteProcess']
    handlers = [e.args[0] for e in entities if type(e).__name__ == 'RegisterEventHandler']
    assert len(players) == 2
    assert {id(h.kwargs['target_action']) for h in handlers} == {id(p) for p in players}
    # registered before the players, so that their end is seen even when they cannot start at all
    assert max(i for i, k in enumerate(kinds) if k == 'RegisterEventHandler') < kinds.index('ExecuteProcess')
    for handler in handlers:
        assert type(handler).__name__ == 'OnExecutionComplete'  # also when the player cannot start
        log, emit = handler.kwargs['on_completion']
        assert type(log).__name__ == 'LogInfo'
        assert evaluate(log.kwargs['msg'], {'bag': 'my_run'}) == (
            'ros2 bag play of my_run has ended (its exit status is logged above): ending the launch')
        assert type(emit).__name__ == 'EmitEvent'
        assert type(emit.kwargs['event']).__name__ == 'Shutdown'


REPLAY_DRIVER = """
import sys, types
from pathlib import Path
import launch
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource

share = Path(sys.argv[2])


class FindPackageShare(launch.Substitution):  # the pipeline is replaced by an empty launch file
    def __init__(self, package):
        super().__init__()

    def perform(self, context):
        return str(share)


module = types.ModuleType('launch_ros.substitutions')
module.FindPackageShare = FindPackageShare
sys.modules['launch_ros'] = types.ModuleType('launch_ros')
sys.modules['launch_ros.substitutions'] = module
service = launch.LaunchService()
service.include_launch_description(launch.LaunchDescription([IncludeLaunchDescription(
    PythonLaunchDescriptionSource(sys.argv[1]), launch_arguments={'bag': 'my_run', 'clock': sys.argv[3]}.items())]))
print('launch returned', service.run(), flush=True)
"""


@pytest.mark.parametrize(('player', 'clock'), [('exits', 'true'), ('exits', 'false'), ('missing', 'true')])
def test_replay_ends_with_the_player_under_the_real_launch(tmp_path, player, clock):
    """Where ``launch`` is importable: the launch ends when ``ros2 bag play`` exits or cannot start."""
    spec = importlib.util.find_spec('launch')
    if spec is None or spec.origin is None:  # None, or the repository's own launch/ folder (a namespace package)
        pytest.skip('launch is not installable from PyPI: the handlers are checked with stand-ins above')
    import os
    import subprocess
    import sys

    (tmp_path / 'share' / 'launch').mkdir(parents=True)
    (tmp_path / 'share' / 'launch' / 'pipeline.launch.py').write_text(
        'from launch import LaunchDescription\n\n\ndef generate_launch_description():\n'
        '    return LaunchDescription([])\n')
    (tmp_path / 'bin').mkdir()
    if player == 'exits':
        script = tmp_path / 'bin' / 'ros2'
        script.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/played\nexit 3\n')
        script.chmod(0o755)
    result = subprocess.run(
        [sys.executable, '-c', REPLAY_DRIVER, str(ROOT / 'launch' / 'replay.launch.py'), str(tmp_path / 'share'), clock],
        env={**os.environ, 'PATH': f'{tmp_path / "bin"}:/usr/bin:/bin'}, cwd=tmp_path, capture_output=True, text=True,
        timeout=60, check=False)
    log = result.stdout + result.stderr
    assert 'ros2 bag play of my_run has ended (its exit status is logged above): ending the launch' in log, log
    assert 'launch returned' in log
    if player == 'exits':
        played = (tmp_path / 'played').read_text().split()
        assert played == ['bag', 'play', 'my_run', '--rate', '1.0', *(['--clock'] if clock == 'true' else [])]
