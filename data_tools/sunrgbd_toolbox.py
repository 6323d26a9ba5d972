"""SUN RGB-D's 37-class labels and scene paths from the toolbox's files, for data_tools.sunrgbd.

SUNRGBDtoolbox/Metadata/SUNRGBD2Dseg.mat is MATLAB v7.3, that is HDF5, read one label at a time through its object
references; SUNRGBDMeta.mat is MATLAB v5/v7, read with scipy. The id mapping is shared with exported label PNGs:
0 = void becomes 255, 1..37 become 0..36."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from crossmodal.data.h5format import FormatError
from data_tools.common import check_input_file

if TYPE_CHECKING:
    from data_tools.sunrgbd import Scene

SEG37 = ("wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf", "picture",
         "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror", "floor_mat", "clothes",
         "ceiling", "books", "fridge", "tv", "paper", "towel", "shower_curtain", "box", "whiteboard", "person",
         "night_stand", "toilet", "sink", "lamp", "bathtub", "bag")
IGNORE = 255


def split_entry(line: str) -> str:
    """A split-file line as a scene path relative to SUNRGBD/.

    '/n/fs/sun3d/data/SUNRGBD/kv1/NYUdata/NYU0001/' and 'kv1/NYUdata/NYU0001' both give 'kv1/NYUdata/NYU0001'; a
    trailing image/<file> is cut off too."""
    path = line.strip().replace("\\", "/")
    marker = path.rfind("SUNRGBD/")
    if marker >= 0:
        path = path[marker + len("SUNRGBD/"):]
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if "image" in parts:
        parts = parts[:parts.index("image")]
    return "/".join(parts)


def ids37(raw: np.ndarray, where: object) -> np.ndarray:
    """Toolbox ids 0 (void) .. 37 (integer array) -> uint8 0..36, 255 = ignore (FormatError naming where)."""
    top, low = (int(raw.max()), int(raw.min())) if raw.size else (0, 0)
    if top > len(SEG37) or low < 0:
        raise FormatError(f"{where}: label ids reach {top if top > len(SEG37) else low}; expected SUNRGBDtoolbox "
                          f"seg37list ids 0 (void) .. {len(SEG37)} (is this the all-classes 'seglabelall' or a "
                          f"colour image?)")
    lut = np.full(top + 1, IGNORE, np.uint8)
    lut[1:] = np.arange(top, dtype=np.uint8)
    return lut[raw]


SEG_GROUP, SEG_FIELD = "SUNRGBD2Dseg", "seglabel"


def _mat_text(value: object) -> str:
    """A MATLAB char array as loadmat returns it, as a str.

    loadmat gives a str, a one- or zero-element array of str, or object arrays nested around one."""
    while isinstance(value, np.ndarray):
        if value.size == 0:
            return ""
        value = value.ravel()[0] if value.dtype == object or value.size == 1 else "".join(value.ravel().tolist())
    return value if isinstance(value, str) else ""


def read_meta(path: Path) -> list[tuple[str, ...]]:
    """The scene paths relative to SUNRGBD/ of every image in SUNRGBDMeta.mat, in MATLAB order.

    Index k is image k+1. Each entry holds the path from sequenceName and the one from rgbpath without its
    /image/<file>; they are usually the same, and either matches."""
    check_input_file(path, "SUNRGBDtoolbox/Metadata/SUNRGBDMeta.mat")
    try:
        import scipy.io
    except ImportError:
        raise FormatError(f"--meta {path}: reading SUNRGBDMeta.mat needs scipy, which is not installed "
                          f"(pip install scipy)") from None
    try:
        mat = scipy.io.loadmat(str(path))
    except Exception as err:  # scipy raises ValueError, NotImplementedError (v7.3), TypeError... for bad files
        raise FormatError(f"{path}: cannot read as a MATLAB v5/v7 .mat file ({type(err).__name__}: {err}); "
                          f"expected SUNRGBDtoolbox/Metadata/SUNRGBDMeta.mat") from None
    found = {k: v for k, v in mat.items() if not k.startswith("__") and isinstance(v, np.ndarray)
             and v.dtype.names and "sequenceName" in v.dtype.names}
    if not found:
        present = sorted(k for k in mat if not k.startswith("__"))
        raise FormatError(f"{path}: no struct array with a field 'sequenceName' (variables: "
                          f"{', '.join(present) or 'none'}); expected SUNRGBDtoolbox/Metadata/SUNRGBDMeta.mat")
    meta = found["SUNRGBDMeta"] if "SUNRGBDMeta" in found else next(iter(found.values()))
    names = meta["sequenceName"].ravel(order="F")  # MATLAB linear order
    rgb = meta["rgbpath"].ravel(order="F") if "rgbpath" in meta.dtype.names else [None] * len(names)
    out = []
    for seq, rgbpath in zip(names, rgb):
        keys = (split_entry(t) for t in (_mat_text(seq), _mat_text(rgbpath)) if t)
        out.append(tuple(dict.fromkeys(k for k in keys if k)))
    return out


class SegMat:
    """SUNRGBD2Dseg.mat (MATLAB v7.3 / HDF5) opened once: image k's label is read on demand by its reference."""

    def __init__(self, path: Path):
        check_input_file(path, "SUNRGBDtoolbox/Metadata/SUNRGBD2Dseg.mat")
        self.path = path
        try:
            self.file = h5py.File(path, "r")
        except OSError as err:
            raise FormatError(f"{path}: cannot be read as a MATLAB v7.3 (HDF5) file ({err}); expected "
                              f"SUNRGBDtoolbox/Metadata/SUNRGBD2Dseg.mat") from None
        try:
            group = self.file.get(SEG_GROUP)
            ds = group.get(SEG_FIELD) if isinstance(group, h5py.Group) else None
            if not isinstance(ds, h5py.Dataset) or ds.dtype != h5py.ref_dtype or ds.ndim > 2 \
                    or (ds.ndim == 2 and 1 not in ds.shape):
                what = ("no group " + SEG_GROUP + f" (keys: {', '.join(sorted(self.file)) or 'none'})"
                        if not isinstance(group, h5py.Group) else
                        f"no dataset {SEG_GROUP}/{SEG_FIELD} (keys: {', '.join(sorted(group)) or 'none'})"
                        if not isinstance(ds, h5py.Dataset) else
                        f"{SEG_GROUP}/{SEG_FIELD} is {ds.dtype} {ds.shape}")
                raise FormatError(f"{path}: {what}; expected an (N, 1) array of object references (one label "
                                  f"image per SUNRGBDMeta entry)")
            self.refs = ds[()].ravel()  # HDF5 C order = MATLAB linear order (dims are reversed)
        except BaseException:
            self.file.close()
            raise

    def __len__(self) -> int:
        return len(self.refs)

    def _dataset(self, index: int, scene: str) -> h5py.Dataset:
        """The label dataset of image index (0-based)."""
        try:
            ds = self.file[self.refs[index]]
        except (KeyError, ValueError, OSError) as err:
            raise FormatError(f"{self.path}: {SEG_FIELD} entry {index + 1} (scene {scene}) cannot be "
                              f"dereferenced ({err})") from None
        if not isinstance(ds, h5py.Dataset) or ds.ndim != 2 or ds.attrs.get("MATLAB_empty", 0) \
                or ds.dtype.kind not in "uif":
            what = "empty" if isinstance(ds, h5py.Dataset) and ds.attrs.get("MATLAB_empty", 0) else \
                (f"{ds.dtype} {ds.shape}" if isinstance(ds, h5py.Dataset) else "not a dataset")
            raise FormatError(f"{self.path}: {SEG_FIELD} entry {index + 1} (scene {scene}) is {what}; expected "
                              f"a 2-D array of 37-class ids")
        return ds

    def size(self, index: int, scene: str) -> tuple[int, int]:
        """(H, W) of image index's label (from the dataset's shape, stored transposed; nothing read)."""
        w, h = self._dataset(index, scene).shape
        return h, w

    def read(self, index: int, scene: str) -> np.ndarray:
        """(H, W) uint8 ids 0..36 (255 = ignore) of image index (toolbox ids 1..37, 0 = void)."""
        raw = np.asarray(self._dataset(index, scene)[()]).T
        if raw.dtype.kind == "f":
            if not np.all(np.isfinite(raw) & (raw == np.round(raw))):
                raise FormatError(f"{self.path}: {SEG_FIELD} entry {index + 1} (scene {scene}) holds non-integer "
                                  f"label ids")
        return ids37(raw.astype(np.int64), f"{self.path}: {SEG_FIELD} entry {index + 1} (scene {scene})")

    def close(self) -> None:
        self.file.close()


_SEG_OPEN: dict[Path, SegMat] = {}  # per process: --workers processes open the file once each


def seg_mat(path: Path) -> SegMat:
    """The process's open SegMat for path."""
    if path not in _SEG_OPEN:
        _SEG_OPEN[path] = SegMat(path)
    return _SEG_OPEN[path]


def close_seg_mat(path: Path) -> None:
    """Close this process's handle on path, if open."""
    handle = _SEG_OPEN.pop(path, None)
    if handle is not None:
        handle.close()


def attach_seg(scenes: list[Scene], root: Path, seg_path: Path, meta_path: Path) -> None:
    """Set each scene's (seg_path, index) from SUNRGBDMeta.mat (FormatError naming a scene that is not in it)."""
    keys = read_meta(meta_path)
    seg = seg_mat(seg_path)
    if len(seg) != len(keys):
        raise FormatError(f"{seg_path} holds {len(seg)} labels but {meta_path} {len(keys)} images; expected the "
                          f"two files of one SUNRGBDtoolbox/Metadata")
    index: dict[str, int] = {}
    for k, entry in enumerate(keys):
        for key in entry:
            index.setdefault(key, k)
    # a --root below SUNRGBD/ (a sensor or collection folder): prefix the scene paths with its last folders
    tails = [""] + ["/".join(root.resolve().parts[-n:]) + "/" for n in range(1, 4)
                    if len(root.resolve().parts) > n]
    example = next((e[0] for e in keys if e), "none")
    for s in scenes:
        rel = "" if s.rel == "." else s.rel
        k = next((index[c] for c in (split_entry(t + rel) for t in tails) if c in index), None)
        if k is None:
            raise FormatError(f"{s.folder}: scene {s.rel} is not in {meta_path} (neither as sequenceName nor "
                              f"rgbpath of its {len(keys)} entries, which look like {example}); --seg-mat labels are "
                              f"matched by scene path relative to SUNRGBD/")
        s.seg = (seg_path, k)
