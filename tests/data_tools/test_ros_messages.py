"""Tests for data_tools.ros_messages: decoding single Image and CompressedImage messages."""
from __future__ import annotations

import numpy as np
import pytest

from data_tools.ros_messages import COMPRESSED, IMAGE, Role, decode

H, W = 16, 24
RGB = "/cam/color"


def _mm(k: int) -> np.ndarray:
    d = np.random.default_rng(1000 + k).integers(300, 5000, (H, W)).astype(np.uint16)
    d[0, :3] = 0
    return d


def test_decode_8bit_encodings_and_refusals() -> None:
    """rgba8/bgra8/mono8 for the source and as targets; unknown encodings and formats refused by name."""
    src, tgt = Role("rgb", "source", RGB), Role("ir", "target", "/ir")
    rgba = np.random.default_rng(1).integers(0, 256, (H, W, 4)).astype(np.uint8)

    def fields(arr: np.ndarray, enc: str, step: int | None = None) -> dict:
        rows = arr.reshape(arr.shape[0], -1)
        pad = (step or rows.shape[1]) - rows.shape[1]
        rows = np.concatenate([rows, np.zeros((rows.shape[0], pad), np.uint8)], axis=1)
        return {"type": IMAGE, "encoding": enc, "height": arr.shape[0], "width": arr.shape[1],
                "step": rows.shape[1], "is_bigendian": False, "data": rows.tobytes()}

    np.testing.assert_array_equal(decode(fields(rgba, "rgba8"), src, 0)[0], rgba[..., :3])
    np.testing.assert_array_equal(decode(fields(rgba[..., [2, 1, 0, 3]], "bgra8", W * 4 + 3), src, 0)[0],
                                  rgba[..., :3])
    np.testing.assert_array_equal(decode(fields(rgba[..., 0], "mono8"), src, 0)[0], np.repeat(rgba[..., :1], 3, 2))
    out, factor = decode(fields(rgba[..., [2, 1, 0, 3]], "bgra8"), tgt, 0)
    assert factor == 1.0 and out.dtype == np.float32 and out.shape == (H, W, 4)
    np.testing.assert_array_equal(out, rgba.astype(np.float32))
    with pytest.raises(ValueError, match=r"/cam/color.*16-bit|/cam/color.*8-bit"):
        decode(fields(_mm(0).view(np.uint8).reshape(H, W * 2), "mono8")
               | {"encoding": "16UC1", "width": W}, src, 0)
    with pytest.raises(ValueError, match=r"/ir.*'bayer_rggb8'"):
        decode(fields(rgba[..., 0], "mono8") | {"encoding": "bayer_rggb8"}, tgt, 0)
    with pytest.raises(ValueError, match=r"/ir.*'bmp'"):
        decode({"type": COMPRESSED, "format": "bmp", "data": b"BM"}, tgt, 0)
    with pytest.raises(ValueError, match=r"/ir.*needs"):
        decode(fields(rgba[..., 0], "mono8") | {"height": H + 1}, tgt, 0)
