"""Per-frame content digests of a paired file: what the leakage check and content fingerprints use.

The leakage check compares them between splits; a split's content fingerprint, used for cell reuse, the teacher
cache and --resume, is made of them. The writers store them as the datasets `frame_hash` and `frame_constant`,
described in docs/data_format.md. For a file written without them they are computed on first use and cached by
the file's stat fingerprint through crossmodal.data.checks.cached. h5py and numpy only.
"""
from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import h5py
import numpy as np

if TYPE_CHECKING:  # (h5format imports this module for its writers)
    from crossmodal.data.h5format import PairedInfo

HASH_DATASET = "frame_hash"
CONSTANT_DATASET = "frame_constant"
DIGEST_BYTES = 16
ALGORITHM = "blake2b-128 of each frame's dtype, per-sample shape and C-order bytes"
FINGERPRINT_VERSION = 1
BLOCK_BYTES = 32 << 20  # frames read at once when hashing a file written without stored digests


def frame_digest(frame: np.ndarray) -> np.ndarray:
    """The 16-byte digest (uint8) of one frame of one modality: its dtype, shape and bytes."""
    a = np.ascontiguousarray(frame)
    h = hashlib.blake2b(digest_size=DIGEST_BYTES)
    h.update(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return np.frombuffer(h.digest(), np.uint8)


def is_constant(frame: np.ndarray) -> bool:
    """True when the frame holds one value throughout (e.g. an all-zero or saturated frame)."""
    flat = np.asarray(frame).reshape(-1)
    return bool(flat.size == 0 or (flat == flat[0]).all())


class FrameHasher:
    """Digests and constant-flags of the frames a writer stores, written into the file when it is complete."""

    def __init__(self, modalities: Sequence[str], num_samples: int) -> None:
        self.modalities = tuple(modalities)
        self.digests = np.zeros((num_samples, len(self.modalities), DIGEST_BYTES), np.uint8)
        self.constant = np.zeros((num_samples, len(self.modalities)), np.uint8)

    @classmethod
    def of(cls, arrays: Mapping[str, np.ndarray]) -> FrameHasher:
        """The digests of whole (N, ...) arrays, one per modality (write_paired)."""
        names = list(arrays)
        hasher = cls(names, len(arrays[names[0]]))
        for row in range(len(hasher.digests)):
            hasher.add(row, {n: arrays[n][row] for n in names})
        return hasher

    def add(self, row: int, sample: Mapping[str, np.ndarray]) -> None:
        """Record one frame (every modality) at `row`."""
        for j, name in enumerate(self.modalities):
            self.digests[row, j] = frame_digest(sample[name])
            self.constant[row, j] = is_constant(sample[name])

    def store(self, f: h5py.File) -> None:
        """Write the two datasets (outside `modalities`, like frame_name) with what they mean."""
        names = np.array(self.modalities, dtype=h5py.string_dtype("utf-8"))
        ds = f.create_dataset(HASH_DATASET, data=self.digests)
        ds.attrs.update({"modalities": names, "algorithm": ALGORITHM})
        ds = f.create_dataset(CONSTANT_DATASET, data=self.constant)
        ds.attrs.update({"modalities": names, "meaning": "1 where the frame holds one value throughout"})


@dataclass(frozen=True)
class FrameHashes:
    """The digests and constant-flags of every frame of a file's modalities.

    Digests are (N, M, 16) and flags (N, M), the M modalities in the order of `modalities`.
    """

    modalities: tuple[str, ...]
    digests: np.ndarray
    constant: np.ndarray

    def columns(self, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Digests and flags of the modalities `names` only."""
        idx = [self.modalities.index(n) for n in names]
        return self.digests[:, idx], self.constant[:, idx]


def _names(value: Any) -> list[str]:
    """A stored list-of-strings attribute as Python strings."""
    values = value if isinstance(value, np.ndarray) else [value]
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]


def _stored(f: h5py.File, num: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{modality: (digests, flags)} as the writer stored them.

    {} when the file has none or they are not as written.
    """
    try:
        ds, flags = f.get(HASH_DATASET), f.get(CONSTANT_DATASET)
        if not isinstance(ds, h5py.Dataset) or not isinstance(flags, h5py.Dataset) or "modalities" not in ds.attrs:
            return {}
        names = _names(ds.attrs["modalities"])
        if ds.shape != (num, len(names), DIGEST_BYTES) or flags.shape != (num, len(names)) or ds.dtype != np.uint8:
            return {}
        digests, constant = ds[()], flags[()].astype(bool)
    except (OSError, TypeError, ValueError, KeyError, RuntimeError):  # h5py on a damaged header: hash the frames
        return {}
    return {n: (digests[:, j], constant[:, j]) for j, n in enumerate(names)}


def _agrees(ds: h5py.Dataset, digests: np.ndarray) -> bool:
    """Spot check of stored digests against the data: the first, middle and last frame.

    A tool that rewrote a modality in place after the writer closed the file leaves digests that no longer describe
    it.
    """
    n = ds.shape[0]
    return all(np.array_equal(frame_digest(ds[r]), digests[r]) for r in sorted({0, n // 2, n - 1}))


def _compute(ds: h5py.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Digests and flags of every frame of one dataset, read in blocks of BLOCK_BYTES."""
    n = ds.shape[0]
    digests, constant = np.zeros((n, DIGEST_BYTES), np.uint8), np.zeros(n, bool)
    step = max(1, BLOCK_BYTES // max(1, int(np.prod(ds.shape[1:])) * ds.dtype.itemsize))
    for start in range(0, n, step):
        for k, frame in enumerate(ds[start:start + step]):
            digests[start + k], constant[start + k] = frame_digest(frame), is_constant(frame)
    return digests, constant


def _encode(digests: np.ndarray, constant: np.ndarray) -> dict[str, str]:
    return {"digests": base64.b64encode(digests.tobytes()).decode(),
            "constant": base64.b64encode(np.packbits(constant).tobytes()).decode()}


def _decode(entry: Any, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A cached (digests, flags) pair, or None when the entry is not one this version wrote for n frames."""
    try:
        digests = np.frombuffer(base64.b64decode(entry["digests"]), np.uint8).reshape(n, DIGEST_BYTES)
        constant = np.unpackbits(np.frombuffer(base64.b64decode(entry["constant"]), np.uint8))[:n].astype(bool)
    except (TypeError, KeyError, ValueError):
        return None
    return (digests, constant) if constant.shape == (n,) else None


def _read_error(path: Path, err: Exception) -> Exception:
    from crossmodal.data.h5format import FormatError

    return FormatError(f"{path}: its frames cannot be read for their content hashes: truncated or corrupt ({err})")


def file_hashes(info: PairedInfo) -> FrameHashes:
    """The digests of every frame of every modality of the file that `info`, a PairedInfo, describes.

    They are the stored ones when those agree with the data, else computed once per version of the file and cached.
    """
    from crossmodal.data.checks import cached

    path, num = Path(info.path), info.num_samples
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        with h5py.File(path, "r") as f:
            stored = _stored(f, num)
            for name in info.modalities:
                if name in stored and _agrees(f[name], stored[name][0]):
                    out[name] = stored[name]
    except (OSError, KeyError, RuntimeError) as err:
        raise _read_error(path, err) from err
    for name in info.modalities:
        if name in out:
            continue

        def compute(name: str = name) -> dict[str, str]:
            try:
                with h5py.File(path, "r") as f:
                    return _encode(*_compute(f[name]))
            except (OSError, KeyError, RuntimeError) as err:
                raise _read_error(path, err) from err

        got = _decode(cached(path, f"{HASH_DATASET}/{name}", compute), num)
        out[name] = got if got is not None else _decode(compute(), num)
    mods = tuple(info.modalities)
    return FrameHashes(mods, np.stack([out[m][0] for m in mods], axis=1), np.stack([out[m][1] for m in mods], axis=1))


def _plain(value: Any) -> Any:
    """Attributes as JSON can sort them: every key a string.

    An attribute name h5py hands back as bytes is repr'd.
    """
    if isinstance(value, dict):
        return {k if isinstance(k, str) else repr(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _fingerprint(info: PairedInfo) -> str:
    """sha256 over what a run reads of the file.

    That is how each modality is stored, the root attributes, class names and every frame's digest, labels and
    class_id included.
    """
    described = {"num_samples": info.num_samples, "modalities": list(info.modalities),
                 "shapes": {m: list(s) for m, s in info.shapes.items()},
                 "dtypes": {m: str(d) for m, d in info.dtypes.items()}, "class_names": list(info.class_names),
                 "attrs": info.attrs, "modality_attrs": info.modality_attrs,
                 "image_class_names": list(info.image_class_names), "version": FINGERPRINT_VERSION}
    h = hashlib.sha256(json.dumps(_plain(described), sort_keys=True, default=repr).encode())
    h.update(file_hashes(info).digests.tobytes())
    if info.has_class_id:
        try:
            with h5py.File(info.path, "r") as f:
                h.update(np.ascontiguousarray(f["class_id"][()], dtype="<i8").tobytes())
        except (OSError, KeyError, RuntimeError) as err:
            raise _read_error(Path(info.path), err) from err
    return h.hexdigest()[:32]


def content_fingerprint(path: str | Path) -> str:
    """What identifies the content of a paired file wherever it lies, as 32 hex digits.

    Any change to a frame, a label, a class name or an attribute changes it; a copy or a move does not. Cached per
    version of the file.
    """
    from crossmodal.data.checks import cached
    from crossmodal.data.h5format import read_info

    path = Path(path)
    value = cached(path, f"content_fingerprint/{FINGERPRINT_VERSION}", lambda: _fingerprint(read_info(path)))
    return value if isinstance(value, str) and len(value) == 32 else _fingerprint(read_info(path))
