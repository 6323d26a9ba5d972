"""Paired frames from ROS 1 / ROS 2 bags into one paired HDF5 split, in pure Python through `rosbags`.

    python -m data_tools.rosbag --bag run1.bag --source rgb=/camera/color/image_raw \
        --target depth=/camera/aligned_depth_to_color/image_raw --camera-info /camera/color/camera_info \
        --out unlabeled.h5

No ROS install is needed. Reads ROS 1 `.bag` files, ROS 2 bag folders with metadata.yaml, and single `.db3` /
`.mcap` files. Frames pair up by the messages' header stamps, which are sensor time; by the bag's receive time
only when --pair-by receive asks, for drivers that stamp badly. The stamps are checked first (data_tools.stamps).
Every --target is associated with the source nearest first and one-to-one within --max-dt, as TUM's associate.py
does (data_tools.associate), and a source frame is kept only when every target pairs with it; the summary
separates frames unpaired by a rate difference from drops and gaps.

Two streaming passes keep memory bounded whatever the bag size: the first reads only the header bytes of the
chosen topics, that is the stamp and the size and encoding of raw images; the second decodes only the paired
messages and writes them row by row. Opening bags and the two passes live in data_tools.ros_bags, peeking and
decoding single messages in data_tools.ros_messages.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Iterable, Iterator

import h5py
import numpy as np

from crossmodal.data.h5format import DEFAULT_MODALITY_ATTRS
from data_tools.common import (
    check_outputs,
    command_line,
    int_at_least,
    ordered_map,
    progress,
    tool_main,
    tool_parser,
)
from data_tools.frame_checks import ModalityWatch
from data_tools.frames import check_modality_name, name_value, parse_scales, role_attrs
from data_tools.resize import NO_RESIZE, Resize
from data_tools.resize import add_arguments as add_resize_arguments
from data_tools.resize import from_args as resize_from_args
from data_tools.ros_bags import PROG, bag_names, frames, open_bags, scan
from data_tools.ros_geometry import camera_intrinsics, fit_sizes
from data_tools.ros_messages import BagError, Role, decode
from data_tools.staged import StagedOutput
from data_tools.stamps import Plan, Stream, plan, timing_lines

PAIR_BY = ("header", "receive")
TIME_NAME = {"header": "header stamp", "receive": "bag receive time"}
PAIRING = {"header": "header stamps, nearest first, one-to-one",
           "receive": "bag receive times (--pair-by receive: header stamps not trusted; transport delay and jitter "
                      "included), nearest first, one-to-one"}
MAX_PENDING_PER_WORKER = 8


# ------------------------------------------------------------------------------------------------ frames

def decode_frame(job: tuple[int, dict[str, tuple[dict, float]], list[Role], Resize]
                 ) -> tuple[int, dict[str, np.ndarray], dict[str, tuple[tuple[int, int], float]]]:
    """Decode and size one paired row; the worker entry of the second pass.

    A job is (row, {name: (message fields, stamp)}, roles, resize). The result is (row, frame, {name: (raw size,
    factor applied)}).
    """
    row, msgs, roles, resize = job
    frame, raw_sizes = {}, {}
    for r in roles:
        frame[r.name], factor = decode(msgs[r.name][0], r, msgs[r.name][1])
        raw_sizes[r.name] = (frame[r.name].shape[:2], factor)
    source = next(r.name for r in roles if r.role == "source")
    return row, fit_sizes(frame, roles, resize, msgs[source][1]), raw_sizes


# ------------------------------------------------------------------------------------------------ conversion

def convert(bags: list[Path], roles: list[Role], out: Path, *, camera_info: str | None = None,
            max_dt: float = 0.02, every: int = 1, start: float | None = None, end: float | None = None,
            resize: Resize = NO_RESIZE, workers: int = 1, overwrite: bool = False, command: str = "data_tools.rosbag",
            show_progress: bool = True, log=print, pair_by: str = "header") -> Path:
    """Pair, decode and write one paired file, staged and renamed at the end; prints a summary via log.

    Frames pair by header stamps, or by receive times when pair_by says so.
    """
    if max_dt < 0:
        raise ValueError(f"--max-dt must be >= 0, got {max_dt}")
    if pair_by not in PAIR_BY:
        raise ValueError(f"--pair-by {pair_by}: expected one of {', '.join(PAIR_BY)}")
    check_outputs([out], overwrite)
    reader = open_bags(bags)
    try:
        with StagedOutput(out, overwrite=overwrite) as staged:
            streams, info, conns = scan(reader, bags, roles, camera_info, show_progress, pair_by)
            p = plan(streams, roles, max_dt, every, start, end, bag_names(bags))
            results = ordered_map(decode_frame, frames(reader, conns, bags, streams, roles, p, resize), workers,
                                  batch=1, batches_per_worker=MAX_PENDING_PER_WORKER)  # results in job order
            attrs = _root_attrs(bags, roles, camera_info, max_dt, every, start, end, pair_by, p.timing)
            found = FirstPass(bags, roles, streams, p, info, camera_info, resize)
            specs, notes = _write(staged, progress(results, len(p.rows), "frames") if show_progress else results,
                                  found, attrs, command, pair_by)
    finally:
        try:
            reader.close()
        except Exception:
            pass
    log(f"{PROG}: {p.summary}")
    for line in timing_lines(p.timing, f" beyond --max-dt {max_dt:g} s"):
        log(line)
    log(f"wrote {out}: {len(p.rows)} frames, " + ", ".join(f"{nm} {specs[nm][1]} {specs[nm][0]}" for nm in specs))
    for note in notes:
        log(note)
    return out


@dataclass(frozen=True)
class FirstPass:
    """What the first pass found, as the writing of the paired rows needs it."""

    bags: list[Path]
    roles: list[Role]
    streams: dict[str, Stream]
    plan: Plan
    info: Any  # the first CameraInfo message, or None
    camera_info: str | None
    resize: Resize


def _write(staged: StagedOutput, results: Iterable, b: FirstPass, attrs: dict, command: str, pair_by: str
           ) -> tuple[dict, list[str]]:
    """Write the decoded rows and their stamps; the modalities' specs and the frame checks' lines.

    The first row sets the specs, the intrinsics and the checks; every later row must match its raw sizes.
    """
    results = iter(results)
    head = next(results)
    _, first, first_raw = head
    specs = {nm: (a.shape, a.dtype) for nm, a in first.items()}
    if b.info is not None:
        stored = next(iter(first.values())).shape[:2]
        attrs["intrinsics"] = np.array(camera_intrinsics(b.info, b.roles, first_raw, stored, b.resize, b.camera_info))
    attrs.update(b.resize.attrs())
    n = len(b.plan.rows)
    watches = _watches(b.roles, first, first_raw, n)
    with staged.writer(n, specs, class_names=None, source=command, attrs=attrs,
                       modality_attrs=_modality_attrs(b.roles, b.streams, first, first_raw)) as writer:
        for row, frame in _same_sizes(chain([head], results), first_raw, b):  # in bag order
            for w in watches:
                w.add(row, frame[w.name])
            writer.write(row, frame)
    stamps = [f"{t:.9f}" for t in b.plan.stamps[:, 0]]
    rows = {"frame_name": (np.array(stamps, dtype=h5py.string_dtype("utf-8")),
                           f"the source message's {TIME_NAME[pair_by]} (s); not a modality"),
            "timestamp": (b.plan.stamps, f"{TIME_NAME[pair_by]}s (s) of each row's messages: "
                          + ", ".join(r.name for r in b.roles) + "; not a modality")}
    return specs, staged.add_rows(rows, watches=watches, names=stamps)


def _same_sizes(results: Iterable, first_raw: dict[str, tuple[tuple[int, int], float]], b: FirstPass
                ) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """The decoded rows and frames, each checked to have the raw sizes and bit depths of the first."""
    for row, frame, raw_sizes in results:
        for nm, (size, factor) in raw_sizes.items():
            (size0, factor0) = first_raw[nm]
            if size != size0 or factor != factor0:
                r = next(x for x in b.roles if x.name == nm)
                what = (f"size ({size0[0]}x{size0[1]}, then {size[0]}x{size[1]}" if size != size0 else
                        f"bit depth (values x {factor0:g}, then x {factor:g}")
                raise BagError(f"{bag_names(b.bags)}: topic {r.topic}: images change {what} at source stamp "
                               f"{b.plan.stamps[row, 0]:.9f}) mid-bag; convert the parts separately")
        yield row, frame


def _root_attrs(bags, roles, camera_info, max_dt, every, start, end, pair_by, timing) -> dict:
    attrs: dict = {"bags": [b.name for b in bags], "modality_topics": [f"{r.name}={r.topic}" for r in roles],
                   "pairing": f"{PAIRING[pair_by]} within max_dt = {max_dt:g} s", "pair_by": pair_by,
                   "max_dt": float(max_dt), "every": int(every), **timing}
    if camera_info:
        attrs["camera_info_topic"] = camera_info
    if start is not None:
        attrs["start"] = float(start)
    if end is not None:
        attrs["end"] = float(end)
    return attrs


def _watches(roles: list[Role], frame: dict[str, np.ndarray], raw: dict[str, tuple[tuple[int, int], float]],
             total: int) -> list[ModalityWatch]:
    """The checks of every modality over the frames written.

    They are those of data_tools.frame_checks: depth units, suspicious frames, robust target statistics.
    """
    return [ModalityWatch(r.name, total, 1 if frame[r.name].ndim == 2 else frame[r.name].shape[2],
                          f"topic {r.topic}", stats=r.role == "target", scale=raw[r.name][1] if r.role == "target"
                          else None, metres=DEFAULT_MODALITY_ATTRS.get(r.name, {}).get("units") == "metres",
                          ceiling=255.0 if r.role == "source" else None, error=BagError) for r in roles]


def _modality_attrs(roles: list[Role], streams: dict[str, Stream], frame: dict[str, np.ndarray],
                    raw: dict[str, tuple[tuple[int, int], float]]) -> dict:
    out = {}
    for r in roles:
        s = streams[r.topic]
        out[r.name] = {"topic": r.topic, "message_type": s.msgtype, "encoding": s.encoding,
                       **role_attrs(r.name, r.role, raw[r.name][1], frame[r.name], "message values",
                                    f"from {r.topic}; NaN stored as 0")}
    return out


# ------------------------------------------------------------------------------------------------ command line

def _parser() -> argparse.ArgumentParser:
    p = tool_parser(
        PROG, "Pair image topics of ROS 1 / ROS 2 bags by header stamp (sensor time, not receive time) and write one "
              "paired HDF5 split (docs/data_format.md). Source stored uint8 RGB; depth targets float32 metres (0 = no "
              "reading); other targets float32 x --scale.",
        "example: python -m data_tools.rosbag --bag run1.bag --source rgb=/camera/color/image_raw "
        "--target depth=/camera/aligned_depth_to_color/image_raw --camera-info /camera/color/camera_info "
        "--out data/robot/unlabeled.h5", wrap=False)
    p.add_argument("--bag", type=Path, action="append", required=True, metavar="PATH",
                   help="a ROS 1 .bag file, a ROS 2 bag folder (metadata.yaml) or a .db3 / .mcap file; repeatable "
                        "(read together, merged by time; ROS 1 and ROS 2 not mixed)")
    p.add_argument("--source", type=name_value, required=True, metavar="NAME=TOPIC",
                   help="colour image topic (Image rgb8/bgr8/rgba8/bgra8/mono8 or CompressedImage jpeg/png), "
                        "e.g. rgb=/camera/color/image_raw")
    p.add_argument("--target", type=name_value, action="append", required=True, metavar="NAME=TOPIC",
                   help="a target image topic (repeatable; a frame is kept only when every target pairs with it), "
                        "e.g. depth=/camera/aligned_depth_to_color/image_raw (registered to the colour camera). "
                        "Encodings: 16UC1/mono16 (depth: millimetres), "
                        "32FC1 (depth: metres, NaN = no reading), compressedDepth png, or any 8-bit one")
    p.add_argument("--camera-info", metavar="TOPIC",
                   help="CameraInfo topic; K of its first message, rescaled to the stored size, becomes the root "
                        "attribute intrinsics [fx, fy, cx, cy]")
    p.add_argument("--pair-by", choices=PAIR_BY, default="header",
                   help="pair by the messages' header stamps (sensor time; default), or by the bag's receive times "
                        "for a driver known to stamp badly (zero or repeated stamps): less exact, as transport delay "
                        "and jitter enter the pairing; the header-stamp checks then only warn")
    p.add_argument("--max-dt", type=float, default=0.02, metavar="S",
                   help="largest header-stamp difference for a pair, seconds (default 0.02)")
    p.add_argument("--every", type=int_at_least(1), default=1, metavar="N", help="keep every Nth paired frame")
    p.add_argument("--start", type=float, metavar="S",
                   help="skip source frames stamped earlier than S seconds after the first source stamp")
    p.add_argument("--end", type=float, metavar="S",
                   help="skip source frames stamped later than S seconds after the first source stamp")
    add_resize_arguments(p, "depth")
    p.add_argument("--scale", type=name_value, action="append", default=[], metavar="NAME=FACTOR",
                   help="multiply a target's message values by FACTOR instead of the default (0.001 for 16-bit depth, "
                        "else 1), e.g. depth=0.0002 for 5000 counts per metre")
    p.add_argument("--workers", type=int_at_least(1), default=1, metavar="N",
                   help="decode in N processes (default 1)")
    p.add_argument("--out", required=True, type=Path, help="output HDF5 file, e.g. data/robot/unlabeled.h5")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _roles(args: argparse.Namespace) -> list[Role]:
    scale = parse_scales(args.scale, {n for n, _ in args.target})
    roles = [Role(args.source[0], "source", args.source[1])]
    roles += [Role(n, "target", t, scale.get(n)) for n, t in args.target]
    names, topics = set(), set()
    for r in roles:
        check_modality_name(r.name)
        if r.name in names:
            raise ValueError(f"modality '{r.name}' is given twice")
        if r.topic in topics:
            raise ValueError(f"topic {r.topic} is given twice")
        names.add(r.name)
        topics.add(r.topic)
    if args.start is not None and args.end is not None and args.end < args.start:
        raise ValueError(f"--end {args.end} is before --start {args.start}")
    return roles


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    """Convert bags to one paired split; bad input raises (tool_main reports it in one line, exit 2)."""
    convert(args.bag, _roles(args), args.out, camera_info=args.camera_info, max_dt=args.max_dt,
            every=args.every, start=args.start, end=args.end, resize=resize_from_args(args), workers=args.workers,
            overwrite=args.overwrite, command=command_line("rosbag", argv),
            show_progress=not args.no_progress, pair_by=args.pair_by)
    return 0


main = tool_main(PROG, _parser, _run)  # main(argv=None) -> exit code; the console script


if __name__ == "__main__":
    sys.exit(main())
