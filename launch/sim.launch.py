"""The embedded MuJoCo simulator (``sim_robot``) plus the pipeline on its simulated clock.

    ros2 launch selfsup_perception sim.launch.py seed:=1001 real_time_factor:=1.0
"""

from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription, SetEnvironmentVariable
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare('selfsup_perception')
    return LaunchDescription([
        DeclareLaunchArgument('seed', default_value='1001', description='world seed (>= 1000: evaluation worlds)'),
        DeclareLaunchArgument('real_time_factor', default_value='1.0',
                              description='simulated seconds per wall second (0: as fast as possible)'),
        SetEnvironmentVariable('MUJOCO_GL', 'egl'),
        Node(package='selfsup_perception', executable='sim_robot', name='sim_robot', output='screen',
             parameters=[PathJoinSubstitution([share, 'config', 'robot.yaml']),
                         {'seed': LaunchConfiguration('seed'),
                          'real_time_factor': LaunchConfiguration('real_time_factor'),
                          'config_file': PathJoinSubstitution([share, 'config', 'robot.yaml'])}]),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(PathJoinSubstitution([share, 'launch',
                                                                                     'pipeline.launch.py'])),
                                 launch_arguments={'use_sim_time': 'true'}.items()),
    ])
