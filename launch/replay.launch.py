"""Replay a recorded run live: ``ros2 bag play BAG --clock`` plus the pipeline on simulated time.

    ros2 launch selfsup_perception replay.launch.py bag:=my_run rate:=2.0 segmenter:=false
"""

from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    pipeline = PathJoinSubstitution([FindPackageShare('selfsup_perception'), 'launch', 'pipeline.launch.py'])
    return LaunchDescription([
        DeclareLaunchArgument('bag', description='rosbag2 directory to play'),
        DeclareLaunchArgument('rate', default_value='1.0', description='playback rate'),
        ExecuteProcess(
            cmd=['ros2', 'bag', 'play', LaunchConfiguration('bag'), '--clock', '--rate', LaunchConfiguration('rate')],
            output='screen',
        ),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(pipeline),
                                 launch_arguments={'use_sim_time': 'true'}.items()),
    ])
