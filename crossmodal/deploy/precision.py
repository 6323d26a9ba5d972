"""crossmodal-export's --precision and --static-shape: the options, their checks, and the quantised file.

An int8 or fp16 student is made from the float ONNX file the export has just written and checked, measured against
it (crossmodal.deploy.quality) and refused when it loses more than --max-miou-loss mIoU points, all before anything
is moved into place. A static-shape export is a float graph traced at one size with no dynamic axes.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from crossmodal.atomic import temp_path_beside
from crossmodal.deploy.export import ExportError, store_onnx_metadata
from crossmodal.deploy.frames import FrameSource
from crossmodal.deploy.quality import calibration_array, draw, open_source, quality, summary
from crossmodal.deploy.quantize import ACTIVATIONS, CALIBRATION_METHODS, DEFAULT_METHOD, PRECISIONS, to_fp16, to_int8
from crossmodal.errors import UserError

DEFAULT_FRAMES = 64
DEFAULT_MAX_LOSS = 1.0


@dataclass
class PrecisionOptions:
    """What --precision and the calibration options ask for; None for method/activations means the default."""

    precision: str = "fp32"
    calibrate: str | Path | None = None
    calibration_frames: int = DEFAULT_FRAMES
    scale: float | None = None
    max_miou_loss: float = DEFAULT_MAX_LOSS
    accept_loss: bool = False
    calibration_method: str | None = None
    activations: str | None = None
    glob: str | None = None  # picks the files of a --calibrate folder, as crossmodal-predict --glob

    def check(self, fmt: str) -> None:
        """ExportError for a value or combination the export cannot honour, before any work."""
        if self.precision not in PRECISIONS:
            raise ExportError(f"--precision {self.precision}: choose one of {', '.join(PRECISIONS)}")
        if self.precision != "fp32" and fmt != "onnx":
            raise ExportError(f"--precision {self.precision} needs --format onnx: int8 and fp16 students are ONNX "
                              f"files (onnxruntime quantisation); TorchScript exports are float32")
        if self.glob is not None and self.calibrate is None:
            raise ExportError(f"--glob {self.glob!r} picks the files of a --calibrate folder: give --calibrate FOLDER")
        given = [o for o, v in (("--calibrate", self.calibrate), ("--scale", self.scale),
                                ("--calibration-method", self.calibration_method),
                                ("--activations", self.activations)) if v is not None]
        if self.precision == "fp32" and given:
            raise ExportError(f"{given[0]} applies to --precision int8 or fp16, not fp32")
        int8_only = [o for o in given if o in ("--calibration-method", "--activations")]
        if self.precision == "fp16" and int8_only:
            raise ExportError(f"{int8_only[0]} applies to --precision int8 (fp16 needs no calibration)")
        if self.calibration_frames < 1:
            raise ExportError(f"--calibration-frames {self.calibration_frames}: expected at least 1")
        if not math.isfinite(self.max_miou_loss):
            raise ExportError(f"--max-miou-loss {self.max_miou_loss}: expected a finite number of mIoU points")
        if self.calibration_method not in (None, *CALIBRATION_METHODS):
            raise ExportError(f"--calibration-method {self.calibration_method}: choose one of "
                              f"{', '.join(CALIBRATION_METHODS)}")
        if self.activations not in (None, *ACTIVATIONS):
            raise ExportError(f"--activations {self.activations}: choose one of {', '.join(ACTIVATIONS)}")


def checked(fmt: str, static_shape: str | Sequence | None, static_batch: int,
            precision: dict[str, Any]) -> tuple[PrecisionOptions, tuple[int, int] | None]:
    """The precision options and the static (H, W) of an export call; ExportError before any work when wrong."""
    opts = PrecisionOptions(**precision)
    opts.check(fmt)
    size = parse_static_shape(static_shape)
    if size and fmt != "onnx":
        raise ExportError("--static-shape needs --format onnx: a TorchScript file keeps symbolic shapes, so it runs "
                          "at any size that fits the stride rule")
    if static_batch != 1 and not size:
        raise ExportError(f"--static-batch {static_batch} applies with --static-shape only")
    return opts, size


def parse_static_shape(text: str | Sequence | None) -> tuple[int, int] | None:
    """(H, W) from 'HxW' (or a pair); None for None; ExportError naming --static-shape otherwise."""
    if text is None:
        return None
    if not isinstance(text, str):
        text = "x".join(str(v) for v in text)
    m = re.fullmatch(r"\s*(\d+)\s*[xX,]\s*(\d+)\s*", text)
    if not m or int(m[1]) < 1 or int(m[2]) < 1:
        raise ExportError(f"--static-shape {text}: expected HEIGHTxWIDTH in pixels, e.g. 480x640")
    return int(m[1]), int(m[2])


def make_static(meta: dict[str, Any], size: tuple[int, int], batch: int) -> dict[str, Any]:
    """The metadata of a fixed batch x H x W export; ExportError when the size breaks the stride rule."""
    h, w = size
    k = int(meta["stride_multiple"])
    if batch < 1:
        raise ExportError(f"--static-batch {batch}: expected at least 1")
    if h % k or w % k:
        raise ExportError(f"--static-shape {h}x{w}: {meta['size_rule']}, e.g. --static-shape "
                          f"{max(k, -(-h // k) * k)}x{max(k, -(-w // k) * k)} (and crossmodal-predict --pad)")
    channels = [int(c) for c in meta["input"]["shape"][3:]]
    meta = json.loads(json.dumps(meta))
    meta["static_shape"] = {"batch": batch, "height": h, "width": w}
    meta["input"]["shape"] = [batch, h, w] + channels
    meta["output"]["shape"] = [batch, meta["num_classes"], h, w]
    meta["size_rule"] = f"exactly batch {batch} of {h}x{w} frames (exported with --static-shape {h}x{w})"
    return meta


@dataclass
class Sources:
    """The frames a quantised export calibrates on, and the labelled ones it is measured on (None: none)."""

    calibration: FrameSource
    calibration_what: str
    evaluation: FrameSource | None
    evaluation_what: str

    def close(self) -> None:
        self.calibration.close()
        if self.evaluation is not None:
            self.evaluation.close()


def open_sources(run_dir: str | Path, meta: dict[str, Any], opts: PrecisionOptions) -> Sources | None:
    """Open the calibration frames (--calibrate, default the run's unlabeled split) and the run's test split.

    Both are checked now (modality, dtype, first frame), before the long work; a test split that is missing or
    holds no labels for the model leaves the measurement to the calibration frames. None for fp32.
    """
    from crossmodal.config import load_config
    from crossmodal.data.files import split_path

    if opts.precision == "fp32":
        return None
    try:
        cfg = load_config(Path(run_dir) / "config.yaml")
        default, test = split_path(cfg, "unlabeled"), split_path(cfg, "test")
    except UserError as err:
        raise ExportError(f"run {run_dir}: its data splits are unknown ({err}); name frames with --calibrate") from None
    option = "--calibrate" if opts.calibrate is not None else "--calibrate (default: the run's unlabeled split)"
    calib = open_source(opts.calibrate if opts.calibrate is not None else default, meta, option, opts.scale,
                        opts.glob)
    evaluation = None
    if test.is_file():
        try:
            evaluation = open_source(test, meta, "the run's test split")
        except ExportError:
            evaluation = None
        if evaluation is not None and not evaluation.has_labels:
            evaluation.close()
            evaluation = None
    return Sources(calib, calib.description, evaluation,
                   f"the run's test split {evaluation.description}" if evaluation is not None else "")


def quantise_file(path: Path, meta: dict[str, Any], opts: PrecisionOptions, sources: Sources) -> str:
    """Replace the float ONNX file at `path` by its int8 or fp16 version with metadata; returns that as JSON text.

    ExportError (the float file is left for the caller to remove) when it loses more than opts.max_miou_loss.
    """
    scratch = temp_path_beside(path)
    try:
        cal = sources.calibration
        indices, seed = draw(cal, opts.calibration_frames, int(meta["seed"]))
        calibration = {"source": cal.description, "frames": len(indices), "of": len(cal), "indices": indices,
                       "seed": seed, "draw": f"numpy default_rng({seed}).choice without replacement (seed stream "
                       f"'evaluation' of student seed {meta['seed']}); all frames when there are no more",
                       "fitting": "padded with 0 at the bottom/right to the stride multiple (or cut to the static "
                       "shape), as crossmodal-predict --pad"}
        frames = calibration_array(cal, indices, meta) if opts.precision == "int8" else None
        info = _convert(path, scratch, opts, frames)
        if sources.evaluation is not None:
            ev = sources.evaluation
            q = quality(path, scratch, ev, range(len(ev)), meta, sources.evaluation_what)
        else:
            q = quality(path, scratch, cal, indices, meta, f"{len(indices)} calibration frames of {cal.description}")
        check_loss(q, opts)
        new = dict(meta, precision=opts.precision, quantisation=info, quality=q, max_miou_loss=opts.max_miou_loss,
                   loss_accepted=bool(opts.accept_loss and q["miou_loss_points"] > opts.max_miou_loss))
        if opts.precision == "int8" or sources.evaluation is None:
            new["calibration"] = calibration if opts.precision == "int8" else dict(calibration, use="evaluation only")
        text = store_onnx_metadata(scratch, new)
        os.replace(scratch, path)
        return text
    finally:
        scratch.unlink(missing_ok=True)


def _convert(path: Path, dst: Path, opts: PrecisionOptions, frames: Any) -> dict[str, Any]:
    """to_int8 or to_fp16 of `path` into `dst`; an onnxruntime failure becomes one ExportError line."""
    try:
        if opts.precision == "int8":
            return to_int8(path, dst, frames, method=opts.calibration_method or DEFAULT_METHOD,
                           activations=opts.activations or "int8")
        return to_fp16(path, dst)
    except UserError:
        raise
    except Exception as err:  # noqa: BLE001 - onnx/onnxruntime raise many types of their own
        text = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        raise ExportError(f"onnxruntime could not make the {opts.precision} version of this student: {text}; "
                          f"export it with --precision fp32") from err


def check_loss(q: dict[str, Any], opts: PrecisionOptions) -> None:
    """ExportError when the quantised student loses more than --max-miou-loss points, unless --accept-loss."""
    if q["miou_loss_points"] > opts.max_miou_loss and not opts.accept_loss:
        raise ExportError(f"the {opts.precision} student loses {q['miou_loss_points']:.2f} mIoU points against the "
                          f"float one, more than --max-miou-loss {opts.max_miou_loss:g} ({summary(q)}): refused, "
                          f"nothing written; pass --accept-loss to write it anyway, or calibrate on other or more "
                          f"frames (--calibrate, --calibration-frames)")


def add_options(parser: argparse.ArgumentParser) -> None:
    """The precision, calibration and static-shape options of crossmodal-export."""
    p = parser.add_argument_group("precision and static shapes (ONNX)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="fp32 (default), fp16, or int8 (static QDQ quantisation, per-channel weights)")
    p.add_argument("--calibrate", help="frames to calibrate int8 on (and to measure on when the run has no labelled "
                   "test split): a paired HDF5 split, a folder of sensor files or one file; default: the run's "
                   "unlabeled split")
    p.add_argument("--calibration-frames", type=int, default=DEFAULT_FRAMES,
                   help=f"frames drawn (fixed seed) from --calibrate (default {DEFAULT_FRAMES})")
    p.add_argument("--scale", type=float, help="multiply --calibrate file values by this to get the stored units, as "
                   "crossmodal-predict --scale (depth millimetres: 0.001)")
    p.add_argument("--glob", metavar="PATTERN", help="with a --calibrate folder: read only the files whose name "
                   "matches PATTERN, as crossmodal-predict --glob (e.g. '*depth*.png' beside colour files)")
    p.add_argument("--calibration-method", choices=CALIBRATION_METHODS,
                   help=f"int8 activation ranges (default {DEFAULT_METHOD})")
    p.add_argument("--activations", choices=ACTIVATIONS, help="int8 activation type: int8 symmetric (default; "
                   "TensorRT's form) or uint8 asymmetric (faster on x86 onnxruntime; TensorRT refuses it)")
    p.add_argument("--max-miou-loss", type=float, default=DEFAULT_MAX_LOSS, help="refuse an int8/fp16 student that "
                   f"loses more mIoU points than this against the float one (default {DEFAULT_MAX_LOSS:g})")
    p.add_argument("--accept-loss", action="store_true", help="write it even when it loses more")
    p.add_argument("--static-shape", metavar="HxW", help="a fixed-size ONNX graph (no dynamic axes) for TensorRT "
                   "or OpenVINO; H and W multiples of the network's stride")
    p.add_argument("--static-batch", type=int, default=1, help="the batch of a --static-shape graph (default 1)")


def summary_lines(meta: dict[str, Any]) -> list[str]:
    """What crossmodal-export prints after its first line: the static shape and the quantised model's figures."""
    lines = []
    static = meta.get("static_shape")
    if static:
        lines.append(f"static shape: batch {static['batch']} x {static['height']}x{static['width']} "
                     f"(no dynamic axes)")
    q = meta.get("quality")
    if q:
        accepted = " (above --max-miou-loss; written because of --accept-loss)" if meta.get("loss_accepted") else ""
        lines.append(f"{meta['precision']}: {summary(q)}{accepted}")
    return lines


def options_from(args: argparse.Namespace) -> PrecisionOptions:
    """The PrecisionOptions of parsed crossmodal-export arguments."""
    return PrecisionOptions(args.precision, args.calibrate, args.calibration_frames, args.scale, args.max_miou_loss,
                            args.accept_loss, args.calibration_method, args.activations, args.glob)


__all__ = ["PrecisionOptions", "Sources", "add_options", "check_loss", "checked", "make_static", "open_sources",
           "options_from", "parse_static_shape", "quantise_file", "summary_lines"]
