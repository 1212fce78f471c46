"""The renderer's geometry (ocrlab.data.geometry): homographies, windows, arc bends."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ocrlab.data.geometry import (
    apply_homography,
    bend_window,
    crop_pad,
    homography,
    warp_window,
)


def test_homography_maps_the_four_points_and_inverts():
    src = np.array([[0, 0], [10, 0], [10, 5], [0, 5]], np.float64)
    dst = np.array([[1, 2], [12, 1], [11, 8], [0, 6]], np.float64)
    h = homography(src, dst)
    np.testing.assert_allclose(apply_homography(h, src), dst, atol=1e-9)
    np.testing.assert_allclose(apply_homography(np.linalg.inv(h), dst), src, atol=1e-9)


def test_crop_pad_fills_outside_with_zeros():
    mask = np.arange(1, 13, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(crop_pad(mask, 1, 0, 3, 2), mask[0:2, 1:3])
    out = crop_pad(mask, -1, -1, 2, 1)
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(out, [[0, 0, 0], [0, 1, 2]])
    assert not crop_pad(mask, 10, 10, 12, 11).any()


def test_identity_warp_is_the_window_and_moves_points_into_it():
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 256, (40, 60), dtype=np.uint8)
    window = (10, 5, 50, 30)
    pts = np.array([[10.0, 5.0], [30.0, 20.0]])
    out, moved = warp_window(mask, window, (0.0, 0.0, np.zeros((4, 2))), pts)
    assert out.shape == (25, 40)
    np.testing.assert_allclose(moved, pts - [10, 5], atol=1e-9)
    inner = np.abs(out[1:-1, 1:-1].astype(int) - mask[6:29, 11:49].astype(int))
    assert inner.max() <= 1


def test_rotation_turns_points_about_the_window_centre():
    mask = np.zeros((20, 40), np.uint8)
    pts = np.array([[0.0, 10.0], [40.0, 10.0]])  # the mid-line's ends
    _, moved = warp_window(mask, (0, 0, 40, 20), (math.radians(10), 0.0, np.zeros((4, 2))), pts)
    dx, dy = moved[1] - moved[0]
    assert math.degrees(math.atan2(dy, dx)) == pytest.approx(10, abs=1e-6)
    assert math.hypot(dx, dy) == pytest.approx(40, abs=1e-6)


@pytest.mark.parametrize("angle", [0.8, -0.8])
def test_bend_puts_the_mid_line_on_its_arc_and_keeps_its_length(angle):
    mask = np.zeros((30, 120), np.uint8)
    mask[12:18, :] = 255  # a band around the mid-line
    xs = np.linspace(0, 120, 7)
    pts = np.c_[xs, np.full(7, 15.0)]
    bent, moved, (cx, cy, radius) = bend_window(mask, (0, 0, 120, 30), angle, 15.0, pts)
    assert radius == pytest.approx(120 / abs(angle))
    dist = np.hypot(moved[:, 0] - cx, moved[:, 1] - cy)
    np.testing.assert_allclose(dist, radius, rtol=1e-9)
    # arc length between neighbours equals their distance along the straight line
    theta = np.unwrap(np.arctan2(moved[:, 1] - cy, moved[:, 0] - cx))
    np.testing.assert_allclose(np.abs(np.diff(theta)) * radius, np.diff(xs), rtol=1e-9)
    # arched (angle > 0): the ends lie below the middle; sagging: above
    assert (moved[0, 1] > moved[3, 1]) == (angle > 0)
    # the ink follows: the bent band's pixels at each point's position are ink
    for x, y in moved[1:-1]:
        assert bent[round(float(y)), round(float(x))] > 128
