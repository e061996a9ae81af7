"""Exact-arithmetic geometry for SynFACS: circles, rotations, curves, projection."""

from __future__ import annotations

import numpy as np

from fsfer_bench.data.synfacs.geometry import Pose, cos_sin, ellipse, face_depth, project, smooth, unit_circle


def test_rational_cos_sin_is_a_rotation():
    c, s = cos_sin(np.linspace(-1, 1, 9))
    np.testing.assert_allclose(c**2 + s**2, 1.0, atol=1e-15)
    c, s = cos_sin(0.176326981)  # tan(10 degrees): a 20 degree turn
    np.testing.assert_allclose([c, s], [np.cos(np.radians(20)), np.sin(np.radians(20))], atol=1e-8)


def test_unit_circle_goes_all_the_way_round():
    circle = unit_circle(16)
    assert circle.shape == (16, 2)
    np.testing.assert_allclose(np.hypot(*circle.T), 1.0, atol=1e-15)
    angles = np.sort(np.arctan2(circle[:, 1], circle[:, 0]))
    assert np.diff(angles).max() < np.radians(40)  # no gaps
    np.testing.assert_allclose(ellipse((1, 2), 3, 4, 16).mean(axis=0), (1, 2), atol=1e-12)


def test_smooth_curves_pass_through_their_points():
    points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [3.0, 2.0]])
    open_curve = smooth(points, 3)
    np.testing.assert_allclose(open_curve[::3], points, atol=1e-12)
    closed = smooth(points, 2, closed=True)
    assert len(closed) == 8
    np.testing.assert_allclose(closed[::2], points, atol=1e-12)


def test_frontal_pose_only_scales_and_shifts():
    points = np.array([[0.0, 0.0], [1.0, -0.5]])
    pixels = project(points, face_depth(points), Pose(scale=0.25, centre=(0.5, 0.5)), 64)
    np.testing.assert_allclose(pixels, [[32.0, 32.0], [48.0, 24.0]])


def test_yaw_turns_the_nose_more_than_the_ears():
    points = np.array([[0.0, 0.3], [-0.95, 0.0]])  # nose tip (deep) and the left side of the face (shallow)
    frontal = project(points, face_depth(points), Pose(), 100)
    turned = project(points, face_depth(points), Pose(yaw=0.176326981), 100)
    shift = turned[:, 0] - frontal[:, 0]
    assert shift[0] > 0 and shift[0] > shift[1]


def test_roll_keeps_distances():
    points = np.array([[0.0, 0.0], [0.5, 0.5]])
    depth = np.zeros(2)
    a = project(points, depth, Pose(roll=0.1), 64)
    b = project(points, depth, Pose(), 64)
    np.testing.assert_allclose(np.linalg.norm(a[1] - a[0]), np.linalg.norm(b[1] - b[0]))
