"""ROS I/O without a node: message building (rosbags and rclpy), field adapters, bags, bag -> dataset."""
