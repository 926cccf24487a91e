"""Camera intrinsics and the message when no OpenGL context can be made."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import mujoco
import numpy as np
import pytest
from simhelpers import REPO

from selfsup_perception.core.segmentation import intrinsics_from_hfov as camera_matrix
from selfsup_perception.sim import GLUnavailableError, SimParams
from selfsup_perception.sim.render import CameraRenderer, gl_error_message


def test_camera_matrix_from_the_horizontal_field_of_view() -> None:
    k = camera_matrix(160, 120, math.pi / 2)
    np.testing.assert_allclose(k, [[80.0, 0.0, 79.5], [0.0, 80.0, 59.5], [0.0, 0.0, 1.0]])


def test_gl_failure_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_context(*args: object, **kwargs: object) -> None:
        raise mujoco.FatalError('gladLoadGL error')

    monkeypatch.setattr(mujoco, 'Renderer', no_context)
    model = mujoco.MjModel.from_xml_string('<mujoco><worldbody><camera name="camera"/></worldbody></mujoco>')
    with pytest.raises(GLUnavailableError, match='libegl1') as info:
        CameraRenderer(model, SimParams(), np.zeros(1, np.uint8), np.random.default_rng(0))
    assert 'MUJOCO_GL' in str(info.value)
    assert 'gladLoadGL error' in str(info.value)


def test_message_names_the_variable_when_another_backend_is_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    from mujoco import gl_context

    class GLContext:
        pass

    GLContext.__module__ = 'mujoco.glfw'
    monkeypatch.setattr(gl_context, 'GLContext', GLContext)
    message = gl_error_message(RuntimeError('no display'))
    assert "MuJoCo uses the 'glfw' backend: set the environment variable MUJOCO_GL=egl" in message


@pytest.mark.skipif(sys.platform != 'linux', reason='the headless GL backends are Linux ones')
def test_simulator_without_a_display_says_to_use_egl() -> None:
    environment = {
        key: value for key, value in os.environ.items() if key not in ('DISPLAY', 'WAYLAND_DISPLAY')
    }
    environment.update(MUJOCO_GL='glfw', PYTHONPATH=str(REPO))
    code = (
        'from selfsup_perception.core.config import load_config\n'
        'from selfsup_perception.sim import SimParams, Simulation\n'
        f'Simulation(SimParams(), load_config({str(REPO / "config" / "robot.yaml")!r}))\n'
    )
    result = subprocess.run(
        [sys.executable, '-c', code],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert 'GLUnavailableError' in result.stderr
    assert 'MUJOCO_GL=egl' in result.stderr
