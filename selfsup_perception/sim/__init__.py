"""Embedded headless robot simulator (MuJoCo): procedural arenas, a wandering robot, ground truth.

Rendering is headless by default: ``MUJOCO_GL`` is set to ``egl`` unless the environment already
chooses a backend (it must be set before MuJoCo is first imported, hence before the imports below).
The ROS node lives in :mod:`selfsup_perception.nodes.sim_robot` (imported only when used: it needs rclpy).
"""

from __future__ import annotations

import os

os.environ.setdefault('MUJOCO_GL', 'egl')

from selfsup_perception.sim.bagwriter import SimSummary, simulate_to_bag
from selfsup_perception.sim.params import SimParamError, SimParams
from selfsup_perception.sim.render import GLUnavailableError
from selfsup_perception.sim.simulation import CameraFrame, SimOutput, Simulation

__all__ = [
    'CameraFrame',
    'GLUnavailableError',
    'SimOutput',
    'SimParamError',
    'SimParams',
    'SimSummary',
    'Simulation',
    'simulate_to_bag',
]
