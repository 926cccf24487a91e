"""The camera side of the nodes: parameters, the raw or compressed subscription, image checks, the frame worker.

The detector and the segmenter run their model in a worker thread on the newest frame only: the
subscription leaves each message in a one-slot mailbox, so under overload stale frames are skipped
(counted) and the node never lags behind the camera.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from selfsup_perception.core.images import DEFAULT_MAX_PIXELS, ImageError
from selfsup_perception.nodes.common import SENSOR_QOS, Diagnostics, join_unless_hurried
from selfsup_perception.nodes.parameters import declare
from selfsup_perception.rosio.fields import image_to_rgb


@dataclass(frozen=True)
class Camera:
    """Where the camera images come from and the largest image accepted."""

    topic: str
    transport: str
    max_pixels: int


def declare_camera(node: Node) -> Camera:
    """Declare ``camera_topic``, ``camera_transport`` and ``max_image_pixels`` (ParameterError when invalid)."""
    topic = declare(node, 'camera_topic', '/camera/image_raw', 'raw camera topic')
    transport = declare(node, 'camera_transport', 'raw', 'raw (sensor_msgs/Image) or compressed (CompressedImage '
                        'on <camera_topic>/compressed)', valid=lambda v: v in ('raw', 'compressed'),
                        must='raw or compressed')
    max_pixels = declare(node, 'max_image_pixels', DEFAULT_MAX_PIXELS, 'largest camera image accepted (width x '
                         'height, checked before decoding): larger ones are bad images', valid=lambda v: v >= 1,
                         must='>= 1')
    return Camera(topic, transport, max_pixels)


def subscribe_camera(node: Node, camera: Camera, callback: Callable[[Any], None]) -> None:
    """Subscribe ``callback`` to the camera: ``<topic>/compressed`` for compressed transport, else ``<topic>``."""
    if camera.transport == 'compressed':
        node.create_subscription(CompressedImage, f'{camera.topic}/compressed', callback, SENSOR_QOS)
    else:
        node.create_subscription(Image, camera.topic, callback, SENSOR_QOS)


def camera_image(msg: Any, camera: Camera, diagnostics: Diagnostics) -> np.ndarray | None:
    """The RGB image of a camera message, or None for a bad one (counted as ``bad_images``, logged throttled)."""
    try:
        return image_to_rgb(msg, camera.max_pixels)
    except ImageError as exc:
        diagnostics.problem('bad_images', f'camera image rejected: {exc}')
        return None


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


class FrameWorker:
    """A thread running ``process`` on the newest camera message; ``put`` is the subscription callback.

    Counts ``frames_in`` and, for a message replaced before the worker took it, ``dropped_key``. A frame
    that raises is counted as ``processing_errors`` and the worker goes on; once rclpy has shut down,
    a failing frame (its publishers are gone) ends the worker quietly.
    """

    def __init__(self, node: Node, diagnostics: Diagnostics, process: Callable[[Any], object],
                 dropped_key: str) -> None:
        self._node = node
        self._diagnostics = diagnostics
        self._process = process
        self._dropped_key = dropped_key
        self._mailbox = Mailbox()
        self._thread = threading.Thread(target=self._work, name=f'{node.get_name()}-worker', daemon=True)
        self._thread.start()

    def put(self, msg: Any) -> None:
        self._diagnostics.count('frames_in')
        if self._mailbox.put(msg):
            self._diagnostics.count(self._dropped_key)

    def _work(self) -> None:
        while (msg := self._mailbox.take()) is not None:
            try:
                self._process(msg)
            except Exception as exc:  # a failing frame must not end the worker; say what happened
                if not self._node.context.ok():
                    return
                self._diagnostics.problem('processing_errors', f'frame processing failed: {exc!r}')

    def stop(self) -> None:
        """Let the frame in progress finish (unless Ctrl-C comes again), then end the thread."""
        self._mailbox.close()
        join_unless_hurried(self._thread)


class Timings:
    """Median model and whole-frame times of the last ``window`` frames, shown on /diagnostics (ms)."""

    def __init__(self, diagnostics: Diagnostics, window: int) -> None:
        self._values = diagnostics.values
        self._inference_ms: deque[float] = deque(maxlen=window)
        self._processing_ms: deque[float] = deque(maxlen=window)
        self._values.update(inference_ms='nan', processing_ms='nan')

    def record(self, inference_s: float, started: float) -> None:
        """One frame: the model took ``inference_s``; the frame began at ``started`` (``time.perf_counter``)."""
        self._inference_ms.append(inference_s * 1e3)
        self._processing_ms.append((time.perf_counter() - started) * 1e3)
        self._values['inference_ms'] = f'{statistics.median(self._inference_ms):.2f}'
        self._values['processing_ms'] = f'{statistics.median(self._processing_ms):.2f}'
