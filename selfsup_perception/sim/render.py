"""Offscreen camera rendering (RGB as a small real camera sees it, and segmentation) and camera intrinsics.

Rendering needs an OpenGL context; headless that is EGL (``MUJOCO_GL=egl``, set by default by
``selfsup_perception.sim``). When none can be made, :class:`GLUnavailableError` says what is missing.
"""

from __future__ import annotations

import os

import mujoco
import numpy as np

from selfsup_perception.sim.groundtruth import segmentation_classes
from selfsup_perception.sim.params import SimParams


class GLUnavailableError(RuntimeError):
    """No OpenGL context for offscreen rendering; the message names the variable or package to fix."""


def _loaded_backend() -> str:
    """The OpenGL backend MuJoCo chose when it was first imported (e.g. ``egl``, ``glfw``)."""
    from mujoco import gl_context

    context = getattr(gl_context, 'GLContext', None)
    return getattr(context, '__module__', 'none').rpartition('.')[2]


def gl_error_message(error: BaseException) -> str:
    """Explain a failed OpenGL context creation: which variable to set or which package to install."""
    backend = os.environ.get('MUJOCO_GL', '')
    loaded = _loaded_backend()
    hint = (
        ''
        if loaded == 'egl'
        else f'MuJoCo uses the {loaded!r} backend: set the environment variable MUJOCO_GL=egl for headless '
        f'rendering (before mujoco is first imported); '
    )
    return (
        f'cannot create an OpenGL context to render the camera (MUJOCO_GL={backend or "unset"}): '
        f'{type(error).__name__}: {error}. Fix: {hint}EGL rendering needs the EGL and Mesa libraries '
        f'(Debian/Ubuntu: apt-get install libegl1 libgl1-mesa-dri; on NVIDIA the driver provides EGL).'
    )


class CameraRenderer:
    """Renders the robot camera: RGB with sensor noise and lens vignetting, plus segmentation classes."""

    def __init__(
        self, model: mujoco.MjModel, params: SimParams, lookup: np.ndarray, rng: np.random.Generator
    ) -> None:
        try:
            self._renderer = mujoco.Renderer(model, params.camera_height, params.camera_width)
        except (ImportError, RuntimeError, AttributeError, OSError, mujoco.FatalError) as exc:
            raise GLUnavailableError(gl_error_message(exc)) from exc
        self._camera = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_CAMERA, 'camera')
        self._lookup = lookup
        self._rng = rng
        self._noise = params.camera_noise
        v, u = np.mgrid[-1 : 1 : params.camera_height * 1j, -1 : 1 : params.camera_width * 1j]
        aspect = params.camera_height / params.camera_width
        self._vignette = (1.0 - 0.22 * (u**2 + (v * aspect) ** 2)).astype(np.float32)[..., None]

    def render(self, data: mujoco.MjData) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 RGB and (H, W) uint8 classes of the current state, pixel-aligned."""
        renderer = self._renderer
        renderer.update_scene(data, camera=self._camera)
        image = renderer.render().astype(np.float32) * self._vignette
        renderer.enable_segmentation_rendering()
        try:
            classes = segmentation_classes(renderer.render(), self._lookup)
        finally:
            renderer.disable_segmentation_rendering()
        if self._noise > 0:
            image += self._rng.normal(0.0, self._noise, (*image.shape[:2], 1)).astype(np.float32)
            image += self._rng.normal(0.0, self._noise / 2, image.shape).astype(np.float32)
        return np.clip(image + 0.5, 0, 255).astype(np.uint8), classes

    def close(self) -> None:
        self._renderer.close()
