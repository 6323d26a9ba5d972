"""The frames crossmodal-predict runs on: a paired HDF5 split, a folder of sensor files or one file.

Each frame is converted to what an exported model takes: its metadata's modality, dtype and channels. Sizes, dtype,
channels, --scale and labels are checked before any long work starts.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np

from crossmodal.data.h5format import FormatError, read_info
from crossmodal.data.sensor_files import (
    DEPTH_FACTORS,
    IGNORE,
    NPY_ERRORS,
    SUFFIXES,
    list_files,
    read_file,
    to_label,
    to_source,
    to_target,
)

HDF5_SUFFIXES = (".h5", ".hdf5")


@dataclass
class Frame:
    """One frame: its name (output file stem), the sensor array as the model takes it, its labels when known."""

    name: str
    sensor: np.ndarray
    label: np.ndarray | None = None


@dataclass
class FrameSource:
    """Frames known by name and size before any is read; `read(i)` loads frame i."""

    description: str
    names: list[str]
    sizes: list[tuple[int, int]]
    has_labels: bool
    read: Callable[[int], Frame]
    close: Callable[[], None] = field(default=lambda: None)

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Expected:
    """What the model takes, from its metadata: the stored dtype, channels (0 = (H, W)) and whether it is depth."""

    modality: str
    dtype: np.dtype
    channels: int
    depth: bool

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> Expected:
        shape = meta["input"]["shape"]
        channels = int(shape[3]) if len(shape) > 3 else 0
        depth = meta.get("units") == "metres" or meta["modality"] == "depth" or meta["modality"].endswith("_depth")
        return cls(meta["modality"], np.dtype(meta["input"]["dtype"]), channels, depth)

    def describe(self) -> str:
        return f"{self.modality} {self.dtype} " + (f"(H, W, {self.channels})" if self.channels else "(H, W)")


def _check_array(arr: np.ndarray, exp: Expected, where: str) -> None:
    """FormatError unless a converted frame has the model's dtype and channels (and depth is >= 0)."""
    channels = arr.shape[2] if arr.ndim == 3 else 0
    if arr.dtype != exp.dtype or channels != exp.channels:
        raise FormatError(f"{where}: {arr.dtype} {tuple(arr.shape)} but the model takes {exp.describe()}")
    if exp.depth and arr.dtype.kind == "f" and bool((arr < 0).any()):
        raise FormatError(f"{where}: negative depth (min {float(arr.min()):.4g}); expected metres >= 0 with "
                          f"0 = no reading")


def convert_file(arr: np.ndarray, path: Path, exp: Expected, scale: float | None, nan_as_zero: bool) -> np.ndarray:
    """A file's array as the model takes it: colour images as uint8 RGB, other modalities float32 x scale."""
    if exp.dtype == np.uint8:
        if exp.channels == 3:
            return to_source(arr, path)
        if arr.dtype != np.uint8:
            raise FormatError(f"{path}: {arr.dtype} values but the model takes {exp.describe()}")
        return arr
    out = to_target(arr, path, 1.0 if scale is None else scale, nan_as_zero)
    if exp.channels == 0 and out.ndim == 3:
        raise FormatError(f"{path}: {out.shape[2]}-channel image but the model takes {exp.describe()}")
    if exp.depth and scale is None and arr.dtype.kind in "iu":  # no unit is guessed: several are common
        raise FormatError(f"{path}: integer depth ({arr.dtype}) in an unstated unit; the model takes metres, so "
                          f"give --scale FACTOR, usually {DEPTH_FACTORS}")
    return out


def _peek_size(path: Path) -> tuple[int, int]:
    """(H, W) of a frame file from its header (the whole file only when the header reader cannot tell)."""
    if path.suffix.lower() == ".npy":
        try:
            return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape[:2])  # type: ignore[return-value]
        except NPY_ERRORS as err:
            raise FormatError(f"cannot read {path}: {err}") from None
    try:
        from PIL import Image

        with Image.open(path) as img:
            w, h = img.size
        return h, w
    except Exception:  # Pillow cannot parse every TIFF/PNG variant OpenCV reads; fall back to reading it
        return tuple(read_file(path).shape[:2])  # type: ignore[return-value]


def _hdf5_source(path: Path, exp: Expected, class_names: list[str], scale: float | None) -> FrameSource:
    """Frames of a paired HDF5 split (docs/data_format.md): the model's modality, and `label` when present."""
    info = read_info(path)
    if exp.modality not in info.modalities:
        raise FormatError(f"{path} has no '{exp.modality}' (the model's input); it has {', '.join(info.modalities)}")
    if scale is not None:
        raise FormatError(f"--scale applies to sensor files; {path} already stores {exp.modality} in the model's units")
    shape = info.shapes[exp.modality]
    channels = shape[2] if len(shape) == 3 else 0
    if info.dtypes[exp.modality] != exp.dtype or channels != exp.channels:
        raise FormatError(f"{path}: '{exp.modality}' is {info.dtypes[exp.modality]} {shape} per frame but the model "
                          f"takes {exp.describe()}")
    has_labels = "label" in info.modalities
    if has_labels and list(info.class_names) != list(class_names):
        raise FormatError(f"{path} has classes {list(info.class_names)}; the model was trained on {class_names}")
    f = h5py.File(path, "r")
    n = info.num_samples
    if "frame_name" in f and f["frame_name"].shape == (n,):
        names = [v.decode() if isinstance(v, bytes) else str(v) for v in f["frame_name"][()]]
    else:
        names = [f"{i:0{max(6, len(str(n - 1)))}d}" for i in range(n)]

    def read(i: int) -> Frame:
        arr = f[exp.modality][i]
        _check_array(arr, exp, f"{path} frame {i}")
        return Frame(names[i], arr, f["label"][i] if has_labels else None)

    return FrameSource(f"{path} ({n} frames, '{exp.modality}')", names, [shape[:2]] * n, has_labels, read, f.close)


def _file_source(files: dict[str, Path], root: Path, exp: Expected, scale: float | None, nan_as_zero: bool,
                 labels: dict[str, Path] | None, num_classes: int) -> FrameSource:
    """Frames read from files (a folder's, or one file), labels matched by frame name."""
    names = sorted(files)
    if labels is not None:
        missing = [k for k in names if k not in labels]
        if missing:
            shown = ", ".join(missing[:10]) + (f" ... and {len(missing) - 10} more" if len(missing) > 10 else "")
            raise FormatError(f"--labels has no label file for {len(missing)} of {len(names)} frames: {shown} "
                              f"(labels pair up by file name without the extension)")
    sizes = [_peek_size(files[k]) for k in names]

    def read(i: int) -> Frame:
        key = names[i]
        arr = convert_file(read_file(files[key]), files[key], exp, scale, nan_as_zero)
        _check_array(arr, exp, str(files[key]))
        label = None
        if labels is not None:
            label = to_label(read_file(labels[key]), labels[key], num_classes)
            if label.shape != arr.shape[:2]:
                raise FormatError(f"{labels[key]}: label is {label.shape[0]}x{label.shape[1]} but {files[key]} is "
                                  f"{arr.shape[0]}x{arr.shape[1]}")
        return Frame(key, arr, label)

    what = f"{root} ({len(names)} file{'s' if len(names) > 1 else ''})"
    return FrameSource(what, names, sizes, labels is not None, read)


def glob_files(root: Path, pattern: str) -> dict[str, Path]:
    """The frame files under `root` whose name matches `pattern` (case-sensitive, as a shell does), keyed as list_files.

    A pattern with a '/' matches the path below `root` instead, e.g. 'kinect/*.png'. Files the pattern leaves out
    never count, so 0001.png beside 0001.npy is no clash when only one of them matches.
    """
    files: dict[str, Path] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or path.suffix.lower() not in SUFFIXES or path.name.startswith("."):
            continue
        if not fnmatchcase(rel if "/" in pattern else path.name, pattern):
            continue
        key = path.relative_to(root).with_suffix("").as_posix()
        if key in files:
            raise FormatError(f"{root}: two files for frame '{key}': {files[key].name} and {path.name} (both match "
                              f"--glob '{pattern}')")
        files[key] = path
    if not files:
        have = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        shown = ", ".join(have[:5]) + (f" ... ({len(have)} files)" if len(have) > 5 else "")
        raise FormatError(f"--glob '{pattern}' matches no sensor file ({', '.join(SUFFIXES)}) in {root} or below it; "
                          f"it has: {shown or 'no files'}")
    return files


def _glob_refusal(path: Path, glob: str) -> str:
    """Why --glob does not apply to an input that is not a folder."""
    what = "an HDF5 split, whose frames are all read" if path.suffix.lower() in HDF5_SUFFIXES or h5py.is_hdf5(path) \
        else "one file"
    return f"--glob '{glob}' selects files in a folder; --input {path} is {what}: drop --glob"


def open_frames(path: str | Path, meta: dict[str, Any], *, scale: float | None = None, nan_as_zero: bool = False,
                labels: str | Path | None = None, glob: str | None = None) -> FrameSource:
    """The frames at `path`, an HDF5 split, folder or file, for a model with this metadata.

    `glob` picks a folder's files by name (glob_files), e.g. the depth files of a folder that also holds colour
    ones. The first frame is read to check dtype and channels, so bad input fails before the long work.
    """
    path = Path(path)
    exp = Expected.from_metadata(meta)
    class_names = list(meta["class_names"])
    if scale is not None and (not np.isfinite(scale) or scale == 0):
        raise FormatError(f"--scale {scale}: expected a finite non-zero factor")
    if scale is not None and exp.dtype == np.uint8:
        raise FormatError(f"--scale: the model takes {exp.describe()} images as stored; there is nothing to scale")
    if not path.exists():
        raise FileNotFoundError(f"--input {path}: no such file or folder")
    if glob is not None and not path.is_dir():
        raise FormatError(_glob_refusal(path, glob))
    label_files = None
    if labels is not None:
        labels = Path(labels)
        if not labels.is_dir():
            raise FormatError(f"--labels {labels}: not a folder (expected one class-id image per frame)")
        label_files = list_files(labels)
    if path.is_file() and (path.suffix.lower() in HDF5_SUFFIXES or h5py.is_hdf5(path)):
        if labels is not None:
            raise FormatError(f"--labels is for folders and files; {path} holds its labels as the 'label' dataset")
        source = _hdf5_source(path, exp, class_names, scale)
    elif path.is_dir():
        files = list_files(path) if glob is None else glob_files(path, glob)
        if not files:
            raise FormatError(f"--input {path}: no sensor files ({', '.join(SUFFIXES)}) in the folder or below it")
        source = _file_source(files, path, exp, scale, nan_as_zero, label_files, len(class_names))
    elif path.suffix.lower() in SUFFIXES:
        source = _file_source({path.stem: path}, path, exp, scale, nan_as_zero, label_files, len(class_names))
    else:
        raise FormatError(f"--input {path}: expected a paired HDF5 file (.h5), a folder of sensor files or one "
                          f"{', '.join(SUFFIXES)} file")
    try:
        source.read(0)
    except BaseException:
        source.close()
        raise
    return source


def invalid_mask(sensor: np.ndarray) -> np.ndarray:
    """(H, W) True where the sensor has no reading: 0 in every channel (the paired format's convention)."""
    return sensor == 0 if sensor.ndim == 2 else (sensor == 0).all(axis=2)


__all__ = ["Expected", "Frame", "FrameSource", "IGNORE", "convert_file", "glob_files", "invalid_mask", "open_frames"]
