"""What every node shares: QoS, /diagnostics counters, callbacks that survive bad messages, main().

Kept small on purpose: the nodes are thin shells around the ROS-free core.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from selfsup_perception.nodes.parameters import ParameterError

SENSOR_QOS: QoSProfile = qos_profile_sensor_data
# Head announcements: the latest path stays available to subscribers that join later.
MODEL_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL)
WARN_THROTTLE_S = 5.0
# Set when Ctrl-C (or SIGTERM) comes again while a node shuts down: stop waiting for unfinished work.
HURRY = threading.Event()


def logger_of(node: Node) -> Any:
    """The node's logger while rclpy runs; after shutdown one that does not try to publish on /rosout."""
    return node.get_logger() if node.context.ok() else rclpy.logging.get_logger(f'{node.get_name()}.shutdown')


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
            logger_of(self.node).warning(f'{message} ({key}: {total} so far)')

    def set_counters(self, counters: Mapping[str, int]) -> None:
        """Mirror counters kept elsewhere (e.g. the labeler core's statistics)."""
        for key, value in counters.items():
            self.counters[key] = value

    def guarded(self, callback: Callable[[Any], None], key: str = 'callback_errors') -> Callable[[Any], None]:
        """``callback`` for a subscription: any exception it raises on one message is counted under ``key``
        and logged (throttled), and the node goes on with the next message."""
        def handle(msg: Any) -> None:
            try:
                callback(msg)
            except Exception as exc:
                if self.node.context.ok():  # after shutdown a failing publish is expected, not a problem
                    self.problem(key, f'{getattr(callback, "__name__", "callback")} failed: {exc!r}')
        return handle

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


def join_unless_hurried(thread: threading.Thread) -> bool:
    """Wait for ``thread`` to end, unless Ctrl-C comes again meanwhile; True when it ended."""
    while thread.is_alive() and not HURRY.is_set():
        thread.join(0.05)
    return not thread.is_alive()


class _Interrupts:
    """SIGINT/SIGTERM after the first (which rclpy turns into a shutdown): no traceback, just hurry up."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, signum: int, frame: object) -> None:
        self.count += 1
        if self.count == 2:
            HURRY.set()
            rclpy.logging.get_logger('selfsup_perception').warning(
                'interrupted again: shutting down without waiting for unfinished work')


def run_node(factory: Callable[[], Node], threads: int = 2,
             start_errors: tuple[type[Exception], ...] = (ParameterError,), args: list[str] | None = None) -> int:
    """Init rclpy, spin the node until Ctrl-C or shutdown, clean up; ``start_errors`` exit 2.

    ``threads`` 1 spins in this thread (what a node holding a thread-bound resource, such as an
    OpenGL context, needs); more use a multi-threaded executor. rclpy's own signal handler shuts the
    context down at the first Ctrl-C and calls ours, installed first, so no Ctrl-C raises
    KeyboardInterrupt: a second one during the clean-up only cuts the waiting short (``HURRY``).
    """
    interrupts = _Interrupts()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupts)
    rclpy.init(args=args)
    node = None
    try:
        executor = SingleThreadedExecutor() if threads == 1 else MultiThreadedExecutor(num_threads=threads)
        node = factory()
        executor.add_node(node)
        executor.spin()
    except start_errors as exc:
        rclpy.logging.get_logger('selfsup_perception').fatal(f'cannot start: {exc}')
        return 2
    except ExternalShutdownException:
        pass
    except Exception:
        if rclpy.ok():
            raise
        # Ctrl-C came while the node was starting: what failed, failed because rclpy shut down.
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
