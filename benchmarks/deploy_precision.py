"""The precision rows of benchmarks/deploy.py: the student's fp32, fp16 and int8 ONNX files side by side.

- Files: the fp32 file benchmarks/deploy.py exported, and from it the fp16 and int8 files that
  `crossmodal-export --precision` writes (crossmodal.deploy.quantize.to_fp16 / to_int8; int8 calibrated on the
  frames the caller passes: the run's unlabeled target frames with --run, else depth frames of the trained size):
  `int8` with symmetric int8 activations (the default, TensorRT's form), `int8-uint8` with `--activations uint8`.
- Latency: one onnxruntime session per precision, the same provider, threads and session options; per case the
  precisions alternate call by call (fp32, fp16, int8, fp32, ...) on the same input; medians; speed-up = fp32 median
  / the precision's median.
- Against fp32, per size on the same QUALITY_FRAMES frames: the share of pixels whose arg-max agrees with the fp32
  model, and the mIoU of the precision's labels scored against fp32's labels (crossmodal.metrics). With --run the
  frames are the run's first test frames (resized with nearest neighbour to sizes other than the trained one), and
  at the trained size each precision's test mIoU against the labels is given too: the figure `crossmodal-export`
  checks.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

QUALITY_FRAMES = 16  # frames per size the agreement and test mIoU are measured on (the run's first test frames)
PRECISIONS = ("fp32", "fp16", "int8", "int8-uint8")  # int8-uint8: --activations uint8 (onnxruntime x86's form)


def precision_files(fp32: Path, calibration: np.ndarray, wanted: list[str]) -> dict[str, dict[str, Any]]:
    """{precision: {path, bytes, build_s, info}} for fp32 (the given file) and the wanted lower precisions."""
    from crossmodal.deploy.quantize import to_fp16, to_int8

    files: dict[str, dict[str, Any]] = {"fp32": {"path": fp32, "bytes": fp32.stat().st_size, "build_s": 0.0,
                                                 "info": {}}}
    for prec in wanted:
        if prec == "fp32":
            continue
        path = fp32.with_name(f"{fp32.stem}.{prec}.onnx")
        t0 = time.perf_counter()
        if prec == "fp16":
            info = to_fp16(fp32, path)
        else:
            info = to_int8(fp32, path, calibration, activations="uint8" if prec == "int8-uint8" else "int8")
        files[prec] = {"path": path, "bytes": path.stat().st_size, "build_s": time.perf_counter() - t0,
                       "info": info}
    return files


def sessions(files: dict[str, dict[str, Any]], provider: str, threads: int
             ) -> tuple[dict[str, Callable[[np.ndarray], np.ndarray]], dict[str, str]]:
    """One onnxruntime call per precision on `provider`, and {precision: why left out} for those it cannot run."""
    import onnxruntime as ort

    calls: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    skipped: dict[str, str] = {}
    for prec, f in files.items():
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            sess = ort.InferenceSession(str(f["path"]), so, providers=list(dict.fromkeys([provider,
                                                                                       "CPUExecutionProvider"])))
        except Exception as err:  # noqa: BLE001 - onnxruntime raises its own types (e.g. a kernel it lacks)
            skipped[prec] = f"onnxruntime could not load it: {str(err).strip().splitlines()[0][:200]}"
            continue
        if sess.get_providers()[0] != provider:
            skipped[prec] = f"the session did not take {provider} (it runs on {', '.join(sess.get_providers())})"
            continue
        name = sess.get_inputs()[0].name
        calls[prec] = (lambda s, n: (lambda x: s.run(None, {n: x})[0]))(sess, name)
    return calls, skipped


def miou_against(pred: np.ndarray, reference: np.ndarray, num_classes: int) -> float:
    """mIoU of class ids `pred` scored against `reference` (crossmodal.metrics; classes absent from both left out)."""
    import torch

    from crossmodal.metrics import ConfusionMatrix, segmentation_metrics

    cm = ConfusionMatrix(num_classes)
    cm.update(torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(reference.astype(np.int64)))
    return float(segmentation_metrics(cm.matrix, [str(i) for i in range(num_classes)])["miou"])


def agreement(calls: dict[str, Callable[[np.ndarray], np.ndarray]], x: np.ndarray,
              labels: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """Per precision on the frames `x`: arg-max agreement and mIoU against fp32's labels, test mIoU with `labels`."""
    logits = {p: f(x) for p, f in calls.items()}
    k = logits["fp32"].shape[1]
    ref = logits["fp32"].argmax(1)
    out = {}
    for p, y in logits.items():
        pred = y.argmax(1)
        out[p] = {"argmax_agree": float((pred == ref).mean()), "miou_vs_fp32": miou_against(pred, ref, k)}
        if labels is not None:
            out[p]["test_miou"] = miou_against(pred, labels, k)
    return out


def alternating_times(calls: dict[str, Callable[[Any], Any]], x: Any, repeats: int, warmup: int
                      ) -> dict[str, list[float]]:
    """Seconds per call of each function on `x`: `warmup` untimed rounds, then `repeats` rounds calling each in turn.

    Alternating call by call makes a busy neighbour slow every function alike; benchmarks/deploy.py's backends and
    the precisions here are timed this way.
    """
    for _ in range(warmup):
        for f in calls.values():
            f(x)
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(repeats):
        for k, f in calls.items():
            t0 = time.perf_counter()
            f(x)
            times[k].append(time.perf_counter() - t0)
    return times


def bench_precisions(calls: dict[str, Callable[[np.ndarray], np.ndarray]], x: np.ndarray, repeats: int,
                     warmup: int, log: Callable[[str], None] = print) -> dict[str, Any]:
    """One timing case: warm-up, then `repeats` rounds of alternating calls of each precision on the same input."""
    n, h, w = x.shape[:3]
    out: dict[str, Any] = {"size": f"{h}x{w}", "height": h, "width": w, "batch": n, "repeats": repeats,
                           "warmup": warmup, "precisions": {p: {} for p in calls}}
    times = alternating_times(calls, x, repeats, warmup)
    base = statistics.median(times["fp32"])
    for p, ts in times.items():
        med = statistics.median(ts)
        out["precisions"][p].update(median_s=med, min_s=min(ts), images_per_s=n / med, speedup_vs_fp32=base / med,
                                    times_s=ts)
    log(f"  {h}x{w} batch {n:2d}: " + ", ".join(f"{p} {1e3 * r['median_s']:.2f} ms"
                                               for p, r in out["precisions"].items()))
    return out


def resize_nearest(frames: np.ndarray, h: int, w: int) -> np.ndarray:
    """Frames (N, H, W) resized to (N, h, w) by nearest neighbour, so holes (0) stay holes."""
    import cv2

    if frames.shape[1:3] == (h, w):
        return frames
    return np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_NEAREST) for f in frames])


def case_input(test: tuple[np.ndarray, np.ndarray] | None, batch: int, h: int, w: int, depth_batch: Callable
               ) -> tuple[np.ndarray, np.ndarray | None]:
    """The input of one case and its labels: the run's first test frames (labels only at their own size) or depths."""
    if test is None:
        return depth_batch(batch, h, w), None
    frames, labels = test
    idx = np.arange(batch) % len(frames)
    same = frames.shape[1:3] == (h, w)
    return resize_nearest(frames[idx], h, w), (labels[idx] if same else None)


def run_test_frames(run_dir: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The run's test split: target frames (N, H, W) float32 and their labels in memory form; None without it."""
    import h5py

    from crossmodal.config import load_config
    from crossmodal.data.files import split_path
    from crossmodal.data.labels import to_memory

    cfg = load_config(Path(run_dir) / "config.yaml")
    path = split_path(cfg, "test")
    if not Path(path).is_file():
        return None
    with h5py.File(path, "r") as f:
        if "label" not in f or cfg.data.target not in f:
            return None
        return np.asarray(f[cfg.data.target][:16], np.float32), to_memory(np.asarray(f["label"][:16]))


def section_lines(res: dict[str, Any]) -> list[str]:
    """The precision tables of the markdown section (agreement per size, latency per case) and what the files hold."""
    p = res["precision"]
    files = p["files"]
    lines = ["", "### Precision (fp32, fp16, int8 under onnxruntime)", "",
             f"The files `crossmodal-export --precision` writes (crossmodal.deploy.quantize), one onnxruntime "
             f"session each on {p['provider']} ({p['threads']} thread(s), the options above). int8 calibrated on "
             f"{p['calibration']}; `int8` has symmetric int8 activations (TensorRT's form, the default), "
             f"`int8-uint8` is `--activations uint8`. File sizes: "
             + ", ".join(f"{k} {v['bytes'] / 2 ** 10:.0f} KiB" for k, v in files.items()) + ".", "",
             f"Against fp32 on {p['input']} ({p['quality_frames']} frames per size):", "",
             "| size | precision | arg-max agrees with fp32 | mIoU vs fp32 labels | test mIoU |",
             "|---|---|---|---|---|"]
    for q in p["quality"]:
        for prec, r in q["precisions"].items():
            test = f"{100 * r['test_miou']:.1f}" if "test_miou" in r else "-"
            lines.append(f"| {q['size']} | {prec} | {100 * r['argmax_agree']:.2f} % | {100 * r['miou_vs_fp32']:.1f} | "
                         f"{test} |")
    lines += ["", "Latency (the precisions alternate call by call on the same input; medians):", "",
              "| size | batch | precision | ms | images/s | speed-up vs fp32 |", "|---|---|---|---|---|---|"]
    for c in p["cases"]:
        for prec, r in c["precisions"].items():
            lines.append(f"| {c['size']} | {c['batch']} | {prec} | {1e3 * r['median_s']:.2f} | "
                         f"{r['images_per_s']:.1f} | {r['speedup_vs_fp32']:.2f}x |")
    for prec, why in p["skipped"].items():
        lines.append(f"\n{prec} left out: {why}.")
    return lines


def calibration(run: str, meta: dict[str, Any], depth_batch: Callable, frames: int = 32) -> tuple[np.ndarray, str]:
    """int8 calibration frames and how they were chosen: the run's own default (as crossmodal-export) or depths."""
    if run:  # as crossmodal-export --precision int8 draws them: the run's unlabeled split, the student's seed
        from crossmodal.config import load_config
        from crossmodal.data.files import split_path
        from crossmodal.deploy.quality import calibration_array, draw, open_source

        cfg = load_config(Path(run) / "config.yaml")
        source = open_source(split_path(cfg, "unlabeled"), meta, "the run's unlabeled split")
        try:
            indices, seed = draw(source, frames, int(meta["seed"]))
            how = f"{len(indices)} frames of the run's unlabeled split (seed {seed}), as crossmodal-export draws them"
            return calibration_array(source, indices, meta), how
        finally:
            source.close()
    h, w = meta["trained_size"]
    return depth_batch(frames, h, w, seed=1), f"{frames} random depth frames of {h}x{w} (seed 1)"


def run_precisions(res: dict[str, Any], args: Any, meta: dict[str, Any], onnx_path: Path, sizes: list[tuple[int, int]],
                   threads: int, depth_batch: Callable, repeats_for: Callable) -> None:
    """Build the lower-precision files beside `onnx_path` and time every (size, batch) case; results in res."""
    wanted = ["fp32"] + [p for p in args.precisions.split(",") if p and p != "fp32"]
    bad = [p for p in wanted if p not in PRECISIONS]
    if bad:
        raise SystemExit(f"error: --precisions {args.precisions}: unknown {', '.join(bad)}; choose from "
                         f"{', '.join(PRECISIONS)}")
    cal, how = calibration(args.run, meta, depth_batch)
    files = precision_files(onnx_path, cal, wanted)
    provider = "CUDAExecutionProvider" if args.device == "cuda" else "CPUExecutionProvider"
    calls, skipped = sessions(files, provider, threads)
    test = run_test_frames(args.run) if args.run else None
    out: dict[str, Any] = {
        "provider": provider, "threads": threads, "calibration": how, "skipped": skipped, "cases": [],
        "input": "the run's test frames, resized by nearest neighbour where the size differs" if test is not None
        else "random depths 0.5-10 m, 10 % holes: with random weights, agreement is a rough check only",
        "files": {k: {"bytes": v["bytes"], "build_s": v["build_s"], "info": v["info"]} for k, v in files.items()}}
    res["precision"] = out
    if "fp32" not in calls:
        skipped.setdefault("all", f"fp32 does not run on {provider}")
        return
    print(f"precisions ({', '.join(calls)}) on {provider}:", flush=True)
    out["quality"], out["quality_frames"] = [], QUALITY_FRAMES
    for h, w in sizes:
        x, labels = case_input(test, QUALITY_FRAMES, h, w, depth_batch)
        out["quality"].append({"size": f"{h}x{w}", "precisions": agreement(calls, x, labels)})
        for b in res["settings"]["batches"]:
            x, _ = case_input(test, b, h, w, depth_batch)
            out["cases"].append(bench_precisions(calls, x, repeats_for(args, (h, w), b), res["settings"]["warmup"],
                                                 log=lambda s: print(s, flush=True)))


GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


def gpu_suite_row(tmp: Path, size: tuple[int, int], batch: int, repeats: int, warmup: int,
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    """The GPU suite's deploy part: the default student's fp32/fp16/int8 files on onnxruntime's GPU providers.

    Each provider this onnxruntime has (the onnxruntime-gpu package; TensorRT's own libraries for its provider) times
    the three files at `size`, batch 1 and `batch`; a provider it lacks is named with the reason, never faked.
    """
    import onnxruntime as ort
    from deploy import config_model, depth_batch, export_onnx

    model, meta = config_model("configs/default.yaml")
    fp32 = tmp / "student.onnx"
    export_onnx(model, meta, fp32)
    h, w = meta["trained_size"]
    files = precision_files(fp32, depth_batch(16, h, w, seed=1), ["fp32", "fp16", "int8"])  # TensorRT's int8 form
    row: dict[str, Any] = {"onnxruntime": ort.__version__, "available": ort.get_available_providers(),
                           "files": {k: v["bytes"] for k, v in files.items()}, "providers": {}}
    for provider in GPU_PROVIDERS:
        if provider not in row["available"]:
            row["providers"][provider] = {"skipped": f"onnxruntime {ort.__version__} here has no {provider} "
                                                     f"(it has {', '.join(row['available'])}); the GPU rows need "
                                                     "the onnxruntime-gpu package"}
            log(f"  {provider}: left out ({row['providers'][provider]['skipped']})")
            continue
        calls, skipped = sessions(files, provider, 1)
        cases = []
        if "fp32" in calls:
            for b in dict.fromkeys((1, batch)):
                x = depth_batch(b, *size)
                case = bench_precisions(calls, x, repeats, warmup, log)
                for prec, r in agreement(calls, x).items():
                    case["precisions"][prec].update(r)
                cases.append(case)
        row["providers"][provider] = {"skipped_precisions": skipped, "cases": cases}
    return row


def gpu_suite_lines(row: dict[str, Any]) -> list[str]:
    """The GPU suite's deploy table: per provider, size and batch, each precision's latency and agreement."""
    lines = ["#### Deployed precisions on onnxruntime's GPU providers", "",
             "configs/default.yaml's student (random weights), its fp32 ONNX and the fp16 / int8 files "
             "`crossmodal-export --precision` makes from it (" + ", ".join(
                 f"{k} {v / 2 ** 10:.0f} KiB" for k, v in row["files"].items()) + f"); onnxruntime "
             f"{row['onnxruntime']}; precisions alternating call by call, medians; agreement = arg-max against fp32.",
             "", "| provider | size | batch | precision | ms | images/s | speed-up vs fp32 | agrees with fp32 |",
             "|---|---|---|---|---|---|---|---|"]
    notes = []
    for provider, r in row["providers"].items():
        if "skipped" in r:
            notes.append(f"{provider} left out: {r['skipped']}.")
            continue
        for c in r["cases"]:
            for prec, p in c["precisions"].items():
                lines.append(f"| {provider} | {c['size']} | {c['batch']} | {prec} | {1e3 * p['median_s']:.2f} | "
                             f"{p['images_per_s']:.1f} | {p['speedup_vs_fp32']:.2f}x | "
                             f"{100 * p['argmax_agree']:.2f} % |")
        notes += [f"{provider}, {prec} left out: {why}." for prec, why in r["skipped_precisions"].items()]
    return lines + ([""] + notes if notes else [])
