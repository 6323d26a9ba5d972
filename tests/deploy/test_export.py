"""crossmodal-export: exported students agree with the PyTorch checkpoint.

The torch encodings match the NumPy ones, and the exported ONNX and TorchScript students agree with the checkpoint on
the smoke run's test split: logits, labels, mIoU, with dynamic batch and size.
"""
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from conftest import REPO  # noqa: F401 (the shared fixtures live beside it)
from crossmodal.config.encodings import ENCODINGS, InputSpec
from crossmodal.deploy.export import ExportError, SensorModel, check_frame_size, find_checkpoint, main, read_metadata

METHOD = "crd_dense"
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:FutureWarning")


def _test_file(overrides: list[str]) -> Path:
    """The smoke data's test split, from the data.synthetic.out override."""
    out = next(o.split("=", 1)[1] for o in overrides if o.startswith("data.synthetic.out="))
    return Path(out) / "test.h5"


@pytest.fixture(scope="module")
def exported(smoke_run, tmp_path_factory):
    """The crd_dense student exported through the command line in both formats: {fmt: path}."""
    run_dir = smoke_run[0]
    out = tmp_path_factory.mktemp("export")
    paths = {"onnx": out / "seg.onnx", "torchscript": out / "seg.pt"}
    for fmt, path in paths.items():
        assert main(["--run", str(run_dir), "--method", METHOD, "--format", fmt, "--out", str(path)]) == 0
    return paths


@pytest.fixture(scope="module")
def reference(smoke_run):
    """What the pipeline evaluates: load_finetuned + the NumPy encoding, batches of finetune.batch_size, eval mode."""
    from crossmodal.config import load_config
    from crossmodal.config.encodings import encoding_channels
    from crossmodal.data.loaders import input_spec
    from crossmodal.downstream.evaluate import load_finetuned

    run_dir, metrics, overrides = smoke_run
    cfg = load_config(run_dir / "config.yaml")
    spec = input_spec(cfg, "target")
    with h5py.File(_test_file(overrides), "r") as f:
        depth, label = f["depth"][:], f["label"][:]
    model, names = load_finetuned(run_dir / "checkpoints" / f"{METHOD}_finetuned.pt", cfg,
                                  encoding_channels(spec.encoding, depth.shape[1:]))
    model.eval()
    bs = cfg.finetune.batch_size
    with torch.no_grad():
        logits = np.concatenate([model(torch.from_numpy(np.stack([spec(d) for d in depth[i:i + bs]]))).numpy()
                                 for i in range(0, len(depth), bs)])
    return {"depth": depth, "label": label, "logits": logits, "names": names, "batch_size": bs,
            "miou": metrics["methods"][METHOD]["miou"], "model": model, "spec": spec}


def _runner(fmt: str, path: Path):
    """A function sensor batch (numpy) -> logits (numpy) under onnxruntime or the loaded TorchScript module."""
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda x: sess.run(["logits"], {"sensor": x})[0]
    module = torch.jit.load(str(path), map_location="cpu")
    return lambda x: module(torch.from_numpy(x)).detach().numpy()


def _miou(pred: np.ndarray, label: np.ndarray, names: list[str]) -> float:
    from crossmodal.metrics import ConfusionMatrix, segmentation_metrics

    cm = ConfusionMatrix(len(names), ignore_index=255)
    cm.update(torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(label.astype(np.int64)))
    return segmentation_metrics(cm.matrix, names)["miou"]


@pytest.mark.parametrize("name", sorted(ENCODINGS))
@pytest.mark.parametrize("standardise", [False, True])
def test_torch_encoding_matches_numpy(name, standardise):
    rng = np.random.default_rng(0)
    if name in ("rgb", "hha"):
        cases = [rng.integers(0, 256, (3, 8, 10, 3)).astype(np.uint8)]
    elif name == "raw":
        cases = [rng.normal(size=(3, 8, 10)).astype(np.float32), rng.integers(0, 256, (3, 8, 10, 2)).astype(np.uint8),
                 rng.integers(0, 65536, (3, 8, 10)).astype(np.uint16)]
    else:  # depth in metres with holes
        d = rng.uniform(0.3, 12.0, (3, 8, 10)).astype(np.float32)
        d[rng.random(d.shape) < 0.2] = 0.0
        cases = [d]
    for x in cases:
        k = ENCODINGS[name].fn(x[0]).shape[0]
        mean, std = ((tuple(rng.normal(size=k).tolist()), tuple(rng.uniform(0.5, 2.0, k).tolist())) if standardise
                     else ((), ()))
        want = np.stack([InputSpec(name, mean, std)(s) for s in x])
        got = SensorModel(nn.Identity(), name, mean, std).encode(torch.from_numpy(x)).numpy()
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=f"{name} on {x.dtype}")


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_parity_on_test_split(fmt, exported, reference):
    run = _runner(fmt, exported[fmt])
    depth, bs = reference["depth"], reference["batch_size"]
    logits = np.concatenate([run(depth[i:i + bs]) for i in range(0, len(depth), bs)])
    want = reference["logits"]
    assert logits.shape == want.shape == (len(depth), len(reference["names"])) + depth.shape[1:]
    diff = float(np.abs(logits - want).max())
    agree = float((logits.argmax(1) == want.argmax(1)).mean())
    miou = _miou(logits.argmax(1), reference["label"], reference["names"])
    print(f"{fmt}: max |logit diff| {diff:.2e}, label agreement {agree:.6f}, mIoU {miou:.8f} "
          f"(metrics.json {reference['miou']:.8f})")
    assert diff <= 1e-4
    assert agree >= 0.999
    assert abs(miou - reference["miou"]) <= 1e-6


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_dynamic_batch_and_size(fmt, exported, reference):
    run = _runner(fmt, exported[fmt])
    wrapped = SensorModel(reference["model"], reference["spec"].encoding, reference["spec"].mean,
                          reference["spec"].std).eval()
    depth = reference["depth"]
    rng = np.random.default_rng(1)
    other = rng.uniform(0.5, 8.0, (3, 64, 88)).astype(np.float32)  # 64x88: multiples of the stride 8, not 48x64
    other[:, :5] = 0.0
    for x in (depth[:1], depth[:3], other, other[:1]):
        got = run(np.ascontiguousarray(x))
        with torch.no_grad():
            want = wrapped(torch.from_numpy(np.ascontiguousarray(x))).numpy()
        assert got.shape == want.shape == (x.shape[0], len(reference["names"])) + x.shape[1:]
        assert float(np.abs(got - want).max()) <= 1e-4


def test_metadata_in_all_three_places(exported, smoke_run):
    import hashlib

    import onnx

    run_dir = smoke_run[0]
    config_hash = hashlib.sha256((run_dir / "config.yaml").read_bytes()).hexdigest()
    props = {p.key: p.value for p in onnx.load(str(exported["onnx"])).metadata_props}
    extra = {"crossmodal.json": ""}
    torch.jit.load(str(exported["torchscript"]), map_location="cpu", _extra_files=extra)
    for fmt, meta in [("onnx", json.loads(props["crossmodal"])), ("torchscript", json.loads(extra["crossmodal.json"]))]:
        side = json.loads(Path(str(exported[fmt]) + ".json").read_text())
        assert meta == side == read_metadata(exported[fmt])
        assert meta["class_names"] == json.loads((run_dir / "metrics.json").read_text())["class_names"]
        assert (meta["modality"], meta["units"], meta["encoding"]) == ("depth", "metres", "logdepth_valid")
        assert meta["mean"] == [] and meta["std"] == [] and meta["config_sha256"] == config_hash
        assert (meta["run"], meta["method"], meta["seed"], meta["stride_multiple"]) == ("smoke", METHOD, 0, 8)
        assert meta["input"] == {"name": "sensor", "layout": "NHW", "dtype": "float32",
                                 "shape": ["batch", "height", "width"]}
        assert "multiples of 8" in meta["size_rule"] and meta["trained_size"] == [48, 64]
    assert json.loads(props["class_names"]) == meta["class_names"] and int(props["opset"]) >= 17


def test_missing_method_or_seed_lists_what_the_run_has(smoke_run, tmp_path, capsys):
    run_dir = smoke_run[0]
    with pytest.raises(ExportError, match=r"no fine-tuned student for method 'kd'; it has: .*crd_dense \(seed 0\)"):
        find_checkpoint(run_dir, "kd", None, [0])
    with pytest.raises(ExportError, match=r"'crd' seed 3; it has: .*none \(seed 0\)"):
        find_checkpoint(run_dir, "crd", 3, [0])
    out = tmp_path / "m.onnx"
    assert main(["--run", str(run_dir), "--method", "kd", "--format", "onnx", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "crd_dense" in err and not out.exists()
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_several_seeds_need_a_seed(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    for seed in (0, 2):
        (tmp_path / "checkpoints" / f"crd-seed{seed}_finetuned.pt").touch()
    with pytest.raises(ExportError, match="seeds 0, 2: choose one with --seed"):
        find_checkpoint(tmp_path, "crd", None, [0, 2])
    assert find_checkpoint(tmp_path, "crd", 2, [0, 2]) == (tmp_path / "checkpoints" / "crd-seed2_finetuned.pt", 2)
    with pytest.raises(ExportError, match=r"it has: crd \(seeds 0, 2\)"):
        find_checkpoint(tmp_path, "crd", 1, [0, 2])


def test_existing_out_is_refused_unless_overwrite(exported, smoke_run, capsys):
    path = exported["torchscript"]
    before = path.read_bytes()
    args = ["--run", str(smoke_run[0]), "--method", METHOD, "--format", "torchscript", "--out", str(path)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--overwrite" in err and path.read_bytes() == before
    assert main(args + ["--overwrite"]) == 0
    assert read_metadata(path)["method"] == METHOD


def test_frame_size_rule_and_foreign_files(exported, tmp_path):
    meta = read_metadata(exported["onnx"])
    check_frame_size(meta, 64, 88)
    with pytest.raises(ExportError, match="multiples of 8"):
        check_frame_size(meta, 50, 64)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ExportError, match="neither a TorchScript nor an ONNX file"):
        read_metadata(junk)
    plain = tmp_path / "plain.pt"  # TorchScript without our metadata: refused, not guessed at
    torch.jit.save(torch.jit.trace(nn.Conv2d(1, 2, 1), torch.zeros(1, 1, 8, 8)), str(plain))
    with pytest.raises(ExportError, match="carries no crossmodal metadata"):
        read_metadata(plain)
