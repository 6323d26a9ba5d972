"""fp16 and int8 versions of an exported float ONNX student, for engines with a latency budget.

int8 is onnxruntime's static quantisation in QDQ form (QuantizeLinear/DequantizeLinear pairs around the float
operators), the form TensorRT reads as explicit quantisation: weights int8 symmetric per output channel, activations
int8 symmetric (zero point 0, which TensorRT requires), ranges calibrated on sensor frames run through the model's own
encoding. fp16 is onnxruntime's float16 converter with float32 inputs and outputs.

Both keep two parts of the graph in float32 (docs/deploy.md, "Precision"): the input encoding (everything before the
first Conv: Log/Where/Div on raw metres, whose range an 8-bit or half grid cannot hold), and everything after the
last Conv (the classifier), i.e. the Resize of the logits to the input size, so logits are not rounded twice.
"""
from __future__ import annotations

import io
import logging
import tempfile
import warnings
from collections import Counter
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from crossmodal.deploy.export import INPUT_NAME, ExportError

PRECISIONS = ("fp32", "fp16", "int8")
CALIBRATION_METHODS = ("minmax", "percentile", "entropy")
DEFAULT_METHOD = "minmax"  # as good as the others on the smoke student; keeps no activations (docs/deploy.md)
KEEP_FIRST_CONV = True      # measured on the smoke student: float first and last convs agree better with float,
KEEP_CLASSIFIER = True      # at no measurable latency cost (docs/deploy.md)
ACTIVATIONS = ("int8", "uint8")  # int8 symmetric: TensorRT's form; uint8 asymmetric: faster on x86 onnxruntime
CALIBRATION_BATCH = 8
PERCENTILE = 99.999  # of |activation|, for the percentile calibration (onnxruntime's default)


def _conv_order(graph: Any) -> list[Any]:
    """The graph's Conv nodes in the (topological) order the exporter wrote them."""
    return [n for n in graph.node if n.op_type == "Conv"]


def _downstream(graph: Any, starts: set[str]) -> set[str]:
    """Names of the nodes that read, directly or not, a tensor produced by one of the nodes named in `starts`."""
    tainted = {t for n in graph.node if n.name in starts for t in n.output}
    found: set[str] = set()
    for node in graph.node:  # nodes are topologically sorted in a valid ONNX graph
        if node.name not in starts and any(t in tainted for t in node.input):
            found.add(node.name)
            tainted.update(node.output)
    return found


def float_regions(model: Any, keep_first_conv: bool = KEEP_FIRST_CONV,
                  keep_classifier: bool = KEEP_CLASSIFIER) -> dict[str, list[str]]:
    """The node names kept in float32, by reason: the input encoding, the output (after the last Conv), convs kept.

    The encoding is every node that reads no Conv output (the sensor's Log/Where/Div/Concat and shape arithmetic);
    the output part is every node downstream of the last Conv, the classifier (the Resize of the logits).
    """
    convs = _conv_order(model.graph)
    if not convs:
        raise ExportError("the ONNX graph has no Conv node: nothing for int8/fp16 to work on")
    all_convs = {c.name for c in convs}
    after_any = _downstream(model.graph, all_convs)
    encoding = [n.name for n in model.graph.node if n.name not in after_any and n.name not in all_convs]
    after_last = _downstream(model.graph, {convs[-1].name})
    regions = {"input_encoding": encoding, "output": [n.name for n in model.graph.node if n.name in after_last]}
    if keep_first_conv:
        regions["first_conv"] = [convs[0].name]
    if keep_classifier:
        regions["classifier"] = [convs[-1].name]
    return regions


def _describe_regions(model: Any, regions: dict[str, list[str]]) -> dict[str, dict[str, int]]:
    """{region: {op type: count}}: what stays float, readable in the metadata."""
    ops = {n.name: n.op_type for n in model.graph.node}
    return {k: dict(sorted(Counter(ops[n] for n in names).items())) for k, names in regions.items()}


def _names_unique(model: Any) -> None:
    """Give every node a unique name: exclusion lists go by name, and some exporters leave names empty."""
    seen: set[str] = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_crossmodal_{i}"
        seen.add(node.name)


def _drop_round_trips(model: Any) -> None:
    """Remove the float32 -> float16 -> float32 Cast pairs the converter puts between float32 (blocked) nodes.

    onnxruntime's converter casts every blocked node's output to float16 and back before the next blocked node
    reads it, which would round the raw sensor input and the encoding to half precision. Afterwards the nodes are
    sorted topologically again (the converter appends its casts at the end).
    """
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in (*inferred.graph.value_info, *inferred.graph.input)}
    producer = {t: n for n in model.graph.node for t in n.output}
    outputs = {o.name for o in model.graph.output}
    to = lambda n: next((a.i for a in n.attribute if a.name == "to"), None)  # noqa: E731
    FLOAT, HALF = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16
    for node in list(model.graph.node):
        first = producer.get(node.input[0]) if node.op_type == "Cast" and to(node) == FLOAT else None
        if first is None or first.op_type != "Cast" or to(first) != HALF or types.get(first.input[0]) != FLOAT:
            continue
        source = first.input[0]
        if node.output[0] in outputs:
            node.op_type, node.input[0] = "Identity", source
            del node.attribute[:]
            continue
        for other in model.graph.node:
            other.input[:] = [source if t == node.output[0] else t for t in other.input]
        model.graph.node.remove(node)
    _prune_and_sort(model)


def _prune_and_sort(model: Any) -> None:
    """Drop nodes whose outputs nothing reads, then order the nodes topologically; forget stale value_info."""
    graph = model.graph
    producer = {t: i for i, n in enumerate(graph.node) for t in n.output}
    todo, keep = [o.name for o in graph.output], set()
    while todo:
        i = producer.get(todo.pop())
        if i is not None and i not in keep:
            keep.add(i)
            todo.extend(t for t in graph.node[i].input if t)
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    order: list[Any] = []
    pending = [n for i, n in enumerate(graph.node) if i in keep]
    while pending:
        node = next(n for n in pending if all(t in ready for t in n.input))
        pending.remove(node)
        order.append(node)
        ready.update(node.output)
    new_nodes = [type(n)() for n in order]
    for new, old in zip(new_nodes, order):
        new.CopyFrom(old)
    del graph.node[:]
    graph.node.extend(new_nodes)
    del graph.value_info[:]


def to_fp16(src: Path, dst: Path) -> dict[str, Any]:
    """Write the fp16 version of float ONNX `src` to `dst` (float32 inputs and outputs kept); what was done.

    The encoding and the output Resize stay float32 (module docstring); every other float tensor and weight is half.
    """
    import onnx
    import onnxruntime
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = onnx.load(str(src))
    _names_unique(model)
    regions = float_regions(model, keep_first_conv=False, keep_classifier=False)
    blocked = [n for names in regions.values() for n in names]
    half = convert_float_to_float16(model, keep_io_types=True, node_block_list=blocked)
    _drop_round_trips(half)
    onnx.save(half, str(dst))
    return {"precision": "fp16", "tool": f"onnxruntime {onnxruntime.__version__} "
            "transformers.float16.convert_float_to_float16(keep_io_types=True)",
            "weights": "float16", "activations": "float16", "io": "float32 inputs and outputs",
            "float32_nodes": _describe_regions(model, regions)}


class _Frames:
    """An onnxruntime CalibrationDataReader over sensor arrays, `batch` frames per call.

    With `fixed` (a static-batch graph) every call has exactly `batch` frames: the last is filled up with the first.
    """

    def __init__(self, name: str, frames: np.ndarray, batch: int, fixed: bool) -> None:
        if fixed and len(frames) % batch:
            frames = np.concatenate([frames, np.resize(frames, (batch - len(frames) % batch,) + frames.shape[1:])])
        self._batches: Iterator[dict[str, np.ndarray]] = iter(
            [{name: np.ascontiguousarray(frames[i:i + batch])} for i in range(0, len(frames), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def _calibration_method(method: str) -> Any:
    """onnxruntime's CalibrationMethod for one of CALIBRATION_METHODS."""
    from onnxruntime.quantization import CalibrationMethod

    table = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
             "entropy": CalibrationMethod.Entropy}
    if method not in table:
        raise ExportError(f"calibration method '{method}': choose one of {', '.join(CALIBRATION_METHODS)}")
    return table[method]


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence the calibrators' prints and the quantiser's advice: the export prints its own summary."""
    with redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logger = logging.getLogger()
        level = logger.level
        logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            logger.setLevel(level)


def _preprocessed(src: Path, scratch: Path) -> Path:
    """onnxruntime's quantisation pre-processing (shape inference, basic graph optimisation) of `src`, in scratch."""
    import onnx
    from onnxruntime.quantization import quant_pre_process

    named, prep = scratch / "named.onnx", scratch / "prep.onnx"
    model = onnx.load(str(src))
    _names_unique(model)
    onnx.save(model, str(named))
    quant_pre_process(str(named), str(prep))
    return prep


def to_int8(src: Path, dst: Path, calibration: np.ndarray, *, method: str = DEFAULT_METHOD,
            keep_first_conv: bool = KEEP_FIRST_CONV, keep_classifier: bool = KEEP_CLASSIFIER,
            activations: str = "int8") -> dict[str, Any]:
    """Write the int8 QDQ version of float ONNX `src` to `dst`, calibrated on `calibration`; what was done.

    `calibration` holds sensor frames (N, H, W[, C]) in the stored dtype, as the model takes them, all of one size.
    `activations` int8 is symmetric (zero point 0: what TensorRT takes); uint8 is asymmetric, which onnxruntime's
    x86 kernels run faster but TensorRT refuses.
    """
    import onnx
    import onnxruntime
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    calibration = np.asarray(calibration)
    if calibration.ndim < 3 or len(calibration) == 0:
        raise ExportError(f"int8 calibration needs frames (N, H, W[, C]), got an array of shape {calibration.shape}")
    calib = _calibration_method(method)
    if activations not in ACTIVATIONS:
        raise ExportError(f"int8 activations '{activations}': choose one of {', '.join(ACTIVATIONS)}")
    symmetric = activations == "int8"
    act_type = QuantType.QInt8 if symmetric else QuantType.QUInt8
    with tempfile.TemporaryDirectory(prefix=".int8-", dir=Path(dst).parent) as scratch, _quiet():
        prep = _preprocessed(src, Path(scratch))
        model = onnx.load(str(prep))
        regions = float_regions(model, keep_first_conv, keep_classifier)
        excluded = [n for names in regions.values() for n in names]
        extra = {"ActivationSymmetric": symmetric, "WeightSymmetric": True}
        if method == "percentile":
            extra["CalibPercentile"] = PERCENTILE
        dim = model.graph.input[0].type.tensor_type.shape.dim[0]
        fixed = dim.HasField("dim_value")
        reader = _Frames(INPUT_NAME, calibration, int(dim.dim_value) if fixed else CALIBRATION_BATCH, fixed)
        quantize_static(str(prep), str(dst), reader,
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=act_type,
                        weight_type=QuantType.QInt8, nodes_to_exclude=excluded, calibrate_method=calib,
                        extra_options=extra)
    graph = onnx.load(str(dst)).graph
    dq = {t for n in graph.node if n.op_type == "DequantizeLinear" for t in n.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    q_convs = sum(1 for n in convs if n.input[1] in dq)
    return {"precision": "int8", "tool": f"onnxruntime {onnxruntime.__version__} quantization.quantize_static",
            "format": "QDQ", "weights": "int8 symmetric, per output channel",
            "activations": "int8 symmetric (zero point 0)" if symmetric else "uint8 asymmetric",
            "calibration_method": method + (f" ({PERCENTILE}th percentile)" if method == "percentile" else ""),
            "calibration_frames": int(len(calibration)), "calibration_shape": list(calibration.shape[1:]),
            "quantised_convs": f"{q_convs} of {len(convs)}", "float32_nodes": _describe_regions(model, regions)}


__all__ = ["CALIBRATION_METHODS", "PRECISIONS", "float_regions", "to_fp16", "to_int8"]
