"""crossmodal-predict on a run's student and on its exported files.

The student runs in PyTorch, the files under onnxruntime and TorchScript; the input is an HDF5 split, folders of 16-bit
millimetre PNGs or .npy, or single files. Label PNGs, overlays, metrics equal to the run's report; bad input refused in
one line with nothing written.
"""
import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch

from crossmodal.deploy.export import build_sensor_model
from crossmodal.deploy.export import main as export_main
from crossmodal.deploy.predict import main

METHOD = "crd_dense"
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:FutureWarning")


@pytest.fixture(scope="module")
def split(smoke_run):
    """The smoke run's test split: its path, depth (N, H, W) metres and labels."""
    out = next(o.split("=", 1)[1] for o in smoke_run[2] if o.startswith("data.synthetic.out="))
    path = Path(out) / "test.h5"
    with h5py.File(path, "r") as f:
        return path, f["depth"][:], f["label"][:]


@pytest.fixture(scope="module")
def models(smoke_run, tmp_path_factory):
    """The crd_dense student exported as ONNX and TorchScript: {fmt: path}."""
    out = tmp_path_factory.mktemp("models")
    paths = {"onnx": out / "seg.onnx", "torchscript": out / "seg.pt"}
    for fmt, path in paths.items():
        assert export_main(["--run", str(smoke_run[0]), "--method", METHOD, "--format", fmt, "--out", str(path)]) == 0
    return paths


@pytest.fixture(scope="module")
def pytorch(smoke_run):
    """depth batch (N, H, W) -> class ids, by the run's checkpoint wrapped with its encoding."""
    model, _ = build_sensor_model(smoke_run[0], METHOD)
    with torch.no_grad():
        return lambda d: model(torch.from_numpy(np.ascontiguousarray(d))).argmax(1).numpy()


def _png_folder(root: Path, depth: np.ndarray, label: np.ndarray | None = None, sub: str = "") -> list[str]:
    """Depth as 16-bit millimetre PNGs (the usual sensor dump) under root/sub, labels beside in root/../labels."""
    names = []
    for i, d in enumerate(depth):
        name = f"{sub}{i:04d}"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(root / f"{name}.png"), np.round(d * 1000).astype(np.uint16))
        if label is not None:
            (root.parent / "labels" / name).parent.mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(root.parent / "labels" / f"{name}.png"), label[i])
        names.append(name)
    return names


def _labels(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.dtype == np.uint8 and img.ndim == 2, path
    return img


def _fails(args: list[str], capsys, match: str) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and match in err, err
    return err


def test_run_on_hdf5_split_gives_the_runs_metrics(smoke_run, split, pytorch, tmp_path):
    path, depth, label = split
    out = tmp_path / "preds"
    assert main(["--run", str(smoke_run[0]), "--method", METHOD, "--input", str(path), "--out", str(out),
                 "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    want = smoke_run[1]["methods"][METHOD]
    assert abs(metrics["metrics"]["miou"] - want["miou"]) <= 1e-9
    assert abs(metrics["metrics"]["pixel_acc"] - want["pixel_acc"]) <= 1e-9
    pngs = sorted(p for p in out.glob("*.png") if not p.stem.endswith("_overlay") and p.stem != "legend")
    assert len(pngs) == len(depth) == len(list(out.glob("*_overlay.png")))
    ref = pytorch(depth[:4])
    for i in range(4):
        assert np.array_equal(_labels(pngs[i]), ref[i])
    overlay = cv2.imread(str(out / f"{pngs[0].stem}_overlay.png"))
    assert overlay.shape == depth.shape[1:] + (3,)
    names = [line.split("\t")[0] for line in (out / "classes.txt").read_text().splitlines()]
    assert names == smoke_run[1]["class_names"]
    info = json.loads((out / "predict.json").read_text())
    assert info["frames"] == len(depth) and info["metadata"]["method"] == METHOD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preds"]  # no staging folder left


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_exported_model_on_millimetre_pngs_with_labels(fmt, models, split, pytorch, tmp_path):
    _, depth, label = split
    depth = depth[:10].copy()
    depth[:, :3, :5] = 0.0  # holes
    frames = tmp_path / "rec" / "depth"
    names = _png_folder(frames, depth[:6], label[:6]) + _png_folder(frames, depth[6:], label[6:], sub="b/")
    out = tmp_path / "preds"
    assert main(["--model", str(models[fmt]), "--input", str(frames), "--scale", "0.001", "--labels",
                 str(tmp_path / "rec" / "labels"), "--mask-invalid", "--batch-size", "4", "--out", str(out),
                 "--quiet"]) == 0
    metres = np.stack([cv2.imread(str(frames / f"{n}.png"), cv2.IMREAD_UNCHANGED) for n in names]).astype(np.float32)
    metres = (metres.astype(np.float64) * 0.001).astype(np.float32)  # what --scale 0.001 reads
    want = pytorch(metres)
    got = np.stack([_labels(out / f"{n}.png") for n in names])
    holes = metres == 0
    assert (got[holes] == 255).all() and holes.any()
    assert float((got[~holes] == want[~holes]).mean()) >= 0.999
    assert (out / "b" / "0003_overlay.png").is_file() and (out / "b" / "0003.png").is_file()
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    from crossmodal.metrics import ConfusionMatrix, segmentation_metrics

    cm = ConfusionMatrix(len(metrics["per_class_iou"]))
    cm.update(torch.from_numpy(want.astype(np.int64)), torch.from_numpy(label[:10].astype(np.int64)))
    assert abs(metrics["miou"] - segmentation_metrics(cm.matrix, list(metrics["per_class_iou"]))["miou"]) <= 1e-3


def test_single_npy_file_and_frames_of_two_sizes(models, split, pytorch, tmp_path):
    _, depth, _ = split
    np.save(tmp_path / "one.npy", depth[0])
    out = tmp_path / "single"
    assert main(["--model", str(models["onnx"]), "--input", str(tmp_path / "one.npy"), "--out", str(out),
                 "--quiet", "--no-overlays"]) == 0
    assert np.array_equal(_labels(out / "one.png"), pytorch(depth[:1])[0])
    assert not list(out.glob("*_overlay.png")) and not (out / "metrics.json").exists()
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    big = np.pad(depth[1], ((8, 8), (0, 16)), mode="edge")  # 64x80: another multiple of the stride
    for name, d in (("a", depth[2]), ("b", big), ("c", depth[3])):
        np.save(mixed / f"{name}.npy", d)
    assert main(["--model", str(models["torchscript"]), "--input", str(mixed), "--out", str(tmp_path / "m"),
                 "--quiet"]) == 0
    assert _labels(tmp_path / "m" / "b.png").shape == big.shape
    assert np.array_equal(_labels(tmp_path / "m" / "b.png"), pytorch(big[None])[0])


def test_bad_input_is_refused_in_one_line_with_nothing_written(smoke_run, models, split, tmp_path, capsys):
    path, depth, _ = split
    out = tmp_path / "out"
    onnx = ["--model", str(models["onnx"])]
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "notes.txt").write_text("x")
    _fails(onnx + ["--input", str(empty), "--out", str(out)], capsys, "no sensor files")
    odd = tmp_path / "odd"
    odd.mkdir()
    np.save(odd / "f.npy", depth[0][:45, :60])
    _fails(onnx + ["--input", str(odd), "--out", str(out)], capsys, "multiples of 8")
    mm = tmp_path / "mm"
    _png_folder(mm, depth[:2])
    _fails(onnx + ["--input", str(mm), "--out", str(out)], capsys,
           "unstated unit; the model takes metres, so give --scale")
    colour = tmp_path / "colour"
    colour.mkdir()
    cv2.imwrite(str(colour / "c.png"), np.zeros((48, 64, 3), np.uint8))
    _fails(onnx + ["--input", str(colour), "--out", str(out)], capsys, "takes depth float32 (H, W)")
    _fails(onnx + ["--input", str(path), "--scale", "0.001", "--out", str(out)], capsys, "--scale applies to")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07not onnx")
    _fails(["--model", str(junk), "--input", str(path), "--out", str(out)], capsys, "junk.onnx")
    _fails(["--run", str(smoke_run[0]), "--method", "kd", "--input", str(path), "--out", str(out)], capsys,
           "crd_dense (seed 0)")
    _fails(onnx + ["--input", str(mm), "--scale", "0.001", "--out", str(mm / "preds")], capsys, "inside the input")
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    nan = tmp_path / "nan"  # frame 2 is bad only once read: the run stops and leaves nothing behind
    nan.mkdir()
    for i in range(4):
        d = depth[i].copy()
        if i == 2:
            d[0, 0] = np.nan
        np.save(nan / f"{i}.npy", d)
    _fails(onnx + ["--input", str(nan), "--batch-size", "1", "--out", str(out), "--quiet"], capsys, "NaN")
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    assert main(onnx + ["--input", str(nan), "--nan-as-zero", "--out", str(out), "--quiet"]) == 0


def test_existing_output_needs_overwrite_and_only_replaces_predictions(models, split, tmp_path, capsys):
    _, depth, _ = split
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(3):
        np.save(frames / f"{i}.npy", depth[i])
    out = tmp_path / "preds"
    args = ["--model", str(models["onnx"]), "--input", str(frames), "--out", str(out), "--quiet"]
    assert main(args) == 0
    (out / "stale.png").write_bytes(b"old")
    _fails(args, capsys, "--overwrite")
    assert (out / "stale.png").exists()
    assert main(args + ["--overwrite"]) == 0
    assert not (out / "stale.png").exists() and (out / "2.png").is_file()
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep me")
    _fails(args[:-2] + [str(mine), "--quiet", "--overwrite"], capsys, "not one")
    assert (mine / "thesis.tex").read_text() == "keep me"


def test_pad_runs_frames_off_the_stride_and_crops_back(models, split, pytorch, tmp_path):
    _, depth, _ = split
    odd = depth[0][:45, :61]  # 45x61: not multiples of 8
    np.save(tmp_path / "odd.npy", odd)
    out = tmp_path / "padded"
    assert main(["--model", str(models["onnx"]), "--input", str(tmp_path / "odd.npy"), "--pad", "--out", str(out),
                 "--quiet"]) == 0
    got = _labels(out / "odd.png")
    padded = np.pad(odd, ((0, 3), (0, 3)))  # what --pad feeds: 0 = no reading at the bottom and right
    assert got.shape == odd.shape and np.array_equal(got, pytorch(padded[None])[0][:45, :61])
    assert json.loads((out / "predict.json").read_text())["pad"] is True


def test_labels_that_are_all_ignore_give_no_metrics(models, split, tmp_path):
    _, depth, _ = split
    (tmp_path / "f").mkdir()
    (tmp_path / "l").mkdir()
    np.save(tmp_path / "f" / "a.npy", depth[0])
    cv2.imwrite(str(tmp_path / "l" / "a.png"), np.full(depth[0].shape, 255, np.uint8))
    out = tmp_path / "o"
    assert main(["--model", str(models["onnx"]), "--input", str(tmp_path / "f"), "--labels", str(tmp_path / "l"),
                 "--out", str(out), "--quiet"]) == 0
    assert not (out / "metrics.json").exists()
    assert "every label pixel is 255" in json.loads((out / "predict.json").read_text())["metrics"]
