"""Replay a recorded run live: ``ros2 bag play BAG --clock`` plus the pipeline on simulated time.

    ros2 launch selfsup_perception replay.launch.py bag:=my_run rate:=2.0 segmenter:=false

Bags written by ``selfsup simulate`` carry their own /clock: replay them with ``clock:=false``. The launch
ends when the player does (the bag played through, or the player failed or could not start).
"""

from __future__ import annotations

from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument,
    EmitEvent,
    ExecuteProcess,
    IncludeLaunchDescription,
    LogInfo,
    RegisterEventHandler,
)
from launch.conditions import IfCondition, UnlessCondition
from launch.event_handlers import OnExecutionComplete
from launch.events import Shutdown
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def _end_with(player: ExecuteProcess) -> RegisterEventHandler:
    """End the launch when ``player`` ends. ExecutionComplete, not ProcessExited: it also comes when the
    player cannot start (``ros2`` missing), where launch logs the error and emits no ProcessExited."""
    return RegisterEventHandler(OnExecutionComplete(target_action=player, on_completion=[
        LogInfo(msg=['ros2 bag play of ', LaunchConfiguration('bag'),
                     ' has ended (its exit status is logged above): ending the launch']),
        EmitEvent(event=Shutdown(reason='ros2 bag play ended')),
    ]))


def generate_launch_description() -> LaunchDescription:
    pipeline = PathJoinSubstitution([FindPackageShare('selfsup_perception'), 'launch', 'pipeline.launch.py'])
    play = ['ros2', 'bag', 'play', LaunchConfiguration('bag'), '--rate', LaunchConfiguration('rate')]
    players = [
        ExecuteProcess(cmd=[*play, '--clock'], output='screen', condition=IfCondition(LaunchConfiguration('clock'))),
        ExecuteProcess(cmd=play, output='screen', condition=UnlessCondition(LaunchConfiguration('clock'))),
    ]
    return LaunchDescription([
        DeclareLaunchArgument('bag', description='rosbag2 directory to play'),
        DeclareLaunchArgument('rate', default_value='1.0', description='playback rate'),
        DeclareLaunchArgument('clock', default_value='true',
                              description='publish /clock from the bag times (false: the bag has /clock)'),
        *(_end_with(player) for player in players),  # registered before the players start
        *players,
        IncludeLaunchDescription(PythonLaunchDescriptionSource(pipeline),
                                 launch_arguments={'use_sim_time': 'true'}.items()),
    ])
