"""core.segmentation: class lists, masks and colours, the free-space scan's geometry, and the metrics."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from selfsup_perception.core.segmentation import (
    CameraMount,
    ClassList,
    ClassListError,
    FreeSpaceScanner,
    camera_rays,
    check_intrinsics,
    class_mask,
    colorize,
    confusion_matrix,
    ground_points,
    intrinsics_from_hfov,
    load_classes,
    overlay,
    resize_mask,
    scale_intrinsics,
    segmentation_scores,
)

ROOT = Path(__file__).resolve().parents[2]
FLOOR, OBSTACLE, WALL = 0, 1, 2
TRAVERSABLE = np.array([True, False, False])


def render(k: np.ndarray, mount: CameraMount, size: tuple[int, int], wall: float, normal_yaw: float = 0.0,
           box: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """Class mask of a flat floor and a wall, drawn per pixel ray (the same pinhole model, by hand).

    The wall is the vertical plane at distance ``wall`` from base_link along direction ``normal_yaw``;
    ``box`` = (x0, x1, y0, y1) is an obstacle with that footprint, as tall as the camera can see.
    """
    u, v = np.meshgrid(np.arange(size[1]), np.arange(size[0]))
    dx, dy, dz = camera_rays(k, mount, u, v)
    n = np.array([math.cos(normal_yaw), math.sin(normal_yaw)])
    with np.errstate(divide='ignore', invalid='ignore'):
        floor_t = np.where(dz < 0, mount.height / -dz, np.inf)
        towards = dx * n[0] + dy * n[1]
        wall_t = np.where(towards > 0, (wall - mount.x * n[0]) / towards, np.inf)
        mask = np.where(wall_t < floor_t, WALL, FLOOR).astype(np.uint8)
        if box is not None:  # ray-box slabs: entering both the x and the y slab before leaving either
            x0, x1, y0, y1 = box
            tx, ty = ((x0 - mount.x) / dx, (x1 - mount.x) / dx), (y0 / dy, y1 / dy)
            enter = np.maximum(np.minimum(*tx), np.minimum(*ty))
            leave = np.minimum(np.maximum(*tx), np.maximum(*ty))
            mask[(enter <= leave) & (leave > 0) & (enter < np.minimum(floor_t, wall_t))] = OBSTACLE
    return mask


def beam_angles(scanner: FreeSpaceScanner) -> np.ndarray:
    return scanner.angle_min + scanner.angle_increment * np.arange(scanner.beams)


# --- class lists -------------------------------------------------------------------------------------


def test_shipped_class_list():
    classes = load_classes(ROOT / 'config' / 'classes_sim.yaml')
    assert classes.names == ('floor', 'obstacle', 'wall')
    assert classes.traversable == (True, False, False)
    assert classes.ignore_index == 255
    assert classes.palette.shape == (256, 3)
    assert classes.palette[3:].max() == 0
    assert classes.traversable_table[:4].tolist() == [True, False, False, False]


@pytest.mark.parametrize(('text', 'message'), [
    ('nothing: 1\n', 'not a class list'),
    ('classes:\n  - {name: a, color: [1, 2]}\n', 'colour'),
    ('classes:\n  - {name: a, color: [1, 2, 3]}\n  - {name: a, color: [1, 2, 3]}\n', 'unique'),
    ('classes:\n  - {name: a, color: [1, 2, 3], traversable: yes please}\n', 'true or false'),
    ('classes:\n  - {name: a, color: [1, 2, 300]}\n', 'colour'),
    ('classes:\n  - {name: a, color: [1, 2, 3]}\nignore_index: 0\n', 'ignore_index'),
])
def test_bad_class_lists_say_what_is_wrong(tmp_path, text, message):
    path = tmp_path / 'classes.yaml'
    path.write_text(text)
    with pytest.raises(ClassListError, match=message):
        load_classes(path)


def test_class_list_defaults_to_nothing_traversable():
    classes = ClassList(('a', 'b'), ((0, 0, 0), (1, 1, 1)))
    assert classes.traversable == (False, False)


# --- masks and colours -------------------------------------------------------------------------------


def test_class_mask_is_the_arg_max_of_logits_or_probabilities():
    logits = np.random.default_rng(0).normal(size=(2, 5, 7, 3)).astype(np.float32)
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    mask = class_mask(logits)
    assert mask.dtype == np.uint8
    assert mask.shape == (2, 5, 7)
    np.testing.assert_array_equal(mask, logits.argmax(-1))
    np.testing.assert_array_equal(class_mask(probabilities), mask)
    np.testing.assert_array_equal(class_mask(logits.transpose(0, 3, 1, 2), axis=1), mask)
    np.testing.assert_array_equal(class_mask(logits[0], size=(10, 14)), np.repeat(np.repeat(mask[0], 2, 0), 2, 1))
    with pytest.raises(ValueError, match='2..256 classes'):
        class_mask(logits[..., :1])


def test_resize_mask_repeats_pixels_and_round_trips():
    mask = np.random.default_rng(1).integers(0, 3, (6, 8)).astype(np.uint8)
    big = resize_mask(mask, (30, 40))
    np.testing.assert_array_equal(big, np.kron(mask, np.ones((5, 5), np.uint8)))
    np.testing.assert_array_equal(resize_mask(big, (6, 8)), mask)
    assert resize_mask(mask, (6, 8)) is mask
    batch = resize_mask(np.stack([mask, 2 - mask]), (12, 16))
    assert batch.shape == (2, 12, 16)
    np.testing.assert_array_equal(batch[1], 2 - batch[0])


@settings(max_examples=30, deadline=None)
@given(mask=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=20),
                       elements=st.sampled_from([0, 3, 7, 255])),
       height=st.integers(1, 50), width=st.integers(1, 50))
def test_resized_masks_never_blend_ids(mask, height, width):
    out = resize_mask(mask, (height, width))
    assert out.shape == (height, width)
    assert out.dtype == np.uint8
    assert set(np.unique(out)) <= set(np.unique(mask))


def test_colorize_and_overlay():
    classes = ClassList(('floor', 'obstacle', 'wall'), ((10, 20, 30), (200, 0, 0), (0, 0, 250)))
    mask = np.array([[0, 1], [2, 9]], np.uint8)
    colours = colorize(mask, classes.palette)
    assert colours.tolist() == [[[10, 20, 30], [200, 0, 0]], [[0, 0, 250], [0, 0, 0]]]
    rgb = np.full((4, 4, 3), 100, np.uint8)
    np.testing.assert_array_equal(overlay(rgb, mask, classes.palette, alpha=0.0), rgb)
    np.testing.assert_array_equal(overlay(rgb, mask, classes.palette, alpha=1.0),
                                  colorize(resize_mask(mask, (4, 4)), classes.palette))
    half = overlay(rgb, mask, classes.palette)
    assert half.shape == (4, 4, 3)
    assert half[0, 0].tolist() == [55, 60, 65]


# --- camera geometry ---------------------------------------------------------------------------------


def test_intrinsics_from_hfov_put_the_image_edges_at_half_the_field_of_view():
    k = intrinsics_from_hfov(160, 120, 1.2)
    dx, dy, _ = camera_rays(k, CameraMount(0.1, 0.0), np.array([-0.5, 159.5]), np.array([59.5, 59.5]))
    np.testing.assert_allclose(np.arctan2(dy, dx), [0.6, -0.6])  # left edge: +y (REP 103)
    with pytest.raises(ValueError, match='pinhole'):
        check_intrinsics(np.zeros(9))


def test_scaled_intrinsics_see_the_same_rays():
    k = intrinsics_from_hfov(320, 240, 1.0)
    k[0, 1] = 0.3
    small = scale_intrinsics(k, (240, 320), (24, 40))
    mount = CameraMount(0.2, 0.3)
    u, v = np.array([-0.5, 0.0, 17.25, 39.5]), np.array([-0.5, 3.0, 11.0, 23.5])
    big_rays = camera_rays(k, mount, (u + 0.5) * 8 - 0.5, (v + 0.5) * 10 - 0.5)
    np.testing.assert_allclose(camera_rays(small, mount, u, v), big_rays, atol=1e-12)
    np.testing.assert_allclose(scale_intrinsics(small, (24, 40), (240, 320)), k)


def test_ground_point_of_the_optical_axis_by_hand():
    k = intrinsics_from_hfov(64, 48, 1.0)
    height, tilt = 0.12, 0.3
    x, y = ground_points(k, CameraMount(height, tilt, x=0.05), np.array([31.5]), np.array([23.5]))
    np.testing.assert_allclose([x[0], y[0]], [0.05 + height / math.tan(tilt), 0.0])
    x, _ = ground_points(k, CameraMount(height, 0.0), np.array([31.5, 31.5]), np.array([23.5, 0.0]))
    assert np.isnan(x).all()  # level camera: the centre row is the horizon, above it no floor


# --- the free-space scan -----------------------------------------------------------------------------


@pytest.mark.parametrize(('size', 'height', 'tilt', 'camera_x', 'distances'), [
    ((480, 640), 0.10, 0.26, 0.0, (0.25, 0.5, 1.0, 1.5)),  # the simulator's camera, at VGA
    ((240, 320), 0.10, 0.26, 0.032, (0.2, 0.35, 0.5)),
    ((120, 160), 0.10, 0.26, 0.0, (0.2, 0.3)),  # the simulator's image size: near range only
    ((240, 320), 0.30, 0.6, 0.1, (0.5, 1.0, 2.0)),  # higher and steeper
    ((240, 320), 0.10, 0.0, 0.0, (0.3, 0.6)),  # level camera
])
def test_wall_at_a_known_distance(size, height, tilt, camera_x, distances):
    k = intrinsics_from_hfov(size[1], size[0], 1.22)
    mount = CameraMount(height, tilt, camera_x)
    scanner = FreeSpaceScanner(k, size, mount, TRAVERSABLE)
    for distance in distances:
        mask = render(k, mount, size, distance)
        bearings, ranges = scanner.columns(mask)
        assert np.isfinite(ranges).all()
        np.testing.assert_allclose(ranges * np.cos(bearings), distance, rtol=0.02)
        scan = scanner.scan(mask)
        assert scan.dtype == np.float32
        assert scan.shape == (size[1],)
        finite = np.isfinite(scan)
        assert finite.sum() > 0.7 * size[1]
        assert not np.isinf(scan).any()
        np.testing.assert_allclose(scan[finite] * np.cos(beam_angles(scanner)[finite]), distance, rtol=0.02)


def test_oblique_wall_and_a_box_in_front_of_it():
    size = (480, 640)
    k = intrinsics_from_hfov(size[1], size[0], 1.22)
    mount = CameraMount(0.1, 0.26)
    scanner = FreeSpaceScanner(k, size, mount, TRAVERSABLE, beams=90)
    yaw, distance = 0.4, 0.8
    mask = render(k, mount, size, distance, normal_yaw=yaw)
    bearings, ranges = scanner.columns(mask)
    along_normal = ranges * np.cos(bearings - yaw)  # each boundary point lies on the wall plane
    np.testing.assert_allclose(along_normal[np.isfinite(ranges)], distance, rtol=0.02)

    box = (0.3, 0.4, -0.05, 0.05)
    mask = render(k, mount, size, distance, normal_yaw=yaw, box=box)
    bearings, ranges = scanner.columns(mask)
    on_box = np.abs(bearings) < math.atan2(0.04, 0.3)  # columns that see the box's front face
    assert on_box.sum() > 10
    np.testing.assert_allclose(ranges[on_box] * np.cos(bearings[on_box]), 0.3, rtol=0.02)
    scan = scanner.scan(mask)
    assert scan.shape == (90,)
    front = np.abs(beam_angles(scanner)) < 0.05
    np.testing.assert_allclose(scan[front] * np.cos(beam_angles(scanner)[front]), 0.3, rtol=0.02)


def test_all_floor_and_floor_up_to_the_horizon_are_free():
    size = (60, 80)
    k = intrinsics_from_hfov(size[1], size[0], 1.22)
    for tilt in (0.26, 0.0):
        scanner = FreeSpaceScanner(k, size, CameraMount(0.1, tilt), TRAVERSABLE)
        floor = np.zeros(size, np.uint8)
        assert np.isinf(scanner.scan(floor)).all()
        bearings, ranges = scanner.columns(floor)
        assert np.isinf(ranges).all()
        assert np.isnan(bearings).all()
    above = np.zeros(size, np.uint8)
    above[:30] = WALL  # level camera: everything above the horizon row is no floor
    assert np.isinf(scanner.scan(above)).all()


def test_obstacle_at_the_image_bottom_and_unknown_ids():
    size = (60, 80)
    k = intrinsics_from_hfov(size[1], size[0], 1.22)
    mount = CameraMount(0.1, 0.26)
    scanner = FreeSpaceScanner(k, size, mount, TRAVERSABLE)
    mask = np.zeros(size, np.uint8)
    mask[-1, 40] = OBSTACLE
    mask[:, 10] = 77  # an id no class has: not traversable
    _, ranges = scanner.columns(mask)
    x, y = ground_points(k, mount, np.array([40.0]), np.array([59.5]))
    assert ranges[40] == pytest.approx(math.hypot(x[0], y[0]))
    assert np.isfinite(ranges[10])
    assert np.isinf(np.delete(ranges, [10, 40])).all()
    with pytest.raises(ValueError, match='takes'):
        scanner.columns(mask[1:])


def test_scan_beams_span_and_bad_setups():
    size = (48, 64)
    k = intrinsics_from_hfov(size[1], size[0], 1.0)
    scanner = FreeSpaceScanner(k, size, CameraMount(0.1, 0.2), TRAVERSABLE, beams=33, range_max=4.0)
    assert scanner.beams == 33
    assert scanner.range_max == 4.0
    assert scanner.angle_min == pytest.approx(-scanner.angle_max)
    assert scanner.angle_max > 0.5  # the bottom corners see wider than hfov / 2
    assert scanner.angle_min + 32 * scanner.angle_increment == pytest.approx(scanner.angle_max)
    with pytest.raises(ValueError, match='beams'):
        FreeSpaceScanner(k, size, CameraMount(0.1, 0.2), TRAVERSABLE, beams=1)
    with pytest.raises(ValueError, match='sees no floor'):
        FreeSpaceScanner(k, size, CameraMount(0.1, -1.0), TRAVERSABLE)
    with pytest.raises(ValueError, match='height'):
        CameraMount(0.0, 0.2)


# --- metrics -----------------------------------------------------------------------------------------


def test_confusion_matrix_and_scores_by_hand():
    truth = np.array([[0, 0, 1, 1], [2, 2, 255, 0]])
    predicted = np.array([[0, 1, 1, 1], [2, 0, 1, 0]])
    confusion = confusion_matrix(truth, predicted, 3)
    assert confusion.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 1]]
    scores = segmentation_scores(confusion, ['floor', 'obstacle', 'wall'])
    assert scores['pixels'] == 7
    assert scores['pixel_accuracy'] == pytest.approx(5 / 7)
    assert scores['iou'] == pytest.approx([2 / 4, 2 / 3, 1 / 2])
    assert scores['mean_iou'] == pytest.approx((2 / 4 + 2 / 3 + 1 / 2) / 3)
    assert scores['classes'] == ['floor', 'obstacle', 'wall']


def test_absent_classes_are_left_out_of_the_mean():
    confusion = np.array([[5, 0, 0], [0, 0, 0], [0, 0, 3]])
    scores = segmentation_scores(confusion)
    assert scores['iou'] == [1.0, None, 1.0]
    assert scores['mean_iou'] == 1.0
    empty = segmentation_scores(np.zeros((2, 2), np.int64))
    assert (empty['pixel_accuracy'], empty['mean_iou'], empty['iou']) == (None, None, [None, None])


def test_class_ids_outside_the_classes_are_an_error():
    with pytest.raises(ValueError, match='ground truth has class ids'):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(ValueError, match='prediction has class ids'):
        confusion_matrix(np.array([0, 1]), np.array([0, 5]), 3)
    with pytest.raises(ValueError, match='shape'):
        confusion_matrix(np.zeros(3), np.zeros(4), 3)


@settings(max_examples=60, deadline=None)
@given(truth=hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
                        elements=st.sampled_from([0, 1, 2, 3, 255])),
       permutation=st.permutations(range(4)))
def test_miou_is_one_for_a_perfect_prediction_and_less_for_a_permuted_one(truth, permutation):
    present = sorted(set(np.unique(truth).tolist()) - {255})
    predicted = np.where(truth == 255, 0, truth)
    perfect = segmentation_scores(confusion_matrix(truth, predicted, 4))
    if not present:
        assert perfect['mean_iou'] is None
        return
    assert perfect['mean_iou'] == 1.0
    assert perfect['pixel_accuracy'] == 1.0
    permuted = np.asarray(permutation, np.uint8)[predicted]
    scores = segmentation_scores(confusion_matrix(truth, permuted, 4))
    if all(permutation[c] == c for c in present):
        assert scores['mean_iou'] == 1.0
    else:
        assert scores['mean_iou'] < 1.0
