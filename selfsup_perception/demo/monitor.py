"""The demo's own node: it watches the clock, the ground truth, the detector's and segmenter's outputs and
/diagnostics, and scores the detector and the segmenter live against the simulator's ground truth."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

import numpy as np

from selfsup_perception.core.metrics import roc_auc
from selfsup_perception.core.segmentation import IGNORE_INDEX, confusion_matrix, segmentation_scores


class Monitor:
    """A node of the demo's own: clock, ground truth, detector and segmenter outputs, diagnostics."""

    def __init__(self, context: Any, distances: int, sensors: int, classes: int) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.node import Node
        from rosgraph_msgs.msg import Clock
        from sensor_msgs.msg import Image, LaserScan
        from std_msgs.msg import Float32MultiArray, String

        from selfsup_perception.nodes.common import MODEL_QOS, SENSOR_QOS

        self.node = Node('demo_monitor', context=context)
        self.shape = (distances, sensors)
        self.classes = classes
        self.sim_time = 0.0
        self.truth: dict[float, np.ndarray] = {}
        self.truth_masks: dict[float, np.ndarray] = {}
        self.predictions: deque[tuple[float, np.ndarray]] = deque(maxlen=600)
        self._pending: np.ndarray | None = None
        self.confusion = np.zeros((classes, classes), np.int64)
        self.heads: list[str] = []
        self.status: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()
        n = self.node
        n.create_subscription(Clock, '/clock', self._on_clock, 10)
        n.create_subscription(Image, '/ground_truth/obstacles', self._on_truth, 50)
        n.create_subscription(Image, '/ground_truth/segmentation', self._on_truth_mask, 50)
        n.create_subscription(Float32MultiArray, '/obstacle_detector/probabilities', self._on_probabilities, 50)
        n.create_subscription(LaserScan, '/obstacle_detector/scan', self._on_scan, 50)
        n.create_subscription(Image, '/segmenter/class_mask', self._on_class_mask, SENSOR_QOS)
        n.create_subscription(String, '/trainer/model', self._on_model, MODEL_QOS)
        n.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 50)

    def _on_model(self, msg: Any) -> None:
        self.heads.append(str(msg.data))

    @staticmethod
    def _stamp(msg: Any) -> float:
        return round(float(msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9), 6)

    def _on_clock(self, msg: Any) -> None:
        self.sim_time = msg.clock.sec + msg.clock.nanosec * 1e-9

    def _on_truth(self, msg: Any) -> None:
        self.truth[self._stamp(msg)] = np.asarray(msg.data, np.uint8).reshape(self.shape)

    def _on_truth_mask(self, msg: Any) -> None:
        with self._lock:
            self.truth_masks[self._stamp(msg)] = np.asarray(msg.data, np.uint8).reshape(msg.height, msg.width)
            while len(self.truth_masks) > 100:
                self.truth_masks.pop(next(iter(self.truth_masks)))

    def _on_probabilities(self, msg: Any) -> None:
        self._pending = np.asarray(msg.data, np.float32).reshape(self.shape)

    def _on_scan(self, msg: Any) -> None:
        # The detector publishes a frame's probabilities, then its scan (which carries the stamp).
        if self._pending is not None:
            self.predictions.append((self._stamp(msg), self._pending))
            self._pending = None

    def _on_class_mask(self, msg: Any) -> None:
        with self._lock:
            truth = self.truth_masks.get(self._stamp(msg))
        if truth is None or (msg.height, msg.width) != truth.shape:
            return
        predicted = np.asarray(msg.data, np.uint8).reshape(truth.shape)
        self.confusion += confusion_matrix(truth, predicted, self.classes, IGNORE_INDEX)

    def _on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            self.status[status.name.split(': ')[-1]] = {kv.key: kv.value for kv in status.values}

    def live_auc(self) -> float | None:
        """Detector AUC against ground truth over the recent frames, all cells pooled."""
        pairs = [(p, self.truth[s]) for s, p in list(self.predictions) if s in self.truth]
        if len(pairs) < 20:
            return None
        scores = np.stack([p for p, _ in pairs]).ravel()
        truth = np.stack([t for _, t in pairs]).ravel()
        auc = roc_auc(scores, truth)
        return None if np.isnan(auc) else float(auc)

    def live_miou(self) -> float | None:
        miou: float | None = segmentation_scores(self.confusion)['mean_iou']
        return miou
