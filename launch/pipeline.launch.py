"""The perception pipeline: labeler, trainer, obstacle_detector and segmenter (ROS 2 Jazzy launch).

Included by robot.launch.py, replay.launch.py, sim.launch.py and gazebo.launch.py; usable alone:

    ros2 launch selfsup_perception pipeline.launch.py backend:=edgetpu segmenter:=false
"""

from __future__ import annotations

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = 'selfsup_perception'

# launch argument -> (default, description); defaults under the package's share/ are joined below.
ARGUMENTS = {
    'config': ('config/robot.yaml', 'parameters file: sensors and labeling rule (see README)'),
    'use_sim_time': ('false', 'use /clock (bag replay, simulators)'),
    'labeler': ('true', 'run the labeler (writes the dataset)'),
    'trainer': ('true', 'run the on-device head trainer'),
    'detector': ('true', 'run the long-range obstacle detector'),
    'segmenter': ('true', 'run the FCN segmenter'),
    'backend': ('auto', 'inference backend: auto, edgetpu, tflite, onnx-tensorrt, onnx-cuda, onnx-cpu'),
    'dataset': ('selfsup_dataset.db', 'SQLite dataset the labeler writes and the trainer reads'),
    'camera_topic': ('/camera/image_raw', 'raw camera topic (compressed: <topic>/compressed)'),
    'camera_transport': ('raw', 'raw or compressed'),
    'odom_topic': ('/odom', 'nav_msgs/Odometry topic'),
    'embedding_model': ('models/embedding.tflite', 'embedding extractor (.tflite, .onnx or _edgetpu.tflite)'),
    'head': ('models/head.npz', 'head the detector starts with'),
    'trained_head': ('selfsup_head.npz', 'where the trainer writes better heads'),
    'segmentation_model': ('models/fcn8s.tflite', 'FCN segmentation model'),
}
IN_SHARE = ('config', 'embedding_model', 'head', 'segmentation_model')


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare(PACKAGE)
    declared = [
        DeclareLaunchArgument(
            name,
            default_value=PathJoinSubstitution([share, default]) if name in IN_SHARE else default,
            description=description,
        )
        for name, (default, description) in ARGUMENTS.items()
    ]
    arg = {name: LaunchConfiguration(name) for name in ARGUMENTS}
    camera = {'camera_topic': arg['camera_topic'], 'camera_transport': arg['camera_transport']}
    common = {'use_sim_time': arg['use_sim_time']}
    inference = {'backend': arg['backend'], 'embedding_model': arg['embedding_model']}
    nodes = [
        Node(package=PACKAGE, executable='labeler', name='labeler', output='screen',
             condition=IfCondition(arg['labeler']),
             parameters=[arg['config'], {**common, **camera, 'odom_topic': arg['odom_topic'],
                                         'dataset_path': arg['dataset']}]),
        Node(package=PACKAGE, executable='trainer', name='trainer', output='screen',
             condition=IfCondition(arg['trainer']),
             parameters=[{**common, **inference, 'dataset_path': arg['dataset'], 'head_path': arg['trained_head']}]),
        Node(package=PACKAGE, executable='obstacle_detector', name='obstacle_detector', output='screen',
             condition=IfCondition(arg['detector']),
             parameters=[arg['config'], {**common, **camera, **inference, 'head_path': arg['head'],
                                         'model_topic': '/trainer/model'}]),
        Node(package=PACKAGE, executable='segmenter', name='segmenter', output='screen',
             condition=IfCondition(arg['segmenter']),
             parameters=[arg['config'], {**common, **camera, 'backend': arg['backend'],
                                         'model_path': arg['segmentation_model']}]),
    ]
    return LaunchDescription([*declared, *nodes])
