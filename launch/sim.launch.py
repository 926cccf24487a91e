"""The embedded MuJoCo simulator (``sim_robot``) plus the pipeline on its simulated clock.

    ros2 launch selfsup_perception sim.launch.py seed:=1001 real_time_factor:=1.0
    ros2 launch selfsup_perception sim.launch.py camera_transport:=compressed config:=/path/to/robot.yaml

``config`` and ``camera_transport`` reach both the simulator and the pipeline: the simulator publishes the
sensors of the config, and JPEG on ``<camera>/compressed`` when the transport is ``compressed``.
"""

from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, SetEnvironmentVariable
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare('selfsup_perception')
    config = LaunchConfiguration('config')
    transport = LaunchConfiguration('camera_transport')
    return LaunchDescription([
        DeclareLaunchArgument('seed', default_value='1001', description='world seed (>= 1000: evaluation worlds)'),
        DeclareLaunchArgument('real_time_factor', default_value='1.0',
                              description='simulated seconds per wall second (0: as fast as possible)'),
        DeclareLaunchArgument('config', default_value=PathJoinSubstitution([share, 'config', 'robot.yaml']),
                              description='parameters file (sensors, labeling rule) of the simulator and the pipeline'),
        DeclareLaunchArgument('camera_transport', default_value='raw', choices=['raw', 'compressed'],
                              description='raw images, or JPEG on <camera>/compressed (simulator and pipeline)'),
        SetEnvironmentVariable('MUJOCO_GL', 'egl'),
        Node(package='selfsup_perception', executable='sim_robot', name='sim_robot', output='screen',
             parameters=[config,
                         {'seed': LaunchConfiguration('seed'),
                          'real_time_factor': LaunchConfiguration('real_time_factor'),
                          'config_file': config,
                          'compressed': PythonExpression(["'", transport, "' == 'compressed'"])}]),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(PathJoinSubstitution([share, 'launch',
                                                                                     'pipeline.launch.py'])),
                                 launch_arguments={'use_sim_time': 'true', 'config': config,
                                                   'camera_transport': transport}.items()),
    ])
