"""Run a trained student on new recordings: label PNGs, colour overlays and, with labels, metrics.

    crossmodal-predict --run runs/default --method crd_dense --input data/synthetic/test.h5 --out preds/
    crossmodal-predict --model depth_seg.onnx --input recordings/depth_pngs/ --scale 0.001 --out preds/

The metrics are the run report's. The model is a run's fine-tuned student, run in PyTorch, or a file written by
crossmodal-export: ONNX under onnxruntime, or TorchScript. Either way it takes the sensor array as the paired format
stores it, so the encoding cannot be wrong.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import textwrap
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import numpy as np
import torch

from crossmodal.colours import overlay
from crossmodal.data.labels import label_dtype, to_memory
from crossmodal.deploy.cli import add_student_options, command_parser
from crossmodal.deploy.export import (
    ExportError,
    build_sensor_model,
    check_frame_size,
    is_torchscript,
    read_metadata,
    require,
)
from crossmodal.deploy.frames import Frame, FrameSource, invalid_mask, open_frames
from crossmodal.deploy.ranges import RULE, RangeCheck, range_summary
from crossmodal.deploy.views import class_colours, classes_text, frame_panel, is_colour, legend, sensor_picture
from crossmodal.diskspace import check_output_dir
from crossmodal.errors import UserError
from crossmodal.metrics import ConfusionMatrix, segmentation_metrics

# sensor batch (N, H, W[, C]) -> class ids (N, H, W): uint8, or uint16 for more than 255 classes (label_dtype)
Predictor = Callable[[np.ndarray], np.ndarray]
OUTPUT_MARKER = "predict.json"  # every output folder has it; --overwrite replaces only folders that do
DEVICES = ("auto", "cpu", "cuda")


class PredictError(UserError):
    """Options that cannot work together, or an output folder that must not be replaced."""


# ---- the model: a run's checkpoint in PyTorch, or an exported file ----

def _torch_device(device: str) -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise PredictError("--device cuda: PyTorch sees no CUDA GPU here (use --device cpu or auto)")
    return torch.device("cuda" if device != "cpu" and torch.cuda.is_available() else "cpu")


def _torch_predictor(module: torch.nn.Module, dev: torch.device) -> Predictor:
    @torch.inference_mode()
    def run(x: np.ndarray) -> np.ndarray:
        logits = module(torch.from_numpy(x).to(dev))
        return logits.argmax(1).cpu().numpy().astype(label_dtype(logits.shape[1]))
    return run


def _onnx_predictor(path: Path, device: str) -> tuple[Predictor, str]:
    ort = require("onnxruntime")
    have = ort.get_available_providers()
    if device == "cuda" and "CUDAExecutionProvider" not in have:
        raise PredictError(f"--device cuda: this onnxruntime has no CUDAExecutionProvider (it has {', '.join(have)}); "
                           f"install onnxruntime-gpu or use --device cpu")
    providers = (["CUDAExecutionProvider"] if device != "cpu" and "CUDAExecutionProvider" in have else []) + [
        "CPUExecutionProvider"]
    session = ort.InferenceSession(str(path), providers=providers)
    name_in, name_out = session.get_inputs()[0].name, session.get_outputs()[0].name

    def run(x: np.ndarray) -> np.ndarray:
        logits = session.run([name_out], {name_in: x})[0]
        return logits.argmax(1).astype(label_dtype(logits.shape[1]))
    return run, f"onnxruntime {ort.__version__} ({session.get_providers()[0]})"


def open_model(run: str | None, method: str | None, seed: int | None, model: str | None,
               device: str) -> tuple[Predictor, dict[str, Any], str]:
    """(predict function, export metadata, what runs it) for --run/--method[/--seed] or --model."""
    if model is not None:
        if run is not None or method is not None or seed is not None:
            raise PredictError("give either --model FILE or --run RUN --method M [--seed N], not both")
        path = Path(model)
        meta = read_metadata(path)
        if is_torchscript(path):  # TorchScript archive
            dev = _torch_device(device)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated in favour of torch.export
                module = torch.jit.load(str(path), map_location=dev).eval()
            return _torch_predictor(module, dev), meta, f"TorchScript {path} on {dev}"
        fn, runner = _onnx_predictor(path, device)
        return fn, meta, f"ONNX {path} under {runner}"
    if run is None or method is None:
        raise PredictError("give --model FILE (from crossmodal-export) or --run RUN --method M [--seed N]")
    module, meta = build_sensor_model(run, method, seed)
    dev = _torch_device(device)
    module.to(dev)
    return _torch_predictor(module, dev), meta, f"PyTorch {meta['checkpoint']} of {run} on {dev}"


# ---- the outputs ----

@dataclass(frozen=True)
class Outputs:
    """What is written per frame besides the label PNG: overlays at `alpha` opacity, panels, and the ignore mask."""

    overlays: bool = True
    alpha: float = 0.5
    panels: bool = False
    mask_invalid: bool = False


def static_shape(meta: dict[str, Any]) -> tuple[int, int, int] | None:
    """(batch, height, width) of a model exported with --static-shape; None for one that takes any size."""
    fixed = meta.get("static_shape")
    return None if not fixed else (int(fixed["batch"]), int(fixed["height"]), int(fixed["width"]))


def _write_png(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")


def _check_out(out: Path, overwrite: bool, source_path: Path) -> None:
    """Refuse an existing output unless --overwrite and it is an earlier prediction output; never inside the input."""
    check_output_dir(out, "--out")  # a folder (or can be made one) this user can write, with room on its disk
    if source_path.is_dir() and out.resolve().is_relative_to(source_path.resolve()):
        raise PredictError(f"--out {out} is inside the input folder {source_path}; its PNGs would be read as frames "
                           f"next time: choose a folder outside it")
    if not out.exists():
        return
    if not overwrite:
        raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
    if not out.is_dir() or (any(out.iterdir()) and not (out / OUTPUT_MARKER).is_file()):
        raise PredictError(f"--overwrite replaces only an earlier crossmodal-predict output (a folder with "
                           f"{OUTPUT_MARKER}); {out} is not one, so it is left as it is")


def _commit(staging: Path, out: Path) -> None:
    """Move the finished staging folder to `out`, replacing an earlier output only once the new one is complete."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def _batches(source: FrameSource, batch_size: int) -> Iterator[list[Frame]]:
    """Consecutive frames of one size, at most batch_size at a time; the next batch is read while this one runs."""
    groups: list[list[int]] = []
    for i, size in enumerate(source.sizes):
        if groups and len(groups[-1]) < batch_size and source.sizes[groups[-1][0]] == size:
            groups[-1].append(i)
        else:
            groups.append([i])
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending = [pool.submit(source.read, i) for i in groups[0]] if groups else []
        for k in range(len(groups)):
            frames = [f.result() for f in pending]
            pending = [pool.submit(source.read, i) for i in groups[k + 1]] if k + 1 < len(groups) else []
            yield frames


def _label_batches(predict_fn: Predictor, meta: dict[str, Any], source: FrameSource, batch_size: int,
                   pad: bool) -> Iterator[list[tuple[Frame, np.ndarray]]]:
    """Each batch's frames with their predicted class ids; the frames are read ahead, a batch has one size.

    With `pad`, each batch is padded at the bottom and right with 0 to the model's stride multiple (a static-shape
    model's height and width) and the predictions cropped back. A static-shape model gets batches of exactly its
    batch size: a short last batch is filled with copies of its last frame, whose predictions are dropped.
    """
    fixed = static_shape(meta)
    for frames in _batches(source, batch_size):
        batch = np.stack([f.sensor for f in frames])
        n, h, w = batch.shape[:3]
        if pad:
            k = int(meta["stride_multiple"])
            hh, ww = fixed[1:] if fixed else (h + -h % k, w + -w % k)
            batch = np.pad(batch, [(0, 0), (0, hh - h), (0, ww - w)] + [(0, 0)] * (batch.ndim - 3))
        if fixed and n < fixed[0]:
            batch = np.concatenate([batch, np.repeat(batch[-1:], fixed[0] - n, axis=0)])
        yield list(zip(frames, predict_fn(batch)[:n, :h, :w]))


def _write_frame(staging: Path, meta: dict[str, Any], frame: Frame, pred: np.ndarray, views: Outputs) -> None:
    """One frame's label PNG and, as asked, its overlay and panel."""
    n = len(meta["class_names"])
    ignore = int(np.iinfo(label_dtype(n)).max)
    if views.mask_invalid:
        pred = np.where(invalid_mask(frame.sensor), pred.dtype.type(ignore), pred)
    _write_png(staging / f"{frame.name}.png", pred)
    if views.overlays or views.panels:
        picture = sensor_picture(frame.sensor, meta)
    if views.overlays:
        _write_png(staging / f"{frame.name}_overlay.png", overlay(picture, pred, n, alpha=views.alpha))
    if views.panels:
        shown = frame.sensor if is_colour(frame.sensor) else picture
        _write_png(staging / f"{frame.name}_panel.png", frame_panel(shown, pred, frame.label, meta, ignore))


def _write_labels(predict_fn: Predictor, meta: dict[str, Any], source: FrameSource, staging: Path, batch_size: int,
                  views: Outputs, progress: bool, pad: bool) -> tuple[ConfusionMatrix | None, RangeCheck]:
    """The label PNGs (overlays, panels) of every frame in `staging`; the confusion matrix when the frames have
    labels, and the frames whose readings fall far outside the training range."""
    from tqdm import tqdm

    n = len(meta["class_names"])
    confusion = ConfusionMatrix(n) if source.has_labels else None  # labels to_memory: one ignore index
    ranges = RangeCheck(meta.get("reading_range") if meta["input"]["dtype"] != "uint8" else None)
    with tqdm(total=len(source), unit="frame", desc="predict", disable=not progress, file=sys.stderr) as bar:
        for batch in _label_batches(predict_fn, meta, source, batch_size, pad):
            for frame, pred in batch:
                if confusion is not None:
                    confusion.update(torch.from_numpy(pred.astype(np.int64)),
                                     torch.from_numpy(to_memory(frame.label).astype(np.int64)))
                ranges.add(frame.name, frame.sensor)
                _write_frame(staging, meta, frame, pred, views)
            bar.update(len(batch))
    return confusion, ranges


def _write_reports(staging: Path, meta: dict[str, Any], source: FrameSource, confusion: ConfusionMatrix | None,
                   report: dict[str, Any]) -> dict[str, Any] | None:
    """classes.txt, legend.png, predict.json and, when the labels have any pixel to score, metrics.json; returns the
    metrics."""
    names = meta["class_names"]
    png = label_dtype(len(names))
    ignore = int(np.iinfo(png).max)
    labelled = confusion is not None and int(confusion.matrix.sum()) > 0
    metrics = segmentation_metrics(confusion.matrix, names) if labelled else None
    (staging / "classes.txt").write_text(classes_text(names))
    _write_png(staging / "legend.png", legend(names, "ignored / no reading (panels)"))
    report = dict(report, labels_png=f"{png} class ids (classes.txt line i names id i); {ignore} = "
                                     + ("no reading in the input" if report["mask_invalid"] else "not used"),
                  class_colours=class_colours(names),
                  colours="classes.txt line i: 'name<TAB>#rrggbb' of class id i, the colour of the overlays, panels "
                          "and legend.png (crossmodal.colours.class_palette); black = ignored",
                  metrics="metrics.json" if labelled else (
                      f"not computed: every label pixel is {ignore} (ignore)" if confusion is not None else None),
                  metadata=meta)
    if metrics is not None:
        (staging / "metrics.json").write_text(json.dumps({
            "input": source.description, "model": report.get("model"), "frames": len(source), "metrics": metrics,
            "definitions": "crossmodal.metrics, as in the run's report: one confusion matrix over every labelled "
                           "pixel (label 255 = ignore in uint8 labels, 65535 in uint16 ones) against the "
                           "arg-max of the logits (before --mask-invalid)"},
            indent=2) + "\n")
    (staging / OUTPUT_MARKER).write_text(json.dumps(report, indent=2) + "\n")
    return metrics


def predict(predict_fn: Predictor, meta: dict[str, Any], source: FrameSource, out: Path, *, batch_size: int = 8,
            mask_invalid: bool = False, overlays: bool = True, progress: bool = True, pad: bool = False,
            alpha: float = 0.5, panels: bool = False, info: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Predict every frame into `out`, written whole or not at all; returns the metrics when the frames have labels.

    `out` gets the label PNGs, overlays (class colours at `alpha` opacity) and, with `panels`, side-by-side panels;
    classes.txt, legend.png, predict.json (`info`, what ran, the frames far outside the training range) and, with
    labels, metrics.json; all go to a staging folder that becomes `out` only when complete. With `pad`, frames are
    padded at the bottom and right with 0 (no reading) to the model's stride multiple and the predictions cropped
    back. A static-shape model runs batches of its own batch size, whatever `batch_size` says.
    """
    if not 0.0 <= alpha <= 1.0:
        raise PredictError(f"--alpha {alpha}: expected an opacity from 0 (the picture only) to 1 (the colours only)")
    fixed = static_shape(meta)
    batch_size = fixed[0] if fixed else batch_size
    start = time.perf_counter()
    staging = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        views = Outputs(overlays, alpha, panels, mask_invalid)
        confusion, ranges = _write_labels(predict_fn, meta, source, staging, batch_size, views, progress, pad)
        report = dict(info or {}, frames=len(source), input=source.description, mask_invalid=mask_invalid,
                      batch_size=batch_size, alpha=alpha, panels=panels, out_of_range=ranges.report(),
                      seconds=round(time.perf_counter() - start, 3))
        metrics = _write_reports(staging, meta, source, confusion, report)
        _commit(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return metrics


EPILOG = """examples:
  crossmodal-predict --run runs/default --method crd_dense --input data/synthetic/test.h5 --out preds/
  crossmodal-predict --model depth_seg.onnx --input recordings/depth_pngs/ --scale 0.001 --out preds/
  crossmodal-predict --model depth_seg.onnx --input recordings/kinect/ --glob '*depth*.png' --scale 0.001 \\
      --panels --alpha 0.6 --out preds/

Writes <out>/<frame>.png (8-bit class ids, 255 = no reading with --mask-invalid; 16-bit PNGs with
65535 = no reading when the model has more than 255 classes), <out>/<frame>_overlay.png (the class
colours over a grey picture of the input at --alpha opacity), <out>/<frame>_panel.png with --panels,
classes.txt (line i: 'name<TAB>#rrggbb', the name and colour of class id i), legend.png (each
class's colour swatch and name), predict.json (what ran, class_colours, out_of_range) and, when the
input has labels, metrics.json.

Class colours: none grey (CIE Lab chroma >= 30), at least 20 CIEDE2000 apart up to 18 classes and
14 apart at 40 (crossmodal.colours.class_palette); black marks ignored pixels.

""" + textwrap.fill(f"Out of range: when the model's metadata keeps the training data's reading range (reading_range), "
                    f"{RULE}. Such frames are still predicted; they are counted and named in predict.json and the "
                    f"last line printed; without a reading_range predict.json says 'unknown'.", 100)


def _add_view_options(p: argparse.ArgumentParser) -> None:
    """--no-overlays, --alpha, --panels and --glob: what is written and which files are read."""
    p.add_argument("--no-overlays", action="store_true", help="write no overlays (the label PNGs, and panels when "
                   "asked)")
    p.add_argument("--alpha", type=float, default=0.5, help="opacity of the class colours in the overlays, from 0 "
                   "(the grey input picture only) to 1 (the colours only); default 0.5")
    p.add_argument("--panels", action="store_true", help="also write <frame>_panel.png: the input picture, the "
                   "prediction's colours and, when the input has labels, the labels' colours side by side, titled "
                   "(ignored pixels black)")
    p.add_argument("--glob", metavar="PATTERN", help="with a folder --input: read only the files whose name matches "
                   "PATTERN (subfolders included; case-sensitive; a PATTERN with '/' matches the path below the "
                   "folder), e.g. '*depth*.png' in a folder of colour and depth files")


def _parser() -> argparse.ArgumentParser:
    """crossmodal-predict's options."""
    p = command_parser("crossmodal-predict", main.__doc__, EPILOG)
    add_student_options(p, required=False, run="run folder written by run_transfer.py (runs the checkpoint in PyTorch)",
                        method="with --run: the method whose fine-tuned student to run, e.g. crd_dense",
                        seed="with --run: the student seed (needed when the run has several)")
    p.add_argument("--model",
                   help="a file written by crossmodal-export (.onnx runs under onnxruntime, .pt TorchScript)")
    p.add_argument("--input", required=True, type=Path,
                   help="paired HDF5 split, folder of sensor files (PNG 8/16-bit, TIFF, .npy; subfolders too) or one "
                        "file")
    p.add_argument("--labels", type=Path, help="folder of class-id label images matching the input files by name "
                   "(for metrics.json); HDF5 splits use their own 'label'")
    p.add_argument("--scale", type=float, help="multiply file values by this to get the stored units, as "
                   "data_tools.pairs --scale does (depth millimetres: 0.001)")
    p.add_argument("--nan-as-zero", action="store_true",
                   help="read NaN/inf file values as 0 (no reading) instead of failing")
    p.add_argument("--mask-invalid", action="store_true", help="write the ignore value where the input has no reading "
                   "(0): 255, or 65535 in the 16-bit PNGs of models with more than 255 classes")
    _add_view_options(p)
    p.add_argument("--pad", action="store_true", help="frames whose height or width is not a multiple of the model's "
                   "stride: pad them with 0 (no reading) at the bottom and right, crop the predictions back "
                   "(default: refuse them); a model exported with --static-shape HxW: pad frames up to HxW")
    p.add_argument("--batch-size", type=int, default=None, help="frames per forward pass (default 8; frames of one "
                   "size); a model exported with --static-shape runs its own batch size")
    p.add_argument("--device", choices=DEVICES, default="auto", help="auto: a CUDA GPU when one is usable")
    p.add_argument("--out", required=True, type=Path, help="output folder (must not exist unless --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier crossmodal-predict output folder")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def size_advice(meta: dict[str, Any], size: tuple[int, int], pad: bool) -> str | None:
    """What is wrong with frames of `size` and what to do, or None when the model takes them (with --pad or not)."""
    fixed = static_shape(meta)
    if fixed:
        b, hh, ww = fixed
        if size == (hh, ww):
            return None
        if size[0] <= hh and size[1] <= ww:
            return None if pad else (f"frames of {size[0]}x{size[1]} do not fit this model: it was exported with "
                                     f"--static-shape {hh}x{ww} and takes exactly {hh}x{ww}; pass --pad to pad them "
                                     f"with 0 (no reading) to {hh}x{ww}")
        return (f"frames of {size[0]}x{size[1]} do not fit this model: it was exported with --static-shape {hh}x{ww} "
                f"and takes exactly {hh}x{ww}; crop or resize them to {hh}x{ww}, or export the model with "
                f"--static-shape {size[0]}x{size[1]} or without it")
    if pad:
        return None
    try:
        check_frame_size(meta, *size)
    except ExportError as err:
        return f"{err}, or pass --pad to pad them with 0 (no reading) at the bottom and right"
    return None


def _check_frames(args: argparse.Namespace, meta: dict[str, Any], source: FrameSource) -> None:
    """Refuse frames whose size the model cannot take (saying what to do) and frame names an output would overwrite."""
    for size in sorted(set(source.sizes)):
        advice = size_advice(meta, size, args.pad)
        if advice:
            first = source.names[source.sizes.index(size)]
            raise ExportError(f"{args.input}: frame '{first}': {advice}")
    names = set(source.names)
    for suffix, wanted, option in (("_overlay", not args.no_overlays, "--no-overlays"),
                                   ("_panel", args.panels, "no --panels")):
        clash = sorted(n for n in names if n.endswith(suffix) and n.removesuffix(suffix) in names)
        if clash and wanted:
            raise PredictError(f"frames {clash[:3]} would be overwritten by the {suffix[1:]}s of "
                               f"{[c.removesuffix(suffix) for c in clash[:3]]}: pass {option}")
    if "legend" in names:
        raise PredictError(f"{args.input}: frame 'legend' would be overwritten by legend.png (the colour legend): "
                           f"rename it or use --glob to leave it out")


def main(argv: list[str] | None = None) -> int:
    """crossmodal-predict: a run's student or an exported model on an HDF5 split, a folder of sensor files or a file."""
    args = _parser().parse_args(argv)
    source = None
    try:
        if args.batch_size is not None and args.batch_size < 1:
            raise PredictError(f"--batch-size {args.batch_size}: expected at least 1")
        if not 0.0 <= args.alpha <= 1.0:
            raise PredictError(f"--alpha {args.alpha}: expected an opacity from 0 (the picture only) to 1 (the "
                               f"colours only)")
        predict_fn, meta, runner = open_model(args.run, args.method, args.seed, args.model, args.device)
        batch_size = _batch_size(args.batch_size, meta)
        if args.mask_invalid and meta["input"]["dtype"] == "uint8":
            raise PredictError(f"--mask-invalid: the model's input ({meta['modality']}, uint8) has no 'no reading' "
                               f"value")
        source = open_frames(args.input, meta, scale=args.scale, nan_as_zero=args.nan_as_zero, labels=args.labels,
                             glob=args.glob)
        _check_frames(args, meta, source)
        _check_out(args.out, args.overwrite, args.input)
        metrics = predict(predict_fn, meta, source, args.out, batch_size=batch_size, mask_invalid=args.mask_invalid,
                          overlays=not args.no_overlays, progress=not args.quiet, pad=args.pad, alpha=args.alpha,
                          panels=args.panels, info={"model": runner, "command_input": str(args.input),
                                                    "glob": args.glob, "scale": args.scale, "pad": args.pad})
    except (UserError, FileNotFoundError, FileExistsError, NotADirectoryError, PermissionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        if source is not None:
            source.close()
    print(f"wrote {len(source)} label PNGs to {args.out} ({runner})")
    if metrics is not None:
        print(f"mIoU {metrics['miou']:.4f}  pixel acc {metrics['pixel_acc']:.4f}  mean acc {metrics['mean_acc']:.4f} "
              f"-> {args.out / 'metrics.json'}")
    line = range_summary(json.loads((args.out / OUTPUT_MARKER).read_text()).get("out_of_range"))
    if line:
        print(line)
    return 0


def _batch_size(asked: int | None, meta: dict[str, Any]) -> int:
    """--batch-size, or 8; a static-shape model's own batch size (refusing another one asked for)."""
    fixed = static_shape(meta)
    if fixed and asked is not None and asked != fixed[0]:
        raise PredictError(f"--batch-size {asked}: this model was exported with --static-shape and a fixed batch of "
                           f"{fixed[0]}: drop --batch-size (predict fills a short last batch itself)")
    return fixed[0] if fixed else (asked or 8)


if __name__ == "__main__":
    sys.exit(main())
