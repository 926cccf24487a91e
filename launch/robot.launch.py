"""On a robot: the pipeline on the robot's own camera, proximity sensors and odometry.

    ros2 launch selfsup_perception robot.launch.py backend:=edgetpu camera_transport:=compressed \\
        dataset:=/data/selfsup.db camera_topic:=/oakd/rgb/image_raw

Every argument of pipeline.launch.py is accepted (see ``ros2 launch ... --show-args``).
"""

from __future__ import annotations

from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    pipeline = PathJoinSubstitution([FindPackageShare('selfsup_perception'), 'launch', 'pipeline.launch.py'])
    return LaunchDescription([IncludeLaunchDescription(PythonLaunchDescriptionSource(pipeline))])
