"""Gazebo assets: SDF files valid, robot model and bridge config in step with config/robot.yaml."""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
import yaml
from simhelpers import REPO

from selfsup_perception.sim import SimParams
from selfsup_perception.sim.messages import CAMERA_INFO_TOPIC, CLOCK_TOPIC, IMAGE_TOPIC, ODOM_TOPIC

WORLDS = sorted((REPO / 'worlds').glob('*.sdf'))
BRIDGE = REPO / 'config' / 'gz_bridge.yaml'


def test_there_are_sdf_files() -> None:
    assert {path.name for path in WORLDS} >= {'arena.sdf', 'thymio.sdf'}


@pytest.mark.skipif(
    shutil.which('ign') is None,
    reason='`ign` not found: install the Debian packages ignition-tools and libsdformat-dev',
)
@pytest.mark.parametrize('path', WORLDS, ids=lambda path: path.name)
def test_sdf_is_valid(path) -> None:
    result = subprocess.run(
        ['ign', 'sdf', '-k', str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'Valid' in result.stdout


def _pose(element: ET.Element) -> list[float]:
    return [float(value) for value in element.findtext('pose').split()]


def test_robot_model_matches_the_config_and_the_embedded_simulator(robot_config) -> None:
    model = ET.parse(REPO / 'worlds' / 'thymio.sdf').getroot().find('model')
    sensors = {sensor.get('name'): sensor for sensor in model.iter('sensor')}
    for expected in robot_config.sensors:
        sensor = sensors[f'proximity_{expected.name}']
        assert sensor.get('type') == 'gpu_lidar'
        assert sensor.findtext('topic') == expected.topic
        x, y, _, _, _, yaw = _pose(sensor)
        assert (x, y, yaw) == pytest.approx((expected.x, expected.y, expected.yaw), abs=1e-4)
        assert float(sensor.findtext('lidar/range/max')) == pytest.approx(expected.max_range)
        assert sensor.findtext('lidar/scan/horizontal/samples') == '1'
    defaults = SimParams()
    camera = sensors['camera']
    assert camera.findtext('topic') == IMAGE_TOPIC
    assert float(camera.findtext('update_rate')) == defaults.camera_rate
    assert float(camera.findtext('camera/horizontal_fov')) == pytest.approx(defaults.camera_hfov)
    assert int(camera.findtext('camera/image/width')) == defaults.camera_width
    assert int(camera.findtext('camera/image/height')) == defaults.camera_height
    _, _, z, _, pitch, _ = _pose(camera)
    assert (z, pitch) == pytest.approx((defaults.camera_mount_height, defaults.camera_tilt))
    drive = next(p for p in model.iter('plugin') if p.get('name') == 'gz::sim::systems::DiffDrive')
    assert drive.findtext('odom_topic') == ODOM_TOPIC
    assert float(drive.findtext('odom_publish_frequency')) == defaults.odom_rate


def test_bridge_maps_gazebo_onto_the_pipeline_topics(robot_config) -> None:
    entries = yaml.safe_load(BRIDGE.read_text())
    bridged = {entry['ros_topic_name']: entry for entry in entries}
    assert len(bridged) == len(entries)
    expected = {
        IMAGE_TOPIC: ('sensor_msgs/msg/Image', 'gz.msgs.Image'),
        CAMERA_INFO_TOPIC: ('sensor_msgs/msg/CameraInfo', 'gz.msgs.CameraInfo'),
        ODOM_TOPIC: ('nav_msgs/msg/Odometry', 'gz.msgs.Odometry'),
        CLOCK_TOPIC: ('rosgraph_msgs/msg/Clock', 'gz.msgs.Clock'),
        **{sensor.topic: ('sensor_msgs/msg/Range', 'gz.msgs.LaserScan') for sensor in robot_config.sensors},
    }
    for topic, (ros_type, gz_type) in expected.items():
        entry = bridged[topic]
        assert (entry['ros_type_name'], entry['gz_type_name'], entry['direction']) == (
            ros_type,
            gz_type,
            'GZ_TO_ROS',
        ), topic
    sdf_topics = {element.text for path in WORLDS for element in ET.parse(path).iter('topic')}
    sdf_topics |= {element.text for path in WORLDS for element in ET.parse(path).iter('odom_topic')}
    for topic in set(expected) - {CLOCK_TOPIC, CAMERA_INFO_TOPIC}:
        assert bridged[topic]['gz_topic_name'] in sdf_topics, topic
    # gz-sensors publishes camera info beside the image topic.
    assert bridged[CAMERA_INFO_TOPIC]['gz_topic_name'] == IMAGE_TOPIC.rpartition('/')[0] + '/camera_info'


def test_launch_file_wires_gazebo_bridge_and_pipeline() -> None:
    source = (REPO / 'launch' / 'gazebo.launch.py').read_text()
    tree = ast.parse(source)
    strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
    assert {
        'gz_sim.launch.py',
        'create',
        'parameter_bridge',
        'gz_bridge.yaml',
        'robot.yaml',
        'arena.sdf',
        'thymio.sdf',
        'use_sim_time',
    } <= strings
    assert 'pipeline.launch.py' in strings  # labeler, trainer, obstacle_detector, segmenter
    assert any(
        isinstance(node, ast.FunctionDef) and node.name == 'generate_launch_description' for node in tree.body
    )


def test_launch_file_builds_its_description(monkeypatch: pytest.MonkeyPatch) -> None:
    helper = REPO / 'test' / 'launch' / 'fake_launch.py'
    spec = importlib.util.spec_from_file_location('sim_fake_launch', helper)
    fake = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fake)
    description = fake.load_launch_description(REPO / 'launch' / 'gazebo.launch.py', monkeypatch)
    nodes = {
        (n.kwargs['package'], n.kwargs['executable']): n
        for n in fake.walk(description)
        if type(n).__name__ == 'Node'
    }
    assert ('ros_gz_sim', 'create') in nodes
    assert '-file' in nodes['ros_gz_sim', 'create'].kwargs['arguments']
    bridge = nodes['ros_gz_bridge', 'parameter_bridge'].kwargs['parameters'][0]
    assert set(bridge) == {'config_file', 'use_sim_time'}
    includes = [r for r in fake.walk(description) if type(r).__name__ == 'IncludeLaunchDescription']
    pipeline = [i for i in includes if 'pipeline.launch.py' in repr(i)]
    assert len(pipeline) == 1
    assert ('use_sim_time', 'true') in list(pipeline[0].kwargs['launch_arguments'])
