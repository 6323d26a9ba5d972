"""Frames for calibrating a quantised student, and how far its predictions move from the float model's.

Frames whose size does not fit the model are brought to one it takes the way crossmodal-predict --pad does: padded at
the bottom and right with 0 (no reading) to the stride multiple; for a static-shape model, cut at the bottom and
right to its size first when larger. Predictions are compared on the frame's own pixels only, never on padding.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from crossmodal.deploy.export import INPUT_NAME, OUTPUT_NAME, ExportError
from crossmodal.deploy.frames import FrameSource, open_frames
from crossmodal.errors import UserError
from crossmodal.metrics import ConfusionMatrix, segmentation_metrics
from crossmodal.seeds import seed_for

SEED_STREAM = "deploy_calibration"  # the stream (crossmodal/seeds.py) whose seed draws the calibration frames
EVAL_BATCH = 8


def open_source(path: Any, meta: dict[str, Any], option: str, scale: float | None = None,
                glob: str | None = None) -> FrameSource:
    """The frames at `path` for this model (open_frames), errors naming the option that gave the path."""
    if not Path(path).exists():
        raise ExportError(f"{option} {path}: no such file or folder")
    try:
        return open_frames(path, meta, scale=scale, glob=glob)
    except UserError as err:
        raise ExportError(f"{option}: {err}") from None


def draw(source: FrameSource, count: int, student_seed: int) -> tuple[list[int], int]:
    """`count` frame indices (all when it has fewer), drawn without replacement, sorted; and the seed used."""
    seed = seed_for(student_seed, SEED_STREAM)
    if count >= len(source):
        return list(range(len(source))), seed
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(len(source), size=count, replace=False)), seed


def model_size(meta: dict[str, Any], height: int, width: int) -> tuple[int, int]:
    """The size the model runs a height x width frame at: its static size, or the size rounded up to the stride."""
    static = meta.get("static_shape")
    if static:
        return int(static["height"]), int(static["width"])
    k = int(meta["stride_multiple"])
    return -(-height // k) * k, -(-width // k) * k


def fitted(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`arr` (H, W[, C]) cut at the bottom/right to at most `size`, then padded there with 0 to exactly `size`."""
    h, w = size
    arr = arr[:h, :w]
    extra = [(0, h - arr.shape[0]), (0, w - arr.shape[1])] + [(0, 0)] * (arr.ndim - 2)
    return np.pad(arr, extra)


def calibration_array(source: FrameSource, indices: Sequence[int], meta: dict[str, Any]) -> np.ndarray:
    """The chosen frames as one array (N, H, W[, C]) the model takes: the static size, else the largest, fitted."""
    sizes = [source.sizes[i] for i in indices]
    size = model_size(meta, max(h for h, _ in sizes), max(w for _, w in sizes))
    return np.stack([fitted(source.read(i).sensor, size) for i in indices])


def _groups(source: FrameSource, indices: Sequence[int], batch: int) -> Iterator[list[int]]:
    """Consecutive indices of one frame size, at most `batch` at a time."""
    group: list[int] = []
    for i in indices:
        if group and (len(group) == batch or source.sizes[group[0]] != source.sizes[i]):
            yield group
            group = []
        group.append(i)
    if group:
        yield group


def _session(path: Any) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _predict(session: Any, batch: np.ndarray, count: int) -> np.ndarray:
    """Class ids of a batch; a static batch is filled up with zero frames and the extra predictions dropped."""
    want = session.get_inputs()[0].shape[0]
    if isinstance(want, int) and want != len(batch):
        batch = np.concatenate([batch, np.zeros((want - len(batch),) + batch.shape[1:], batch.dtype)])
    return session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0][:count].argmax(1)


def compare(float_path: Any, quant_path: Any, source: FrameSource, indices: Sequence[int],
            meta: dict[str, Any]) -> tuple[ConfusionMatrix, ConfusionMatrix | None, ConfusionMatrix, int]:
    """Run both models on the frames: confusions (quantised vs float, float vs labels, quantised vs labels), pixels.

    The labels' confusions are None without labels (only the first is counted then).
    """
    n = len(meta["class_names"])
    static = meta.get("static_shape")
    batch = int(static["batch"]) if static else EVAL_BATCH
    sessions = _session(float_path), _session(quant_path)
    agree = ConfusionMatrix(n, ignore_index=-1)
    float_cm, quant_cm = (ConfusionMatrix(n), ConfusionMatrix(n)) if source.has_labels else (None, None)
    pixels = 0
    for group in _groups(source, indices, batch):
        frames = [source.read(i) for i in group]
        h, w = frames[0].sensor.shape[:2]
        size = model_size(meta, h, w)
        h, w = min(h, size[0]), min(w, size[1])
        x = np.stack([fitted(f.sensor, size) for f in frames])
        ref, got = (torch.from_numpy(_predict(s, x, len(frames))[:, :h, :w].astype(np.int64)) for s in sessions)
        agree.update(got, ref)
        pixels += ref.numel()
        if float_cm is not None:
            labels = torch.from_numpy(np.stack([f.label[:h, :w] for f in frames]).astype(np.int64))
            float_cm.update(ref, labels)
            quant_cm.update(got, labels)
    return agree, float_cm, quant_cm, pixels


def quality(float_path: Any, quant_path: Any, source: FrameSource, indices: Sequence[int], meta: dict[str, Any],
            described: str) -> dict[str, Any]:
    """Arg-max agreement and mIoU of the quantised model against the float one on the frames, as metadata.

    With labels: both models' mIoU and the loss in points. Without: the quantised model's mIoU with the float
    model's predictions as labels, and the loss as 100 x (1 - that).
    """
    names = list(meta["class_names"])
    agree, float_cm, quant_cm, pixels = compare(float_path, quant_path, source, indices, meta)
    matrix = agree.matrix.numpy()
    out: dict[str, Any] = {"on": described, "frames": len(indices), "pixels": int(pixels),
                           "agreement": float(np.trace(matrix) / max(1, matrix.sum()))}
    if float_cm is not None:
        miou_f = segmentation_metrics(float_cm.matrix, names)["miou"]
        miou_q = segmentation_metrics(quant_cm.matrix, names)["miou"]
        out.update(labels=True, miou_float=miou_f, miou=miou_q, miou_loss_points=100.0 * (miou_f - miou_q))
    else:
        vs = segmentation_metrics(agree.matrix, names)["miou"]
        out.update(labels=False, miou_vs_float=vs, miou_loss_points=100.0 * (1.0 - vs))
    return out


def summary(q: dict[str, Any]) -> str:
    """One line: agreement and mIoU figures."""
    head = f"arg-max agreement with float {100 * q['agreement']:.3f}% on {q['on']}"
    if q["labels"]:
        return (f"{head}; mIoU {100 * q['miou']:.2f} vs float {100 * q['miou_float']:.2f} "
                f"(loss {q['miou_loss_points']:.2f} points)")
    return (f"{head}; mIoU against the float predictions {100 * q['miou_vs_float']:.2f} "
            f"(loss {q['miou_loss_points']:.2f} points; no labels)")


__all__ = ["calibration_array", "compare", "draw", "fitted", "model_size", "open_source", "quality", "summary"]
