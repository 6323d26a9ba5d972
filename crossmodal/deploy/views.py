"""What a person looks at in crossmodal-predict's output: the input as a picture, the legend and side-by-side panels.

All pictures are (H, W, 3) uint8 RGB; the class colours are crossmodal.colours.class_palette's (black = ignored).
Text is drawn with OpenCV's Hershey font, which has ASCII only: other characters show as '?'.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import cv2
import numpy as np

from crossmodal.colours import class_palette, colorize_label

FONT = cv2.FONT_HERSHEY_SIMPLEX
PANEL_MIN_WIDTH = 192  # each picture of a panel is enlarged (nearest neighbour, whole factor) to at least this wide
GAP = 8  # white pixels between the pictures of a panel
TITLE_HEIGHT = 24  # the white strip above each picture that holds its title
SWATCH = (20, 36)  # legend swatch (height, width)
LEGEND_ROWS = 40  # classes per legend column


def hex_colour(rgb: Sequence[int]) -> str:
    """'#rrggbb' of an RGB triple."""
    return "#" + "".join(f"{int(v):02x}" for v in rgb)


def class_colours(names: Sequence[str]) -> dict[str, str]:
    """{class name: '#rrggbb'} in class-id order, as predict.json's class_colours."""
    return {n: hex_colour(c) for n, c in zip(names, class_palette(len(names)))}


def classes_text(names: Sequence[str]) -> str:
    """classes.txt: line i is 'name<TAB>#rrggbb' of class id i."""
    return "".join(f"{n}\t{hex_colour(c)}\n" for n, c in zip(names, class_palette(len(names))))


def sensor_picture(sensor: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """A grey RGB picture of the input, to lay the class colours over.

    Colour images become grey; other modalities show their first channel stretched over the frame's readings, near
    depth bright, no reading (0 in every channel) black.
    """
    if is_colour(sensor):
        grey = cv2.cvtColor(sensor, cv2.COLOR_RGB2GRAY)
    else:
        a = (sensor if sensor.ndim == 2 else sensor[..., 0]).astype(np.float64)
        valid = ~(sensor == 0 if sensor.ndim == 2 else (sensor == 0).all(axis=2))
        lo, hi = (float(a[valid].min()), float(a[valid].max())) if valid.any() else (0.0, 1.0)
        t = (a - lo) / (hi - lo if hi > lo else 1.0)
        if meta.get("units") == "metres" or meta["modality"].endswith("depth"):
            t = 1.0 - t
        grey = np.where(valid, np.round(64 + 191 * np.clip(t, 0.0, 1.0)), 0).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def is_colour(sensor: np.ndarray) -> bool:
    """True for a uint8 (H, W, 3) colour image, which a panel shows as it is."""
    return sensor.dtype == np.uint8 and sensor.ndim == 3 and sensor.shape[2] == 3


def _ascii(text: str) -> str:
    return text.encode("ascii", "replace").decode()


def _put_text(img: np.ndarray, text: str, x: int, y: int, width: int, height: int) -> None:
    """Black text with its baseline at (x, y), shrunk until it fits `width` and `height` pixels."""
    text, scale = _ascii(text), 0.5
    while scale > 0.25:
        (w, h), _ = cv2.getTextSize(text, FONT, scale, 1)
        if w <= width and h <= height:
            break
        scale -= 0.05
    cv2.putText(img, text, (x, y), FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)


def legend(names: Sequence[str], ignore: str | None = None) -> np.ndarray:
    """One swatch of each class's colour with 'id name' beside it, LEGEND_ROWS to a column; black last for `ignore`."""
    entries = [(f"{i} {n}", tuple(int(v) for v in c)) for i, (n, c) in enumerate(zip(names, class_palette(len(names))))]
    if ignore:
        entries.append((ignore, (0, 0, 0)))
    rows = min(len(entries), LEGEND_ROWS)
    cols = math.ceil(len(entries) / rows)
    text_w = max(cv2.getTextSize(_ascii(t), FONT, 0.5, 1)[0][0] for t, _ in entries)
    col_w = SWATCH[1] + 8 + min(text_w, 360) + 16
    row_h = SWATCH[0] + 6
    img = np.full((rows * row_h + 8, cols * col_w + 8, 3), 255, np.uint8)
    for k, (text, colour) in enumerate(entries):
        x, y = 8 + (k // rows) * col_w, 6 + (k % rows) * row_h
        img[y:y + SWATCH[0], x:x + SWATCH[1]] = colour
        _put_text(img, text, x + SWATCH[1] + 8, y + SWATCH[0] - 5, col_w - SWATCH[1] - 24, SWATCH[0])
    return img


def panel_scale(width: int) -> int:
    """The whole factor each picture of a panel is enlarged by: the least that makes it PANEL_MIN_WIDTH wide."""
    return max(1, math.ceil(PANEL_MIN_WIDTH / max(1, width)))


def panel(pictures: Sequence[tuple[str, np.ndarray]]) -> np.ndarray:
    """Titled pictures side by side on white; width len(pictures) x W x panel_scale(W) + GAP between them."""
    h, w = pictures[0][1].shape[:2]
    s = panel_scale(w)
    out = np.full((TITLE_HEIGHT + h * s, len(pictures) * w * s + (len(pictures) - 1) * GAP, 3), 255, np.uint8)
    for k, (title, pic) in enumerate(pictures):
        if pic.shape != (h, w, 3):
            raise ValueError(f"panel picture '{title}' is {pic.shape}; expected {(h, w, 3)}")
        x = k * (w * s + GAP)
        out[TITLE_HEIGHT:, x:x + w * s] = np.repeat(np.repeat(pic, s, axis=0), s, axis=1)
        _put_text(out, title, x + 4, TITLE_HEIGHT - 7, w * s - 8, TITLE_HEIGHT - 6)
    return out


def frame_panel(sensor_pic: np.ndarray, pred: np.ndarray, label: np.ndarray | None, meta: dict[str, Any],
                ignore: int) -> np.ndarray:
    """The panel of one frame: the input picture, the prediction's colours and, when given, the labels' colours.

    `sensor_pic` is the input as a picture: a colour image as it is, other modalities as sensor_picture draws them.
    Ignored pixels (no reading with --mask-invalid; ignore in the labels) are black.
    """
    n = len(meta["class_names"])
    pictures = [(f"input ({meta['modality']})", sensor_pic), ("prediction", colorize_label(pred, n, ignore))]
    if label is not None:
        pictures.append(("labels", colorize_label(label, n)))
    return panel(pictures)
