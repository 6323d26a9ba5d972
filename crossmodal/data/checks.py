"""Start-up checks of a run's split files that catch quiet data faults before any training.

Label ids outside the class list are found by a whole-dataset read, done once per file and cached by the file's
fingerprint. Modalities stored differently between the splits of one run, in dtype, channels, units or scale, and
class names that differ between them are refused too. h5py and numpy only, like crossmodal.data.files.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import h5py
import numpy as np

from crossmodal.atomic import write_text_atomic
from crossmodal.data.h5format import FormatError, PairedInfo
from crossmodal.diskspace import DiskFullError
from crossmodal.errors import ConfigError

BLOCK_BYTES = 32 << 20  # label rows read at once: memory stays bounded on large files
CACHE_VERSION = 1


# ----------------------------------------------------------------------------------------------
# The fingerprint cache
# ----------------------------------------------------------------------------------------------

def cache_dir() -> Path:
    """Where check results are kept: $XDG_CACHE_HOME/crossmodal/data_checks (default ~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "crossmodal" / "data_checks"


def fingerprint(path: Path) -> dict[str, int]:
    """What identifies one version of a file: size, modification time in ns, and inode.

    Any rewrite changes it.
    """
    st = path.stat()
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns), "inode": int(st.st_ino)}


def _cache_file(path: Path) -> Path:
    """The cache entry of one data file (one small JSON file per data file, named by its resolved path)."""
    return cache_dir() / (hashlib.sha1(str(path.resolve()).encode()).hexdigest() + ".json")


def _load_entry(path: Path, fp: dict[str, int]) -> dict[str, Any]:
    """The cached results for this version of `path`; {} when there are none.

    Also {} when the file changed or the cache is unreadable or corrupt: a cache only saves time, it is never trusted
    over the data.
    """
    try:
        entry = json.loads(_cache_file(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if (not isinstance(entry, dict) or entry.get("version") != CACHE_VERSION or entry.get("fingerprint") != fp
            or entry.get("path") != str(path.resolve()) or not isinstance(entry.get("checks"), dict)):
        return {}
    return entry["checks"]


def cached(path: Path, check: str, compute: Callable[[], Any]) -> Any:
    """compute() for this file, or its result cached under `check` for the file's current fingerprint.

    A cache that cannot be written is skipped silently.
    """
    fp = fingerprint(path)
    checks = _load_entry(path, fp)
    if check in checks:
        return checks[check]
    value = compute()
    if fingerprint(path) != fp:  # changed while being read: the result describes no single version
        return value
    checks = {**_load_entry(path, fp), check: value}  # read again: compute() may have cached results of its own
    try:
        write_text_atomic(_cache_file(path), json.dumps({"version": CACHE_VERSION, "path": str(path.resolve()),
                                                         "fingerprint": fp, "checks": checks}))
    except (OSError, DiskFullError):  # (a full disk included: the cache only saves time)
        pass
    return value


# ----------------------------------------------------------------------------------------------
# Label ids
# ----------------------------------------------------------------------------------------------

def _label_blocks(ds: h5py.Dataset) -> Any:
    """(first row, rows) blocks of a (N, H, W) label dataset, BLOCK_BYTES at a time."""
    per_row = max(1, int(np.prod(ds.shape[1:])) * ds.dtype.itemsize)
    step = max(1, BLOCK_BYTES // per_row)
    for start in range(0, ds.shape[0], step):
        yield start, ds[start:start + step]


def _read_error(path: Path, err: Exception) -> FormatError:
    """A dataset that cannot be read back (truncated or corrupt chunks), as the user sees it."""
    return FormatError(f"{path}: dataset 'label' cannot be read: truncated or corrupt ({err})")


def label_max(path: Path) -> int:
    """The largest label id in the file's 'label' dataset other than the ignore value (-1: none at all)."""
    try:
        with h5py.File(path, "r") as f:
            ds = f["label"]
            ignore = np.iinfo(ds.dtype).max
            counts = np.zeros(ignore + 1, np.int64)
            for _, block in _label_blocks(ds):
                counts += np.bincount(block.ravel(), minlength=ignore + 1)
    except (OSError, KeyError, RuntimeError) as err:
        raise _read_error(path, err) from err
    counts[ignore] = 0
    present = np.flatnonzero(counts)
    return int(present[-1]) if present.size else -1


def describe_row(f: h5py.File, row: int) -> str:
    """How a row is named to the user: 'sample i', with the frame name when the file records one."""
    names = f.get("frame_name")
    if isinstance(names, h5py.Dataset) and names.ndim == 1 and row < names.shape[0]:
        value = names[row]
        return f"sample {row} (frame '{value.decode(errors='replace') if isinstance(value, bytes) else value}')"
    return f"sample {row}"


def _first_bad_label(path: Path, num_classes: int) -> str:
    """The message for the first row holding a label id outside 0..num_classes-1, ignore value aside."""
    try:
        with h5py.File(path, "r") as f:
            ds = f["label"]
            ignore = np.iinfo(ds.dtype).max
            for start, block in _label_blocks(ds):
                bad = (block >= num_classes) & (block != ignore)
                rows = np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))
                if rows.size:
                    row = start + int(rows[0])
                    ids = sorted(np.unique(block[rows[0]][bad[rows[0]]]).tolist())[:10]
                    return (f"{path}: modality 'label' {describe_row(f, row)} has ids {ids} outside "
                            f"0..{num_classes - 1} (the {num_classes} class names) and not the ignore value {ignore}")
    except (OSError, KeyError, RuntimeError) as err:
        raise _read_error(path, err) from err
    return f"{path}: modality 'label' has ids outside 0..{num_classes - 1}"  # the file changed under us


def check_label_ids(info: PairedInfo, split: str, num_classes: int) -> None:
    """FormatError naming the file and first frame when its 'label' dataset holds an id with no class name.

    The whole-dataset read happens once per version of the file, cached by fingerprint.
    """
    if "label" not in info.modalities:
        return
    if info.dtypes["label"] not in (np.dtype(np.uint8), np.dtype(np.uint16)):
        raise FormatError(f"{info.path}: modality 'label' is {info.dtypes['label']}; expected uint8 or uint16 class "
                          f"ids (data.{split})")
    top = cached(info.path, "label_max", lambda: label_max(info.path))
    if not isinstance(top, int) or isinstance(top, bool):  # a cache entry this version did not write
        top = label_max(info.path)
    if top >= num_classes:
        raise FormatError(_first_bad_label(info.path, num_classes) + f" (data.{split})")


# ----------------------------------------------------------------------------------------------
# Splits of one run stored alike
# ----------------------------------------------------------------------------------------------

def _tool(info: PairedInfo) -> str:
    """The data tool that wrote a file, from its 'source' attribute; '' when unknown.

    The tool is named as in 'data_tools.pairs'.
    """
    words = str(info.attrs.get("source", "")).split()
    return next((w for w in words if w.startswith("data_tools.")), words[0] if words else "")


def _stored(info: PairedInfo, name: str) -> dict[str, Any]:
    """How a modality is stored: dtype, channels, units, scale (None when the file records none)."""
    shape = info.shapes[name]
    attrs = info.modality_attrs.get(name, {})
    return {"dtype": str(info.dtypes[name]), "channels": shape[2] if len(shape) == 3 else 1,
            "units": attrs.get("units"), "scale": attrs.get("scale")}


def _differ(name: str, a: tuple[str, PairedInfo], b: tuple[str, PairedInfo], shown: str) -> ConfigError:
    """The error for one modality stored differently in two splits."""
    return ConfigError(f"modality '{name}' is stored differently in {a[1].path} (data.{a[0]}) and {b[1].path} "
                       f"(data.{b[0]}): {shown}; every split of a run must store it alike (rebuild one with the "
                       f"same --scale / --units)")


def check_stored_alike(infos: Mapping[str, PairedInfo], modalities: Sequence[str]) -> None:
    """ConfigError when a modality the run reads is stored differently in one split than in another.

    Differently means another dtype, channel count or units, or another scale factor by the same data tool. Different
    tools apply their datasets' own documented factors, which all end in the same units.
    """
    for name in dict.fromkeys(modalities):
        held = [(split, info) for split, info in infos.items() if name in info.modalities]
        if not held:
            continue
        want = _stored(held[0][1], name)
        scaled: dict[str, tuple[tuple[str, PairedInfo], float]] = {}  # per tool: the first split with a scale
        for split, info in held:
            got = _stored(info, name)
            differ = [k for k in ("dtype", "channels", "units") if want[k] != got[k]]
            if differ:
                raise _differ(name, held[0], (split, info),
                              "; ".join(f"{k} {want[k]!r} vs {got[k]!r}" for k in differ))
            if not isinstance(got["scale"], (int, float)):
                continue
            first = scaled.setdefault(_tool(info), ((split, info), float(got["scale"])))
            if not np.isclose(first[1], float(got["scale"]), rtol=1e-6, atol=0.0):
                raise _differ(name, first[0], (split, info), f"scale {first[1]!r} vs {float(got['scale'])!r}")


def check_same_names(infos: Mapping[str, PairedInfo], reference: str, attr: str,
                     names_of: Callable[[PairedInfo], tuple[str, ...]]) -> None:
    """ConfigError when a split's class names differ from those of the reference split.

    The message names both files and the first differing id.
    """
    want = names_of(infos[reference])
    for split, info in infos.items():
        got = names_of(info)
        if split == reference or got == want:
            continue
        i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]), min(len(got), len(want)))
        at = (f"id {i} is {got[i]!r} in the first, {want[i]!r} in the second" if i < min(len(got), len(want))
              else f"{len(got)} names in the first, {len(want)} in the second")
        raise ConfigError(f"class names ({attr}) of {info.path} (data.{split}) differ from those of "
                          f"{infos[reference].path} (data.{reference}): {at}")
