"""Colour-luminance pairs: images -> CIE L* (the "source") and a*b* (the "target") in one paired file.

The L -> ab transfer of the CRD paper: a teacher sees lightness only, a student the colour channels. Reads a
folder of images (png/jpg/bmp/tiff, recursive; class = top-level sub-folder as torchvision's ImageFolder),
the STL-10 binary files, or CIFAR-10/100 python batches, and writes `L` (N,H,W) float32 in [0, 100],
`ab` (N,H,W,2) float32 and `rgb` (N,H,W,3) uint8 (previews) with OpenCV's Lab conversion of float RGB in
[0, 1]. Image-level class labels go to the dataset `class_id`, int64 of shape (N,) with -1 = none and not a
modality, with the root attribute `image_class_names`.

    python -m data_tools.lab --images data/stl10_binary --split train --out data/lab/stl10_train.h5
"""
from __future__ import annotations

import argparse
import pickle
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from crossmodal.data.sensor_files import imread
from data_tools.common import command_line, int_at_least, parse_size, tool_main, tool_parser
from data_tools.resize import add_aspect_argument, crop_to, crop_window, resized, size_aspect, size_attrs
from data_tools.staged import StagedOutput

PROG = "python -m data_tools.lab"

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
LAB_ATTRS = {
    "L": {"units": "CIE-L* (0..100)", "channels": "L* lightness; OpenCV COLOR_RGB2Lab of sRGB float in [0, 1]"},
    "ab": {"units": "CIE-a*b*", "channels": "a*,b* (OpenCV COLOR_RGB2Lab of sRGB float in [0, 1], about -128..127)"},
}

CLASS_ID_ATTRS = {"units": "class-id",
                  "channels": "image-level class id, index into root attribute image_class_names; -1 = none"}


@dataclass
class ImageSource:
    """Images to convert: how many, a name for each (for errors), a reader, and optional class ids."""

    kind: str
    names: list[str]
    read: Callable[[int], np.ndarray]  # index -> RGB uint8 (H, W, 3)
    class_ids: np.ndarray | None = None  # int64 (N,), -1 = none
    class_names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)


def rgb_to_lab(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L (H, W) in [0, 100] and ab (H, W, 2) float32 from RGB uint8, via cv2 on float RGB in [0, 1]."""
    lab = cv2.cvtColor(rgb.astype(np.float32) / np.float32(255.0), cv2.COLOR_RGB2Lab)
    return np.ascontiguousarray(lab[..., 0]), np.ascontiguousarray(lab[..., 1:])


# ----------------------------------------------------------------------------------------------
# Sources
# ----------------------------------------------------------------------------------------------

def read_image(path: Path) -> np.ndarray:
    """RGB uint8 (H, W, 3) from any image OpenCV reads; ValueError naming the file otherwise."""
    bgr = imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f"cannot read image {path} (not an image, unsupported or corrupt)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def folder_source(root: Path) -> ImageSource:
    """All images under root, sorted; classes = top-level sub-folders when images sit in them (ImageFolder)."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) found under {root}")
    rel = [p.relative_to(root) for p in files]
    in_sub = [len(r.parts) > 1 for r in rel]
    class_ids, class_names = None, []
    if any(in_sub):
        class_names = sorted({r.parts[0] for r, sub in zip(rel, in_sub) if sub})
        index = {n: i for i, n in enumerate(class_names)}
        class_ids = np.array([index[r.parts[0]] if sub else -1 for r, sub in zip(rel, in_sub)], np.int64)
    return ImageSource("folder", [str(p) for p in files], lambda i: read_image(files[i]), class_ids, class_names)


def _stl10_source(root: Path, split: str) -> ImageSource:
    """STL-10 binary files: {split}_X.bin (uint8, 3x96x96 column-major per image), {split}_y.bin (1..10)."""
    x_path = root / f"{split}_X.bin"
    if not x_path.is_file():
        have = sorted(p.name[:-6] for p in root.glob("*_X.bin"))
        raise ValueError(f"{x_path} not found; this STL-10 folder has the splits {', '.join(have)}")
    size = x_path.stat().st_size
    if size == 0 or size % (3 * 96 * 96):
        raise ValueError(f"{x_path}: {size} bytes is not a whole number of 3x96x96 STL-10 images")
    images = np.memmap(x_path, np.uint8, "r").reshape(-1, 3, 96, 96)
    n = images.shape[0]
    class_ids, class_names = None, []
    y_path = root / f"{split}_y.bin"
    if y_path.is_file():
        labels = np.fromfile(y_path, np.uint8).astype(np.int64)
        if labels.shape[0] != n:
            raise ValueError(f"{y_path}: {labels.shape[0]} labels for the {n} images of {x_path.name}")
        if labels.min() < 1 or labels.max() > 10:
            raise ValueError(f"{y_path}: labels {labels.min()}..{labels.max()}; STL-10 labels are 1..10")
        class_ids = labels - 1
        names_path = root / "class_names.txt"
        class_names = (names_path.read_text().split() if names_path.is_file() else [f"class_{i}" for i in range(10)])
        if len(class_names) != 10:
            raise ValueError(f"{names_path}: expected 10 class names, got {len(class_names)}")
    # Column-major per image: (channel, column, row) -> (row, column, channel).
    return ImageSource("stl10", [f"{x_path}[{i}]" for i in range(n)],
                       lambda i: np.ascontiguousarray(images[i].transpose(2, 1, 0)), class_ids, class_names)


class _SafeUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches: plain containers and numpy arrays only, never arbitrary code."""

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
               ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
               ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a CIFAR batch")
        return super().find_class(module, name)


def _load_pickle(path: Path) -> dict:
    """A CIFAR python batch as a dict with str keys."""
    try:
        with open(path, "rb") as f:
            obj = _SafeUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as err:
        raise ValueError(f"{path}: not a CIFAR python batch ({err})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: not a CIFAR python batch (a {type(obj).__name__}, expected a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _cifar_source(root: Path, split: str) -> ImageSource:
    """CIFAR-10 (data_batch_1..5, test_batch, batches.meta) or CIFAR-100 (train, test, meta) python batches."""
    cifar100 = (root / "meta").is_file()
    if cifar100:
        files, label_key, meta, names_key = [root / split], "fine_labels", root / "meta", "fine_label_names"
    else:
        files = (sorted(root.glob("data_batch_*"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0))
                 if split == "train" else [root / "test_batch"])
        label_key, meta, names_key = "labels", root / "batches.meta", "label_names"
    files = [f for f in files if f.is_file()]
    if not files:
        raise ValueError(f"no CIFAR {split} batches in {root} (expected "
                         f"{'train/test' if cifar100 else 'data_batch_1..5 / test_batch'})")
    data, labels = [], []
    for path in files:
        batch = _load_pickle(path)
        x = np.asarray(batch.get("data"))
        if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
            raise ValueError(f"{path}: 'data' is {x.dtype} {x.shape}; expected uint8 (N, 3072)")
        y = np.asarray(batch.get(label_key, [-1] * x.shape[0]), np.int64)
        if y.shape != (x.shape[0],):
            raise ValueError(f"{path}: '{label_key}' has {y.size} entries for {x.shape[0]} images")
        data.append(x)
        labels.append(y)
    images = np.concatenate(data).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    class_ids = np.concatenate(labels)
    class_names: list[str] = []
    if meta.is_file():
        class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in _load_pickle(meta).get(names_key, [])]
    if not class_names and (class_ids >= 0).any():
        class_names = [f"class_{i}" for i in range(int(class_ids.max()) + 1)]
    if class_ids.max() >= len(class_names):
        raise ValueError(f"{root}: label {class_ids.max()} but only {len(class_names)} class names in {meta}")
    names = [f"{p}[{i}]" for p, x in zip(files, data) for i in range(x.shape[0])]
    return ImageSource("cifar100" if cifar100 else "cifar10", names,
                       lambda i: np.ascontiguousarray(images[i]), class_ids, class_names)


def open_source(root: Path, split: str | None = None) -> ImageSource:
    """Detect the kind of source in root (STL-10 binaries, CIFAR batches or an image folder) and open it."""
    if not root.is_dir():
        raise ValueError(f"--images {root}: not a folder")
    if any(root.glob("*_X.bin")):
        return _stl10_source(root, split or "train")
    if any((root / n).is_file() for n in ("batches.meta", "data_batch_1", "test_batch", "meta")):
        if split not in (None, "train", "test"):
            raise ValueError(f"CIFAR has the splits train and test, not {split!r}")
        return _cifar_source(root, split or "train")
    if split is not None:
        raise ValueError(f"--split applies to STL-10 and CIFAR folders; {root} is a plain image folder")
    return folder_source(root)


# ----------------------------------------------------------------------------------------------
# Writing
# ----------------------------------------------------------------------------------------------

def _fit(rgb: np.ndarray, size: tuple[int, int] | None, shape: tuple[int, int] | None, name: str,
         aspect: str = "refuse") -> np.ndarray:
    """Resize to `size`, or without one require the first image's shape.

    Resizing uses area interpolation when shrinking and bilinear when enlarging. An image whose aspect ratio that
    would change is refused, cropped or stretched as `aspect` says (data_tools.resize)."""
    if size is not None:
        return resized(crop_to(rgb, crop_window(rgb.shape[:2], size, aspect, name), rgb.shape[:2]), size, nearest=False)
    if shape is not None and rgb.shape[:2] != shape:
        raise ValueError(f"{name} is {rgb.shape[0]}x{rgb.shape[1]} but the first image is {shape[0]}x{shape[1]}; "
                         f"pass --size HxW to resize all images")
    return rgb


def _lab_frame(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """One stored frame: the RGB preview and its L and ab channels."""
    lum, ab = rgb_to_lab(rgb)
    return {"rgb": rgb, "L": lum, "ab": ab}


def convert(source: ImageSource, out: Path, *, size: tuple[int, int] | None = None, overwrite: bool = False,
            command: str = "data_tools.lab", limit: int | None = None, aspect: str | None = None) -> Path:
    """Write rgb, L, ab and class_id for every image of `source` to `out`, atomically.

    The first image whose aspect ratio `size` would change stops it, with nothing written, unless aspect is
    'crop' or 'stretch'."""
    policy = size_aspect(size, aspect)
    n = len(source) if limit is None else min(limit, len(source))
    if n < 1:
        raise ValueError("no images to convert")
    if out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists (pass --overwrite to replace it)")
    first = _fit(source.read(0), size, None, source.names[0], policy)
    h, w = first.shape[:2]
    specs = {"rgb": ((h, w, 3), np.uint8), "L": ((h, w), np.float32), "ab": ((h, w, 2), np.float32)}
    attrs: dict = {"image_source_kind": source.kind, **size_attrs(size, policy)}
    if source.class_ids is not None:
        attrs["image_class_names"] = list(source.class_names)
    out.parent.mkdir(parents=True, exist_ok=True)
    frames = (_lab_frame(first if i == 0 else _fit(source.read(i), size, (h, w), source.names[i], policy))
              for i in range(n))
    with StagedOutput(out, overwrite=overwrite) as staged:
        staged.write(frames, n, specs, class_names=None, source=command, attrs=attrs, modality_attrs=LAB_ATTRS)
        if source.class_ids is not None:
            staged.add_rows({"class_id": (source.class_ids[:n].astype(np.int64), CLASS_ID_ATTRS)})
    return out


# ----------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    """The command line (every option with an example)."""
    p = tool_parser(
        PROG, "Convert images to CIE Lab pairs (L: lightness, ab: colour) in one paired HDF5 file.",
        "examples: python -m data_tools.lab --images photos/ --size 96x96 --out data/lab/photos.h5\n"
        "          python -m data_tools.lab --images stl10_binary --split unlabeled --out data/lab/unl.h5")
    p.add_argument("--images", required=True, type=Path,
                   help="a folder of images (class = sub-folder), STL-10 binaries or CIFAR python batches")
    p.add_argument("--out", required=True, type=Path, help="output HDF5 file, e.g. data/lab/train.h5")
    p.add_argument("--size", type=lambda t: parse_size(t, minimum=1, example="96x96"),
                   help="HEIGHTxWIDTH to resize every image to (needed for mixed sizes); an image of another aspect "
                        "ratio is refused unless --aspect says crop or stretch")
    add_aspect_argument(p)
    p.add_argument("--split", help="STL-10: train, test or unlabeled; CIFAR: train or test (default train)")
    p.add_argument("--limit", type=int_at_least(1), help="convert only the first N images")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return p


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    """Convert images to an L/ab paired file; bad input raises (tool_main reports it in one line, exit 2)."""
    source = open_source(args.images, args.split)
    convert(source, args.out, size=args.size, overwrite=args.overwrite, command=command_line("lab", argv),
            limit=args.limit, aspect=args.aspect)
    n = len(source) if args.limit is None else min(args.limit, len(source))
    print(f"wrote {args.out} ({n} images from {source.kind} {args.images}"
          f"{', ' + str(len(source.class_names)) + ' classes' if source.class_ids is not None else ''})",
          file=sys.stderr)
    return 0


main = tool_main(PROG, _parser, _run)  # main(argv=None) -> exit code; the console script


if __name__ == "__main__":
    sys.exit(main())
