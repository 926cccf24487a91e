"""A synthetic perception problem on a synthetic drive: embeddings that see the obstacles ahead, less
clearly the farther they are, with the ground truth of every (frame, distance, sensor).

The drive and its labels are the real thing (``synthetic_drive``, ``label_recording``); only the
camera is faked: a frame's embedding mixes, through a random projection per distance, what each
sensor would read at every distance ahead, attenuated with distance, plus noise. Far labels are
rare (the robot seldom drives a metre straight), so a head learns its far outputs from few labels:
the setting in which state consistency should help. Milliseconds per thousand frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selfsup_perception.core.config import LabelingConfig
from selfsup_perception.core.labeling import label_recording
from selfsup_perception.testing.synthetic import DriveSpec, _ray_hits, synthetic_drive


@dataclass(frozen=True)
class SyntheticFrames:
    """Frames in time order: stamps (N,), poses (N, 3), segments (N,), labels/mask/ground truth (N, K, S),
    embeddings (N, E) float32."""

    stamps: np.ndarray
    poses: np.ndarray
    segments: np.ndarray
    labels: np.ndarray
    mask: np.ndarray
    ground_truth: np.ndarray
    embeddings: np.ndarray

    def part(self, index: np.ndarray | slice) -> SyntheticFrames:
        """The frames ``index`` (e.g. the first minutes for training, the rest for scoring)."""
        return SyntheticFrames(*(getattr(self, name)[index] for name in SyntheticFrames.__dataclass_fields__))


def drive_obstacles(spec: DriveSpec, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The obstacles (centres (M, 2), radii (M,)) ``synthetic_drive(config, spec, seed)`` places: its first draws."""
    rng = np.random.default_rng(seed)
    half = spec.room / 2
    centres = rng.uniform(-half + 0.3, half - 0.3, size=(spec.obstacles, 2))
    return centres, rng.uniform(0.05, 0.2, size=spec.obstacles)


def ground_truth(config: LabelingConfig, spec: DriveSpec, seed: int, poses: np.ndarray) -> np.ndarray:
    """(N, K, S) uint8: would sensor s read an obstacle with the robot d_k ahead of each pose (N, 3)?"""
    centres, radii = drive_obstacles(spec, seed)
    distances = np.asarray(config.distances)
    x, y, yaw = (np.repeat(poses[:, i], distances.size) for i in range(3))
    ahead = np.tile(distances, len(poses))
    x, y = x + ahead * np.cos(yaw), y + ahead * np.sin(yaw)
    truth = np.zeros((len(poses) * distances.size, len(config.sensors)), np.uint8)
    for s, sensor in enumerate(config.sensors):
        c, sn = np.cos(yaw), np.sin(yaw)
        origin = np.stack([x + c * sensor.x - sn * sensor.y, y + sn * sensor.x + c * sensor.y], axis=1)
        truth[:, s] = _ray_hits(origin, yaw + sensor.yaw, centres, radii, spec.room) < sensor.threshold
    return truth.reshape(len(poses), distances.size, len(config.sensors))


def synthetic_frames(
    config: LabelingConfig,
    spec: DriveSpec,
    seed: int,
    *,
    embedding_size: int = 128,
    noise: float = 1.0,
    falloff: float = 0.5,
) -> SyntheticFrames:
    """Label a synthetic drive and give each frame an embedding: sum over distances k of
    ``exp(-falloff * d_k / 0.5 m)`` x a random projection (per k) of the true readings, plus ``noise``."""
    frames, _ = label_recording(synthetic_drive(config, spec, seed), config)
    frames.sort(key=lambda f: f.stamp)
    poses = np.array([f.pose if f.pose is not None else (np.nan,) * 3 for f in frames], np.float64)
    labels = np.stack([f.labels for f in frames])
    truth = ground_truth(config, spec, seed, np.nan_to_num(poses))
    rng = np.random.default_rng((seed, 1))
    k, s = truth.shape[1:]
    strength = np.exp(-falloff * np.asarray(config.distances) / 0.5)
    projection = rng.standard_normal((k, s, embedding_size)) * strength[:, None, None]
    embeddings = np.einsum('nks,kse->ne', truth.astype(np.float64) * 2 - 1, projection)
    embeddings += rng.standard_normal(embeddings.shape) * noise
    return SyntheticFrames(
        stamps=np.array([f.stamp for f in frames]),
        poses=poses,
        segments=np.array([f.segment for f in frames], np.int64),
        labels=np.maximum(labels, 0).astype(np.uint8),
        mask=labels >= 0,
        ground_truth=truth,
        embeddings=embeddings.astype(np.float32),
    )
