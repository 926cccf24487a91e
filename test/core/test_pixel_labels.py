"""core.pixel_labels: floor where the robot later drove, obstacle where its sensors later hit, by the rule."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from selfsup_perception.core.config import (
    ConfigError,
    Footprint,
    PixelLabelConfig,
    pixel_label_parameters,
    pixel_labels_from_dict,
)
from selfsup_perception.core.geometry import OdometryTrack
from selfsup_perception.core.labeling import reading_labels
from selfsup_perception.core.pixel_labels import (
    FLOOR,
    OBSTACLE,
    UNKNOWN,
    PinholeCamera,
    frame_camera,
    label_pixels,
)
from selfsup_perception.core.segmentation import camera_rays, ground_points, intrinsics_from_hfov

PIXELS = PixelLabelConfig(camera_mount_x=0.032)
CAMERA = frame_camera(PIXELS, 240, 320)


def _label(config, pixels, camera, times, poses, readings=(), frame_t=0.0):
    """Pixel labels of one frame at ``frame_t`` over odometry ``poses`` (world x, y, yaw) at ``times``;
    readings are (t, sensor index, value)."""
    poses = np.asarray(poses, np.float64)
    track = OdometryTrack(np.asarray(times, np.float64), poses[:, 0], poses[:, 1], poses[:, 2], config.max_odom_gap,
                          config.max_odom_jump)
    t = np.array([r[0] for r in readings], np.float64)
    sensor = np.array([r[1] for r in readings], np.int64)
    value = np.array([r[2] for r in readings], np.float64)
    label = np.array([reading_labels(value[i : i + 1], config.sensors[s])[0] for i, s in enumerate(sensor)], np.int8)
    (labels,) = label_pixels(np.array([frame_t]), [camera], track, t, sensor, label, value, config, pixels)
    return labels


def _pixel_ground(camera: PinholeCamera) -> tuple[np.ndarray, np.ndarray]:
    v, u = np.mgrid[0 : camera.height, 0 : camera.width].astype(np.float64)
    return ground_points(np.reshape(camera.matrix, (3, 3)), camera.mount, u, v)


def _inside_footprint(footprint: Footprint, pose, x: np.ndarray, y: np.ndarray, grow: float) -> np.ndarray:
    """Brute force: which ground points lie in the footprint at ``pose`` (robot frame), grown by ``grow``."""
    px, py, yaw = pose
    cx, cy = px + footprint.offset * math.cos(yaw), py + footprint.offset * math.sin(yaw)
    along = math.cos(yaw) * (x - cx) + math.sin(yaw) * (y - cy)
    across = -math.sin(yaw) * (x - cx) + math.cos(yaw) * (y - cy)
    with np.errstate(invalid='ignore'):
        if footprint.shape == 'disc':
            return np.hypot(along, across) <= footprint.radius + grow
        return (np.abs(along) <= footprint.length / 2 + grow) & (np.abs(across) <= footprint.width / 2 + grow)


def _straight(speed: float = 0.1, duration: float = 12.0, yaw: float = 0.0):
    """Odometry at 50 Hz driving straight from the origin along ``yaw``."""
    t = np.arange(0.0, duration, 0.02)
    return t, np.stack([speed * t * math.cos(yaw), speed * t * math.sin(yaw), np.full(t.size, yaw)], axis=1)


def _floor_reach(camera: PinholeCamera, labels: np.ndarray) -> float:
    """The farthest ground distance (body x) of a floor pixel."""
    x, _ = _pixel_ground(camera)
    return float(x[labels == FLOOR].max()) if (labels == FLOOR).any() else -math.inf


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    shape=st.sampled_from(['disc', 'rectangle']),
    size=st.tuples(st.floats(0.02, 0.2), st.floats(0.02, 0.2)),
    offset=st.floats(-0.05, 0.05),
    tilt=st.floats(0.0, 0.6),
    height=st.floats(0.05, 0.4),
    hfov=st.floats(0.6, 2.0),
    frame_pose=st.tuples(st.floats(-3, 3), st.floats(-3, 3), st.floats(-math.pi, math.pi)),
    path=st.lists(st.tuples(st.floats(0.05, 2.0), st.floats(-0.9, 0.9), st.floats(-1.0, 1.0)), min_size=1,
                  max_size=6),
)
def test_floor_is_the_footprints_seen_through_pixel_centres(robot_config, shape, size, offset, tilt, height, hfov,
                                                            frame_pose, path):
    footprint = Footprint(shape, radius=size[0], length=size[0], width=size[1], offset=offset)
    pixels = PixelLabelConfig(footprint=footprint, max_heading=3.1, camera_hfov=hfov, camera_tilt=tilt,
                              camera_mount_height=height, camera_mount_x=0.03)
    camera = frame_camera(pixels, 48, 64)
    config = dataclasses.replace(robot_config, max_odom_jump=100.0)
    cone = math.tan(hfov / 2)
    # Path poses in the frame's robot frame, inside the view cone and the heading band.
    relative = [(0.0, 0.0, 0.0)] + [(x, f * (x - 0.03) * cone if x > 0.03 else 0.0, yaw) for x, f, yaw in path]
    fx, fy, fyaw = frame_pose
    world = [(fx + math.cos(fyaw) * x - math.sin(fyaw) * y, fy + math.sin(fyaw) * x + math.cos(fyaw) * y, fyaw + yaw)
             for x, y, yaw in relative]
    labels = _label(config, pixels, camera, 0.02 * np.arange(len(world)), world)
    gx, gy = _pixel_ground(camera)
    inner = np.zeros(gx.shape, bool)
    outer = np.zeros(gx.shape, bool)
    for pose in relative:
        inner |= _inside_footprint(footprint, pose, gx, gy, -1e-6)
        outer |= _inside_footprint(footprint, pose, gx, gy, 1e-6)
    floor = labels == FLOOR
    assert not (floor & ~outer).any()
    assert not (inner & ~floor).any()
    assert set(np.unique(labels)) <= {FLOOR, UNKNOWN}


def _face_mask(camera: PinholeCamera, hit: tuple[float, float], axis: float, half_width: float, top: float):
    """Brute force: pixels whose ray meets the vertical face through ``hit`` facing ``axis``."""
    v, u = np.mgrid[0 : camera.height, 0 : camera.width].astype(np.float64)
    dx, dy, dz = camera_rays(np.reshape(camera.matrix, (3, 3)), camera.mount, u, v)
    normal = np.array([math.cos(axis), math.sin(axis)])
    origin = np.array([camera.mount.x, 0.0])
    with np.errstate(divide='ignore', invalid='ignore'):
        s = ((np.array(hit) - origin) @ normal) / (dx * normal[0] + dy * normal[1])
    x, y, z = origin[0] + s * dx, s * dy, camera.mount.height + s * dz
    lateral = -(x - hit[0]) * math.sin(axis) + (y - hit[1]) * math.cos(axis)
    return (s > 0) & (np.abs(lateral) <= half_width) & (z >= 0) & (z <= top)


@pytest.mark.parametrize(('sensor', 'value', 'distance'), [
    (2, 0.04, 0.04),  # centre sensor, a measured range
    (1, 0.07, 0.07),  # centre-left sensor, turned 0.35 rad
    (2, -math.inf, 0.10),  # saturated: the threshold distance
])
def test_obstacle_face_at_the_hit_point(robot_config, sensor, value, distance):
    pixels = dataclasses.replace(PIXELS, beam_width=0.4)
    times, poses = _straight()
    labels = _label(robot_config, pixels, CAMERA, times, poses, [(4.0, sensor, value)])
    mount = robot_config.sensors[sensor]
    robot_x = 0.4  # where the robot was at 4 s
    hit = (robot_x + mount.x + distance * math.cos(mount.yaw), mount.y + distance * math.sin(mount.yaw))
    expected = _face_mask(CAMERA, hit, mount.yaw, distance * math.tan(0.2), pixels.obstacle_face_height)
    wide = _face_mask(CAMERA, hit, mount.yaw, distance * math.tan(0.2) + 1e-6, pixels.obstacle_face_height + 1e-6)
    obstacle = labels == OBSTACLE
    assert obstacle.sum() > 3
    assert not (obstacle & ~wide).any()
    narrow = _face_mask(CAMERA, hit, mount.yaw, distance * math.tan(0.2) - 1e-6, pixels.obstacle_face_height - 1e-6)
    assert not (narrow & ~obstacle).any()
    assert expected.sum() >= obstacle.sum()
    # The floor ends where the robot was at the contact: 0.4 m plus the footprint's radius.
    assert _floor_reach(CAMERA, labels) == pytest.approx(robot_x + PIXELS.footprint.radius, abs=0.02)


def test_floor_follows_the_whole_drive_without_contact(robot_config):
    times, poses = _straight()
    labels = _label(robot_config, PIXELS, CAMERA, times, poses)
    # Within the 10 s horizon at 0.1 m/s: 1 m ahead, plus the footprint.
    assert _floor_reach(CAMERA, labels) == pytest.approx(1.0 + PIXELS.footprint.radius, abs=0.05)
    assert not (labels == OBSTACLE).any()


def test_free_readings_do_not_stop_the_floor(robot_config):
    times, poses = _straight()
    free = [(t, s, math.inf) for t in (1.0, 2.0) for s in range(5)] + [(3.0, 2, 0.11)]
    assert _floor_reach(CAMERA, _label(robot_config, PIXELS, CAMERA, times, poses, free)) > 1.0


def test_the_path_ends_when_the_heading_leaves_the_band(robot_config):
    t = np.arange(0.0, 12.0, 0.02)
    # Straight to 0.3 m (3 s), turn in place to 0.6 rad (3-4 s), then straight on along the new heading.
    yaw = np.clip(t - 3.0, 0.0, 1.0) * 0.6
    along = 0.1 * np.clip(t, 0, 3.0) + 0.1 * np.maximum(t - 4.0, 0.0)
    x = np.where(t <= 4.0, along, 0.3 + (along - 0.3) * np.cos(0.6))
    y = np.where(t <= 4.0, 0.0, (along - 0.3) * np.sin(0.6))
    labels = _label(robot_config, PIXELS, CAMERA, t, np.stack([x, y, yaw], axis=1))
    assert _floor_reach(CAMERA, labels) < 0.3 + PIXELS.footprint.radius + 0.02
    wide = dataclasses.replace(PIXELS, max_heading=1.0)
    assert _floor_reach(CAMERA, _label(robot_config, wide, CAMERA, t, np.stack([x, y, yaw], axis=1))) > 0.5


def test_the_path_ends_when_it_leaves_the_view_cone_and_never_resumes(robot_config):
    t = np.arange(0.0, 8.0, 0.02)
    # Ahead to 0.3 m, then sideways (heading kept) out of the cone, then back into it and ahead again.
    x = np.minimum(t, 3.0) * 0.1 + np.maximum(t - 6.0, 0.0) * 0.1
    y = np.clip(t - 3.0, 0.0, 1.5) * 0.3 - np.clip(t - 4.5, 0.0, 1.5) * 0.3
    labels = _label(robot_config, PIXELS, CAMERA, t, np.stack([x, y, np.zeros_like(t)], axis=1))
    _, gy = _pixel_ground(CAMERA)
    # The cone's half width 0.3 m ahead: (0.3 - 0.032) * tan(hfov / 2), plus the footprint's radius.
    edge = (0.3 - 0.032) * math.tan(PIXELS.camera_hfov / 2) + PIXELS.footprint.radius
    assert edge - 0.03 < np.abs(gy[labels == FLOOR]).max() <= edge
    assert _floor_reach(CAMERA, labels) < 0.3 + PIXELS.footprint.radius + 0.05


def test_no_floor_across_a_teleport_or_a_gap(robot_config):
    times, poses = _straight()
    jumped = poses.copy()
    jumped[times >= 3.0, 0] += 1.0
    assert _floor_reach(CAMERA, _label(robot_config, PIXELS, CAMERA, times, jumped)) < 0.3 + 0.07
    keep = (times < 3.0) | (times > 4.0)  # a one-second hole in the odometry
    assert _floor_reach(CAMERA, _label(robot_config, PIXELS, CAMERA, times[keep], poses[keep])) < 0.3 + 0.07


def test_contact_window_and_readings_before_the_frame(robot_config):
    times, poses = _straight()
    first, later = (4.0, 2, 0.05), (4.0 + PIXELS.contact_window + 0.1, 0, 0.05)
    only_first = _label(robot_config, PIXELS, CAMERA, times, poses, [first])
    both = _label(robot_config, PIXELS, CAMERA, times, poses, [first, later])
    np.testing.assert_array_equal(only_first, both)
    # A contact at the frame itself (within sync_tolerance before it) leaves no floor in view.
    early = _label(robot_config, PIXELS, CAMERA, times, poses, [(1.0 - 0.01, 2, 0.05)], frame_t=1.0)
    assert not (early == FLOOR).any()


def test_a_pixel_labelled_both_ways_is_unknown(robot_config):
    rear = dataclasses.replace(robot_config.sensors[2], x=-0.05, yaw=math.pi)  # looks back at the swept floor
    config = dataclasses.replace(robot_config, sensors=(*robot_config.sensors, rear))
    pixels = dataclasses.replace(PIXELS, beam_width=0.6)
    times, poses = _straight()
    labels = _label(config, pixels, CAMERA, times, poses, [(6.0, 5, 0.09)])
    hit = (0.6 - 0.05 - 0.09, 0.0)
    face = _face_mask(CAMERA, hit, math.pi, 0.09 * math.tan(0.3), pixels.obstacle_face_height)
    floor_only = _label(config, pixels, CAMERA, times[times <= 6.0], poses[times <= 6.0])
    both = face & (floor_only == FLOOR)
    assert both.sum() > 3
    assert (labels[both] == UNKNOWN).all()
    assert (labels[face & ~both] == OBSTACLE).any()


def test_frames_without_camera_or_pose(robot_config):
    times, poses = _straight()
    track = OdometryTrack(times, poses[:, 0], poses[:, 1], poses[:, 2], 0.5, 0.25)
    empty = np.zeros(0)
    out = label_pixels(np.array([1.0, 1.0, -5.0]), [None, CAMERA, CAMERA], track, empty, empty.astype(np.int64),
                       empty.astype(np.int8), empty, robot_config, PIXELS)
    assert out[0] is None
    assert (out[1] == FLOOR).any()
    assert out[2].shape == (240, 320)
    assert (out[2] == UNKNOWN).all()


def test_frame_camera_from_hfov_or_camera_info():
    k = frame_camera(PIXELS, 120, 160).matrix
    np.testing.assert_allclose(np.reshape(k, (3, 3)), intrinsics_from_hfov(160, 120, PIXELS.camera_hfov))
    info = intrinsics_from_hfov(320, 240, 1.0)
    scaled = frame_camera(PIXELS, 120, 160, info, (240, 320))
    np.testing.assert_allclose(np.reshape(scaled.matrix, (3, 3)), intrinsics_from_hfov(160, 120, 1.0))
    assert scaled.mount.x == 0.032
    assert scaled.mount.height == PIXELS.camera_mount_height
    with pytest.raises(ValueError, match='pinhole'):
        frame_camera(PIXELS, 120, 160, np.zeros(9))


def test_pixel_label_config_defaults_round_trip_and_errors_name_the_key():
    nested: dict = {}
    for name, (default, description) in pixel_label_parameters().items():
        assert description
        level = nested
        *parents, leaf = name.split('.')
        for part in parents:
            level = level.setdefault(part, {})
        level[leaf] = default
    assert pixel_labels_from_dict(nested) == PixelLabelConfig()
    for params, message in [
        ({'pixel_labels': {'footprint': {'shape': 'hexagon'}}}, 'pixel_labels.footprint.shape: must be one of'),
        ({'pixel_labels': {'footprint': {'radius': -1.0}}}, 'pixel_labels.footprint.radius: must be > 0'),
        ({'pixel_labels': {'footprint': {'wheels': 2}}}, 'pixel_labels.footprint.wheels: unknown setting'),
        ({'pixel_labels': {'obstacle_face_height': 0}}, 'pixel_labels.obstacle_face_height: must be > 0'),
        ({'pixel_labels': {'max_heading': 4.0}}, 'pixel_labels.max_heading: must be < pi'),
        ({'pixel_labels': {'beam_width': 'narrow'}}, 'pixel_labels.beam_width: expected a number'),
        ({'pixel_labels': {'horizon': 3.0}}, 'pixel_labels.horizon: unknown setting'),
        ({'pixel_labels': []}, 'pixel_labels: expected a mapping'),
        ({'camera_tilt': 2.0}, 'camera_tilt: must be in'),
        ({'camera_hfov': 0.0}, 'camera_hfov: must be in'),
    ]:
        with pytest.raises(ConfigError, match=message):
            pixel_labels_from_dict(params)


def test_shipped_config_has_the_simulated_robots_footprint(robot_config):
    from selfsup_perception.sim.robot import BODY_RADIUS, CAMERA_X

    pixels = pixel_labels_from_dict(robot_config.extra)
    assert pixels.footprint == Footprint('disc', radius=BODY_RADIUS)
    assert pixels.camera_mount_x == CAMERA_X
    assert pixels.obstacle_face_height > 0
