"""Replay a recorded run live: ``ros2 bag play BAG --clock`` plus the pipeline on simulated time.

    ros2 launch selfsup_perception replay.launch.py bag:=my_run rate:=2.0 segmenter:=false

Bags written by ``selfsup simulate`` carry their own /clock: replay them with ``clock:=false``.
"""

from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.conditions import IfCondition, UnlessCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    pipeline = PathJoinSubstitution([FindPackageShare('selfsup_perception'), 'launch', 'pipeline.launch.py'])
    play = ['ros2', 'bag', 'play', LaunchConfiguration('bag'), '--rate', LaunchConfiguration('rate')]
    return LaunchDescription([
        DeclareLaunchArgument('bag', description='rosbag2 directory to play'),
        DeclareLaunchArgument('rate', default_value='1.0', description='playback rate'),
        DeclareLaunchArgument('clock', default_value='true',
                              description='publish /clock from the bag times (false: the bag has /clock)'),
        ExecuteProcess(cmd=[*play, '--clock'], output='screen', condition=IfCondition(LaunchConfiguration('clock'))),
        ExecuteProcess(cmd=play, output='screen', condition=UnlessCondition(LaunchConfiguration('clock'))),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(pipeline),
                                 launch_arguments={'use_sim_time': 'true'}.items()),
    ])
