"""ROS 2 node ``sim_robot``: the embedded simulator publishing live, a thin rclpy shell over ``Simulation``.

Publishes the topics listed in :mod:`selfsup_perception.sim.bagwriter` and ``/clock`` (run the other
nodes with ``use_sim_time: true``), at ``real_time_factor`` times real time (0 = as fast as possible).
Parameters: every :class:`~selfsup_perception.sim.params.SimParams` field, plus ``config_file`` (the
labeling config with the sensors; empty = the shipped ``config/robot.yaml``), ``real_time_factor`` and
``compressed``. All are read-only: a different world needs a restart. Invalid values stop the node
at start with a message naming the parameter.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import fields
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import ParameterException
from rclpy.node import Node
from rclpy.qos import QoSProfile, qos_profile_sensor_data

from selfsup_perception.core.config import ConfigError, load_config
from selfsup_perception.core.resources import robot_config
from selfsup_perception.nodes.common import run_node
from selfsup_perception.rosio.messages import rclpy_kit
from selfsup_perception.sim.messages import (
    CLOCK_TOPIC,
    OBSTACLES_TOPIC,
    SEGMENTATION_TOPIC,
    output_messages,
    topic_types,
)
from selfsup_perception.sim.params import DESCRIPTIONS, SimParamError, SimParams
from selfsup_perception.sim.render import GLUnavailableError
from selfsup_perception.sim.simulation import Simulation

#: Topics that are not sensor streams: published reliably so that nothing is lost.
_RELIABLE_TOPICS = (CLOCK_TOPIC, OBSTACLES_TOPIC, SEGMENTATION_TOPIC)
#: How often the node wakes up to catch the simulation up with the wall clock (s).
_TICK = 0.005
_PARAMETER_TYPES = {
    int: ParameterType.PARAMETER_INTEGER,
    float: ParameterType.PARAMETER_DOUBLE,
    bool: ParameterType.PARAMETER_BOOL,
    str: ParameterType.PARAMETER_STRING,
}


class SimRobotNode(Node):
    """Steps the simulation on a steady-clock timer and publishes every output."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('sim_robot', **kwargs)
        values = {
            item.name: self._declare(item.name, item.default, DESCRIPTIONS[item.name])
            for item in fields(SimParams)
        }
        config_file = self._declare(
            'config_file',
            '',
            'labeling config with the sensors and distances (empty: the shipped config/robot.yaml)',
        )
        self._real_time_factor = self._declare(
            'real_time_factor', 1.0, 'simulated seconds per wall-clock second (0 = as fast as possible)'
        )
        self._compressed = self._declare(
            'compressed', False, 'publish JPEG on /camera/image_raw/compressed instead of raw images'
        )
        if not (self._real_time_factor >= 0 and math.isfinite(self._real_time_factor)):
            raise SimParamError(f'real_time_factor: must be finite and >= 0, got {self._real_time_factor!r}')
        config = load_config(config_file or robot_config())
        self._simulation = Simulation(SimParams(**values), config)
        self._kit = rclpy_kit()
        self._outputs = {}
        for topic, typename in topic_types(self._simulation, self._compressed).items():
            qos = QoSProfile(depth=10) if topic in _RELIABLE_TOPICS else qos_profile_sensor_data
            self._outputs[topic] = self.create_publisher(self._kit.types[typename], topic, qos)
        self._start = time.monotonic()
        self._behind_warned = False
        self._timer = self.create_timer(_TICK, self._tick, clock=Clock(clock_type=ClockType.STEADY_TIME))
        self.get_logger().info(
            f'simulating seed {values["seed"]} in a {self._simulation.arena.size:.1f} m room with '
            f'{len(self._simulation.arena.obstacles)} obstacles, '
            + (f'{self._real_time_factor}x real time' if self._real_time_factor else 'as fast as possible')
        )

    def _declare(self, name: str, default: Any, description: str) -> Any:
        descriptor = ParameterDescriptor(
            description=description, read_only=True, type=_PARAMETER_TYPES[type(default)]
        )
        return self.declare_parameter(name, default, descriptor).value

    def _tick(self) -> None:
        """Publish everything up to the current sim-time target (one camera period when unthrottled)."""
        simulation = self._simulation
        if self._real_time_factor > 0:
            target = (time.monotonic() - self._start) * self._real_time_factor
            if target - simulation.time > 1.0 and not self._behind_warned:
                self._behind_warned = True
                self.get_logger().warning(
                    'cannot keep up with real_time_factor '
                    f'{self._real_time_factor}; running as fast as possible'
                )
        else:
            target = simulation.time + 1.0 / simulation.params.camera_rate
        while simulation.time < target:
            output = simulation.step()
            for topic, message in output_messages(self._kit, simulation, output, self._compressed):
                self._outputs[topic].publish(message)

    def destroy_node(self) -> None:
        self._simulation.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    """Console script ``sim_robot``: spin until interrupted; exit code 2 on invalid parameters."""
    return run_node(SimRobotNode, threads=1,
                    start_errors=(SimParamError, ConfigError, GLUnavailableError, ParameterException), args=args)


if __name__ == '__main__':
    sys.exit(main())
