"""crossmodal-predict's readable outputs and conveniences on the smoke run's student (exported as ONNX).

The legend and the class colours in classes.txt/predict.json, --alpha, --panels, --glob in a folder of colour and
depth files, the size refusal naming --pad, the frames far outside the training range, static-shape batching.
"""
import dataclasses
import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

import crossmodal.deploy.predict as predict_mod
from crossmodal.colours import class_palette, colorize_label, overlay
from crossmodal.config import load_config
from crossmodal.deploy.export import build_sensor_model
from crossmodal.deploy.export import main as export_main
from crossmodal.deploy.frames import open_frames
from crossmodal.deploy.predict import main, predict, size_advice
from crossmodal.deploy.ranges import PERCENTILES, reading_range
from crossmodal.deploy.views import GAP, SWATCH, TITLE_HEIGHT, panel_scale, sensor_picture

METHOD = "crd_dense"
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:FutureWarning")
KINECT_RANGE = {"modality": "depth", "units": "metres", "low": 0.5, "high": 7.1, "min": 0.45, "max": 9.9,
                "percentiles": list(PERCENTILES), "frames": 64, "splits": {}}


@pytest.fixture(scope="module")
def split(smoke_run):
    """The smoke run's test split: depth (N, H, W) metres and labels."""
    out = next(o.split("=", 1)[1] for o in smoke_run[2] if o.startswith("data.synthetic.out="))
    with h5py.File(Path(out) / "test.h5", "r") as f:
        return Path(out) / "test.h5", f["depth"][:6], f["label"][:6]


@pytest.fixture(scope="module")
def onnx_model(smoke_run, tmp_path_factory):
    """The crd_dense student exported as ONNX."""
    path = tmp_path_factory.mktemp("views") / "seg.onnx"
    assert export_main(["--run", str(smoke_run[0]), "--method", METHOD, "--format", "onnx", "--out", str(path)]) == 0
    return path


def _rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None, path
    return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _fails(args: list[str], capsys, *match: str) -> str:
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and all(m in err for m in match), err
    return err


def _npy_folder(root: Path, depth: np.ndarray, label: np.ndarray | None = None) -> list[str]:
    root.mkdir(parents=True)
    for i, d in enumerate(depth):
        np.save(root / f"f{i}.npy", d)
        if label is not None:
            (root.parent / "labels").mkdir(exist_ok=True)
            assert cv2.imwrite(str(root.parent / "labels" / f"f{i}.png"), label[i])
    return [f"f{i}" for i in range(len(depth))]


def _cell(pan: np.ndarray, k: int, s: int, w: int) -> np.ndarray:
    """Picture k of a panel, back at the frame's size (the panel enlarges each by s)."""
    return pan[TITLE_HEIGHT::s, k * (s * w + GAP):k * (s * w + GAP) + s * w:s]


def test_legend_colours_panels_and_alpha(onnx_model, split, smoke_run, tmp_path):
    _, depth, label = split
    label = label.copy()
    label[:, :4, :] = 255  # ignored rows: black in the panel
    names = _npy_folder(tmp_path / "f", depth[:3], label[:3])
    out = tmp_path / "o"
    assert main(["--model", str(onnx_model), "--input", str(tmp_path / "f"), "--labels", str(tmp_path / "labels"),
                 "--panels", "--alpha", "0.7", "--out", str(out), "--quiet"]) == 0
    classes = smoke_run[1]["class_names"]
    pal = class_palette(len(classes))
    lines = (out / "classes.txt").read_text().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == classes
    want_hex = ["#%02x%02x%02x" % tuple(int(v) for v in c) for c in pal]
    assert [ln.split("\t")[1] for ln in lines] == want_hex
    info = json.loads((out / "predict.json").read_text())
    assert info["class_colours"] == dict(zip(classes, want_hex)) and info["alpha"] == 0.7 and info["panels"] is True
    leg = _rgb(out / "legend.png")
    for k, c in enumerate(pal):  # a solid swatch of each class colour, its name in dark text beside it
        assert int((leg == c).all(axis=2).sum()) >= SWATCH[0] * SWATCH[1]
        y = 6 + k * (SWATCH[0] + 6)
        assert (leg[y:y + SWATCH[0], 8 + SWATCH[1] + 4:] < 100).all(axis=2).sum() > 20
    h, w = depth.shape[1:]
    s = panel_scale(w)
    for i, name in enumerate(names):
        pred = _rgb(out / f"{name}.png")
        pan = _rgb(out / f"{name}_panel.png")
        assert pan.shape == (TITLE_HEIGHT + s * h, 3 * s * w + 2 * GAP, 3)
        cells = [_cell(pan, k, s, w) for k in range(3)]
        assert np.array_equal(cells[1], colorize_label(pred, len(classes)))
        assert np.array_equal(cells[2], colorize_label(label[i], len(classes))) and (cells[2][:4] == 0).all()
        base = sensor_picture(depth[i], {"modality": "depth", "units": "metres"})
        assert np.array_equal(cells[0], base)
        assert np.array_equal(_rgb(out / f"{name}_overlay.png"), overlay(base, pred, len(classes), alpha=0.7))
    for alpha in ("0", "1"):
        o = tmp_path / f"a{alpha}"
        assert main(["--model", str(onnx_model), "--input", str(tmp_path / "f"), "--alpha", alpha, "--out", str(o),
                     "--quiet"]) == 0
        pred, base = _rgb(o / "f0.png"), sensor_picture(depth[0], {"modality": "depth"})
        want = base if alpha == "0" else colorize_label(pred, len(classes))
        assert np.array_equal(_rgb(o / "f0_overlay.png"), want)
        assert not list(o.glob("*_panel.png"))


def test_bad_alpha_and_the_size_refusal_name_what_to_do(onnx_model, split, tmp_path, capsys):
    _, depth, _ = split
    args = ["--model", str(onnx_model), "--input", str(tmp_path / "one.npy"), "--out", str(tmp_path / "o")]
    np.save(tmp_path / "one.npy", depth[0][:45, :61])
    for bad in ("1.5", "-0.1"):
        _fails(args + ["--alpha", bad], capsys, f"--alpha {bad}", "from 0", "to 1")
    _fails(args, capsys, "frames of 45x61 do not fit this model", "or pass --pad to pad them with 0 (no reading)")
    assert not (tmp_path / "o").exists()
    fixed = {"stride_multiple": 8, "size_rule": "x", "static_shape": {"batch": 2, "height": 48, "width": 64}}
    assert "pass --pad to pad them with 0 (no reading) to 48x64" in size_advice(fixed, (40, 56), False)
    assert size_advice(fixed, (40, 56), True) is None and size_advice(fixed, (48, 64), False) is None
    assert "crop or resize them to 48x64" in size_advice(fixed, (48, 72), True)


def test_glob_picks_the_depth_files_of_a_mixed_folder(onnx_model, split, tmp_path, capsys):
    path, depth, _ = split
    rec = tmp_path / "kinect"
    (rec / "b").mkdir(parents=True)
    for i in range(3):
        sub = "b/" if i == 2 else ""
        assert cv2.imwrite(str(rec / f"{sub}{i:04d}_colour.png"), np.full(depth.shape[1:] + (3,), 90, np.uint8))
        assert cv2.imwrite(str(rec / f"{sub}{i:04d}_depth.png"), np.round(depth[i] * 1000).astype(np.uint16))
    (rec / "notes.txt").write_text("x")
    args = ["--model", str(onnx_model), "--input", str(rec), "--scale", "0.001", "--out", str(tmp_path / "o"),
            "--quiet"]
    _fails(args, capsys, "0000_colour.png", "takes depth float32 (H, W)")  # without --glob: refused, as before
    assert main(args + ["--glob", "*depth*.png"]) == 0
    got = sorted(p.relative_to(tmp_path / "o").as_posix() for p in (tmp_path / "o").rglob("*.png"))
    assert got == ["0000_depth.png", "0000_depth_overlay.png", "0001_depth.png", "0001_depth_overlay.png",
                   "b/0002_depth.png", "b/0002_depth_overlay.png", "legend.png"]
    assert json.loads((tmp_path / "o" / "predict.json").read_text())["glob"] == "*depth*.png"
    _fails(args + ["--glob", "*.exr"], capsys, "--glob '*.exr' matches no sensor file", str(rec), "0000_colour.png",
           "(7 files)")
    _fails(args[:3] + [str(path)] + args[4:] + ["--glob", "*.png"], capsys, "selects files in a folder",
           "an HDF5 split")
    _fails(args[:3] + [str(rec / "0000_depth.png")] + args[4:] + ["--glob", "*.png"], capsys, "is one file")


def test_frames_far_outside_the_training_range_are_counted_and_named(smoke_run, split, tmp_path, monkeypatch,
                                                                        capsys):
    _, depth, _ = split
    far = depth[:4].copy()
    far = np.clip(far, 0.6, 6.5)  # within 0.5-7.1 m, like the training data
    far[1, :12, :] = 65.535  # a Kinect v2 frame: a quarter of its readings at 65.5 m
    far[3, 0, :4] = 65.535  # four readings of 3072: too few to count
    folder = tmp_path / "rec"
    _npy_folder(folder, far)
    model, meta = build_sensor_model(smoke_run[0], METHOD)
    assert meta["reading_range"]["units"] == "metres" and meta["reading_range"]["high"] > 0  # every export keeps it
    monkeypatch.setattr(predict_mod, "build_sensor_model",
                        lambda *a, **k: (model, dict(meta, reading_range=KINECT_RANGE)))
    assert main(["--run", str(smoke_run[0]), "--method", METHOD, "--input", str(folder), "--out",
                 str(tmp_path / "o"), "--quiet", "--no-overlays"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line == "1 of 4 frames have readings far outside the training range 0.5-7.1 m: f1; see predict.json"
    rep = json.loads((tmp_path / "o" / "predict.json").read_text())["out_of_range"]
    assert rep["count"] == 1 and rep["checked"] == 4 and rep["frames"] == [{"name": "f1", "fraction": 0.25}]
    assert rep["limits"] == [-2.8, 10.4] and "1%" in rep["rule"] and rep["range"] == KINECT_RANGE
    monkeypatch.undo()
    meta = {k: v for k, v in meta.items() if k != "reading_range"}  # an older export: nothing checked
    source = open_frames(folder, meta)
    predict(lambda x: np.zeros(x.shape[:3], np.uint8), meta, source, tmp_path / "u", progress=False)
    assert json.loads((tmp_path / "u" / "predict.json").read_text())["out_of_range"].startswith("unknown")


def test_reading_range_of_the_smoke_runs_training_depth(smoke_run):
    cfg = load_config(smoke_run[0] / "config.yaml")
    rng = reading_range(cfg)
    assert rng is not None and rng["modality"] == "depth" and rng["units"] == "metres"
    assert set(rng["splits"]) == {"unlabeled", "train"} and rng["frames"] == 64 + 32
    values = []
    for split in ("unlabeled", "train"):
        with h5py.File(rng["splits"][split], "r") as f:
            d = f["depth"][:].ravel()
        values.append(d[np.isfinite(d) & (d != 0)])
    v = np.concatenate(values)
    assert rng["min"] == pytest.approx(float(v.min()), abs=1e-6) and rng["max"] == pytest.approx(float(v.max()),
                                                                                                   abs=1e-6)
    low, high = np.percentile(v, PERCENTILES)
    assert abs(rng["low"] - low) < 0.05 * (high - low) and abs(rng["high"] - high) < 0.05 * (high - low)
    assert rng["min"] <= rng["low"] < rng["high"] <= rng["max"]
    colour = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, target="rgb"))
    assert reading_range(colour) is None  # uint8 colour has no reading range
    gone = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, unlabeled="/nonexistent/u.h5",
                                                             train="/nonexistent/t.h5"))
    assert reading_range(gone) is None


def test_a_static_shape_model_runs_full_batches_and_drops_the_filler(smoke_run, split, tmp_path):
    _, depth, _ = split
    model, meta = build_sensor_model(smoke_run[0], METHOD)
    import torch

    seen = []

    def run(x: np.ndarray) -> np.ndarray:
        seen.append(x.shape)
        with torch.no_grad():
            return model(torch.from_numpy(x)).argmax(1).numpy().astype(np.uint8)

    fixed = dict(meta, static_shape={"batch": 2, "height": 48, "width": 64})
    folder = tmp_path / "f"
    _npy_folder(folder, depth[:3, :40, :56])  # 40x56: padded up to the fixed 48x64
    predict(run, fixed, open_frames(folder, fixed), tmp_path / "o", batch_size=8, pad=True, progress=False)
    assert seen == [(2, 48, 64), (2, 48, 64)]  # 3 frames: a full batch, then frame 2 and a copy of it
    ref = run(np.pad(depth[:3, :40, :56], ((0, 0), (0, 8), (0, 8))))[:, :40, :56]
    for i in range(3):
        assert np.array_equal(_rgb(tmp_path / "o" / f"f{i}.png"), ref[i])
    assert json.loads((tmp_path / "o" / "predict.json").read_text())["batch_size"] == 2


def test_a_static_shape_onnx_file_end_to_end(smoke_run, split, onnx_model, tmp_path, capsys):
    _, depth, _ = split
    static = tmp_path / "static.onnx"
    assert export_main(["--run", str(smoke_run[0]), "--method", METHOD, "--format", "onnx", "--static-shape", "48x64",
                        "--static-batch", "2", "--out", str(static)]) == 0
    full, small = tmp_path / "full", tmp_path / "small"
    _npy_folder(full, depth[:3])
    _npy_folder(small, depth[:1, :40, :56])
    args = ["--model", str(static), "--quiet", "--no-overlays"]
    assert main(args + ["--input", str(full), "--out", str(tmp_path / "o")]) == 0
    assert main(["--model", str(onnx_model), "--input", str(full), "--out", str(tmp_path / "ref"), "--quiet"]) == 0
    for i in range(3):  # the filler frame of the last batch changes nothing
        assert np.array_equal(_rgb(tmp_path / "o" / f"f{i}.png"), _rgb(tmp_path / "ref" / f"f{i}.png"))
    assert json.loads((tmp_path / "o" / "predict.json").read_text())["batch_size"] == 2
    _fails(args + ["--input", str(full), "--batch-size", "4", "--out", str(tmp_path / "x")], capsys,
           "fixed batch of 2")
    _fails(args + ["--input", str(small), "--out", str(tmp_path / "x")], capsys, "frames of 40x56",
           "--static-shape 48x64", "pass --pad")
    assert main(args + ["--input", str(small), "--pad", "--out", str(tmp_path / "p")]) == 0
    (full / "legend.npy").write_bytes((full / "f0.npy").read_bytes())
    _fails(args + ["--input", str(full), "--out", str(tmp_path / "x")], capsys, "frame 'legend' would be overwritten")


def test_a_colour_inputs_panel_shows_the_picture_as_it_is(tmp_path):
    meta = {"modality": "rgb", "units": "unknown", "class_names": ["wall", "floor", "table"], "stride_multiple": 8,
            "input": {"dtype": "uint8", "shape": ["batch", "height", "width", 3]}}
    rgb = np.random.default_rng(0).integers(0, 256, (16, 24, 3), dtype=np.uint8)
    (tmp_path / "f").mkdir()
    assert cv2.imwrite(str(tmp_path / "f" / "a.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    pred = np.tile(np.arange(24) % 3, (16, 1)).astype(np.uint8)
    predict(lambda x: np.repeat(pred[None], len(x), 0), meta, open_frames(tmp_path / "f", meta), tmp_path / "o",
            panels=True, alpha=1.0, progress=False)
    pan = _rgb(tmp_path / "o" / "a_panel.png")
    s = panel_scale(24)
    assert pan.shape == (TITLE_HEIGHT + 16 * s, 2 * 24 * s + GAP, 3)
    assert np.array_equal(_cell(pan, 0, s, 24), rgb) and np.array_equal(_cell(pan, 1, s, 24), colorize_label(pred, 3))
    assert np.array_equal(_rgb(tmp_path / "o" / "a_overlay.png"), colorize_label(pred, 3))
    out_of_range = json.loads((tmp_path / "o" / "predict.json").read_text())["out_of_range"]
    assert out_of_range.startswith("unknown")  # colour has no reading range
