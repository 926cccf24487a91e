"""The sim_robot node: publishes the simulator's topics live; rejects bad parameters at start."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

rclpy = pytest.importorskip('rclpy')

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, qos_profile_sensor_data  # noqa: E402

from selfsup_perception.nodes.sim_robot import SimRobotNode, main, rclpy_kit  # noqa: E402
from selfsup_perception.sim import SimParamError  # noqa: E402


@pytest.fixture
def ros() -> Iterator[None]:
    rclpy.init()
    try:
        yield
    finally:
        rclpy.try_shutdown()


def test_node_publishes_every_topic(ros: None, robot_config) -> None:
    overrides = [
        Parameter('real_time_factor', value=0.0),
        Parameter('camera_width', value=64),
        Parameter('camera_height', value=48),
        Parameter('seed', value=5),
    ]
    node = SimRobotNode(parameter_overrides=overrides)
    listener = rclpy.create_node('listener')
    types = rclpy_kit().types
    received: dict[str, list[object]] = {}
    expected = {
        '/camera/image_raw': ('sensor_msgs/msg/Image', qos_profile_sensor_data),
        '/camera/camera_info': ('sensor_msgs/msg/CameraInfo', qos_profile_sensor_data),
        '/odom': ('nav_msgs/msg/Odometry', qos_profile_sensor_data),
        '/clock': ('rosgraph_msgs/msg/Clock', QoSProfile(depth=10)),
        '/ground_truth/obstacles': ('sensor_msgs/msg/Image', QoSProfile(depth=10)),
        '/ground_truth/segmentation': ('sensor_msgs/msg/Image', QoSProfile(depth=10)),
        **{
            sensor.topic: ('sensor_msgs/msg/Range', qos_profile_sensor_data)
            for sensor in robot_config.sensors
        },
    }
    for topic, (typename, qos) in expected.items():
        listener.create_subscription(
            types[typename],
            topic,
            lambda message, topic=topic: received.setdefault(topic, []).append(message),
            qos,
        )
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(listener)
    deadline = time.monotonic() + 30.0
    try:
        while set(received) != set(expected) and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.01)
    finally:
        executor.shutdown()
        node.destroy_node()
        listener.destroy_node()
    assert set(received) == set(expected)
    truth = received['/ground_truth/obstacles'][0]
    assert (truth.height, truth.width, truth.encoding) == (
        len(robot_config.distances),
        len(robot_config.sensors),
        'mono8',
    )
    image = received['/camera/image_raw'][0]
    assert (image.height, image.width, image.encoding) == (48, 64, 'rgb8')
    assert received['/camera/camera_info'][0].k[0] > 0


@pytest.mark.parametrize(
    ('name', 'value'),
    [
        ('room_size', -1.0),
        ('camera_rate', 0.0),
        ('real_time_factor', -2.0),
        ('real_time_factor', float('inf')),
        ('max_obstacles', -3),
    ],
)
def test_bad_parameters_stop_the_node_at_start(ros: None, name: str, value: object) -> None:
    with pytest.raises(SimParamError, match=rf'^{name}: '):
        SimRobotNode(parameter_overrides=[Parameter(name, value=value)])


@pytest.mark.parametrize(
    ('argument', 'message'),
    [('proximity_rate:=0.0', 'proximity_rate: must be > 0'), ('room_size:=3', "parameter 'room_size'")],
)
def test_main_exits_with_an_error_code_on_bad_parameters(
    capfd: pytest.CaptureFixture[str], argument: str, message: str
) -> None:
    assert main(['sim_robot', '--ros-args', '-p', argument]) == 2
    assert message in capfd.readouterr().err
