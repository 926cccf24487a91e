"""Helpers of the node tests: spin until something happened, and a probe node publishing/recording topics."""

from __future__ import annotations

import time
from collections.abc import Callable


def spin_until(executor, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Spin until ``condition()`` holds; False on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        executor.spin_once(timeout_sec=0.01)
    return condition()


class Probe:
    """A test node that publishes serialized messages (built with ``bagio``) and records topics."""

    def __init__(self, executor, name: str = 'probe') -> None:
        from rclpy.node import Node

        self.node = Node(name, context=executor.context_)
        executor.add_node(self.node)
        self.executor = executor
        self.publishers: dict[str, object] = {}
        self.received: dict[str, list] = {}

    def publisher(self, topic: str, msg_type, qos=None):
        from selfsup_perception.nodes.common import SENSOR_QOS

        if topic not in self.publishers:
            self.publishers[topic] = self.node.create_publisher(msg_type, topic, qos or SENSOR_QOS)
        return self.publishers[topic]

    def subscribe(self, topic: str, msg_type, qos=10) -> list:
        self.received[topic] = []
        self.node.create_subscription(msg_type, topic, self.received[topic].append, qos)
        return self.received[topic]

    def wait_for_subscribers(self, timeout: float = 10.0) -> None:
        assert spin_until(self.executor, lambda: all(p.get_subscription_count() > 0
                                                     for p in self.publishers.values()), timeout), \
            'the node under test never subscribed'
