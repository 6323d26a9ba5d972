"""crossmodal-export on other runs than the smoke run.

Float modalities with per-channel standardisation: thermal (N, H, W) and events (N, H, W, 2). uint8 channels-last
targets, hha and rgb; `metres` depth; uint16 counts; and students from timm, torchvision and the user's own code. No
training: each run folder is fabricated the way run_transfer.py leaves one, with config.yaml, the paired test split and
checkpoints/<method>_finetuned.pt, seeded weights and non-trivial BatchNorm statistics. The reference is what the
pipeline evaluates: load_finetuned plus the NumPy InputSpec encoding per frame, eval mode.
"""
import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from crossmodal.atomic import save_checkpoint
from crossmodal.config import dump_yaml, load_config, to_dict
from crossmodal.config.encodings import encoding_channels
from crossmodal.data.h5writer import write_paired
from crossmodal.data.loaders import input_spec
from crossmodal.deploy.export import example_input, main, read_metadata
from crossmodal.downstream.evaluate import load_finetuned
from crossmodal.models import Segmenter, build_backbone

METHOD = "crd_dense"
NAMES = ["floor", "wall", "chair", "table"]
FORMATS = ("onnx", "torchscript")
pytestmark = [pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:FutureWarning"),
              pytest.mark.slow]  # the cases export fabricated runs in both formats first (about a minute)

MODULE = "export_variant_nets"  # the user's own networks (python:<module>:<callable>), written to a temp folder
SOURCE = '''
import torch
from torch import nn


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 2, 1), nn.BatchNorm2d(cout), nn.ReLU())


class Net(nn.Module):
    def __init__(self, num_classes, in_channels):
        super().__init__()
        self.stem, self.stage1, self.stage2 = block(in_channels, 8), block(8, 16), block(16, 24)
        self.head = nn.Conv2d(24, num_classes, 1)

    def forward(self, x):
        return self.head(self.stage2(self.stage1(self.stem(x))))


class SizeBranch(Net):
    """Python control flow on the input size: tracing freezes the branch taken at the traced size."""

    def forward(self, x):
        x = self.stem(x)
        if x.shape[-1] <= 32:
            x = 2.0 * x
        return self.head(self.stage2(self.stage1(x)))


class Median(Net):
    """aten::median, which neither ONNX exporter converts."""

    def forward(self, x):
        x = self.stem(x)
        x = x - torch.median(x, dim=1, keepdim=True)[0]
        return self.head(self.stage2(self.stage1(x)))


def net(num_classes, in_channels):
    return Net(num_classes, in_channels)


def size_branch(num_classes, in_channels):
    return SizeBranch(num_classes, in_channels)


def median(num_classes, in_channels):
    return Median(num_classes, in_channels)
'''
OWN = ["student.features=[stem,stage1,stage2]"]


def _depth(rng, shape):
    d = rng.uniform(0.4, 9.0, shape).astype(np.float32)
    d[rng.random(shape) < 0.15] = 0.0  # holes
    return d


# name: (target, stored array (N, H, W[, C]) from a seeded rng, encoding, student overrides, mean, std, units,
#        another batch (B, H, W): a different multiple of the stride than the trained size)
VARIANTS = {
    "thermal_raw_std": ("thermal", lambda r: r.normal(294.6, 3.3, (6, 64, 64)).astype(np.float32), "raw",
                        ["student.arch=resnet_narrow"], [294.6], [3.34], "kelvin", (3, 40, 24)),
    "events_raw_2ch_own": ("events", lambda r: r.poisson(3.0, (6, 48, 64, 2)).astype(np.float32), "raw",
                           [f"student.arch=python:{MODULE}:net", *OWN], [3.0, 2.9], [1.7, 1.8], "counts",
                           (3, 24, 40)),
    "hha_uint8_timm": ("hha", lambda r: r.integers(0, 256, (6, 64, 64, 3)).astype(np.uint8), "hha",
                       ["student.arch=timm:mobilenetv3_small_050"], [], [], "hha-uint8", (3, 96, 32)),
    "rgb_uint8_std": ("nir_rgb", lambda r: r.integers(0, 256, (6, 48, 64, 3)).astype(np.uint8), "rgb",
                      ["student.arch=resnet_tiny"], [0.1, -0.2, 0.3], [1.5, 0.8, 1.2], "srgb-uint8", (3, 32, 24)),
    "depth_metres_torchvision": ("depth", lambda r: _depth(r, (6, 64, 64)), "metres",
                                 ["student.arch=torchvision:resnet18"], [], [], "metres", (3, 32, 96)),
    # uint16 goes through the dynamo exporter (torch 2.14's TorchScript-based one refuses it), and 50x86 are not
    # multiples of the stride 4: the exporter must trace at a size that fits its own rule
    "uint16_counts_odd_size": ("thermal", lambda r: r.integers(28000, 31000, (6, 50, 86)).astype(np.uint16), "raw",
                               ["student.arch=resnet_tiny"], [29460.0], [334.0], "counts", (3, 24, 40)),
}


@pytest.fixture(scope="module")
def own_nets(tmp_path_factory):
    """The user's module on the Python path, as PYTHONPATH would put it."""
    folder = tmp_path_factory.mktemp("own_nets")
    (folder / f"{MODULE}.py").write_text(SOURCE)
    sys.path.insert(0, str(folder))
    yield MODULE
    sys.path.remove(str(folder))
    sys.modules.pop(MODULE, None)


def _perturbed(model: torch.nn.Module, x: torch.Tensor) -> None:
    """Seeded random BatchNorm parameters and statistics, so eval-mode BatchNorm is not trivial.

    Affine parameters and running statistics are measured on x, then perturbed, so that eval-mode BatchNorm is neither
    the identity nor batch statistics; logits are scaled to about unit spread.
    """
    g = torch.Generator().manual_seed(1)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad():
        for m in bns:
            if m.affine:
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the one batch
        model.train()
        model(x)
        model.eval()
        for m in bns:
            m.momentum = 0.1
            m.running_mean += 0.1 * m.running_var.sqrt() * torch.randn(m.running_mean.shape, generator=g)
            m.running_var *= 0.8 + 0.4 * torch.rand(m.running_var.shape, generator=g)
            m.running_var.clamp_(min=0.1)  # no near-constant channel amplifies float rounding a thousandfold
        model.head.classifier.weight /= model(x).std()


def fabricate_run(root: Path, target: str, stored: np.ndarray, encoding: str, student: list[str],
                  mean: list[float], std: list[float], units: str) -> tuple[Path, object]:
    """A run folder as run_transfer.py leaves it.

    config.yaml holds the resolved config; the paired test split is the one the config names;
    checkpoints/<METHOD>_finetuned.pt has the keys the cell's protocol saves (crossmodal/downstream/protocols.py).
    """
    rng = np.random.default_rng(0)
    data = root / "data"
    data.mkdir(parents=True)
    label = rng.integers(0, len(NAMES), stored.shape[:3]).astype(np.uint8)
    label[:, :2] = 255  # ignore
    test = write_paired(data / "test.h5", {target: stored, "label": label}, class_names=NAMES,
                        source="fabricated for tests/deploy/test_export_variants.py",
                        modality_attrs=None if target == "depth" else {target: {"units": units, "channels": target}})
    overrides = ["name=variant", f"output_dir={root}", f"data.target={target}", f"data.target_encoding={encoding}",
                 "data.num_classes=4", "data.synthetic.enabled=false", "student.head_channels=8", *student]
    overrides += [f"data.{split}={test}" for split in ("unlabeled", "teacher", "train", "test")]
    if mean:
        overrides += [f"data.target_mean=[{','.join(map(str, mean))}]", f"data.target_std=[{','.join(map(str, std))}]"]
    cfg = load_config(None, overrides)
    run = root / cfg.name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(dump_yaml(cfg))  # what runtime.save_config writes
    spec = input_spec(cfg, "target")
    torch.manual_seed(0)
    backbone = build_backbone(cfg.student.arch, encoding_channels(encoding, stored.shape[1:]),
                              features=cfg.student.features, num_classes=len(NAMES), key="student")
    model = Segmenter(backbone, len(NAMES), cfg.student.head_channels)
    _perturbed(model, torch.from_numpy(np.stack([spec(s) for s in stored])))
    save_checkpoint({"model": model.state_dict(), "method": METHOD, "seed": cfg.seed, "class_names": NAMES,
                     "config": to_dict(cfg)}, run / "checkpoints" / f"{METHOD}_finetuned.pt")
    return run, cfg


def _runner(fmt: str, path: Path):
    """sensor batch (numpy) -> logits (numpy) under onnxruntime (CPU) or the loaded TorchScript module."""
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda x: sess.run(["logits"], {"sensor": x})[0]
    module = torch.jit.load(str(path), map_location="cpu")
    return lambda x: module(torch.from_numpy(x)).detach().numpy()


@pytest.fixture(scope="module", params=list(VARIANTS))
def variant(request, own_nets, tmp_path_factory):
    """One fabricated run exported in both formats through the command line, and its reference."""
    target, make, encoding, student, mean, std, units, other = VARIANTS[request.param]
    root = tmp_path_factory.mktemp(request.param)
    run, cfg = fabricate_run(root, target, make(np.random.default_rng(0)), encoding, student, mean, std, units)
    paths = {"onnx": root / "seg.onnx", "torchscript": root / "seg.pt"}
    for fmt, path in paths.items():
        assert main(["--run", str(run), "--method", METHOD, "--format", fmt, "--out", str(path)]) == 0
    with h5py.File(cfg.data.test, "r") as f:
        stored = f[target][:]
    spec = input_spec(cfg, "target")
    model, names = load_finetuned(run / "checkpoints" / f"{METHOD}_finetuned.pt", cfg,
                                  encoding_channels(spec.encoding, stored.shape[1:]))
    model.eval()

    def reference(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(np.stack([spec(s) for s in x]))).numpy()

    return {"name": request.param, "run": run, "cfg": cfg, "paths": paths, "stored": stored, "names": names,
            "reference": reference, "units": units, "other": other}


def _like(stored: np.ndarray, batch: int, size: tuple[int, int], seed: int) -> np.ndarray:
    """New frames of the stored dtype, channels and value range at another batch and size."""
    rng = np.random.default_rng(seed)
    shape = (batch, *size, *stored.shape[3:])
    if stored.dtype.kind == "u":
        return rng.integers(int(stored.min()), int(stored.max()) + 1, shape).astype(stored.dtype)
    x = rng.uniform(float(stored.min()), float(stored.max()), shape).astype(stored.dtype)
    if (stored == 0).any():
        x[:, :3] = 0.0  # holes
    return x


@pytest.mark.parametrize("fmt", FORMATS)
def test_parity_on_test_split(variant, fmt):
    stored = variant["stored"]
    got = _runner(fmt, variant["paths"][fmt])(stored)
    want = variant["reference"](stored)
    assert got.shape == want.shape == (len(stored), len(NAMES)) + stored.shape[1:3]
    diff = float(np.abs(got - want).max())
    print(f"{variant['name']} {fmt}: max |logit diff| {diff:.2e} (logit std {want.std():.2f})")
    assert want.std() > 0.3 and diff <= 1e-4
    assert (got.argmax(1) == want.argmax(1)).mean() >= 0.999


@pytest.mark.parametrize("fmt", FORMATS)
def test_another_batch_and_size(variant, fmt):
    meta = read_metadata(variant["paths"][fmt])
    k, trained = meta["stride_multiple"], tuple(meta["trained_size"])
    batch, *size = variant["other"]
    assert size[0] % k == size[1] % k == 0 and tuple(size) != trained
    run = _runner(fmt, variant["paths"][fmt])
    for x in (_like(variant["stored"], batch, tuple(size), 1), _like(variant["stored"], 1, tuple(size[::-1]), 2)):
        got, want = run(x), variant["reference"](x)
        assert got.shape == want.shape == (x.shape[0], len(NAMES)) + x.shape[1:3]
        assert float(np.abs(got - want).max()) <= 1e-4, (variant["name"], fmt, x.shape)


def test_metadata(variant):
    import onnx

    cfg, stored, paths = variant["cfg"], variant["stored"], variant["paths"]
    props = {p.key: p.value for p in onnx.load(str(paths["onnx"])).metadata_props}
    extra = {"crossmodal.json": ""}
    torch.jit.load(str(paths["torchscript"]), map_location="cpu", _extra_files=extra)
    stride = {"resnet_narrow": 8, "resnet_tiny": 4, f"python:{MODULE}:net": 8}.get(cfg.student.arch, 32)
    channels = encoding_channels(cfg.data.target_encoding, stored.shape[1:])
    layout = "NHW" if stored.ndim == 3 else "NHWC"
    for fmt, meta in (("onnx", json.loads(props["crossmodal"])), ("torchscript", json.loads(extra["crossmodal.json"]))):
        assert meta == json.loads(Path(f"{paths[fmt]}.json").read_text()) == read_metadata(paths[fmt])
        assert (meta["modality"], meta["units"], meta["encoding"]) == (cfg.data.target, variant["units"],
                                                                       cfg.data.target_encoding)
        assert meta["mean"] == cfg.data.target_mean and meta["std"] == cfg.data.target_std
        assert meta["network_channels"] == channels and meta["class_names"] == NAMES
        assert meta["input"] == {"name": "sensor", "layout": layout, "dtype": str(stored.dtype),
                                 "shape": ["batch", "height", "width"] + list(stored.shape[3:])}
        assert meta["output"]["shape"] == ["batch", len(NAMES), "height", "width"]
        assert meta["stride_multiple"] == stride and f"multiples of {stride} " in meta["size_rule"]
        assert meta["trained_size"] == list(stored.shape[1:3]) and (meta["method"], meta["seed"]) == (METHOD, 0)
    onnx_meta = json.loads(props["crossmodal"])
    assert onnx_meta["opset"] >= 17 and json.loads(props["input"]) == onnx_meta["input"]
    if stored.dtype == np.uint16:  # which exporter wrote it is recorded (here the dynamo one)
        assert onnx_meta["exporter"].startswith("torch.onnx.export(")


def test_trace_input_fits_the_size_rule():
    """Frames of 52x84 with stride 8: the exporter traces at 56x88 (the dynamo exporter requires multiples)."""
    meta = {"stride_multiple": 8, "trained_size": [52, 84], "input": {"shape": ["batch", "height", "width", 2],
                                                                      "dtype": "uint16"}}
    x = example_input(meta)
    assert tuple(x.shape) == (2, 56, 88, 2) and x.dtype == torch.uint16
    assert tuple(example_input(meta, batch=1, size=(16, 24)).shape) == (1, 16, 24, 2)


def test_size_dependent_python_is_refused(own_nets, tmp_path, capsys):
    """Tracing freezes a branch on the input size: the file would be wrong at other sizes, so nothing is written."""
    kelvin = np.random.default_rng(0).normal(294.6, 3.3, (4, 64, 64)).astype(np.float32)
    run, _ = fabricate_run(tmp_path, "thermal", kelvin,
                           "raw", [f"student.arch=python:{own_nets}:size_branch", *OWN], [294.6], [3.34], "kelvin")
    for fmt in FORMATS:
        out = tmp_path / "out" / f"seg.{fmt}"
        assert main(["--run", str(run), "--method", METHOD, "--format", fmt, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: the exported {fmt} student disagrees with the checkpoint at batch 3, 72x80")
        assert "depends on the input size" in err and "\n" not in err
        assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


@pytest.mark.filterwarnings("ignore:While compiling, we found certain side effects:UserWarning")
def test_operator_onnx_cannot_express_is_refused(own_nets, tmp_path, capsys):
    """aten::median has no ONNX conversion: a clear refusal pointing at TorchScript, which works."""
    stored = np.random.default_rng(0).normal(294.6, 3.3, (4, 32, 32)).astype(np.float32)
    run, cfg = fabricate_run(tmp_path, "thermal", stored, "raw", [f"student.arch=python:{own_nets}:median", *OWN],
                             [294.6], [3.34], "kelvin")
    out = tmp_path / "out"
    assert main(["--run", str(run), "--method", METHOD, "--format", "onnx", "--out", str(out / "seg.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the student of run 'variant' (crd_dense, seed 0) cannot be exported to ONNX: ")
    assert "median" in err and err.endswith("export it with --format torchscript instead") and "\n" not in err
    assert list(out.iterdir()) == []
    assert main(["--run", str(run), "--method", METHOD, "--format", "torchscript", "--out", str(out / "seg.pt")]) == 0
    model, _ = load_finetuned(run / "checkpoints" / f"{METHOD}_finetuned.pt", cfg, 1)
    spec = input_spec(cfg, "target")
    with torch.no_grad():
        want = model.eval()(torch.from_numpy(np.stack([spec(s) for s in stored]))).numpy()
    assert float(np.abs(_runner("torchscript", out / "seg.pt")(stored) - want).max()) <= 1e-4
