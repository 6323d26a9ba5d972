"""Unlabeled RGB-D pairs from NYU-Depth V2's raw Kinect dumps (scene folders or the downloaded .zip archives).

    python -m data_tools.nyu_raw --scenes downloads/nyu_raw --out data/nyu_raw/unlabeled.h5 --every 7

Frames are synced as the NYU toolbox does (every depth frame, nearest RGB frame by timestamp, forward-only pointer),
depth is converted to metres and registered into the undistorted RGB camera (data_tools.camera). See docs/nyu.md.
"""
from __future__ import annotations

import argparse
import os
import posixpath
import re
import sys
import zipfile
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import h5py
import numpy as np

from crossmodal.data.h5format import FormatError
from data_tools import camera
from data_tools.common import add_output_flags, check_outputs, int_at_least, parse_size, tool_main, tool_parser, warn
from data_tools.resize import add_aspect_argument, crop_to, crop_window, fit_intrinsics, size_aspect, size_attrs
from data_tools.staged import StagedOutput

PROG = "python -m data_tools.nyu_raw"
# d-<unix time>-<frame counter>.pgm (depth), r-....ppm (RGB), a-....dump (accelerometer), as the recorder names them.
FRAME_NAME = re.compile(r"^(?P<kind>[dra])-(?P<time>\d+(?:\.\d*)?)-(?P<count>\d+)\.(?P<ext>pgm|ppm|dump)$")
H, W = camera.NYU_HEIGHT, camera.NYU_WIDTH
DEPTH_PAYLOAD, RGB_PAYLOAD = H * W * 2, H * W * 3
MAX_HEADER = 64  # "P5 640 480 65535\n" is 17 bytes; allow comments and odd whitespace


class BadFrame(FormatError):
    """A raw frame that cannot be decoded; the message names the file (or zip member)."""


@dataclass(frozen=True)
class Frame:
    """One dump file: its timestamp, its name inside the scene source and its size in bytes."""

    time: float
    member: str
    size: int


@dataclass
class Scene:
    """A scene's depth and RGB frames, from a folder or from one .zip archive (members under one folder)."""

    name: str
    source: Path
    is_zip: bool
    depth: list[Frame] = field(default_factory=list)
    rgb: list[Frame] = field(default_factory=list)

    def where(self, frame: Frame) -> str:
        """Human-readable location of a frame: a path, or ARCHIVE.zip:member."""
        return f"{self.source}:{frame.member}" if self.is_zip else str(self.source / frame.member)


@dataclass(frozen=True)
class Pair:
    """One synced output sample: a depth frame and the RGB frame nearest in time."""

    scene: Scene
    depth: Frame
    rgb: Frame


# ------------------------------------------------------------------------------------------------ finding frames

def _add(scenes: dict[tuple[Path, str], Scene], source: Path, is_zip: bool, folder: str, name: str, size: int,
         member: str) -> None:
    """File a dump file under its scene (the folder that holds it)."""
    m = FRAME_NAME.match(name)
    if not m or m["kind"] == "a":
        return
    key = (source, folder)
    if key not in scenes:
        base = posixpath.basename(folder.replace(os.sep, "/").rstrip("/"))
        scene_name = base if base not in ("", ".") else (source.stem if is_zip else source.resolve().name)
        scenes[key] = Scene(scene_name, source if is_zip else source / folder, is_zip)
    frame = Frame(float(m["time"]), member if is_zip else name, size)
    (scenes[key].depth if m["kind"] == "d" else scenes[key].rgb).append(frame)


def find_scenes(root: Path) -> list[Scene]:
    """Scene folders (holding d-*.pgm / r-*.ppm) and .zip archives anywhere under root, sorted by scene name."""
    if not root.exists():
        raise FileNotFoundError(f"{root}: no such folder; expected the raw NYU scenes (folders or .zip archives)")
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder; expected the raw NYU scenes (folders or .zip archives)")
    scenes: dict[tuple[Path, str], Scene] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        here = Path(dirpath)
        for name in sorted(filenames):
            if name.lower().endswith(".zip"):
                _scan_zip(here / name, scenes)
            else:
                path = here / name
                if FRAME_NAME.match(name):
                    _add(scenes, root, False, os.path.relpath(here, root), name, path.stat().st_size, name)
    by_name: dict[str, Scene] = {}
    for scene in scenes.values():
        if scene.name in by_name:
            raise FormatError(f"scene {scene.name!r} appears twice: in {by_name[scene.name].source} and in "
                              f"{scene.source}; keep one copy under {root}")
        by_name[scene.name] = scene
    for scene in by_name.values():
        scene.depth.sort(key=lambda f: (f.time, f.member))
        scene.rgb.sort(key=lambda f: (f.time, f.member))
    return [by_name[k] for k in sorted(by_name)]


def _scan_zip(path: Path, scenes: dict[tuple[Path, str], Scene]) -> None:
    """Add every dump file inside a .zip archive (grouped by the folder that holds it inside the archive)."""
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError) as err:
        raise FormatError(f"{path}: not a readable .zip archive ({err})") from None
    for info in infos:
        if not info.is_dir():
            folder, name = posixpath.split(info.filename)
            _add(scenes, path, True, folder, name, info.file_size, info.filename)


def sync_frames(depth_times: list[float], rgb_times: list[float]) -> list[int]:
    """For each depth time the index of the nearest RGB time, by the toolbox's forward-only pointer (ties advance)."""
    if not rgb_times:
        return []
    out, jj = [], 0
    for t in depth_times:
        diff = abs(t - rgb_times[jj])
        while jj + 1 < len(rgb_times):
            nxt = abs(t - rgb_times[jj + 1])
            if nxt > diff:
                break
            diff, jj = nxt, jj + 1
        out.append(jj)
    return out


def synced_pairs(scenes: list[Scene], every: int) -> tuple[list[Pair], list[str]]:
    """Every `every`-th synced (depth, nearest RGB) pair of each scene, and the names of scenes without pairs."""
    pairs, empty = [], []
    for scene in scenes:
        match = sync_frames([f.time for f in scene.depth], [f.time for f in scene.rgb])
        if not match:
            empty.append(scene.name)
            continue
        for k in range(0, len(match), every):
            pairs.append(Pair(scene, scene.depth[k], scene.rgb[match[k]]))
    return pairs, empty


# ------------------------------------------------------------------------------------------------ decoding

def _pnm(data: bytes, magic: bytes, where: str) -> tuple[int, int, int, memoryview]:
    """Parse a binary PNM header (magic, width, height, maxval; '#' comments) -> (w, h, maxval, payload)."""
    if data[:2] != magic:
        raise BadFrame(f"{where}: not a binary {'PGM' if magic == b'P5' else 'PPM'} file "
                       f"(starts with {bytes(data[:8])!r}, expected {magic.decode()})")
    tokens, pos, n = [], 2, len(data)
    while len(tokens) < 3:
        while pos < n and data[pos:pos + 1] in b" \t\r\n":
            pos += 1
        if pos < n and data[pos:pos + 1] == b"#":
            while pos < n and data[pos:pos + 1] not in b"\r\n":
                pos += 1
            continue
        start = pos
        while pos < n and data[pos:pos + 1].isdigit():
            pos += 1
        if start == pos or pos > MAX_HEADER:
            raise BadFrame(f"{where}: corrupt {magic.decode()} header {bytes(data[:MAX_HEADER])!r}")
        tokens.append(int(data[start:pos]))
    if pos >= n or data[pos:pos + 1] not in b" \t\r\n":
        raise BadFrame(f"{where}: corrupt {magic.decode()} header {bytes(data[:MAX_HEADER])!r}")
    w, h, maxval = tokens
    return w, h, maxval, memoryview(data)[pos + 1:]


def _payload(data: bytes, magic: bytes, where: str, what: str, maxval: int, size: int) -> memoryview:
    """The payload of a NYU dump of the recorder's size and maxval (BadFrame naming `where` otherwise)."""
    w, h, got, payload = _pnm(data, magic, where)
    if (w, h) != (W, H) or got != maxval:
        raise BadFrame(f"{where}: {what} is {w}x{h} with maxval {got}; expected {W}x{H} with maxval {maxval}")
    if len(payload) != size:
        raise BadFrame(f"{where}: {what} payload is {len(payload)} bytes; expected {size} "
                       f"({'truncated' if len(payload) < size else 'trailing bytes'})")
    return payload


def decode_depth(data: bytes, where: str) -> tuple[np.ndarray, bool]:
    """Raw 11-bit depth (H, W) uint16 from a NYU .pgm (little-endian payload); True if it had to be byte-swapped."""
    payload = _payload(data, b"P5", where, "depth", 65535, DEPTH_PAYLOAD)
    raw = np.frombuffer(payload, "<u2").reshape(H, W)
    if int(raw.max()) <= camera.RAW_MAX:
        return raw, False
    swapped = raw.byteswap()
    if int(swapped.max()) <= camera.RAW_MAX:
        return swapped, True
    raise BadFrame(f"{where}: depth values reach {int(raw.max())} little-endian and {int(swapped.max())} "
                   f"big-endian; expected 11-bit raw Kinect values 0..{camera.RAW_MAX}")


def decode_rgb(data: bytes, where: str) -> np.ndarray:
    """RGB (H, W, 3) uint8 from a NYU .ppm."""
    payload = _payload(data, b"P6", where, "RGB", 255, RGB_PAYLOAD)
    return np.frombuffer(payload, np.uint8).reshape(H, W, 3)


def size_ok(frame: Frame, payload: int) -> bool:
    """Cheap first-pass check: a dump file must be its payload plus a short header."""
    return payload < frame.size <= payload + MAX_HEADER


def make_pair(raw: np.ndarray, rgb: np.ndarray, size: tuple[int, int] | None,
              window: tuple[int, int, int, int] = (0, 0, H, W)) -> dict[str, np.ndarray]:
    """Undistorted RGB and the depth registered into it, in metres with 0 = none.

    Both are cut to `window` first (--aspect crop, data_tools.resize.crop_window), then resized to `size` (H, W)."""
    rgb_u = crop_to(camera.undistort_rgb(rgb), window, (H, W))
    depth = crop_to(camera.register_depth(camera.raw_to_metres(raw)), window, (H, W))
    if size is not None and size != depth.shape:
        h, w = size
        interp = cv2.INTER_AREA if h < depth.shape[0] and w < depth.shape[1] else cv2.INTER_LINEAR
        rgb_u = cv2.resize(rgb_u, (w, h), interpolation=interp)
        depth = cv2.resize(depth, (w, h), interpolation=cv2.INTER_NEAREST_EXACT)
    return {"rgb": np.ascontiguousarray(rgb_u), "depth": np.ascontiguousarray(depth)}


class _Reader:
    """Reads frame bytes from scene folders or zip archives, keeping one archive open at a time."""

    def __init__(self) -> None:
        self._zip: zipfile.ZipFile | None = None
        self._zip_path: Path | None = None

    def read(self, scene: Scene, frame: Frame) -> bytes:
        """The bytes of one dump file (BadFrame naming it if unreadable)."""
        try:
            if not scene.is_zip:
                return (scene.source / frame.member).read_bytes()
            if self._zip_path != scene.source:
                self.close()
                self._zip, self._zip_path = zipfile.ZipFile(scene.source), scene.source
            return self._zip.read(frame.member)
        except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, EOFError, ValueError) as err:
            raise BadFrame(f"{scene.where(frame)}: cannot read ({err})") from None

    def close(self) -> None:
        """Close the open archive, if any."""
        if self._zip is not None:
            self._zip.close()
        self._zip, self._zip_path = None, None


# ------------------------------------------------------------------------------------------------ conversion

@dataclass
class Report:
    """What a conversion did: samples written, frames skipped (with reasons), byte-swapped depth files."""

    path: Path
    num_samples: int = 0
    skipped: list[str] = field(default_factory=list)
    swapped: list[str] = field(default_factory=list)
    empty_scenes: list[str] = field(default_factory=list)


ROW_DESCRIPTIONS = {"scene": "scene folder of each sample", "timestamp": "unix times [depth, rgb] of each sample",
                    "depth_file": "raw depth dump of each sample", "rgb_file": "raw RGB dump of each sample"}
DEPTH_ATTRS = {"depth": {"description": "raw Kinect depth (351.3 / (1092.5 - raw), raw < 600 or 2047 invalid) "
                                        "registered into the undistorted RGB camera; not in-painted"}}


def _metadata(pairs: list[Pair]) -> dict[str, tuple[np.ndarray, str]]:
    """Per-sample datasets stored next to the modalities: scene, timestamps and source file names."""
    text = h5py.string_dtype("utf-8")
    meta = {
        "scene": np.array([p.scene.name for p in pairs], dtype=text),
        "timestamp": np.array([[p.depth.time, p.rgb.time] for p in pairs], np.float64),
        "depth_file": np.array([p.depth.member for p in pairs], dtype=text),
        "rgb_file": np.array([p.rgb.member for p in pairs], dtype=text),
    }
    return {key: (arr, ROW_DESCRIPTIONS[key]) for key, arr in meta.items()}


def _whole_files(pairs: list[Pair], skip_bad: bool, report: Report) -> list[Pair]:
    """The pairs whose two dumps have their payload's size, checked cheaply before N is fixed.

    The first other pair raises BadFrame, or with skip_bad is listed in report.skipped and left out."""
    good = []
    for p in pairs:
        for frame, payload in ((p.depth, DEPTH_PAYLOAD), (p.rgb, RGB_PAYLOAD)):
            if not size_ok(frame, payload):
                msg = (f"{p.scene.where(frame)}: {frame.size} bytes; expected a {payload}-byte payload plus a short "
                       f"header (truncated or corrupt)")
                if not skip_bad:
                    raise BadFrame(msg)
                report.skipped.append(msg)
                break
        else:
            good.append(p)
    return good


def _frames(pairs: list[Pair], reader: _Reader, size: tuple[int, int] | None, window: tuple[int, int, int, int],
            skip_bad: bool, report: Report, failed: np.ndarray, specs: dict) -> Iterator[dict[str, np.ndarray]]:
    """Each pair decoded and registered, in order.

    With skip_bad a frame that cannot be decoded is listed in report.skipped, marked in `failed` and stands as
    zeros, to be dropped once every frame is written."""
    for i, p in enumerate(pairs):
        try:
            raw, swapped = decode_depth(reader.read(p.scene, p.depth), p.scene.where(p.depth))
            rgb = decode_rgb(reader.read(p.scene, p.rgb), p.scene.where(p.rgb))
        except BadFrame as err:
            if not skip_bad:
                raise
            report.skipped.append(str(err))
            failed[i] = True
            yield {k: np.zeros(s, d) for k, (s, d) in specs.items()}
            continue
        if swapped:
            report.swapped.append(p.scene.where(p.depth))
        yield make_pair(raw, rgb, size, window)


def _drop_failed(staged: StagedOutput, pairs: list[Pair], failed: np.ndarray, scenes_dir: Path, specs: dict,
                 source: str, attrs: dict) -> list[Pair]:
    """Rewrite the staged file without the rows marked in `failed`; the pairs that remain."""
    keep = np.flatnonzero(~failed)
    if keep.size == 0:
        raise FormatError(f"{scenes_dir}: every synced frame is corrupt; nothing to write")
    first = staged.scratch()
    os.replace(staged.path(), first)
    with h5py.File(first, "r") as src:
        staged.write(({name: src[name][k] for name in specs} for k in keep), int(keep.size), specs,
                     class_names=None, source=source, modality_attrs=DEPTH_ATTRS,
                     attrs={**attrs, "scenes": sorted({pairs[k].scene.name for k in keep})})
    return [pairs[k] for k in keep]


def _root_attrs(pairs: list[Pair], every: int, intrinsics: list[float], size: tuple[int, int] | None,
                policy: str) -> dict:
    """The root attributes: camera, registration, kept scenes and size."""
    return {"intrinsics": [float(v) for v in intrinsics], "every": int(every),
            "camera": "NYU-Depth V2 Kinect v1 RGB, undistorted (pinhole)",
            "registration": "NYU toolbox camera_params.m: depth undistorted, back-projected, P_rgb = R P - T, "
                            "projected with the RGB intrinsics, nearest point per pixel; holes 0",
            "scenes": sorted({p.scene.name for p in pairs}), **size_attrs(size, policy)}


def _pairs(scenes_dir: Path, every: int, skip_bad: bool, report: Report) -> list[Pair]:
    """The synced pairs of every scene whose files have the right size (see _whole_files)."""
    pairs, report.empty_scenes = synced_pairs(find_scenes(scenes_dir), every)
    if not pairs:
        raise FormatError(f"{scenes_dir}: no synced depth/RGB frames found (expected scene folders or .zip archives "
                          f"with d-<time>-<n>.pgm and r-<time>-<n>.ppm files)")
    pairs = _whole_files(pairs, skip_bad, report)
    if not pairs:
        raise FormatError(f"{scenes_dir}: every synced frame is corrupt; nothing to write")
    return pairs


def convert(scenes_dir: Path, out: Path, *, every: int = 1, size: tuple[int, int] | None = None,
            overwrite: bool = False, skip_bad: bool = False, show_progress: bool = True,
            aspect: str | None = None) -> Report:
    """Sync, convert and register every kept pair into one paired file, atomically, with per-sample metadata.

    A size of another aspect ratio than 480x640 is refused unless aspect is 'crop' or 'stretch'
    (data_tools.resize); the intrinsics follow."""
    if every < 1:
        raise ValueError(f"--every must be >= 1, got {every}")
    policy = size_aspect(size, aspect)
    report = Report(out)
    pairs = _pairs(scenes_dir, every, skip_bad, report)
    what = f"{pairs[0].scene.where(pairs[0].rgb)} (every NYU raw frame is {H}x{W})"
    window = crop_window((H, W), size or (H, W), policy, what)
    check_outputs([out], overwrite)
    h, w = size or (H, W)
    intrinsics = fit_intrinsics(camera.RGB_INTRINSICS, (H, W), (h, w), policy, what)
    source = f"data_tools.nyu_raw --scenes {scenes_dir.name} --every {every}" + (f" --size {h}x{w}" if size else "") \
        + (f" --aspect {aspect}" if aspect else "")
    specs = {"rgb": ((h, w, 3), np.uint8), "depth": ((h, w), np.float32)}
    attrs = _root_attrs(pairs, every, intrinsics, size, policy)
    failed = np.zeros(len(pairs), bool)
    with closing(_Reader()) as reader, StagedOutput(out, overwrite=overwrite) as staged:
        frames = _frames(pairs, reader, size, window, skip_bad, report, failed, specs)
        staged.write(frames, len(pairs), specs, class_names=None, source=source, attrs=attrs,
                     modality_attrs=DEPTH_ATTRS, desc="nyu raw" if show_progress else None)
        reader.close()
        if failed.any():
            pairs = _drop_failed(staged, pairs, failed, scenes_dir, specs, source, attrs)
        staged.add_rows(_metadata(pairs))
    report.num_samples = len(pairs)
    return report


DESCRIPTION = (
    "Build unlabeled RGB-D pairs from NYU-Depth V2's raw Kinect dumps: per-scene folders of d-<time>-<n>.pgm / "
    "r-<time>-<n>.ppm files, or the .zip archives holding them (read in place). Every depth frame is paired with the "
    "nearest RGB frame (the toolbox's sync), converted to metres and registered into the undistorted RGB camera; "
    "output: rgb (N,H,W,3) uint8, depth (N,H,W) float32 metres (0 = no reading), plus per-sample scene, timestamp, "
    "depth_file and rgb_file."
)


def _parser() -> argparse.ArgumentParser:
    """The command line (every option with an example)."""
    p = tool_parser(PROG, DESCRIPTION, "example:\n  python -m data_tools.nyu_raw --scenes downloads/nyu/raw "
                    "--out data/nyu_raw/unlabeled.h5 \\\n      --every 7 --size 240x320 --skip-bad")
    p.add_argument("--scenes", required=True, type=Path,
                   help="folder holding scene folders (e.g. bookstore_0001a/) and/or raw .zip archives, searched "
                        "recursively, e.g. downloads/nyu_raw")
    p.add_argument("--out", required=True, type=Path, help="output HDF5 file, e.g. data/nyu_raw/unlabeled.h5")
    p.add_argument("--every", type=int_at_least(1), default=1,
                   help="keep every K-th synced pair of each scene, starting with its first (default 1 = all), "
                        "e.g. --every 7")
    p.add_argument("--size", type=parse_size, default=None,
                   help="resize to HEIGHTxWIDTH (RGB area/linear, depth nearest; intrinsics scaled), e.g. 240x320; "
                        "default: native 480x640. A size of another aspect ratio than 4:3 is refused unless "
                        "--aspect says crop or stretch")
    add_aspect_argument(p)
    p.add_argument("--skip-bad", action="store_true",
                   help="skip corrupt or unreadable frames and list them at the end (default: stop with an error)")
    add_output_flags(p)
    return p


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    """Convert raw NYU dumps; bad input raises (tool_main reports it in one line, exit 2)."""
    rep = convert(args.scenes, args.out, every=args.every, size=args.size, overwrite=args.overwrite,
                  skip_bad=args.skip_bad, show_progress=not args.quiet, aspect=args.aspect)
    if rep.empty_scenes:
        warn(PROG, f"{len(rep.empty_scenes)} scene(s) have no depth/RGB pairs and were left out: "
                   f"{', '.join(rep.empty_scenes)}")
    if rep.swapped:
        warn(PROG, f"{len(rep.swapped)} depth file(s) held big-endian values and were byte-swapped "
                   f"(NYU writes little-endian), first: {rep.swapped[0]}")
    if rep.skipped:
        warn(PROG, f"skipped {len(rep.skipped)} corrupt frame(s):")
        for line in rep.skipped:
            print(f"  {line}", file=sys.stderr)
    print(f"wrote {rep.path} ({rep.num_samples} pairs)", file=sys.stderr)
    return 0


main = tool_main(PROG, _parser, _run)  # main(argv=None) -> exit code; the console script


if __name__ == "__main__":
    sys.exit(main())
