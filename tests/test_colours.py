"""crossmodal.colours: the class palette, label and depth colouring, and prediction overlays."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from crossmodal.colours import (
    LIGHTNESS,
    MIN_CHROMA,
    class_palette,
    colorize_depth,
    colorize_label,
    delta_e2000,
    overlay,
    srgb_to_lab,
)

# Sharma, Wu and Dalal (2005), table 1: (Lab 1, Lab 2, CIEDE2000), including the hue-wrap and near-grey pairs
SHARMA = [((50, 2.6772, -79.7751), (50, 0, -82.7485), 2.0425), ((50, -1.3802, -84.2814), (50, 0, -82.7485), 1.0),
          ((50, 0, 0), (50, -1, 2), 2.3669), ((50, 2.49, -0.001), (50, -2.49, 0.0009), 7.1792),
          ((50, 2.49, -0.001), (50, -2.49, 0.0011), 7.2195), ((50, 2.5, 0), (73, 25, -18), 27.1492),
          ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
          ((90.8027, -2.0831, 1.441), (91.1528, -1.6435, 0.0447), 1.4441),
          ((2.0776, 0.0795, -1.135), (0.9033, -0.0636, -0.5514), 0.9082)]
GREYS = np.stack([np.linspace(0.0, 100.0, 1001), np.zeros(1001), np.zeros(1001)], -1)  # every grey level, L* 0-100


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


def _min_pairwise(lab: np.ndarray) -> float:
    d = delta_e2000(lab[:, None], lab[None])
    d[np.arange(len(lab)), np.arange(len(lab))] = np.inf
    return float(d.min())


def test_lab_and_ciede2000_agree_with_published_values() -> None:
    for lab1, lab2, want in SHARMA:
        assert abs(float(delta_e2000(np.array(lab1), np.array(lab2))) - want) < 1e-4
        assert abs(float(delta_e2000(np.array(lab2), np.array(lab1))) - want) < 1e-4
    assert np.allclose(srgb_to_lab(np.array([255, 255, 255])), [100, 0, 0], atol=0.01)
    assert np.allclose(srgb_to_lab(np.array([0, 0, 0])), 0.0)
    rgb = np.array([[243, 195, 0], [0, 103, 165], [132, 132, 130], [190, 0, 50]])
    ocv = cv2.cvtColor((rgb / 255.0).astype(np.float32)[None], cv2.COLOR_RGB2Lab)[0]
    assert np.abs(srgb_to_lab(rgb) - ocv).max() < 0.5  # OpenCV's float32 conversion, the same formulas


@pytest.mark.parametrize("n, apart", [(13, 20.0), (18, 20.0), (40, 14.0)])
def test_palette_has_no_grey_and_keeps_its_colours_apart(n: int, apart: float) -> None:
    lab = srgb_to_lab(class_palette(n))
    chroma = np.hypot(lab[:, 1], lab[:, 2])  # = CIE76 distance to the nearest grey
    assert chroma.min() >= MIN_CHROMA == 30.0
    assert (lab[:, 0] >= LIGHTNESS[0]).all() and (lab[:, 0] <= LIGHTNESS[1]).all()
    assert _min_pairwise(lab) >= apart
    assert np.sqrt(((lab[:, None] - GREYS[None]) ** 2).sum(-1)).min() >= MIN_CHROMA - 1e-9
    assert delta_e2000(lab[:, None], GREYS[None]).min() >= 18.0


def test_palette_stays_distinct_for_very_many_classes() -> None:
    lab = srgb_to_lab(class_palette(894))  # NYUv2's full label set
    assert np.hypot(lab[:, 1], lab[:, 2]).min() >= MIN_CHROMA
    assert _min_pairwise(lab) >= 3.0  # measured 3.48: still more than a just-noticeable difference (about 2.3)
    assert np.array_equal(class_palette(894)[:40], class_palette(40))
    many = class_palette(3000)  # past the 16-level grid: a finer one, still distinct and not grey
    assert len({tuple(c) for c in many}) == 3000 and np.array_equal(many[:1024], class_palette(1024))
    assert np.hypot(*srgb_to_lab(many)[:, 1:].T).min() >= MIN_CHROMA


def test_overlay_colours_show_over_every_grey() -> None:
    n = 40
    label = np.arange(n, dtype=np.uint8)[None].repeat(256, 0)
    base = np.repeat(np.arange(256, dtype=np.uint8)[:, None, None], n, 1).repeat(3, 2)  # row g: grey level g
    out = overlay(base, label, n, alpha=0.5)
    diff = delta_e2000(srgb_to_lab(out), srgb_to_lab(base))
    assert diff.min() >= 10.0  # measured 11.25: every class stays visible at half opacity over any grey


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
