"""Self-supervised pixel labels: where the robot later drove is floor, where its proximity sensors later hit is
obstacle (docs/architecture.md, 'The pixel labeling rule'). ROS-free and vectorised per frame.

A label image has the frame's full camera resolution (uint8): ``FLOOR`` (0), ``OBSTACLE`` (1) or ``UNKNOWN``
(255, the segmentation ``ignore_index``); the ids are those of config/classes_sim.yaml. Full resolution keeps
the labels' edges where the geometry puts them; a stride-8 grid can be derived from it, not the reverse.

The rule, for a frame at time t_f whose pose P_f is defined (poses as in the obstacle rule: interpolated
odometry, never extrapolated, nothing related across a gap, a teleport or a time reset):

1. **Path.** P_f, then the odometry samples with t_f < t <= t_f + horizon in time order, each as
   Q = P_f^-1 P (in the frame's robot frame). The path ends before the first sample that (a) is not reached
   over an interpolable interval (longer than ``max_odom_gap`` or a teleport), (b) turned the robot
   ``max_heading`` or more away from the frame's heading (|wrap(Q.yaw)| >= max_heading), or (c) is ahead of
   the camera but outside its view cone: Q.x > camera_mount_x and |Q.y| > (Q.x - camera_mount_x) * tan(hfov
   / 2), with hfov/2 the image's narrower half field of view (not yet ahead of the camera, a robot within the
   heading band is still under it). Once ended it never resumes, even if the robot comes back.
2. **First contact.** t_1 is the time of the earliest reading with the obstacle rule's label 1 (any sensor)
   with t_f - sync_tolerance <= t_1 <= t_f + horizon and a defined pose related to P_f (+inf if none).
3. **Floor.** The footprint (disc or rectangle, on the ground plane z = 0) at every path pose up to t_1
   (inclusive). A pixel is floor when the ray through its centre meets the ground inside one of them.
4. **Obstacle.** Every reading with label 1 at t_1 <= t_r <= min(t_1 + contact_window, t_last), t_last the
   time of the path's last pose, with a defined pose related to P_f: its hit point is the sensor's mounting
   pose moved along its axis by the measured range (by the threshold for -inf, by max_range for an
   intensity sensor). The vertical face through the hit point, perpendicular to the beam, as wide as the beam
   at that range and from the floor up to ``obstacle_face_height``, is obstacle where it covers pixel centres
   (only faces entirely in front of the camera).
5. A pixel both floor and obstacle is unknown; so is every pixel neither.

Why this is conservative: while the robot drives on roughly straight (the heading band) inside the view
cone, the floor between the camera and the footprint was swept by the robot itself, so nothing stood there
to hide it; beyond the first contact an obstacle may hide the floor (and the robot turns away anyway).
Readings after the contact window may hit something hidden behind the first obstacle.

The camera is an ideal pinhole (no distortion: rectified images) at ``camera_mount_height`` above the floor,
``camera_mount_x`` ahead of base_link on the centre line, pitched down by ``camera_tilt``; intrinsics from
camera_info when there is one, else from ``camera_hfov`` (``frame_camera``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .config import LabelingConfig, PixelLabelConfig
from .geometry import OdometryTrack, wrap_angle
from .segmentation import IGNORE_INDEX, CameraMount, check_intrinsics, intrinsics_from_hfov, scale_intrinsics

FLOOR, OBSTACLE, UNKNOWN = 0, 1, IGNORE_INDEX


@dataclass(frozen=True)
class PinholeCamera:
    """The camera of a frame: intrinsics (row-major 3x3 as 9 numbers), image size and mounting (hashable)."""

    matrix: tuple[float, ...]
    width: int
    height: int
    mount: CameraMount

    def __post_init__(self) -> None:
        check_intrinsics(self.matrix)
        if self.width < 1 or self.height < 1:
            raise ValueError(f'camera image size must be positive, got {self.width}x{self.height}')


def frame_camera(
    config: PixelLabelConfig,
    height: int,
    width: int,
    camera_matrix: np.ndarray | None = None,
    matrix_size: tuple[int, int] | None = None,
) -> PinholeCamera:
    """The camera of a ``height`` x ``width`` frame: camera_info's K (recorded at ``matrix_size``, (height,
    width), scaled to the frame when it differs) or, without camera_info, K from ``camera_hfov``."""
    if camera_matrix is None:
        k = intrinsics_from_hfov(width, height, config.camera_hfov)
    else:
        k = check_intrinsics(camera_matrix)
        if matrix_size is not None and tuple(matrix_size) != (height, width):
            k = scale_intrinsics(k, matrix_size, (height, width))
    mount = CameraMount(config.camera_mount_height, config.camera_tilt, config.camera_mount_x)
    return PinholeCamera(tuple(float(v) for v in k.ravel()), int(width), int(height), mount)


class _Geometry:
    """Per camera: the ground line of every pixel row and the projection of body-frame points."""

    def __init__(self, camera: PinholeCamera) -> None:
        k = np.asarray(camera.matrix).reshape(3, 3)
        self.fx, self.skew, self.cx, self.fy, self.cy = k[0, 0], k[0, 1], k[0, 2], k[1, 1], k[1, 2]
        self.width, self.height, self.mount = camera.width, camera.height, camera.mount
        self.cos, self.sin = math.cos(camera.mount.tilt), math.sin(camera.mount.tilt)
        b = (np.arange(camera.height) - self.cy) / self.fy
        down = self.sin + b * self.cos  # downward component of the ray through (cx, row)
        ground = down > 1e-9
        self.rows = np.flatnonzero(ground)
        # With no roll, every pixel row below the horizon sees one ground line x = const (body frame);
        # along it, ground y maps linearly to u: u = u0 - y * fx / reach.
        self.reach = camera.mount.height / down[ground]
        self.row_x = camera.mount.x + self.reach * (self.cos - b[ground] * self.sin)
        self.row_u0 = self.cx + self.skew * b[ground]
        half = min(self.cx + 0.5, camera.width - 0.5 - self.cx) / self.fx
        self.cone = max(half, 0.0)  # tan of the narrower half field of view

    def project(self, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixel (u, v) and depth along the optical axis of body-frame points."""
        dx, dz = x - self.mount.x, z - self.mount.height
        depth = dx * self.cos - dz * self.sin
        with np.errstate(divide='ignore', invalid='ignore'):
            a = -y / depth
            b = (-dx * self.sin - dz * self.cos) / depth
        return self.cx + self.fx * a + self.skew * b, self.cy + self.fy * b, depth


@lru_cache(maxsize=16)
def _geometry(camera: PinholeCamera) -> _Geometry:
    return _Geometry(camera)


def project_floor(camera: PinholeCamera, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pixels (u, v) of floor points (z = 0) given in the robot frame, and whether each is in front of the
    camera and inside the image."""
    u, v, depth = _geometry(camera).project(np.asarray(x, float), np.asarray(y, float), np.zeros(np.shape(x)))
    inside = (depth > 1e-6) & (u >= 0) & (u < camera.width) & (v >= 0) & (v < camera.height)
    return u, v, inside


def _paint(rows: np.ndarray, lo: np.ndarray, hi: np.ndarray, height: int, width: int) -> np.ndarray:
    """(height, width) bool: pixels whose centre column lies in [lo, hi] on their row (any of the spans)."""
    first = np.maximum(np.ceil(lo), 0)
    last = np.minimum(np.floor(hi), width - 1)
    keep = first <= last
    rows, first, last = rows[keep], first[keep].astype(np.int64), last[keep].astype(np.int64)
    stride = width + 1
    size = height * stride
    diff = np.bincount(rows * stride + first, minlength=size) - np.bincount(rows * stride + last + 1, minlength=size)
    return np.cumsum(diff.reshape(height, stride), axis=1)[:, :width] > 0


def _footprint_spans(
    geometry: _Geometry, config: PixelLabelConfig, qx: np.ndarray, qy: np.ndarray, qyaw: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, u_lo, u_hi) of the footprints at poses Q on every ground-seeing row (empty spans are NaN)."""
    footprint = config.footprint
    cos, sin = np.cos(qyaw)[:, None], np.sin(qyaw)[:, None]
    px, py = qx[:, None] + footprint.offset * cos, qy[:, None] + footprint.offset * sin
    d = geometry.row_x[None, :] - px  # (poses, rows): forward offset of each row's line from the centre
    with np.errstate(invalid='ignore', divide='ignore'):
        if footprint.shape == 'disc':
            half = np.sqrt(footprint.radius**2 - d**2)  # NaN off the disc
            t_lo, t_hi = -half, half
        else:
            t_lo, t_hi = np.full(d.shape, -np.inf), np.full(d.shape, np.inf)
            # |alpha + beta t| <= limit for the length (along the heading) and the width, t = y - centre y.
            for alpha, slope, limit in ((cos * d, sin, footprint.length / 2), (-sin * d, cos, footprint.width / 2)):
                beta = np.broadcast_to(slope, d.shape)
                tilted = np.abs(beta) > 1e-12
                a = np.where(tilted, (-limit - alpha) / beta, -np.inf)
                b = np.where(tilted, (limit - alpha) / beta, np.inf)
                inside = tilted | (np.abs(alpha) <= limit)
                t_lo = np.where(inside, np.maximum(t_lo, np.minimum(a, b)), np.nan)
                t_hi = np.where(inside, np.minimum(t_hi, np.maximum(a, b)), np.nan)
    scale = geometry.fx / geometry.reach[None, :]
    u_lo = geometry.row_u0[None, :] - (py + t_hi) * scale
    u_hi = geometry.row_u0[None, :] - (py + t_lo) * scale
    rows = np.broadcast_to(geometry.rows[None, :], d.shape)
    ok = ~(np.isnan(u_lo) | np.isnan(u_hi))
    return rows[ok], u_lo[ok], u_hi[ok]


def _face_spans(geometry: _Geometry, corners: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, u_lo, u_hi) of convex quadrilaterals given as (n, 4, 2) pixel corners, per pixel row centre."""
    v = np.arange(geometry.height, dtype=np.float64)[None, :, None]
    start, end = corners[:, None, :, :], np.roll(corners, -1, axis=1)[:, None, :, :]
    v0, v1 = start[..., 1], end[..., 1]
    crossing = (np.minimum(v0, v1) <= v) & (v <= np.maximum(v0, v1)) & (v0 != v1)
    with np.errstate(invalid='ignore', divide='ignore'):
        u = start[..., 0] + (v - v0) * (end[..., 0] - start[..., 0]) / (v1 - v0)
    lo = np.where(crossing, u, np.inf).min(axis=2)
    hi = np.where(crossing, u, -np.inf).max(axis=2)
    ok = crossing.any(axis=2)
    rows = np.broadcast_to(np.arange(geometry.height)[None, :], ok.shape)
    return rows[ok], lo[ok], hi[ok]


@dataclass(frozen=True)
class _Readings:
    """The readings that say 'obstacle', time-sorted, with their world-frame hit geometry."""

    t: np.ndarray
    piece: np.ndarray
    defined: np.ndarray
    hit_x: np.ndarray
    hit_y: np.ndarray
    axis: np.ndarray  # beam direction (world yaw)
    half_width: np.ndarray


def _obstacle_readings(
    odometry: OdometryTrack,
    reading_t: np.ndarray,
    reading_sensor: np.ndarray,
    reading_label: np.ndarray,
    reading_value: np.ndarray,
    config: LabelingConfig,
    pixels: PixelLabelConfig,
) -> _Readings:
    hits = np.asarray(reading_label) == 1
    t = np.asarray(reading_t, np.float64)[hits]
    sensor = np.asarray(reading_sensor, np.int64)[hits]
    value = np.asarray(reading_value, np.float64)[hits]
    sensors = config.sensors
    mount_x = np.array([s.x for s in sensors])[sensor]
    mount_y = np.array([s.y for s in sensors])[sensor]
    mount_yaw = np.array([s.yaw for s in sensors])[sensor]
    fallback = np.array([s.max_range if s.mode == 'intensity' else s.threshold for s in sensors])[sensor]
    ranged = np.array([s.mode == 'range' for s in sensors])[sensor] & np.isfinite(value)
    distance = np.where(ranged, np.maximum(value, 0.0), fallback)
    poses = odometry.poses_at(t)
    cos, sin = np.cos(poses.yaw), np.sin(poses.yaw)
    axis = poses.yaw + mount_yaw
    return _Readings(
        t=t,
        piece=poses.piece,
        defined=poses.defined,
        hit_x=poses.x + cos * mount_x - sin * mount_y + distance * np.cos(axis),
        hit_y=poses.y + sin * mount_x + cos * mount_y + distance * np.sin(axis),
        axis=axis,
        half_width=distance * math.tan(pixels.beam_width / 2),
    )


def label_pixels(
    frame_t: np.ndarray,
    cameras: Sequence[PinholeCamera | None],
    odometry: OdometryTrack,
    reading_t: np.ndarray,
    reading_sensor: np.ndarray,
    reading_label: np.ndarray,
    reading_value: np.ndarray,
    config: LabelingConfig,
    pixels: PixelLabelConfig,
) -> list[np.ndarray | None]:
    """Pixel labels (camera height x width, uint8) of each frame by the module's rule; None for a frame
    without a camera. Readings are time-sorted with known labels (the inputs of ``label_frames``, plus the
    raw values for the ranges)."""
    frame_t = np.asarray(frame_t, np.float64)
    frames = odometry.poses_at(frame_t)
    readings = _obstacle_readings(odometry, reading_t, reading_sensor, reading_label, reading_value, config,
                                  pixels)
    out: list[np.ndarray | None] = []
    for i, camera in enumerate(cameras):
        if camera is None:
            out.append(None)
            continue
        labels = np.full((camera.height, camera.width), UNKNOWN, np.uint8)
        if frames.defined[i]:
            pose = (frames.x[i], frames.y[i], frames.yaw[i], frames.piece[i])
            floor, obstacle = _frame_masks(_geometry(camera), float(frame_t[i]), pose, odometry, readings, config,
                                           pixels)
            labels[floor & ~obstacle] = FLOOR
            labels[obstacle & ~floor] = OBSTACLE
        out.append(labels)
    return out


def _frame_masks(
    geometry: _Geometry,
    t_f: float,
    pose: tuple[float, float, float, int],
    odometry: OdometryTrack,
    readings: _Readings,
    config: LabelingConfig,
    pixels: PixelLabelConfig,
) -> tuple[np.ndarray, np.ndarray]:
    """(floor, obstacle) bool masks of one frame with a defined pose."""
    fx, fy, fyaw, piece = pose
    cos, sin = math.cos(fyaw), math.sin(fyaw)
    end = t_f + config.horizon
    # 1. The path: P_f, then the samples after t_f while reachable, in the heading band and the view cone.
    lo = int(np.searchsorted(odometry.t, t_f, side='right'))
    hi = int(np.searchsorted(odometry.t, end, side='right'))
    dx, dy = odometry.x[lo:hi] - fx, odometry.y[lo:hi] - fy
    qx, qy = cos * dx + sin * dy, -sin * dx + cos * dy
    qyaw = wrap_angle(odometry.yaw[lo:hi] - fyaw)
    reachable = odometry.interval_ok[lo - 1 : hi - 1]  # P_f is defined, so a sample precedes it: lo >= 1
    visible = (
        reachable
        & (np.abs(qyaw) < pixels.max_heading)
        & ((qx <= geometry.mount.x) | (np.abs(qy) <= (qx - geometry.mount.x) * geometry.cone))
    )
    count = int(np.argmin(visible)) if not visible.all() else visible.size
    path_t = odometry.t[lo : lo + count]
    last = float(path_t[-1]) if count else t_f
    # 2. The first contact.
    r_lo = int(np.searchsorted(readings.t, t_f - config.sync_tolerance, side='left'))
    r_hi = int(np.searchsorted(readings.t, end, side='right'))
    related = np.flatnonzero(readings.defined[r_lo:r_hi] & (readings.piece[r_lo:r_hi] == piece)) + r_lo
    first = float(readings.t[related[0]]) if related.size else math.inf
    # 3. Floor: the footprints up to the first contact (P_f itself included).
    n_floor = int(np.searchsorted(path_t, first, side='right'))
    floor_x = np.concatenate(([0.0], qx[:n_floor]))
    floor_y = np.concatenate(([0.0], qy[:n_floor]))
    floor_yaw = np.concatenate(([0.0], qyaw[:n_floor]))
    floor = _paint(*_footprint_spans(geometry, pixels, floor_x, floor_y, floor_yaw), geometry.height, geometry.width)
    # 4. Obstacle faces of the contact readings while the path is still visible.
    contact = related[(readings.t[related] <= min(first + pixels.contact_window, last))]
    obstacle = np.zeros_like(floor)
    if contact.size:
        hx, hy = readings.hit_x[contact] - fx, readings.hit_y[contact] - fy
        cx, cy = cos * hx + sin * hy, -sin * hx + cos * hy
        axis = readings.axis[contact] - fyaw
        wx, wy = -np.sin(axis) * readings.half_width[contact], np.cos(axis) * readings.half_width[contact]
        # Corners in order around the face: bottom right, bottom left, top left, top right.
        x = np.stack([cx + wx, cx - wx, cx - wx, cx + wx], axis=1)
        y = np.stack([cy + wy, cy - wy, cy - wy, cy + wy], axis=1)
        z = np.broadcast_to(np.array([0.0, 0.0, 1.0, 1.0]) * pixels.obstacle_face_height, x.shape)
        u, v, depth = geometry.project(x, y, z)
        ahead = (depth > 1e-6).all(axis=1)
        if ahead.any():
            corners = np.stack([u[ahead], v[ahead]], axis=2)
            obstacle = _paint(*_face_spans(geometry, corners), geometry.height, geometry.width)
    return floor, obstacle
