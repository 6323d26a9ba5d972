"""The model card of a fine-tuned student: parameters, GFLOPs, onnxruntime CPU latency and file size per precision.

What a robotics team asks before it ships a network: how large it is, how much compute a frame costs at the trained
size and at 480x640, how fast onnxruntime runs it on this CPU at batch 1, and how large the file is in float32,
float16 and int8. Every run's report carries the card of its reported student (`run_card`), and the export's JSON
the card of the exported student (`model_card`). Files are written to a temporary folder, removed afterwards.
"""
from __future__ import annotations

import importlib
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from crossmodal.deploy.export import (
    ExportError,
    SensorModel,
    build_sensor_model,
    check_frame_size,
    example_input,
    write_onnx,
)
from crossmodal.deploy.quantize import PRECISIONS, to_fp16, to_int8
from crossmodal.errors import UserError
from crossmodal.runtime import cpu_name

DEPLOY_SIZE = (480, 640)  # the camera size a card always states, beside the trained size
RUNS, WARMUP = 20, 3  # timed onnxruntime runs (their median is the latency) and untimed runs before them
CALIBRATION_FRAMES = 8  # unlabeled target frames a run's card calibrates int8 on
# the files a card measures: crossmodal-export --precision's, and int8 with --activations uint8, the form onnxruntime's
# x86 kernels run fastest (the default int8, symmetric, is TensorRT's and can be slower than fp32 on an x86 CPU)
CARD_FORMS = PRECISIONS + ("int8-uint8",)
INSTALL = 'pip install -e ".[deploy]"'
FLOPS_COUNTED = ("FLOPs = 2 x multiply-adds, as torch.utils.flop_counter.FlopCounterMode counts them on the "
                 "SensorModel forward at batch 1: convolutions, matrix products and attention; normalisation, "
                 "activations, pooling, resampling and the input encoding's elementwise operations are not counted")


def _stride_size(meta: Mapping[str, Any], size: Sequence[int]) -> tuple[int, int]:
    """`size` rounded up to multiples of the model's stride_multiple."""
    k = int(meta["stride_multiple"])
    return int(-(-int(size[0]) // k) * k), int(-(-int(size[1]) // k) * k)


def count_flops(model: SensorModel, meta: Mapping[str, Any], size: tuple[int, int]) -> int:
    """FLOPs of one forward of `model` on a sensor frame of `size` at batch 1, as FlopCounterMode counts them."""
    x = example_input(dict(meta), batch=1, size=size)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return int(counter.get_total_flops())


def _compute(model: SensorModel, meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    """GFLOPs at the trained size (when the metadata knows it) and at 480x640, both rounded up to the stride."""
    k = int(meta["stride_multiple"])
    sizes = [("trained size", meta["trained_size"])] if meta.get("trained_size") else []
    rows = []
    for what, size in sizes + [("camera size", DEPLOY_SIZE)]:
        h, w = _stride_size(meta, size)
        if (h, w) != tuple(size):
            what += f" {size[0]}x{size[1]} rounded up to multiples of {k}"
        flops = count_flops(model, meta, (h, w))
        rows.append({"size": [h, w], "what": what, "flops": flops, "gflops": round(flops / 1e9, 6)})
    return rows


def median_latency_ms(path: Path, x: np.ndarray, threads: int, runs: int, warmup: int) -> float:
    """Median wall time in ms of `runs` onnxruntime CPU runs of the model at `path` on `x`, after `warmup` runs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}
    for _ in range(warmup):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 4)


def _missing_packages() -> str | None:
    """'not measured: ...' naming onnx or onnxruntime when either cannot be imported; None when both can."""
    missing = []
    for name in ("onnx", "onnxruntime"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return f"not measured: {' and '.join(missing)} not installed ({INSTALL})" if missing else None


def _first_line(err: BaseException) -> str:
    """An exception as one short line: its message's first line, or its type when it has none."""
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def _said(err: BaseException) -> str:
    """Why a figure was not measured: a user error's own line, any other error's type and first line."""
    return _first_line(err) if isinstance(err, UserError) else f"{type(err).__name__}: {_first_line(err)}"


def _converters(calibration: np.ndarray | None) -> dict[str, Callable[[Path, Path], Any]]:
    """How each precision's file is made from the float32 ONNX file (quantize.to_fp16 / to_int8)."""

    def int8(activations: str) -> Callable[[Path, Path], Any]:
        def convert(src: Path, dst: Path) -> Any:
            if calibration is None:
                raise ExportError("no calibration frames given (int8 is calibrated on sensor frames)")
            return to_int8(src, dst, calibration, activations=activations)
        return convert

    return {"fp16": to_fp16, "int8": int8("int8"), "int8-uint8": int8("uint8")}


def _conversion(done: Mapping[str, Any]) -> dict[str, Any]:
    """What quantize.to_fp16 / to_int8 say they did, with the float32 parts named instead of their node counts."""
    said = {k: v for k, v in done.items() if not isinstance(v, Mapping)}
    return {**said, "float32_parts": list(done.get("float32_nodes", {}))}


def _precision_rows(fp32: Path, x: np.ndarray, calibration: np.ndarray | None, precisions: Sequence[str],
                    timing: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    """{precision: {"bytes", "latency_ms"}} or {precision: {"not_measured": reason}} for each precision asked for."""
    rows: dict[str, dict[str, Any]] = {}
    converters = _converters(calibration)
    for p in precisions:
        path = fp32.with_name(f"{p}.onnx")
        try:
            done = converters[p](fp32, path) if p != "fp32" else None
            rows[p] = {"bytes": path.stat().st_size, **({"conversion": _conversion(done)} if done else {})}
            rows[p]["latency_ms"] = median_latency_ms(path, x, **timing)
        except Exception as err:  # noqa: BLE001 - onnxruntime and its quantiser raise their own types: reported
            rows[p] = {**rows.get(p, {}), "not_measured": _said(err)}
    return rows


def _onnx_part(model: SensorModel, meta: Mapping[str, Any], calibration: np.ndarray | None,
               size: tuple[int, int], precisions: Sequence[str], timing: Mapping[str, int]) -> dict[str, Any]:
    """File size and latency per precision, with what the latency was measured on; or why nothing was measured."""
    missing = _missing_packages()
    if missing:
        return {"not_measured": missing}
    import onnxruntime as ort

    setting = {"runtime": f"onnxruntime {ort.__version__} CPUExecutionProvider", "cpu": cpu_name(),
               "logical_cpus": os.cpu_count(), "intra_op_num_threads": timing["threads"],
               "inter_op_num_threads": 1, "batch": 1, "size": list(size), "runs": timing["runs"],
               "warmup": timing["warmup"], "statistic": "median",
               "calibration_frames": 0 if calibration is None else int(len(calibration))}
    x = example_input(dict(meta), batch=1, size=size).numpy()
    with tempfile.TemporaryDirectory(prefix="crossmodal-card-") as tmp:
        fp32 = Path(tmp) / "fp32.onnx"
        try:
            with torch.no_grad():
                write_onnx(model, example_input(dict(meta)), fp32, dict(meta))
        except UserError as err:  # an operator ONNX cannot express (write_onnx says which); other errors are bugs
            return {"not_measured": f"not measured: {_said(err)}"}
        return {**setting, "precisions": _precision_rows(fp32, x, calibration, precisions, timing)}


def model_card(model: SensorModel, meta: Mapping[str, Any], *, calibration: np.ndarray | None = None,
               threads: int = 1, runs: int = RUNS, warmup: int = WARMUP,
               precisions: Sequence[str] = CARD_FORMS) -> dict[str, Any]:
    """The card of an exported-style student: parameters, GFLOPs, onnxruntime CPU latency and size per precision.

    `model` and `meta` are what crossmodal.deploy.export.build_sensor_model returns; `calibration` holds sensor frames
    (N, H, W[, C]) as the model takes them, for int8. Latency is at batch 1 and the trained size rounded up to the
    stride (480x640 when the metadata has no trained size): the median of `runs` runs after `warmup` runs on
    `threads` intra-op threads. Without onnx or onnxruntime the card gives parameters and GFLOPs and says why the
    rest is missing. A static-shape export's metadata counts as the dynamic model's: the card describes the student.
    """
    meta = {k: v for k, v in meta.items() if k != "static_shape"}
    unknown = [p for p in precisions if p not in CARD_FORMS]
    if unknown or not precisions:
        raise ExportError(f"precision '{unknown[0] if unknown else ''}' is not one of {', '.join(CARD_FORMS)}")
    if threads < 1 or runs < 1 or warmup < 0:
        raise ExportError(f"model card: threads {threads} and runs {runs} must be >= 1, warmup {warmup} >= 0")
    if calibration is not None:
        if calibration.ndim < 3 or len(calibration) == 0:
            raise ExportError(f"calibration frames of shape {calibration.shape}: expected (N, H, W[, C]), N >= 1")
        check_frame_size(dict(meta), int(calibration.shape[1]), int(calibration.shape[2]))
    start = time.perf_counter()
    size = _stride_size(meta, meta.get("trained_size") or DEPLOY_SIZE)
    card: dict[str, Any] = {
        "parameters": int(sum(p.numel() for p in model.segmenter.parameters())),
        "parameters_counted": "the segmenter's, backbone and head; the input encoding has none",
        "compute": _compute(model, meta), "flops_counted": FLOPS_COUNTED,
        "onnx": _onnx_part(model, meta, calibration, size, precisions,
                           {"threads": threads, "runs": runs, "warmup": warmup}),
    }
    card["wall_time_s"] = round(time.perf_counter() - start, 3)
    return card


def calibration_frames(path: Path, key: str, meta: Mapping[str, Any], count: int = CALIBRATION_FRAMES) -> np.ndarray:
    """The first `count` frames of `key` in the paired file at `path`, edge-padded up to the model's stride multiple.

    They are sensor arrays as stored, which is what the exported model takes.
    """
    from crossmodal.data.h5format import open_paired

    with open_paired(Path(path)) as f:
        frames = np.asarray(f[key][:count])
    h, w = _stride_size(meta, frames.shape[1:3])
    pad = [(0, 0), (0, h - frames.shape[1]), (0, w - frames.shape[2])] + [(0, 0)] * (frames.ndim - 3)
    return np.pad(frames, pad, mode="edge")


def export_calibration(run_dir: str | Path, meta: Mapping[str, Any]) -> np.ndarray | None:
    """The run's first unlabeled target frames for an export's card (as run_card uses); None when the file is gone."""
    from crossmodal.config import load_config
    from crossmodal.data.files import split_path

    cfg = load_config(Path(run_dir) / "config.yaml")
    try:
        return calibration_frames(split_path(cfg, "unlabeled"), cfg.data.target, meta)
    except (UserError, FileNotFoundError, KeyError):
        return None


def _reported_method(methods: Sequence[str], results: Mapping[str, Mapping[int, Any]], metric: str) -> str:
    """The method with the best mean validation `metric` over its seeds (never test); the first listed without one."""
    scores = {}
    for m in methods:
        values = [r.metrics.get(f"val_{metric}") for r in results.get(m, {}).values()]
        values = [float(v) for v in values if v is not None and np.isfinite(v)]
        if values:
            scores[m] = float(np.mean(values))
    return max(scores, key=lambda m: scores[m]) if scores else methods[0]


def run_card(run_dir: Path, cfg: Any, data: Any, results: Mapping[str, Mapping[int, Any]]) -> dict[str, Any]:
    """The model card of a run's reported student, or {"reason": one line} where the run has none.

    Every method of a run shares the student architecture, so one card per run: the fine-tuned student of the best
    method by the validation headline metric (mean over seeds) at its first seed, int8 calibrated on the first
    unlabeled target frames. Image-level tasks and students the exporter cannot wrap get a reason instead.
    """
    start = time.perf_counter()
    task = cfg.task_spec
    if not task.per_pixel:
        return {"reason": f"no model card: task '{cfg.task}' is image-level; the card describes the segmentation "
                          f"students crossmodal-export ships"}
    method = _reported_method(list(cfg.methods), results, task.metric)
    seeds = sorted(results.get(method, {})) or list(cfg.run_seeds)
    try:
        model, meta = build_sensor_model(run_dir, method, seeds[0])
        calibration = calibration_frames(data.unlabeled.path, cfg.data.target, meta)
        card = model_card(model, meta, calibration=calibration)
    except (UserError, FileNotFoundError) as err:
        return {"reason": f"no model card for {method} seed {seeds[0]}: {_first_line(err)}"}
    if "precisions" in card["onnx"]:
        card["onnx"]["calibration"] = f"the first {len(calibration)} unlabeled {cfg.data.target} frames of the run"
    chosen = (f"the best method by validation {task.headline} (mean over seeds)" if len(cfg.methods) > 1
              else "the run's only method")
    student = {"method": method, "seed": meta["seed"], "chosen": f"{chosen} at its first seed",
               "network": cfg.student.arch}
    return {"student": student, **card, "wall_time_s": round(time.perf_counter() - start, 3)}


def card_line(card: Mapping[str, Any]) -> str:
    """The card in one printed line: parameters, GFLOPs per size, and each precision's size and latency."""
    if "reason" in card:
        return str(card["reason"])
    compute = ", ".join(f"{c['gflops']:.3g} GFLOPs at {c['size'][0]}x{c['size'][1]}" for c in card["compute"])
    onnx = card["onnx"]
    if "precisions" not in onnx:
        return f"model card: {card['parameters']:,} parameters, {compute}; onnxruntime part {onnx['not_measured']}"
    rows = ", ".join(f"{p} {r['bytes'] / 2 ** 10:.0f} KiB {r['latency_ms']:.2f} ms" if "latency_ms" in r
                     else f"{p} {r['not_measured']}" for p, r in onnx["precisions"].items())
    return (f"model card: {card['parameters']:,} parameters, {compute}; onnxruntime CPU, batch 1 at "
            f"{onnx['size'][0]}x{onnx['size'][1]}, {onnx['intra_op_num_threads']} thread(s): {rows}")
