"""crossmodal-export --precision int8/fp16 and --static-shape on the smoke run's crd_dense student.

The quantised files load in onnxruntime, agree with the float export, keep the encoding and the logit Resize in
float32, carry their calibration and quality figures in all three metadata places; a loss above --max-miou-loss is
refused with nothing written unless --accept-loss; a static-shape graph has fixed dimensions and refuses other sizes.
"""
import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import REPO  # noqa: F401 (the shared fixtures live beside it)
from crossmodal.data.h5writer import write_paired
from crossmodal.deploy.export import ExportError, check_frame_size, main, read_metadata
from crossmodal.deploy.quality import open_source, quality
from crossmodal.seeds import seed_for

METHOD = "crd_dense"
FRAMES = "8"  # calibration frames: few, to keep the tests quick


def _split(overrides: list[str], split: str) -> Path:
    """A split of the smoke data, from the data.synthetic.out override."""
    return Path(next(o.split("=", 1)[1] for o in overrides if o.startswith("data.synthetic.out="))) / f"{split}.h5"


def _export(run_dir: Path, out: Path, *extra: str) -> int:
    return main(["--run", str(run_dir), "--method", METHOD, "--format", "onnx", "--out", str(out), *extra])


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    batch = sess.get_inputs()[0].shape[0]
    step = batch if isinstance(batch, int) else 8
    return np.concatenate([sess.run(["logits"], {"sensor": x[i:i + step]})[0] for i in range(0, len(x), step)])


@pytest.fixture(scope="module")
def exported(smoke_run, tmp_path_factory):
    """The student exported as fp32, int8 (8 calibration frames) and fp16 through the command line: {name: path}."""
    out = tmp_path_factory.mktemp("quantised")
    paths = {p: out / f"seg_{p}.onnx" for p in ("fp32", "int8", "fp16")}
    for precision, path in paths.items():
        extra = [] if precision == "fp32" else ["--precision", precision]
        assert _export(smoke_run[0], path, *extra, *(["--calibration-frames", FRAMES] if precision == "int8" else
                                                     [])) == 0
    return paths


@pytest.fixture(scope="module")
def test_split(smoke_run):
    with h5py.File(_split(smoke_run[2], "test"), "r") as f:
        return f["depth"][:], f["label"][:]


def test_quantised_students_agree_with_float(exported, test_split):
    import onnx

    depth = test_split[0]
    ref = _run(exported["fp32"], depth).argmax(1)
    # measured on the smoke student (16 test frames, 48x64): int8 (8 frames) 99.76%, fp16 99.98% of pixels agree
    for precision, least in (("int8", 0.98), ("fp16", 0.995)):
        got = _run(exported[precision], depth)
        assert got.dtype == np.float32 and got.shape[0] == len(depth)
        agree = float((got.argmax(1) == ref).mean())
        assert agree >= least, f"{precision}: {agree}"
        assert read_metadata(exported[precision])["quality"]["agreement"] == pytest.approx(agree, abs=1e-9)
    graph = onnx.load(str(exported["int8"])).graph
    producer = {t: n for n in graph.node for t in n.output}
    inits = {t.name: t for t in graph.initializer}
    first = next(n for n in graph.node if n.op_type == "Conv" and producer[n.input[0]].op_type == "Concat")
    encoding, todo = set(), [first.input[0]]
    while todo:  # everything the first Conv reads from the sensor on: the encoding
        node = producer.get(todo.pop())
        if node is not None and node.name not in encoding:
            encoding.add(node.name)
            todo.extend(node.input)
    kinds = {n.op_type for n in graph.node if n.name in encoding}
    assert {"Log", "Where", "Div"} <= kinds and not kinds & {"QuantizeLinear", "DequantizeLinear"}
    assert first.input[1] in inits and inits[first.input[1]].data_type == onnx.TensorProto.FLOAT  # kept float
    resize = producer["logits"]
    assert resize.op_type == "Resize" and producer[resize.input[0]].op_type == "Conv"  # logits never rounded to int8
    assert inits[producer[resize.input[0]].input[1]].data_type == onnx.TensorProto.FLOAT  # the classifier: float
    weights = {n.input[1] for n in graph.node if n.op_type == "Conv"}
    dequant = [n for n in graph.node if n.op_type == "DequantizeLinear" and n.output[0] in weights]
    assert len(dequant) == 11 and all(inits[n.input[0]].data_type == onnx.TensorProto.INT8 for n in dequant)
    assert any(len(inits[n.input[1]].dims) == 1 and inits[n.input[1]].dims[0] > 1 for n in dequant)  # per channel
    zero_points = [inits[n.input[2]] for n in graph.node if n.op_type == "QuantizeLinear" and n.input[2] in inits]
    assert zero_points and all(onnx.numpy_helper.to_array(z).dtype == np.int8 and not onnx.numpy_helper.to_array(
        z).any() for z in zero_points)  # int8 symmetric activations: zero point 0, as TensorRT takes them
    half = onnx.load(str(exported["fp16"])).graph
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in half.initializer)
    assert half.input[0].type.tensor_type.elem_type == half.output[0].type.tensor_type.elem_type == 1
    casts = {n.output[0]: n for n in half.node if n.op_type == "Cast"}
    log = next(n for n in half.node if n.op_type == "Log")
    assert all(t not in casts for t in log.input), "the encoding reads the sensor in float32, not through fp16"


def test_metadata_in_all_three_places(exported, smoke_run):
    import onnx

    for precision in ("int8", "fp16"):
        path = exported[precision]
        props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        meta = json.loads(props["crossmodal"])
        assert meta == json.loads(Path(str(path) + ".json").read_text()) == read_metadata(path)
        assert json.loads(props["quality"]) == meta["quality"] and props["precision"] == precision
        assert meta["precision"] == meta["quantisation"]["precision"] == precision
        q = meta["quality"]
        assert q["labels"] and q["frames"] == 16 and q["pixels"] == 16 * 48 * 64 and "test split" in q["on"]
        assert q["miou_loss_points"] == pytest.approx(100 * (q["miou_float"] - q["miou"]))
        assert q["miou_float"] == pytest.approx(smoke_run[1]["methods"][METHOD]["miou"], abs=1e-6)
        assert meta["max_miou_loss"] == 1.0 and meta["loss_accepted"] is False
        assert set(meta["quantisation"]["float32_nodes"]) >= {"input_encoding", "output"}
        assert "static_shape" not in meta and meta["input"]["shape"] == ["batch", "height", "width"]
    cal = read_metadata(exported["int8"])["calibration"]
    assert cal["frames"] == 8 and cal["of"] == 64 and "unlabeled.h5" in cal["source"]
    assert cal["indices"] == sorted(set(cal["indices"])) and len(cal["indices"]) == 8
    assert cal["seed"] == seed_for(0, "deploy_calibration")  # its own seed stream, from the student's seed 0
    info = read_metadata(exported["int8"])["quantisation"]
    assert (info["format"], info["calibration_frames"], info["calibration_shape"]) == ("QDQ", 8, [48, 64])
    assert "per output channel" in info["weights"] and "symmetric" in info["activations"]
    assert "calibration" not in read_metadata(exported["fp16"])  # measured on the test split, nothing calibrated
    assert "precision" not in read_metadata(exported["fp32"])  # the float export is as before


def test_loss_above_the_threshold_is_refused_unless_accepted(smoke_run, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    args = ["--precision", "int8", "--calibration-frames", "4", "--max-miou-loss", "-100"]  # any loss exceeds -100
    assert _export(smoke_run[0], out, *args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the int8 student loses ") and "--max-miou-loss -100" in err and "\n" not in err
    assert "--accept-loss" in err and "nothing written" in err
    assert list(tmp_path.iterdir()) == []  # nothing half-written, no scratch file left
    assert _export(smoke_run[0], out, *args, "--accept-loss") == 0
    printed = capsys.readouterr().out
    meta = read_metadata(out)
    assert meta["loss_accepted"] is True and meta["max_miou_loss"] == -100
    assert "written because of --accept-loss" in printed and f"{100 * meta['quality']['agreement']:.3f}%" in printed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "m.onnx.json"]


def test_static_shape_has_fixed_dims_and_refuses_other_sizes(exported, smoke_run, test_split, tmp_path, capsys):
    import onnx

    depth = test_split[0]
    for name, extra in (("fp32", []), ("int8", ["--precision", "int8", "--calibration-frames", "3"])):
        out = tmp_path / f"static_{name}.onnx"
        assert _export(smoke_run[0], out, "--static-shape", "48x64", "--static-batch", "2", *extra) == 0
        assert "static shape: batch 2 x 48x64" in capsys.readouterr().out
        dims = onnx.load(str(out)).graph.input[0].type.tensor_type.shape.dim
        assert [d.dim_value for d in dims] == [2, 48, 64] and all(d.HasField("dim_value") for d in dims)
        meta = read_metadata(out)
        assert meta["static_shape"] == {"batch": 2, "height": 48, "width": 64} and meta["input"]["shape"] == [2, 48, 64]
        check_frame_size(meta, 48, 64)
        for size in ((96, 128), (56, 64)):
            with pytest.raises(ExportError, match=r"--static-shape 48x64 and takes only that size \(batch 2\)"):
                check_frame_size(meta, *size)
        got = _run(out, depth)
        want = _run(exported[name], depth)
        if name == "fp32":
            assert float(np.abs(got - want).max()) <= 1e-4
        else:  # two int8 calibrations (3 and 8 frames): close, not equal
            assert float((got.argmax(1) == want.argmax(1)).mean()) >= 0.97
    assert _export(smoke_run[0], tmp_path / "bad.onnx", "--static-shape", "50x64") == 2
    err = capsys.readouterr().err
    assert "--static-shape 50x64: height and width must be multiples of 8" in err and "56x64" in err
    assert not (tmp_path / "bad.onnx").exists()


@pytest.mark.parametrize("args, message", [
    (["--format", "torchscript", "--precision", "int8"], "--precision int8 needs --format onnx"),
    (["--format", "torchscript", "--static-shape", "48x64"], "--static-shape needs --format onnx"),
    (["--format", "onnx", "--calibrate", "x.h5"], "--calibrate applies to --precision int8 or fp16"),
    (["--format", "onnx", "--precision", "fp16", "--calibration-method", "entropy"], "applies to --precision int8"),
    (["--format", "onnx", "--static-shape", "48"], "expected HEIGHTxWIDTH"),
    (["--format", "onnx", "--static-batch", "2"], "--static-batch 2 applies with --static-shape only"),
    (["--format", "onnx", "--precision", "int8", "--calibration-frames", "0"], "expected at least 1"),
    (["--format", "onnx", "--precision", "int8", "--glob", "*.png"], "picks the files of a --calibrate folder"),
])
def test_options_refused_before_any_work(args, message, tmp_path, capsys):
    out = tmp_path / "m.out"
    assert main(["--run", str(tmp_path / "no-run"), "--method", METHOD, "--out", str(out), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_calibrate_with_a_user_file(exported, smoke_run, tmp_path):
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 6.0, (5, 40, 60)).astype(np.float32)  # 40x60: padded to 40x64 (stride 8)
    depth[:, :4] = 0.0
    user = write_paired(tmp_path / "mine.h5", {"depth": depth}, class_names=None, source="tests/deploy/test_quantize")
    out = tmp_path / "mine.onnx"
    assert _export(smoke_run[0], out, "--precision", "int8", "--calibrate", str(user), "--calibration-frames", "3") == 0
    meta = read_metadata(out)
    cal = meta["calibration"]
    assert str(user) in cal["source"] and (cal["frames"], cal["of"]) == (3, 5)
    assert meta["quantisation"]["calibration_shape"] == [40, 64] and "test split" in meta["quality"]["on"]
    assert _export(smoke_run[0], tmp_path / "x.onnx", "--precision", "int8", "--calibrate",
                   str(tmp_path / "missing.h5")) == 2
    # without labels the figures are against the float model's predictions, on the frames given (unpadded pixels)
    source = open_source(user, read_metadata(exported["fp32"]), "--calibrate")
    try:
        q = quality(exported["fp32"], out, source, range(5), read_metadata(exported["fp32"]), "mine.h5")
    finally:
        source.close()
    assert q["labels"] is False and q["pixels"] == 5 * 40 * 60 and 0.9 <= q["agreement"] <= 1.0
    assert q["miou_loss_points"] == pytest.approx(100 * (1 - q["miou_vs_float"]))
    ref, got = (_run(p, np.pad(depth, [(0, 0), (0, 0), (0, 4)]))[..., :60].argmax(1) for p in (exported["fp32"], out))
    assert q["agreement"] == pytest.approx(float((ref == got).mean()), abs=1e-9)


def test_calibrate_on_the_depth_files_of_a_mixed_folder(smoke_run, tmp_path, capsys):
    """--glob picks a --calibrate folder's depth PNGs beside colour ones, as crossmodal-predict --glob does."""
    import cv2

    rec = tmp_path / "rec"
    rec.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        assert cv2.imwrite(str(rec / f"{i:04d}_colour.png"), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        assert cv2.imwrite(str(rec / f"{i:04d}_depth.png"), rng.integers(500, 6000, (48, 64), dtype=np.uint16))
    args = ["--precision", "int8", "--calibrate", str(rec), "--scale", "0.001", "--calibration-frames", "2"]
    assert _export(smoke_run[0], tmp_path / "a.onnx", *args) == 2  # the colour files: not what the model takes
    assert "0000_colour.png" in capsys.readouterr().err and not (tmp_path / "a.onnx").exists()
    assert _export(smoke_run[0], tmp_path / "a.onnx", *args, "--glob", "*depth*.png") == 0
    cal = read_metadata(tmp_path / "a.onnx")["calibration"]
    assert str(rec) in cal["source"] and (cal["frames"], cal["of"]) == (2, 3)
