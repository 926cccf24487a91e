"""rclpy fixtures: one context per test (a DDS domain of its own), nodes and a probe in one executor."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

rclpy = pytest.importorskip('rclpy', reason='the node tests need rclpy (make test installs the ROS 2 wheels)')

from rclpy.executors import SingleThreadedExecutor  # noqa: E402


@pytest.fixture
def ros() -> Iterator[SingleThreadedExecutor]:
    """An initialised rclpy context (isolated DDS domain per test run) and an executor."""
    context = rclpy.context.Context()
    # A domain of its own, so parallel test runs on one machine never hear each other.
    rclpy.init(context=context, domain_id=random.randint(1, 200))
    executor = SingleThreadedExecutor(context=context)
    executor.context_ = context  # type: ignore[attr-defined]
    try:
        yield executor
    finally:
        executor.shutdown()
        rclpy.try_shutdown(context=context)
