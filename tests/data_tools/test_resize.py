"""Tests for data_tools.resize: aspect changes are refused unless cropped or stretched on purpose.

The intrinsics follow the choice: crop shifts, then scales; stretch scales x and y apart.
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np
import pytest

from data_tools.camera import scale_intrinsics
from data_tools.resize import (
    Resize,
    add_arguments,
    aspect_changes,
    aspect_text,
    crop_box,
    fit,
    fit_intrinsics,
    from_args,
)

K = (30.0, 31.0, 15.5, 8.5)  # fx, fy, cx, cy of an 18x32 (16:9) image


def test_aspect_changes_beyond_one_percent_only() -> None:
    assert not aspect_changes((480, 640), (240, 320)) and not aspect_changes((480, 640), (481, 640))
    assert aspect_changes((360, 640), (480, 640)) and aspect_changes((480, 640), (470, 640))
    assert aspect_text((360, 640)) == "360x640 (aspect 16:9)" and aspect_text((480, 640)) == "480x640 (aspect 4:3)"


def test_crop_box_is_centred_on_the_excess_side() -> None:
    assert crop_box((18, 32), (24, 32)) == (0, 4, 18, 24)  # 16:9 to 4:3: columns go
    assert crop_box((24, 32), (18, 32)) == (3, 0, 18, 32)  # 4:3 to 16:9: rows go
    assert crop_box((480, 640), (240, 320)) == (0, 0, 480, 640)  # same aspect: nothing


def test_fit_refuses_crops_or_stretches() -> None:
    arr = np.arange(18 * 32, dtype=np.float32).reshape(18, 32)
    with pytest.raises(ValueError) as err:
        fit(arr, (24, 32), "refuse", nearest=True, what="depth d.png", hint="Check the topic.")
    msg = str(err.value)
    assert msg.startswith("depth d.png: resizing 18x32 (aspect 16:9) to 24x32 (aspect 4:3)")
    assert "Check the topic." in msg
    assert "--aspect crop" in msg and "--aspect stretch" in msg and "18x24" in msg
    np.testing.assert_array_equal(fit(arr, (24, 32), "crop", nearest=True, what="d"),
                                  cv2.resize(arr[:, 4:28], (32, 24), interpolation=cv2.INTER_NEAREST))
    np.testing.assert_array_equal(fit(arr, (24, 32), "stretch", nearest=True, what="d"),
                                  cv2.resize(arr, (32, 24), interpolation=cv2.INTER_NEAREST))
    np.testing.assert_array_equal(fit(arr, (9, 16), "refuse", nearest=True, what="d"),  # same aspect: resized
                                  cv2.resize(arr, (16, 9), interpolation=cv2.INTER_NEAREST))


def test_intrinsics_follow_the_choice() -> None:
    fx, fy, cx, cy = fit_intrinsics(K, (18, 32), (24, 32), "crop", "info")
    s = 32 / 24  # the 18x24 crop (4 columns off the left) scaled to 24x32
    assert (fx, fy, cx, cy) == pytest.approx((30 * s, 31 * s, (15.5 - 4 + 0.5) * s - 0.5, (8.5 + 0.5) * s - 0.5))
    fx, fy, cx, cy = fit_intrinsics(K, (18, 32), (24, 32), "stretch", "info")
    assert (fx, fy, cx, cy) == pytest.approx((30.0, 31 * 24 / 18, 15.5, (8.5 + 0.5) * 24 / 18 - 0.5))
    assert fit_intrinsics(K, (18, 32), (9, 16), "refuse", "info") == scale_intrinsics(K, (18, 32), (9, 16))
    assert fit_intrinsics(K, (18, 32), (18, 32), "refuse", "info") == K
    with pytest.raises(ValueError, match="--aspect crop"):
        fit_intrinsics(K, (18, 32), (24, 32), "refuse", "info")


def test_command_line_and_attributes() -> None:
    p = argparse.ArgumentParser()
    add_arguments(p, "depth")
    assert from_args(p.parse_args([])) == Resize("none", "refuse") and Resize().attrs() == {}
    assert from_args(p.parse_args(["--resize", "target", "--aspect", "crop"])).attrs() == {"resize": "target",
                                                                                          "aspect": "crop"}
    assert Resize("source").attrs()["aspect"].startswith("kept")
    with pytest.raises(ValueError, match="--resize"):
        from_args(p.parse_args(["--aspect", "stretch"]))
