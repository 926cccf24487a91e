"""The ``obstacle_detector`` node: camera image -> P(obstacle) per (distance, sensor), a LaserScan, an overlay.

Callbacks only store: the newest frame waits in a one-slot mailbox and a worker thread runs the
embedding model and the head, so under overload the node skips stale frames (counted) and never
lags behind the camera. The head is swapped when the trainer announces one on the model topic or
``head_path`` is set; a head that does not load or fit, for whatever reason, is refused and the old
one kept.

Outputs: ``~/probabilities`` (Float32MultiArray, dims ``distance`` x ``sensor``: the values are this
node's ``labeling.distances`` and ``sensors.names`` parameters), ``~/scan`` (one beam per sensor
direction; range = the nearest distance ahead at which the head sees an obstacle for that sensor,
i.e. how far the robot can drive before that sensor would fire: a conservative obstacle position for
a costmap) and ``~/overlay`` (rgb8, drawn only while someone subscribes).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import Image, LaserScan
from std_msgs.msg import Float32MultiArray, Header, MultiArrayDimension, MultiArrayLayout

from selfsup_perception.core.head import Head
from selfsup_perception.core.images import rgb_to_raw
from selfsup_perception.core.obstacles import draw_overlay, nearest_obstacles, scan_layout
from selfsup_perception.nodes.camera import FrameWorker, Timings, camera_image, declare_camera, subscribe_camera
from selfsup_perception.nodes.common import Diagnostics, run_node
from selfsup_perception.nodes.headswap import HeadSwap
from selfsup_perception.nodes.parameters import ParameterError, declare, declare_embedder, declare_labeling_parameters
from selfsup_perception.pipeline.heads import load_head

OUTPUT_DEPTH = 5
RANGE_MARGIN = 0.01  # m past the furthest distance: a beam at that distance stays below range_max
TIMING_WINDOW = 100  # frames the diagnostics' median times are taken over
COUNTERS = ('frames_in', 'frames_out', 'frames_dropped', 'bad_images', 'frames_without_head', 'overlays',
            'head_loads', 'heads_refused', 'processing_errors', 'callback_errors', 'problems')


class ObstacleDetectorNode(Node):
    """Embedding model + head on the newest camera frame; probabilities, scan and overlay out."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('obstacle_detector', **kwargs)
        self.config = declare_labeling_parameters(self)
        self.camera = declare_camera(self)
        head_path = declare(self, 'head_path', '', 'head (.npz) to use; set it at run time to swap heads '
                            '(empty: wait for the trainer to announce one)', read_only=False)
        self.threshold = declare(self, 'threshold', 0.5, 'probability from which a cell is an obstacle, (0, 1]',
                                 valid=lambda v: 0 < v <= 1, must='in (0, 1]')
        self.frame_id = declare(self, 'frame_id', 'base_link', 'frame of ~/scan: the robot base', valid=bool,
                                must='a frame name')
        model_topic = declare(self, 'model_topic', '/trainer/model', 'std_msgs/String topic announcing heads',
                              valid=bool, must='a topic name')
        self.distances = np.asarray(self.config.distances, np.float32)
        self.yaws = [s.yaw for s in self.config.sensors]
        try:
            self.layout = scan_layout(self.yaws)
        except ValueError as exc:
            raise ParameterError(f'sensors.*.yaw: {exc}') from exc
        self.embedder = declare_embedder(self)
        self.head: Head | None = None
        if head_path:
            try:
                self.head = self._load(head_path)
            except Exception as exc:  # whatever makes the head unusable, the node must not start with it
                raise ParameterError(f'head_path: {exc}') from exc
        self.diagnostics = Diagnostics(self, 'obstacle_detector')
        self.diagnostics.set_counters(dict.fromkeys(COUNTERS, 0))
        self.diagnostics.values.update(head=head_path or '(none yet)', backend=self.embedder.backend.name,
                                       embedding_model=self.embedder.description)
        self.timings = Timings(self.diagnostics, TIMING_WINDOW)
        self.last_inference_s = 0.0  # the embedding model's own time on the last frame
        self._probabilities = self.create_publisher(Float32MultiArray, '~/probabilities', OUTPUT_DEPTH)
        self._scan = self.create_publisher(LaserScan, '~/scan', OUTPUT_DEPTH)
        self._overlay = self.create_publisher(Image, '~/overlay', OUTPUT_DEPTH)
        k, s = self.distances.size, len(self.yaws)
        self._layout = MultiArrayLayout(dim=[
            MultiArrayDimension(label='distance', size=k, stride=k * s),
            MultiArrayDimension(label='sensor', size=s, stride=s)], data_offset=0)
        self._worker = FrameWorker(self, self.diagnostics, self.process, 'frames_dropped')
        HeadSwap(self, self.diagnostics, self._load, self._use, model_topic)
        subscribe_camera(self, self.camera, self._worker.put)
        self.get_logger().info(f'detecting obstacles in {self.camera.topic} ({self.camera.transport}) with '
                               f'{self.embedder.description}, head {head_path or "(waiting for one)"}')

    # -- head swaps (executor thread; the worker picks the new head up at its next frame) ------------
    def _load(self, path: str) -> Head:
        return load_head(Path(path).expanduser(), self.embedder, self.config.distances, self.config.sensor_names)

    def _use(self, head: Head) -> None:
        self.head = head

    # -- frames -------------------------------------------------------------------------------------
    def process(self, msg: Any) -> bool:
        """One frame, message in to messages out; False when it was rejected (bad image, no head)."""
        started = time.perf_counter()
        head = self.head
        rgb = camera_image(msg, self.camera, self.diagnostics)
        if rgb is None:
            return False
        if head is None:
            self.diagnostics.problem('frames_without_head', 'no head yet: set head_path or run the trainer')
            return False
        batch = self.embedder.prepare([rgb])
        inference_started = time.perf_counter()
        embedding = self.embedder.run(batch)
        self.last_inference_s = time.perf_counter() - inference_started
        probs = head.predict(embedding)[0]
        self._probabilities.publish(Float32MultiArray(layout=self._layout, data=probs.ravel().tolist()))
        self._scan.publish(self._scan_message(msg.header, nearest_obstacles(probs, self.distances, self.threshold)))
        if self._overlay.get_subscription_count():
            height, width, step, data = rgb_to_raw(draw_overlay(rgb, probs, self.yaws, self.threshold))
            self._overlay.publish(Image(header=msg.header, height=height, width=width, encoding='rgb8',
                                        is_bigendian=0, step=step, data=data))
            self.diagnostics.count('overlays')
        self.diagnostics.count('frames_out')
        self.timings.record(self.last_inference_s, started)
        return True

    def _scan_message(self, header: Header, nearest: np.ndarray) -> LaserScan:
        layout = self.layout
        return LaserScan(header=Header(stamp=header.stamp, frame_id=self.frame_id),
                         angle_min=layout.angle_min, angle_max=layout.angle_max,
                         angle_increment=layout.angle_increment, range_min=0.0,
                         range_max=float(self.distances[-1]) + RANGE_MARGIN,
                         ranges=layout.ranges(nearest).tolist())

    def destroy_node(self) -> None:
        """Stop the worker (after the frame it is on) and go."""
        if hasattr(self, '_worker'):
            self._worker.stop()
        super().destroy_node()


def main() -> int:
    return run_node(ObstacleDetectorNode)


if __name__ == '__main__':
    raise SystemExit(main())
