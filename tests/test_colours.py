"""crossmodal.colours: the class palette, label and depth colouring, and prediction overlays."""
from __future__ import annotations

import numpy as np
import pytest

from crossmodal.colours import class_palette, colorize_depth, colorize_label, overlay


def _n_colours(img: np.ndarray) -> int:
    packed = img.reshape(-1, 3).astype(np.int32) @ np.array([1 << 16, 1 << 8, 1], np.int32)
    return len(np.unique(packed))


def test_class_palette_is_deterministic_and_distinct() -> None:
    for n in (1, 13, 40, 150):
        pal = class_palette(n)
        assert pal.shape == (n, 3) and pal.dtype == np.uint8
        assert len({tuple(c) for c in pal}) == n
        assert not (pal == 0).all(axis=1).any()  # black is reserved for ignored pixels
    assert np.array_equal(class_palette(40), class_palette(40))
    assert np.array_equal(class_palette(40)[:13], class_palette(13))
    with pytest.raises(ValueError):
        class_palette(0)


def test_colorize_label() -> None:
    label = np.array([[0, 1, 2], [255, 3, 0]], dtype=np.uint8)
    rgb = colorize_label(label, num_classes=4)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert (rgb[1, 0] == 0).all()  # ignore -> black
    colours = {tuple(rgb[0, 0]), tuple(rgb[0, 1]), tuple(rgb[0, 2]), tuple(rgb[1, 1])}
    assert len(colours) == 4 and (0, 0, 0) not in colours
    assert (rgb[0, 0] == rgb[1, 2]).all()  # same class, same colour
    assert (rgb[0, 1] == class_palette(4)[1]).all()
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        colorize_label(np.array([[4]]), num_classes=4)
    with pytest.raises(ValueError, match="2-D"):
        colorize_label(np.zeros((2, 2, 1), np.uint8), num_classes=4)
    with pytest.raises(ValueError, match="integer"):
        colorize_label(np.zeros((2, 2), np.float32), num_classes=4)


def test_colorize_depth() -> None:
    depth = np.tile(np.linspace(0.5, 8.0, 16, dtype=np.float32), (4, 1))
    depth[0, 3] = 0.0
    depth[2, 5] = np.nan
    rgb = colorize_depth(depth)
    assert rgb.shape == (4, 16, 3) and rgb.dtype == np.uint8
    assert (rgb[0, 3] == 0).all() and (rgb[2, 5] == 0).all()  # holes black
    valid = np.ones((4, 16), bool)
    valid[0, 3] = valid[2, 5] = False
    assert (rgb[valid].max(axis=1) > 0).all()
    assert _n_colours(rgb) > 8
    assert not np.array_equal(rgb[1, 0], rgb[1, -1])  # near and far differ
    clipped = colorize_depth(depth, max_depth=2.0)
    assert np.array_equal(clipped[1, -1], clipped[1, -2])  # beyond max_depth saturates
    assert (colorize_depth(np.zeros((3, 3))) == 0).all()
    with pytest.raises(ValueError):
        colorize_depth(-np.ones((2, 2)))
    with pytest.raises(ValueError):
        colorize_depth(np.ones((2, 2)), max_depth=0.0)


def test_overlay_blends_classes_and_keeps_ignored_pixels() -> None:
    base = np.full((2, 2, 3), 100, np.uint8)
    label = np.array([[0, 1], [255, 1]], np.uint8)
    out = overlay(base, label, 2, alpha=0.5)
    pal = class_palette(2).astype(np.float32)
    assert (out[0, 0] == np.round(0.5 * 100 + 0.5 * pal[0])).all()
    assert (out[1, 0] == 100).all()  # ignored: the base image shows through
    with pytest.raises(ValueError, match="uint8"):
        overlay(base[:1], label, 2)
