"""The ROS 2 nodes: thin rclpy shells over the core and the pipeline.

``NODES`` maps each node's executable name to its module (whose ``main()`` runs it); setup.py's console
scripts and the demo, which starts every node as a process, both read it.
"""

NODES: dict[str, str] = {
    'labeler': 'selfsup_perception.nodes.labeler',
    'trainer': 'selfsup_perception.nodes.trainer',
    'obstacle_detector': 'selfsup_perception.nodes.obstacle_detector',
    'segmenter': 'selfsup_perception.nodes.segmenter',
    'sim_robot': 'selfsup_perception.nodes.sim_robot',
}
