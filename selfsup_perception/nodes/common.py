"""What every node shares: parameter declaration, /diagnostics counters, throttled warnings, main().

Kept small on purpose: the nodes are thin shells around the ROS-free core.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data

SENSOR_QOS: QoSProfile = qos_profile_sensor_data
WARN_THROTTLE_S = 5.0


class ParameterError(ValueError):
    """A node parameter has an invalid value; raised at start so the node never runs half-configured."""


def declare(node: Node, name: str, default: Any, description: str, read_only: bool = True) -> Any:
    """Declare a parameter with a descriptor and return its value."""
    descriptor = ParameterDescriptor(name=name, description=description, read_only=read_only)
    return node.declare_parameter(name, default, descriptor).value


def parameters_tree(node: Node, prefix: str) -> dict[str, Any]:
    """Nested dict of the declared parameters under ``prefix.`` (mirrors the YAML layout)."""
    tree: dict[str, Any] = {}
    for name, parameter in node.get_parameters_by_prefix(prefix).items():
        parts = name.split('.')
        level = tree
        for part in parts[:-1]:
            level = level.setdefault(part, {})
        level[parts[-1]] = list(parameter.value) if isinstance(parameter.value, (list, tuple)) \
            else parameter.value
    return tree


class Diagnostics:
    """Counters and values published on /diagnostics, with throttled warnings for bad input.

    ``problem(key, message)`` counts a problem and logs it at most every few seconds per key, so a
    flood of bad messages never floods the log; the level turns WARN while problems keep coming.
    """

    def __init__(self, node: Node, name: str, period: float = 1.0) -> None:
        self.node = node
        self.name = name
        self.counters: Counter[str] = Counter()
        self.values: dict[str, str] = {}
        self._problems_at_last_publish = 0
        self._last_warned: dict[str, float] = {}
        self._publisher = node.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self._rates: dict[str, tuple[float, int]] = {}
        self.timer = node.create_timer(period, self.publish)

    def count(self, key: str, amount: int = 1) -> None:
        self.counters[key] += amount

    def problem(self, key: str, message: str) -> None:
        self.counters[key] += 1
        self.counters['problems'] += 1
        now = time.monotonic()
        if now - self._last_warned.get(key, -1e9) >= WARN_THROTTLE_S:
            self._last_warned[key] = now
            total = self.counters[key]
            self.node.get_logger().warning(f'{message} ({key}: {total} so far)')

    def set_counters(self, counters: Mapping[str, int]) -> None:
        """Mirror counters kept elsewhere (e.g. the labeler core's statistics)."""
        for key, value in counters.items():
            self.counters[key] = value

    def _rate(self, key: str) -> float:
        now = time.monotonic()
        last_time, last_count = self._rates.get(key, (now, self.counters[key]))
        self._rates[key] = (now, self.counters[key])
        return (self.counters[key] - last_count) / (now - last_time) if now > last_time else 0.0

    def publish(self) -> None:
        status = DiagnosticStatus(name=f'selfsup_perception: {self.name}', hardware_id=self.node.get_name())
        new_problems = self.counters['problems'] - self._problems_at_last_publish
        self._problems_at_last_publish = self.counters['problems']
        status.level = DiagnosticStatus.WARN if new_problems else DiagnosticStatus.OK
        status.message = f'{new_problems} problems in the last period' if new_problems else 'ok'
        values = {k: str(v) for k, v in sorted(self.counters.items())}
        for key in ('frames_in', 'frames_out'):
            if key in self.counters:
                values[f'{key}_per_s'] = f'{self._rate(key):.2f}'
        values.update(self.values)
        status.values = [KeyValue(key=k, value=v) for k, v in values.items()]
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.node.get_clock().now().to_msg()
        self._publisher.publish(array)


class Mailbox:
    """A one-slot mailbox between the subscription and the worker: the newest item wins."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._item: Any = None
        self._closed = False

    def put(self, item: Any) -> bool:
        """Leave ``item`` for the worker; True when it replaced one the worker never took (a drop)."""
        with self._condition:
            dropped = self._item is not None
            self._item = item
            self._condition.notify()
            return dropped

    def take(self, timeout: float | None = None) -> Any:
        """The waiting item (emptying the slot); None once closed, or after ``timeout`` seconds."""
        with self._condition:
            self._condition.wait_for(lambda: self._item is not None or self._closed, timeout)
            if self._closed:
                return None
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()


def run_node(factory: Callable[[], Node], threads: int = 2,
             start_errors: tuple[type[Exception], ...] = (ParameterError,), args: list[str] | None = None) -> int:
    """Init rclpy, spin the node until Ctrl-C or shutdown, clean up; ``start_errors`` exit 2.

    ``threads`` 1 spins in this thread (what a node holding a thread-bound resource, such as an
    OpenGL context, needs); more use a multi-threaded executor.
    """
    rclpy.init(args=args)
    node = None
    try:
        node = factory()
        executor = SingleThreadedExecutor() if threads == 1 else MultiThreadedExecutor(num_threads=threads)
        executor.add_node(node)
        executor.spin()
    except start_errors as exc:
        rclpy.logging.get_logger('selfsup_perception').fatal(f'cannot start: {exc}')
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
