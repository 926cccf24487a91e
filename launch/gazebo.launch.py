"""Gazebo Harmonic simulation of the robot plus the self-supervised perception pipeline (ROS 2 Jazzy).

Starts Gazebo with ``worlds/arena.sdf``, spawns ``worlds/thymio.sdf`` with ros_gz_sim ``create``,
bridges its topics with ``config/gz_bridge.yaml`` and runs the labeler, trainer, obstacle detector
and segmenter with ``config/robot.yaml`` on simulated time. Drive the robot on ``/cmd_vel``.

    ros2 launch selfsup_perception gazebo.launch.py [gz_args:='-r -s'] [x:=0.0 y:=0.0 yaw:=0.0]
"""

from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'selfsup_perception'


def generate_launch_description() -> LaunchDescription:
    """Gazebo, robot spawner, bridge and the pipeline nodes."""
    share = FindPackageShare(PACKAGE)
    world = LaunchConfiguration('world')
    config = LaunchConfiguration('config')
    arguments = [
        DeclareLaunchArgument(
            'world',
            default_value=PathJoinSubstitution([share, 'worlds', 'arena.sdf']),
            description='Gazebo world (SDF)',
        ),
        DeclareLaunchArgument(
            'world_name',
            default_value='arena',
            description='name of the world inside the SDF (where the robot is spawned)',
        ),
        DeclareLaunchArgument(
            'robot',
            default_value=PathJoinSubstitution([share, 'worlds', 'thymio.sdf']),
            description='robot model (SDF) spawned into the world',
        ),
        DeclareLaunchArgument(
            'config',
            default_value=PathJoinSubstitution([share, 'config', 'robot.yaml']),
            description='parameters of the pipeline nodes (sensors, labeling)',
        ),
        DeclareLaunchArgument(
            'bridge_config',
            default_value=PathJoinSubstitution([share, 'config', 'gz_bridge.yaml']),
            description='ros_gz_bridge topic mapping',
        ),
        DeclareLaunchArgument(
            'gz_args', default_value='-r', description="extra gz sim arguments ('-r -s' runs headless)"
        ),
        DeclareLaunchArgument('x', default_value='0.0', description='robot start x (m)'),
        DeclareLaunchArgument('y', default_value='0.0', description='robot start y (m)'),
        DeclareLaunchArgument('yaw', default_value='0.0', description='robot start yaw (rad)'),
    ]
    gazebo = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare('ros_gz_sim'), 'launch', 'gz_sim.launch.py'])
        ),
        launch_arguments={
            'gz_args': [LaunchConfiguration('gz_args'), ' ', world],
            'on_exit_shutdown': 'true',
        }.items(),
    )
    spawn = Node(
        package='ros_gz_sim',
        executable='create',
        output='screen',
        arguments=[
            '-world',
            LaunchConfiguration('world_name'),
            '-file',
            LaunchConfiguration('robot'),
            '-name',
            'thymio',
            '-x',
            LaunchConfiguration('x'),
            '-y',
            LaunchConfiguration('y'),
            '-z',
            '0.001',
            '-Y',
            LaunchConfiguration('yaw'),
        ],
    )
    bridge = Node(
        package='ros_gz_bridge',
        executable='parameter_bridge',
        output='screen',
        parameters=[{'config_file': LaunchConfiguration('bridge_config'), 'use_sim_time': True}],
    )
    pipeline = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, 'launch', 'pipeline.launch.py'])),
        launch_arguments={'config': config, 'use_sim_time': 'true'}.items(),
    )
    return LaunchDescription([*arguments, gazebo, spawn, bridge, pipeline])
