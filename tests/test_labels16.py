"""More than 255 classes: 16-bit label PNGs converted by data_tools.pairs into uint16 labels (65535 = ignore), read
with one in-memory ignore index that is never a class (class 255 is a class), fine-tuned, probed, counted in the
confusion matrix and the class weights, coloured, and predicted by crossmodal-predict into 16-bit PNGs. uint8
files keep behaving exactly as before (255 ignored, the same loss and confusion matrix)."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from accelerate import Accelerator

from conftest import REPO
from crossmodal.atomic import save_checkpoint
from crossmodal.colours import class_palette, colorize_label, overlay
from crossmodal.config import dump_yaml, load_config, to_dict
from crossmodal.config.encodings import encoding_channels
from crossmodal.data.checks import check_label_ids
from crossmodal.data.files import DataFiles
from crossmodal.data.h5format import FormatError, read_info
from crossmodal.data.h5writer import write_paired
from crossmodal.data.labels import IGNORE_INDEX, label_dtype, to_memory
from crossmodal.data.loaders import input_spec, make_loader
from crossmodal.data.sensor_files import largest_class_id, to_label
from crossmodal.deploy.predict import main as predict_main
from crossmodal.downstream import finetune_and_evaluate, probe_segmentation
from crossmodal.metrics import ConfusionMatrix
from crossmodal.models import build_backbone
from crossmodal.stages.checkpoints import StageCheckpoints
from crossmodal.stages.class_weights import label_frequencies
from data_tools.pairs import main as pairs_main

LOG = logging.getLogger("test_labels16")
H, W = 32, 64
NAMES = [f"c{i:03d}" for i in range(300)]
METHOD = "none"
pytestmark = pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:FutureWarning")


def _label(k: int) -> np.ndarray:
    """A 16-bit label image over 300 classes: the top half class 299, bottom left class 255, bottom right ids
    around 256 and below, the last row ignored (65535)."""
    lab = np.full((H, W), 299, np.uint16)
    lab[H // 2:, : W // 2] = 255
    lab[H // 2:, W // 2:] = 256 + k % 3
    lab[H // 2:, W - 8:] = k
    lab[-1] = 65535
    return lab


def _depth_mm(lab: np.ndarray) -> np.ndarray:
    """Depth in millimetres that tells the classes apart (so a short fine-tuning learns them)."""
    return (800 + 10 * (lab.astype(np.int64) % 300)).astype(np.uint16)


def _recording(root: Path, n: int, first: int) -> Path:
    """rgb PNGs, 16-bit millimetre depth PNGs and 16-bit label PNGs of frames first..first+n-1."""
    for d in ("rgb", "depth", "labels"):
        (root / d).mkdir(parents=True)
    for k in range(first, first + n):
        lab = _label(k)
        rgb = np.random.default_rng(k).integers(0, 256, (H, W, 3)).astype(np.uint8)
        assert cv2.imwrite(str(root / "rgb" / f"{k:04d}.png"), rgb)
        assert cv2.imwrite(str(root / "depth" / f"{k:04d}.png"), _depth_mm(lab))
        assert cv2.imwrite(str(root / "labels" / f"{k:04d}.png"), lab)
    (root / "classes.txt").write_text("".join(f"{n}\n" for n in NAMES))
    return root


def _convert(rec: Path, out: Path, *extra: str) -> int:
    return pairs_main(["--source", f"rgb={rec / 'rgb'}", "--target", f"depth={rec / 'depth'}", "--scale",
                       "depth=0.001", "--label", str(rec / "labels"), "--out", str(out), *extra])


@pytest.fixture(scope="module")
def splits(tmp_path_factory) -> dict[str, Path]:
    """train.h5 (6 frames) and test.h5 (4 frames) converted by data_tools.pairs from 16-bit PNGs, 300 classes."""
    root = tmp_path_factory.mktemp("labels16")
    paths = {}
    for split, n, first in (("train", 6, 0), ("test", 4, 10)):
        rec = _recording(root / f"rec_{split}", n, first)
        paths[split] = root / f"{split}.h5"
        assert _convert(rec, paths[split], "--class-names", str(rec / "classes.txt")) == 0
    return paths


@pytest.fixture(scope="module")
def trained(splits, tmp_path_factory) -> dict:
    """A tiny student fine-tuned on the 300-class train split and tested (the run's own protocol), saved as a
    run folder crossmodal-predict can load."""
    root = tmp_path_factory.mktemp("run16")
    overrides = ["name=labels16", f"output_dir={root}", "data.synthetic.enabled=false", "finetune.epochs=4",
                 "finetune.batch_size=3", "finetune.lr=0.05", "finetune.num_examples=2", "finetune.class_weighting="
                 "median_frequency", "probe.epochs=2", "probe.batch_size=3", "methods=[none]",
                 *[f"data.{s}={splits['train' if s in ('unlabeled', 'teacher', 'train') else 'test']}"
                   for s in ("unlabeled", "teacher", "train", "test")]]
    cfg = load_config(REPO / "configs" / "smoke.yaml", overrides)
    train, test = read_info(splits["train"]), read_info(splits["test"])
    data = DataFiles(unlabeled=train, teacher=None, train=train, test=test, num_classes=300,
                     class_names=tuple(NAMES))
    accelerator = Accelerator(cpu=True)
    torch.manual_seed(0)
    channels = encoding_channels(input_spec(cfg, "target").encoding, train.shapes["depth"])
    backbone = build_backbone(cfg.student.arch, channels, num_classes=300, key="student")
    ckpt = StageCheckpoints(root / "ckpt", 0, 1, accelerator, {}, LOG)
    result, model = finetune_and_evaluate(cfg, METHOD, backbone, data, accelerator, LOG, ckpt)
    probe = probe_segmentation(cfg, model.backbone, data, accelerator)
    run = root / cfg.name
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.yaml").write_text(dump_yaml(cfg))
    save_checkpoint({"model": model.state_dict(), "method": METHOD, "seed": cfg.seed, "class_names": NAMES,
                     "config": to_dict(cfg)}, run / "checkpoints" / f"{METHOD}_finetuned.pt")
    return {"cfg": cfg, "result": result, "probe": probe, "model": model.eval(), "run": run}


def _stored(path: Path) -> np.ndarray:
    with h5py.File(path, "r") as f:
        return f["label"][:]


def test_pairs_stores_300_classes_as_uint16_with_65535_ignore(splits):
    info = read_info(splits["train"])
    assert info.dtypes["label"] == np.uint16 and info.class_names == tuple(NAMES)
    assert "65535" in info.modality_attrs["label"]["channels"]
    stored = _stored(splits["train"])
    np.testing.assert_array_equal(stored, np.stack([_label(k) for k in range(6)]))
    assert {255, 256, 299, 65535} <= set(np.unique(stored).tolist())
    check_label_ids(info, "train", 300)  # the run's start-up check accepts ids 255..299 and the ignore value


def test_pairs_infers_300_classes_from_16_bit_pngs_without_class_names(tmp_path):
    rec = _recording(tmp_path / "rec", 2, 298)  # frame 298 holds id 298 at the right edge
    assert _convert(rec, tmp_path / "x.h5") == 0
    info = read_info(tmp_path / "x.h5")
    assert info.dtypes["label"] == np.uint16 and len(info.class_names) == 300  # ids 0..299: 299 is the largest


def test_pairs_refuses_an_id_beyond_300_class_names_and_too_many_names(tmp_path, capsys):
    rec = _recording(tmp_path / "rec", 2, 0)
    lab = _label(1)
    lab[0, 0] = 300
    assert cv2.imwrite(str(rec / "labels" / "0001.png"), lab)
    assert _convert(rec, tmp_path / "x.h5", "--class-names", str(rec / "classes.txt")) == 2
    err = capsys.readouterr().err.strip()
    assert "0001.png" in err and "[300]" in err and "300 classes" in err and "\n" not in err, err
    (tmp_path / "many.txt").write_text("".join(f"n{i}\n" for i in range(65536)))
    assert _convert(rec, tmp_path / "y.h5", "--class-names", str(tmp_path / "many.txt")) == 2
    err = capsys.readouterr().err.strip()
    assert "65536 names" in err and "at most 65535 classes fit uint16" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.txt", "rec"]  # nothing written


def test_label_images_keep_their_old_meaning_up_to_255_classes():
    path = Path("lab.png")
    eight = np.array([[0, 3, 255]], np.uint8)
    assert to_label(eight, path, 4).dtype == np.uint8 and to_label(eight, path, 4).tolist() == [[0, 3, 255]]
    sixteen = np.array([[0, 3, 255, 65535]], np.uint16)
    assert to_label(sixteen, path, 4).tolist() == [[0, 3, 255, 255]]  # 255 and 65535 both ignored, as before
    assert to_label(sixteen, path, 300).dtype == np.uint16
    assert to_label(sixteen, path, 300).tolist() == [[0, 3, 255, 65535]]  # 255 is a class of 300
    assert largest_class_id(sixteen, path) == 3 and largest_class_id(np.array([[299, 255]], np.uint16), path) == 299
    with pytest.raises(FormatError, match=r"lab.png: label ids \[4\] are outside 0..3"):
        to_label(np.array([[4]], np.uint16), path, 4)
    assert label_dtype(255) == np.uint8 and label_dtype(256) == np.uint16


def test_the_loader_keeps_class_255_and_maps_the_ignore_value(splits):
    info = read_info(splits["test"])
    loader = make_loader(info, {"depth": input_spec(load_config(None, []), "target")}, train=False, batch_size=4,
                         num_workers=0, seed=0, label="label")
    got = next(iter(loader))["label"]
    want = torch.from_numpy(_stored(splits["test"]).astype(np.int64))
    assert got.dtype == torch.int64 and torch.equal(got, want)
    assert bool((got == 255).any()) and bool((got == 299).any()) and bool((got == IGNORE_INDEX).any())


def test_uint8_files_behave_as_before(tmp_path):
    """A uint8 file's 255 becomes the in-memory ignore index; loss and confusion matrix equal the old ones (255)."""
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 12, (3, H, W)).astype(np.uint8)
    lab[:, :3] = 255
    path = write_paired(tmp_path / "u8.h5", {"depth": rng.uniform(0.5, 4, (3, H, W)).astype(np.float32),
                                             "label": lab}, class_names=[f"k{i}" for i in range(12)], source="test")
    loader = make_loader(read_info(path), {"depth": input_spec(load_config(None, []), "target")}, train=True,
                         batch_size=3, num_workers=0, seed=5, label="label")
    got = next(iter(loader))["label"]
    old = torch.where(got == IGNORE_INDEX, 255, got)  # what the loader gave before: the file's 255
    assert bool((got == IGNORE_INDEX).any()) and not bool((got == 255).any())
    logits = torch.randn(3, 12, H, W, generator=torch.Generator().manual_seed(1))
    assert torch.equal(F.cross_entropy(logits, got, ignore_index=IGNORE_INDEX),
                       F.cross_entropy(logits, old, ignore_index=255))
    new_cm, old_cm = ConfusionMatrix(12), ConfusionMatrix(12, ignore_index=255)
    new_cm.update(logits.argmax(1), got)
    old_cm.update(logits.argmax(1), old)
    assert torch.equal(new_cm.matrix, old_cm.matrix) and int(new_cm.matrix.sum()) == int((lab != 255).sum())
    assert np.array_equal(colorize_label(lab[0], 12), colorize_label(to_memory(lab[0]), 12))


def test_confusion_matrix_counts_classes_255_and_299_and_ignores_65535():
    target = torch.tensor([255, 299, 65535, 0, 299])
    pred = torch.tensor([255, 0, 7, 0, 299])
    cm = ConfusionMatrix(300)
    cm.update(pred, target)
    m = cm.matrix
    assert int(m[255, 255]) == 1 and int(m[299, 0]) == 1 and int(m[299, 299]) == 1 and int(m[0, 0]) == 1
    assert int(m.sum()) == 4  # 65535 not counted


def test_class_weights_count_class_255(splits):
    counts, _ = label_frequencies(splits["train"], "label", 300)
    stored = _stored(splits["train"])
    assert counts[255] == (stored == 255).sum() > 0 and counts[299] == (stored == 299).sum() > 0
    assert counts.sum() == (stored != 65535).sum()


def test_fine_tuning_and_the_probe_count_every_labelled_pixel(splits, trained):
    stored = _stored(splits["test"])
    confusion = trained["result"].confusion
    assert confusion.shape == (300, 300)
    for c in (10, 13, 255, 256, 299):
        assert confusion[c].sum() == (stored == c).sum() > 0, c
    assert confusion.sum() == (stored != 65535).sum()
    metrics = trained["result"].metrics
    assert len(metrics["per_class_iou"]) == 300 and metrics["per_class_iou"]["c255"] is not None
    assert trained["probe"]["num_pixels"] == (stored != 65535).sum()
    examples = trained["result"].examples
    assert examples.dtype == np.uint16 and examples.shape == (2, H, W)
    assert int(examples.max()) > 255  # the model learned the classes above 255 (uint8 would wrap them)


def test_colours_of_300_classes():
    lab = np.array([[255, 299, 65535]], np.uint16)
    rgb = colorize_label(lab, 300)
    assert (rgb[0, 2] == 0).all() and (rgb[0, 0] == class_palette(300)[255]).all()
    assert np.array_equal(colorize_label(lab.astype(np.int64), 300), rgb)  # in-memory maps: the same ignore
    base = np.full((1, 3, 3), 90, np.uint8)
    assert (overlay(base, lab, 300)[0, 2] == 90).all()


def _pred_png(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.dtype == np.uint16 and img.shape == (H, W), path
    return img


def test_predict_writes_16_bit_pngs_and_counts_class_255(splits, trained, tmp_path):
    out = tmp_path / "preds"
    assert predict_main(["--run", str(trained["run"]), "--method", METHOD, "--input", str(splits["test"]),
                         "--out", str(out), "--quiet"]) == 0
    with h5py.File(splits["test"], "r") as f:
        depth, names = f["depth"][:], [n.decode() if isinstance(n, bytes) else n for n in f["frame_name"][()]]
    spec = input_spec(trained["cfg"], "target")
    with torch.no_grad():
        want = trained["model"](torch.from_numpy(np.stack([spec(d) for d in depth]))).argmax(1).numpy()
    got = np.stack([_pred_png(out / f"{n}.png") for n in names])
    assert np.array_equal(got, want) and int(got.max()) > 255
    report = json.loads((out / "predict.json").read_text())
    assert report["labels_png"].startswith("uint16 class ids")
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["num_pixels"] == (_stored(splits["test"]) != 65535).sum()
    assert metrics["miou"] == pytest.approx(trained["result"].metrics["miou"], abs=1e-9)


def test_predict_on_16_bit_pngs_with_labels_and_mask_invalid(splits, trained, tmp_path):
    rec = tmp_path / "rec"
    (rec / "depth").mkdir(parents=True)
    (rec / "labels").mkdir()
    lab = _label(11)
    depth = _depth_mm(lab)
    depth[0, :5] = 0  # no reading
    assert cv2.imwrite(str(rec / "depth" / "a.png"), depth)
    assert cv2.imwrite(str(rec / "labels" / "a.png"), lab)
    out = tmp_path / "preds"
    assert predict_main(["--run", str(trained["run"]), "--method", METHOD, "--input", str(rec / "depth"),
                         "--labels", str(rec / "labels"), "--scale", "0.001", "--mask-invalid", "--out", str(out),
                         "--quiet"]) == 0
    got = _pred_png(out / "a.png")
    assert (got[0, :5] == 65535).all() and int(got[1:].max()) > 255
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    assert metrics["num_pixels"] == (lab != 65535).sum() and metrics["per_class_acc"]["c255"] is not None


def test_report_figures_of_300_classes(splits, trained, tmp_path):
    from crossmodal.downstream import example_indices
    from eval.class_figures import CHART_CLASSES, chart_classes, legend_classes
    from eval.run_figures import write_figures

    result = trained["result"]
    shown = example_indices(read_info(splits["test"]).num_samples, 2)
    figures = write_figures(tmp_path, {METHOD: result.metrics}, {METHOD: result.curves}, {METHOD: result.examples},
                            splits["test"], shown, NAMES, "rgb", "depth")
    assert {"per_class_iou", "examples"} <= set(figures)
    assert all((tmp_path / rel).is_file() for rel in figures.values())
    charted, title = chart_classes(NAMES, splits["test"])
    present = sorted(set(np.unique(_stored(splits["test"])).tolist()) - {65535})
    assert charted == [NAMES[i] for i in present] and len(present) < CHART_CLASSES  # the classes with test pixels
    assert title.endswith(f"the {len(present)} most frequent of 300 classes")
    stored = _stored(splits["test"])[shown]
    assert legend_classes(300, [stored]) == sorted(set(np.unique(stored).tolist()) - {65535})
    assert chart_classes(NAMES[:12], splits["test"]) == (NAMES[:12], "Per-class IoU on the test split")
    assert legend_classes(12, [stored]) == list(range(12))  # up to 40 classes: every class, as before
