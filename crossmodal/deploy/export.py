"""Export a fine-tuned student as ONNX or TorchScript with its input encoding inside.

The deployed model takes the sensor array exactly as the paired format stores it (docs/data_format.md), so it cannot
be fed the wrong encoding.

    python -m crossmodal.deploy.export --run runs/default --method crd_dense --format onnx --out depth_seg.onnx
"""
from __future__ import annotations

import hashlib
import json
import re
import sys
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from crossmodal.atomic import atomic_path, write_text_atomic
from crossmodal.config.encodings import (
    ENCODINGS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    LOG_DEPTH_MEAN,
    LOG_DEPTH_STD,
    encoding_channels,
)
from crossmodal.deploy.cli import add_student_options, command_parser
from crossmodal.diskspace import check_output_dir
from crossmodal.errors import UserError
from crossmodal.models.weights import first_conv

FORMATS = ("onnx", "torchscript")
OPSET = 17
METADATA_KEY = "crossmodal"  # ONNX metadata_props key and TorchScript extra file stem holding the JSON metadata
EXTRA_FILE = "crossmodal.json"
INPUT_NAME, OUTPUT_NAME = "sensor", "logits"
_CKPT = re.compile(r"^(?P<method>.+?)(?:-seed(?P<seed>\d+))?_finetuned\.pt$")


class ExportError(UserError):
    """A run, method, seed or output that cannot be exported; the message says what the run has."""


# ---- the NumPy encodings of crossmodal/config/encodings.py in torch, on a batch (N, H, W[, C]) -> (N, K, H, W) ----

def _rgb_t(x: torch.Tensor) -> torch.Tensor:
    """`rgb`: uint8 channels-last -> [0, 1] -> ImageNet mean/std, channels first."""
    mean = torch.from_numpy(IMAGENET_MEAN).to(x.device)
    std = torch.from_numpy(IMAGENET_STD).to(x.device)
    return ((x.to(torch.float32) / 255.0 - mean) / std).permute(0, 3, 1, 2)


def _logdepth_valid_t(d: torch.Tensor) -> torch.Tensor:
    """`logdepth_valid`: standardised log-depth (0 at holes) and the validity mask."""
    d = d.to(torch.float32)
    valid = d > 0
    logd = (torch.log(torch.where(valid, d, torch.ones_like(d))) - LOG_DEPTH_MEAN) / LOG_DEPTH_STD
    logd = torch.where(valid, logd, torch.zeros_like(logd))
    return torch.stack([logd, valid.to(torch.float32)], dim=1)


def _metres_t(d: torch.Tensor) -> torch.Tensor:
    """`metres`: depth centred at 3 m and scaled by 1/2; holes 0."""
    d = d.to(torch.float32)
    return ((d - 3.0) / 2.0 * (d > 0).to(torch.float32)).unsqueeze(1)


def _raw_t(x: torch.Tensor) -> torch.Tensor:
    """`raw`: the stored array as float32, channels first."""
    x = x.to(torch.float32)
    return x.unsqueeze(1) if x.dim() == 3 else x.permute(0, 3, 1, 2)


def _hha_t(x: torch.Tensor) -> torch.Tensor:
    """`hha`: uint8 HHA -> x / 255 - 0.5, channels first."""
    return _raw_t(x) / 255.0 - 0.5


TORCH_ENCODINGS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "rgb": _rgb_t, "logdepth_valid": _logdepth_valid_t, "metres": _metres_t, "raw": _raw_t, "hha": _hha_t}
assert set(TORCH_ENCODINGS) == set(ENCODINGS), "every NumPy encoding needs its torch port"


class SensorModel(nn.Module):
    """A segmenter that takes the stored sensor array and gives logits (N, K, H, W).

    The array, (N, H, W) or (N, H, W, C), is encoded and standardised as in training before the segmenter runs.
    """

    def __init__(self, segmenter: nn.Module, encoding: str, mean: Sequence[float] = (),
                 std: Sequence[float] = ()) -> None:
        super().__init__()
        if encoding not in TORCH_ENCODINGS:
            raise ExportError(f"encoding '{encoding}' has no torch port; known: {', '.join(sorted(TORCH_ENCODINGS))}")
        self.encoding = encoding
        self._encode = TORCH_ENCODINGS[encoding]
        self.standardise = bool(mean)
        self.register_buffer("mean", torch.tensor(list(mean) or [0.0], dtype=torch.float32).reshape(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std) or [1.0], dtype=torch.float32).reshape(1, -1, 1, 1))
        self.segmenter = segmenter

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The network input the pipeline would feed: what crossmodal.config.encodings.InputSpec computes, batched."""
        out = self._encode(x)
        return (out - self.mean) / self.std if self.standardise else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.segmenter(self.encode(x))


# ---- finding what a run holds ----

def list_checkpoints(run_dir: Path, seeds: Sequence[int]) -> dict[tuple[str, int], Path]:
    """The fine-tuned students of a run: {(method, seed): path}.

    A one-seed run's files carry no seed in their names; they get the run's seed.
    """
    found: dict[tuple[str, int], Path] = {}
    for path in sorted((run_dir / "checkpoints").glob("*_finetuned.pt")):
        m = _CKPT.match(path.name)
        if m:
            seed = int(m["seed"]) if m["seed"] is not None else (seeds[0] if len(seeds) == 1 else -1)
            found[(m["method"], seed)] = path
    return found


def _describe(found: dict[tuple[str, int], Path]) -> str:
    """'none (seed 0), crd_dense (seeds 0, 1)': what a run has, for error messages."""
    by_method: dict[str, list[int]] = {}
    for method, seed in found:
        by_method.setdefault(method, []).append(seed)
    return ", ".join(f"{m} (seed{'s' if len(s) > 1 else ''} {', '.join(map(str, sorted(s)))})"
                     for m, s in by_method.items()) or "no fine-tuned checkpoints"


def find_checkpoint(run_dir: Path, method: str, seed: int | None, seeds: Sequence[int]) -> tuple[Path, int]:
    """The checkpoint of (method, seed) and its seed; an ExportError listing the methods and seeds the run has."""
    found = list_checkpoints(run_dir, seeds)
    have = [s for (m, s) in found if m == method]
    if not have:
        raise ExportError(f"run {run_dir} has no fine-tuned student for method '{method}'; it has: {_describe(found)}")
    if seed is None:
        if len(have) > 1:
            raise ExportError(f"run {run_dir} has method '{method}' with seeds {', '.join(map(str, sorted(have)))}: "
                              f"choose one with --seed")
        seed = have[0]
    if (method, seed) not in found:
        raise ExportError(f"run {run_dir} has no fine-tuned student for method '{method}' seed {seed}; it has: "
                          f"{_describe(found)}")
    return found[(method, seed)], seed


def _stored_layout(cfg: Any, encoding: str, in_channels: int
                   ) -> tuple[tuple[int, ...], str, dict, tuple[int, int] | None]:
    """How the target modality is stored: per-sample shape (spatial as 0), dtype, attributes and trained size.

    They come from the run's data files when these are still there, else from the encoding and the network's input
    channels.
    """
    from crossmodal.data.files import split_path
    from crossmodal.data.h5format import read_info

    key = cfg.data.target
    for split in ("test", "train"):
        try:
            info = read_info(split_path(cfg, split))
        except (UserError, FileNotFoundError, OSError):
            continue
        if key in info.modalities:
            shape = tuple(info.shapes[key])
            return ((0, 0) + shape[2:], str(np.dtype(info.dtypes[key])), dict(info.modality_attrs.get(key, {})),
                    (int(shape[0]), int(shape[1])))
    if encoding in ("logdepth_valid", "metres"):
        return (0, 0), "float32", {}, None
    if encoding in ("rgb", "hha"):
        return (0, 0, 3), "uint8", {}, None
    return ((0, 0) if in_channels == 1 else (0, 0, in_channels)), "float32", {}, None


def build_sensor_model(run_dir: str | Path, method: str, seed: int | None = None
                       ) -> tuple[SensorModel, dict[str, Any]]:
    """The fine-tuned student of (method, seed) wrapped with its encoding, in eval mode, and its metadata."""
    from crossmodal.config import load_config
    from crossmodal.data.loaders import input_spec
    from crossmodal.deploy.ranges import reading_range
    from crossmodal.downstream.evaluate import load_finetuned

    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        raise ExportError(f"{run_dir} is not a run folder: it has no config.yaml (run_transfer.py writes runs/<name>/)")
    cfg = load_config(cfg_path)
    if not cfg.task_spec.per_pixel:
        raise ExportError(f"run {run_dir} has task '{cfg.task}'; only segmentation students can be exported")
    path, seed = find_checkpoint(run_dir, method, seed, cfg.run_seeds)
    spec = input_spec(cfg, "target")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    in_channels = next(v.shape[1] for k, v in blob["model"].items() if v.dim() == 4)
    shape, dtype, attrs, trained = _stored_layout(cfg, spec.encoding, in_channels)
    channels = encoding_channels(spec.encoding, shape)
    segmenter, names = load_finetuned(path, cfg, channels)
    model = SensorModel(segmenter, spec.encoding, spec.mean, spec.std).eval()
    stride = int(max(segmenter.strides))
    modality = cfg.data.target
    units = str(attrs.get("units") or ("metres" if modality == "depth" or spec.encoding in ("logdepth_valid", "metres")
                                       else "unknown"))
    layout = "NHW" if len(shape) == 2 else "NHWC"
    meta = {
        "format": "crossmodal-export", "format_version": 1,
        "run": cfg.name, "run_dir": str(run_dir.resolve()), "method": method, "seed": seed,
        "checkpoint": str(path.relative_to(run_dir)),
        "config_sha256": hashlib.sha256(cfg_path.read_bytes()).hexdigest(),
        "class_names": list(names), "num_classes": len(names),
        "modality": modality, "units": units,
        "encoding": spec.encoding, "encoding_description": ENCODINGS[spec.encoding].description,
        "encoding_constants": ({"log_depth_mean": LOG_DEPTH_MEAN, "log_depth_std": LOG_DEPTH_STD}
                               if spec.encoding == "logdepth_valid" else {}),
        "mean": list(spec.mean), "std": list(spec.std), "network_channels": channels,
        "input": {"name": INPUT_NAME, "layout": layout, "dtype": dtype,
                  "shape": ["batch", "height", "width"] + ([shape[2]] if len(shape) == 3 else [])},
        "output": {"name": OUTPUT_NAME, "layout": "NCHW", "dtype": "float32",
                   "shape": ["batch", len(names), "height", "width"],
                   "meaning": "per-pixel class logits at the input size"},
        "stride_multiple": stride,
        "size_rule": f"height and width must be multiples of {stride} (the network's largest stride)",
        "trained_size": list(trained) if trained else None,
        "reading_range": reading_range(cfg),  # what crossmodal-predict counts far-out frames against (None: unknown)
        "torch_version": torch.__version__,
    }
    takes = first_conv(segmenter)[1].in_channels
    if channels != takes:
        raise ExportError(f"{path}: the network takes {takes} channels but encoding "
                          f"'{spec.encoding}' of '{modality}' gives {channels}")
    return model, meta


def check_frame_size(meta: dict[str, Any], height: int, width: int) -> None:
    """Raise ExportError unless a frame of height x width fits the exported model's stride rule."""
    k, static = int(meta["stride_multiple"]), meta.get("static_shape")
    if static and (height, width) != (static["height"], static["width"]):
        raise ExportError(f"frames of {height}x{width} do not fit this model: it was exported with --static-shape "
                          f"{static['height']}x{static['width']} and takes only that size (batch {static['batch']}); "
                          f"export it again with --static-shape {height}x{width}, or without it for any size")
    if height <= 0 or width <= 0 or height % k or width % k:
        raise ExportError(f"frames of {height}x{width} do not fit this model: {meta['size_rule']} "
                          f"(e.g. {max(k, height // k * k)}x{max(k, width // k * k)})")


def example_input(meta: dict[str, Any], batch: int = 2, size: tuple[int, int] | None = None) -> torch.Tensor:
    """A sensor batch of the stored dtype and layout with positive values, for tracing and for tests.

    By default it has the trained size rounded up to multiples of stride_multiple, the size rule the exported model
    declares.
    """
    k = int(meta["stride_multiple"])
    h, w = size or tuple(-(-int(s) // k) * k for s in (meta["trained_size"] or (4 * k, 4 * k)))
    shape = [batch, h, w] + [int(c) for c in meta["input"]["shape"][3:]]
    g = torch.Generator().manual_seed(0)
    x = torch.rand(shape, generator=g) * 5.0 + 0.5
    dtype = meta["input"]["dtype"]
    return (x * 40).to(torch.uint8) if dtype == "uint8" else x.to(getattr(torch, dtype))


def require(module: str) -> Any:
    """Import an optional deployment package, or an ExportError saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ExportError(f"'{module}' is not installed; ONNX export and ONNX prediction need it: "
                          f"pip install -e \".[deploy]\" (or pip install {module})") from None


def write_onnx(model: SensorModel, x: torch.Tensor, tmp: Path, meta: dict[str, Any]) -> str:
    """Write `model` traced on `x` to `tmp` as ONNX with `meta` inside; returns the metadata as JSON text.

    The TorchScript-based exporter (dynamic_axes) is used when this torch has it, else the dynamo one.
    """
    require("onnx")
    static = bool(meta.get("static_shape"))  # a fixed-size graph: no dynamic axes
    axes = {INPUT_NAME: {0: "batch", 1: "height", 2: "width"}, OUTPUT_NAME: {0: "batch", 2: "height", 3: "width"}}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning, torch.jit.TracerWarning))
            torch.onnx.export(model, (x,), str(tmp), dynamo=False, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], dynamic_axes=None if static else axes, opset_version=OPSET)
        exporter = "torch.onnx.export(dynamo=False)"
    except (TypeError, RuntimeError, NotImplementedError) as err:  # no TorchScript-based exporter in this torch
        from torch.export import Dim

        k = int(meta["stride_multiple"])
        h, w = Dim("height_blocks", min=1), Dim("width_blocks", min=1)
        shapes = {"x": {0: Dim("batch", min=1), 1: k * h, 2: k * w}}
        try:
            torch.onnx.export(model, (x,), str(tmp), dynamo=True, input_names=[INPUT_NAME],
                              output_names=[OUTPUT_NAME], dynamic_shapes=None if static else shapes,
                              opset_version=max(OPSET, 18), external_data=False)
        except torch.onnx.errors.OnnxExporterError as err2:  # neither exporter can convert this network (an operator)
            first = err if isinstance(err, torch.onnx.errors.OnnxExporterError) else err2
            raise ExportError(f"the student of run '{meta['run']}' ({meta['method']}, seed {meta['seed']}) cannot be "
                              f"exported to ONNX: {str(first).strip().splitlines()[0][:300]}; export it with "
                              f"--format torchscript instead") from err2
        exporter = f"torch.onnx.export(dynamo=True) (dynamo=False failed: {type(err).__name__})"
    return store_onnx_metadata(tmp, dict(meta, exporter=exporter))


def store_onnx_metadata(path: Path, meta: dict[str, Any]) -> str:
    """Put `meta` (plus the file's opset) into the ONNX file's metadata_props, check it; returns the JSON text.

    A static-shape file whose input has a symbolic dimension is refused.
    """
    onnx = require("onnx")
    proto = onnx.load(str(path))
    meta = dict(meta, opset=int(max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))))
    dims = [d for d in proto.graph.input[0].type.tensor_type.shape.dim]
    if meta.get("static_shape") and not all(d.HasField("dim_value") for d in dims):
        raise ExportError(f"the static-shape export has input dimensions {[d.dim_param or d.dim_value for d in dims]}"
                          f": not all fixed")
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {METADATA_KEY: json.dumps(meta), **{
        k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}})
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return json.dumps(meta, indent=2)


def write_torchscript(model: SensorModel, x: torch.Tensor, tmp: Path, meta: dict[str, Any]) -> str:
    """Write `model` traced on `x` to `tmp` as TorchScript; returns the metadata as JSON text.

    Shapes stay symbolic; the metadata goes in as the extra file crossmodal.json.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning, torch.jit.TracerWarning))
        traced = torch.jit.trace(model, (x,), check_trace=False)
        meta = dict(meta, exporter="torch.jit.trace")
        text = json.dumps(meta, indent=2)
        torch.jit.save(traced, str(tmp), _extra_files={EXTRA_FILE: text})
    return text


def export(run_dir: str | Path, method: str, seed: int | None, fmt: str, out: str | Path,
           overwrite: bool = False, static_shape: str | Sequence[int] | None = None, static_batch: int = 1,
           **precision: Any) -> dict[str, Any]:
    """Export (method, seed) of a run to `out` and `<out>.json`, both atomically; returns the metadata.

    `fmt` is onnx or torchscript. `static_shape` ('HxW') fixes the ONNX graph's size; `precision` holds the
    crossmodal.deploy.precision.PrecisionOptions fields (precision='int8', calibrate=..., max_miou_loss=...).
    """
    from crossmodal.deploy import precision as prec

    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}': choose one of {', '.join(FORMATS)}")
    opts, size = prec.checked(fmt, static_shape, static_batch, precision)
    out = Path(out)
    side = out.with_name(out.name + ".json")
    check_output_dir(out.parent, "--out's folder")
    for p in (out, side):
        if p.exists() and not overwrite:
            raise FileExistsError(f"{p} exists; pass --overwrite to replace it")
    model, meta = build_sensor_model(run_dir, method, seed)
    meta = prec.make_static(meta, size, static_batch) if size else meta
    sources = prec.open_sources(run_dir, meta, opts)  # None for fp32
    x = example_input(meta, **({"batch": static_batch, "size": size} if size else {}))
    from crossmodal.deploy.card import export_calibration, model_card  # here: card.py imports this module

    try:
        meta["model_card"] = model_card(model, meta, calibration=export_calibration(run_dir, meta))  # in every place
        with torch.no_grad(), atomic_path(out) as tmp:
            text = (write_onnx if fmt == "onnx" else write_torchscript)(model, x, tmp, meta)
            _check_exported(model, fmt, tmp, meta, x)
            text = prec.quantise_file(tmp, json.loads(text), opts, sources) if sources else text
            write_text_atomic(side, text + "\n")
    finally:
        if sources is not None:
            sources.close()
    return json.loads(text)


def _check_exported(model: SensorModel, fmt: str, path: Path, meta: dict[str, Any], x: torch.Tensor) -> None:
    """Refuse a file that does not compute what the checkpoint computes at another batch and size than the traced one.

    Tracing records one run of the forward, so Python code that branches on, or computes with, the input's size is
    frozen at the traced size. ONNX files are checked when onnxruntime is installed.
    """
    k = int(meta["stride_multiple"])
    probe = (x if meta.get("static_shape") else  # a static graph runs at its one size only
             example_input(meta, batch=x.shape[0] + 1, size=(x.shape[1] + k, x.shape[2] + 2 * k)))
    want = model(probe).numpy()
    if fmt == "onnx":
        try:
            import onnxruntime as ort
        except ImportError:
            return
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        run = lambda v: sess.run([OUTPUT_NAME], {INPUT_NAME: v.numpy()})[0]  # noqa: E731
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu")
        run = lambda v: module(v).numpy()  # noqa: E731
    size = f"batch {probe.shape[0]}, {probe.shape[1]}x{probe.shape[2]}"
    try:
        got = run(probe)
    except Exception as err:  # noqa: BLE001 - onnxruntime raises its own types
        raise ExportError(f"the exported {fmt} student does not run at {size} (traced at {x.shape[0]}, "
                          f"{x.shape[1]}x{x.shape[2]}): {str(err).strip().splitlines()[0][:300]}; the network's "
                          f"forward probably depends on the input size in Python, which tracing freezes") from None
    diff = float(np.abs(got - want).max()) if got.shape == want.shape else float("inf")
    if not diff <= 1e-2 * max(1.0, float(np.abs(want).max())):  # rounding is ~1e-5 of it; frozen code O(1)
        raise ExportError(f"the exported {fmt} student disagrees with the checkpoint at {size} (traced at "
                          f"{x.shape[0]}, {x.shape[1]}x{x.shape[2]}): max |logit difference| {diff:.3g}, output "
                          f"{tuple(got.shape)} vs {tuple(want.shape)}; the network's forward depends on the input "
                          f"size in Python (a branch or int() on a shape), which tracing freezes: refused")


def is_torchscript(path: Path) -> bool:
    """TorchScript archives are zip files (ONNX files are protobuf)."""
    with open(path, "rb") as f:
        return f.read(2) == b"PK"


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The crossmodal metadata inside an exported ONNX or TorchScript file; ExportError when it has none."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    if is_torchscript(path):  # TorchScript archives are zip files
        extra = {EXTRA_FILE: ""}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated in favour of torch.export
                torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except RuntimeError as err:
            raise ExportError(f"{path} is a zip file but not a TorchScript model "
                              f"({str(err).splitlines()[0]})") from None
        text = extra[EXTRA_FILE]
        text = text.decode() if isinstance(text, bytes) else text
    else:
        onnx = require("onnx")
        try:
            props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        except Exception as err:  # onnx raises its own DecodeError types for files that are not ONNX
            raise ExportError(f"{path} is neither a TorchScript nor an ONNX file ({type(err).__name__})") from None
        text = props.get(METADATA_KEY, "")
    if not text:
        raise ExportError(f"{path} carries no crossmodal metadata: export it with crossmodal-export")
    return json.loads(text)


EXAMPLE = ("example:\n  crossmodal-export --run runs/default --method crd_dense --format onnx --out depth_seg.onnx\n\n"
           "The model takes the sensor array as the paired format stores it (depth: float32 metres (N, H, W),\n"
           "0 = no reading) and returns logits (N, C, H, W); H and W must be multiples of the network's largest\n"
           "stride (written to the metadata as stride_multiple).")


def main(argv: list[str] | None = None) -> int:
    """crossmodal-export: one fine-tuned student of a run -> an ONNX or TorchScript file plus <out>.json."""
    parser = command_parser("crossmodal-export", main.__doc__, EXAMPLE)
    add_student_options(parser, required=True, run="run folder written by run_transfer.py, e.g. runs/default",
                        method="method whose fine-tuned student to export, e.g. crd_dense",
                        seed="student seed (needed when the run has several)")
    parser.add_argument("--format", choices=FORMATS, required=True, help="onnx (onnxruntime) or torchscript")
    parser.add_argument("--out", required=True, help="output file; the metadata also goes to <out>.json")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    from crossmodal.deploy.precision import add_options, options_from, summary_lines

    add_options(parser)
    args = parser.parse_args(argv)
    try:
        meta = export(args.run, args.method, args.seed, args.format, args.out, overwrite=args.overwrite,
                      static_shape=args.static_shape, static_batch=args.static_batch, **vars(options_from(args)))
    except (UserError, FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} and {args.out}.json ({meta['method']} seed {meta['seed']} of run '{meta['run']}', "
          f"{meta['modality']} {meta['input']['layout']} {meta['input']['dtype']}, sizes multiple of "
          f"{meta['stride_multiple']}; {meta['exporter']})")
    for line in summary_lines(meta):
        print(line)
    from crossmodal.deploy.card import card_line

    print(card_line(meta["model_card"]) + f" (in {args.out}.json)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
