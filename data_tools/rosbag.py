"""Paired frames from ROS 1 / ROS 2 bags (pure Python through `rosbags`, no ROS install) into one paired HDF5 split.

    python -m data_tools.rosbag --bag run1.bag --source rgb=/camera/color/image_raw \
        --target depth=/camera/aligned_depth_to_color/image_raw --camera-info /camera/color/camera_info \
        --out unlabeled.h5

Reads ROS 1 `.bag` files, ROS 2 bag folders (with metadata.yaml) and single `.db3` / `.mcap` files. Frames pair up
by the messages' header stamps (sensor time; the bag's receive time only when --pair-by receive asks, for drivers
that stamp badly), checked first (data_tools.stamps): every --target is associated with the source nearest first
and one-to-one within --max-dt (data_tools.associate, as TUM's associate.py), and a source frame is kept only when
every target pairs with it; the summary separates frames unpaired by a rate difference from drops and gaps. Two
streaming passes: the first reads only the header bytes (stamp, and size/encoding of raw images) of the chosen
topics, the second decodes only the paired messages and writes them row by row, so memory stays bounded whatever
the bag size. Peeking and decoding single messages live in data_tools.ros_messages.
"""
from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from crossmodal.data.h5format import DEFAULT_MODALITY_ATTRS, MODALITY_NAME, RESERVED_MODALITIES
from crossmodal.data.h5writer import PairedWriter
from crossmodal.diskspace import writing_h5
from data_tools.common import (
    check_outputs,
    command_line,
    commit,
    int_at_least,
    ordered_map,
    progress,
    staging_path,
    tool_main,
    warn,
)
from data_tools.frame_checks import ModalityWatch, finish_all
from data_tools.pairs import _pair
from data_tools.resize import Resize
from data_tools.resize import add_arguments as add_resize_arguments
from data_tools.resize import from_args as resize_from_args
from data_tools.ros_geometry import camera_intrinsics, fit_sizes
from data_tools.ros_messages import (
    CAMERA_INFO,
    ENCODINGS,
    IMAGE,
    IMAGE_TYPES,
    BagError,
    Role,
    decode,
    message_fields,
    peek,
)
from data_tools.stamps import Plan, Stream, check_times, plan, timing_lines

PROG = "python -m data_tools.rosbag"
PAIR_BY = ("header", "receive")
TIME_NAME = {"header": "header stamp", "receive": "bag receive time"}
PAIRING = {"header": "header stamps, nearest first, one-to-one",
           "receive": "bag receive times (--pair-by receive: header stamps not trusted; transport delay and jitter "
                      "included), nearest first, one-to-one"}
MAX_PENDING_PER_WORKER = 8


# ------------------------------------------------------------------------------------------------ frames

def decode_frame(job: tuple[int, dict[str, tuple[dict, float]], list[Role], Resize]
                 ) -> tuple[int, dict[str, np.ndarray], dict[str, tuple[tuple[int, int], float]]]:
    """Worker entry: (row, {name: (message fields, stamp)}, roles, resize) -> (row, frame, {name: (raw size,
    factor applied)})."""
    row, msgs, roles, resize = job
    frame, raw_sizes = {}, {}
    for r in roles:
        frame[r.name], factor = decode(msgs[r.name][0], r, msgs[r.name][1])
        raw_sizes[r.name] = (frame[r.name].shape[:2], factor)
    source = next(r.name for r in roles if r.role == "source")
    return row, fit_sizes(frame, roles, resize, msgs[source][1]), raw_sizes


# ------------------------------------------------------------------------------------------------ bags

def _open(bags: list[Path]):
    """An opened AnyReader over all bags (ROS 1 .bag files, or ROS 2 folders / .db3 / .mcap files, not mixed)."""
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    for bag in bags:
        if not bag.exists():
            raise FileNotFoundError(f"--bag {bag}: no such file or folder")
        if bag.is_dir() and not (bag / "metadata.yaml").is_file():
            raise BagError(f"--bag {bag}: a folder without metadata.yaml; expected a ROS 2 bag folder, "
                           f"a .bag, .db3 or .mcap file")
        if bag.is_file() and bag.suffix not in (".bag", ".db3", ".mcap"):
            raise BagError(f"--bag {bag}: unknown bag type {bag.suffix!r}; expected a .bag, .db3 or .mcap file "
                           f"or a ROS 2 bag folder")
    seen: dict[Path, Path] = {}
    for bag in bags:
        if bag.resolve() in seen:
            raise BagError(f"--bag {bag} is given twice (also as {seen[bag.resolve()]}): every frame would be "
                           f"stored twice")
        seen[bag.resolve()] = bag
    ros1 = [b.suffix == ".bag" for b in bags]
    if any(ros1) and not all(ros1):
        raise BagError("--bag: ROS 1 .bag files and ROS 2 bags cannot be read together; convert them separately")
    store = get_typestore(Stores.ROS1_NOETIC if all(ros1) else Stores.ROS2_HUMBLE)
    reader = AnyReader(list(bags), default_typestore=store)
    try:
        reader.open()
    except Exception as err:  # rosbags raises its own exception types (and struct/OS errors) on bad files
        raise BagError(f"{_names(bags)}: cannot read the bag ({_reason(err)}); truncated or not a bag?") from None
    return reader


def _names(bags: list[Path]) -> str:
    return ", ".join(str(b) for b in bags)


def _reason(err: BaseException) -> str:
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _connections(reader, bags: list[Path], topic: str, allowed: tuple[str, ...], what: str) -> list:
    """The connections of one topic, checked to exist and carry one of the allowed message types."""
    conns = [c for c in reader.connections if c.topic == topic]
    if not conns:
        images = sorted({(c.topic, c.msgtype) for c in reader.connections if c.msgtype in IMAGE_TYPES + (CAMERA_INFO,)})
        listed = ", ".join(f"{t} ({m})" for t, m in images) or "none"
        raise BagError(f"{_names(bags)}: topic {topic} ({what}) is not in the bag; its image and camera-info topics: "
                       f"{listed}")
    wrong = sorted({c.msgtype for c in conns if c.msgtype not in allowed})
    if wrong:
        raise BagError(f"{_names(bags)}: topic {topic} ({what}) carries {', '.join(wrong)}; expected "
                       f"{' or '.join(allowed)}")
    return conns


def scan(reader, bags: list[Path], roles: list[Role], camera_info: str | None, show_progress: bool,
         pair_by: str = "header") -> tuple[dict[str, Stream], Any, list]:
    """First pass: header stamps (and receive times, bags) of every message of the chosen topics, checked; the first
    CameraInfo message; the connections read (the second pass reads exactly these: message k is the same)."""
    streams = {r.topic: Stream(r, by_receive=pair_by == "receive") for r in roles}
    owner = {id(c.owner): k for k, sub in enumerate(reader.readers) for c in sub.connections}  # owner -> bag
    conns = []
    for r in roles:
        cs = _connections(reader, bags, r.topic, IMAGE_TYPES, r.name)
        if len({c.msgtype for c in cs}) > 1:
            raise BagError(f"{_names(bags)}: topic {r.topic} mixes {', '.join(sorted({c.msgtype for c in cs}))}")
        streams[r.topic].msgtype = cs[0].msgtype
        conns += cs
    info_conns = _connections(reader, bags, camera_info, (CAMERA_INFO,), "--camera-info") if camera_info else []
    info = None
    conns += info_conns
    messages = reader.messages(connections=conns)
    if show_progress:
        from tqdm import tqdm

        messages = tqdm(messages, total=sum(c.msgcount for c in conns), desc="scanning stamps",
                        unit="msg", file=sys.stderr, dynamic_ncols=True)
    cdr = reader.is2
    try:
        for conn, recv, raw in messages:
            if conn.topic == camera_info:
                if info is None:
                    info = reader.deserialize(raw, conn.msgtype)
                continue
            s = streams[conn.topic]
            try:
                p = peek(raw, s.msgtype, cdr)
            except (struct.error, UnicodeDecodeError) as err:
                raise BagError(f"{_names(bags)}: topic {conn.topic}: message {len(s.stamps)} is corrupt ({err})") \
                    from None
            if s.msgtype == IMAGE:
                if p.encoding not in ENCODINGS:
                    raise BagError(f"{_names(bags)}: topic {conn.topic} ({s.role.name}): image encoding "
                                   f"{p.encoding!r} is not supported (supported: {', '.join(ENCODINGS)})")
                size = (p.height, p.width)
                if s.size is None:
                    s.size, s.encoding = size, p.encoding
                elif p.encoding != s.encoding:
                    raise BagError(f"{_names(bags)}: topic {conn.topic}: image encoding changes mid-bag "
                                   f"({s.encoding}, then {p.encoding} at stamp {p.stamp:.9f}); convert the parts "
                                   f"separately")
                elif size != s.size:
                    raise BagError(f"{_names(bags)}: topic {conn.topic}: images change size mid-bag "
                                   f"({s.size[0]}x{s.size[1]}, then {size[0]}x{size[1]} at stamp {p.stamp:.9f}); "
                                   f"convert the parts separately")
            elif not s.encoding:
                s.encoding = p.encoding
            s.stamps.append(p.stamp)
            s.received.append(recv * 1e-9)
            s.bag.append(owner[id(conn.owner)])
    except BagError:
        raise
    except Exception as err:
        raise BagError(f"{_names(bags)}: cannot read the bag ({_reason(err)}); truncated or corrupt?") from None
    for s in streams.values():
        if not s.stamps:
            raise BagError(f"{_names(bags)}: topic {s.role.topic} ({s.role.name}) has no messages")
        for note in check_times(s, bags):
            warn(PROG, note)
    if camera_info and info is None:
        raise BagError(f"{_names(bags)}: topic {camera_info} (--camera-info) has no messages")
    if info is not None:
        check_camera_matrix(info, f"{_names(bags)}: topic {camera_info} (--camera-info)")
    return streams, info, conns


def check_camera_matrix(info: Any, where: str) -> None:
    """A CameraInfo's K must have positive focal lengths (a driver that never calibrated publishes zeros, which
    would be stored as intrinsics and break everything that projects depth: HHA, point clouds)."""
    k = [float(v) for v in (info.k if hasattr(info, "k") else info.K)]  # ROS 2 names it k, ROS 1 K
    if len(k) != 9 or not (k[0] > 0 and k[4] > 0) or not all(np.isfinite(k)):
        raise BagError(f"{where}: its first message has K = {k}, without positive focal lengths fx = K[0], "
                       f"fy = K[4] (an uncalibrated camera?); calibrate it, name another camera-info topic, or leave "
                       f"--camera-info out (no intrinsics are stored then)")


def frames(reader, conns: list, bags: list[Path], streams: dict[str, Stream], roles: list[Role], p: Plan,
           resize: Resize) -> Iterator[tuple[int, dict[str, tuple[dict, float]], list[Role], Resize]]:
    """Second pass: for each paired row, once all its messages have been read, a decode job (in bag order)."""
    wanted: dict[str, dict[int, int]] = {r.topic: {} for r in roles}
    for row, idx in enumerate(p.rows):
        for r in roles:
            wanted[r.topic][idx[r.name]] = row
    by_topic = {r.topic: r for r in roles}
    counter = {t: 0 for t in by_topic}
    pending: dict[int, dict[str, tuple[dict, float]]] = {}
    left = len(p.rows)
    try:
        for conn, _, raw in reader.messages(connections=conns):
            if conn.topic not in by_topic:
                continue  # camera info, read on the first pass
            k = counter[conn.topic]
            counter[conn.topic] = k + 1
            row = wanted[conn.topic].pop(k, None)
            if row is None:
                continue
            r = by_topic[conn.topic]
            msg = reader.deserialize(raw, conn.msgtype)
            stamp = msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9 if hasattr(msg.header.stamp, "sec") \
                else msg.header.stamp.secs + msg.header.stamp.nsecs * 1e-9
            if abs(stamp - streams[conn.topic].stamps[k]) > 1e-6:
                raise BagError(f"{_names(bags)}: topic {conn.topic}: message {k} is stamped {stamp:.9f} on the "
                               f"second pass, {streams[conn.topic].stamps[k]:.9f} on the first (bag changed?)")
            slot = pending.setdefault(row, {})
            slot[r.name] = (message_fields(msg, conn.msgtype), stamp)
            if len(slot) == len(roles):
                del pending[row]
                yield row, slot, roles, resize
                left -= 1
                if not left:
                    return
    except BagError:
        raise
    except Exception as err:
        raise BagError(f"{_names(bags)}: cannot read the bag ({_reason(err)}); truncated or corrupt?") from None
    raise BagError(f"{_names(bags)}: {left} paired frames were not found again on the second pass "
                   f"(the bag changed while converting?)")


# ------------------------------------------------------------------------------------------------ conversion

def convert(bags: list[Path], roles: list[Role], out: Path, *, camera_info: str | None = None,
            max_dt: float = 0.02, every: int = 1, start: float | None = None, end: float | None = None,
            resize: Resize = Resize(), workers: int = 1, overwrite: bool = False, command: str = "data_tools.rosbag",
            show_progress: bool = True, log=print, pair_by: str = "header") -> Path:
    """Pair (by header stamps, or receive times: pair_by), decode and write one paired file (staged, renamed at the
    end); prints a summary via log."""
    if max_dt < 0:
        raise ValueError(f"--max-dt must be >= 0, got {max_dt}")
    if pair_by not in PAIR_BY:
        raise ValueError(f"--pair-by {pair_by}: expected one of {', '.join(PAIR_BY)}")
    check_outputs([out], overwrite)
    reader = _open(bags)
    staged = staging_path(out)
    try:
        streams, info, conns = scan(reader, bags, roles, camera_info, show_progress, pair_by)
        p = plan(streams, roles, max_dt, every, start, end, _names(bags))
        n = len(p.rows)
        writer = None
        specs: dict = {}
        first_raw: dict = {}
        watches: list[ModalityWatch] = []
        done = 0
        results = ordered_map(decode_frame, frames(reader, conns, bags, streams, roles, p, resize), workers,
                              batch=1, batches_per_worker=MAX_PENDING_PER_WORKER)  # frames stay in order
        bar = progress(results, n, "frames") if show_progress else results
        try:
            for row, frame, raw_sizes in bar:
                if writer is None:
                    specs = {nm: (a.shape, a.dtype) for nm, a in frame.items()}
                    first_raw = raw_sizes
                    stored = next(iter(frame.values())).shape[:2]
                    attrs = _root_attrs(bags, roles, camera_info, max_dt, every, start, end, pair_by, p.timing)
                    if info is not None:
                        attrs["intrinsics"] = np.array(camera_intrinsics(info, roles, raw_sizes, stored, resize,
                                                                         camera_info))
                    attrs.update(resize.attrs())
                    writer = PairedWriter(staged, n, specs, class_names=None, source=command, attrs=attrs,
                                          modality_attrs=_modality_attrs(roles, streams, frame, raw_sizes),
                                          overwrite=True)
                    watches = _watches(roles, frame, raw_sizes, n)
                for nm, (size, factor) in raw_sizes.items():
                    (size0, factor0) = first_raw[nm]
                    if size != size0 or factor != factor0:
                        r = next(x for x in roles if x.name == nm)
                        what = (f"size ({size0[0]}x{size0[1]}, then {size[0]}x{size[1]}" if size != size0 else
                                f"bit depth (values x {factor0:g}, then x {factor:g}")
                        raise BagError(f"{_names(bags)}: topic {r.topic}: images change {what} at source stamp "
                                       f"{p.stamps[row, 0]:.9f}) mid-bag; convert the parts separately")
                for w in watches:
                    w.add(row, frame[w.name])
                writer.write(row, frame)
                done += 1
            writer.close()
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        notes = []
        with writing_h5(staged, "r+") as f:
            names = f.create_dataset("frame_name", data=np.array([f"{t:.9f}" for t in p.stamps[:, 0]],
                                                                  dtype=h5py.string_dtype("utf-8")))
            names.attrs["description"] = f"the source message's {TIME_NAME[pair_by]} (s); not a modality"
            ds = f.create_dataset("timestamp", data=p.stamps)
            ds.attrs["description"] = (f"{TIME_NAME[pair_by]}s (s) of each row's messages: " +
                                       ", ".join(r.name for r in roles) + "; not a modality")
            notes += finish_all(watches, [f"{t:.9f}" for t in p.stamps[:, 0]], f)
        commit(staged, out, overwrite)
    finally:
        staged.unlink(missing_ok=True)
        try:
            reader.close()
        except Exception:
            pass
    log(f"{PROG}: {p.summary}")
    for line in timing_lines(p.timing, f" beyond --max-dt {max_dt:g} s"):
        log(line)
    log(f"wrote {out}: {n} frames, " + ", ".join(f"{nm} {specs[nm][1]} {specs[nm][0]}" for nm in specs))
    for note in notes:
        log(note)
    return out


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
    """The checks of every modality over the frames written (data_tools.frame_checks): depth units, suspicious
    frames, robust target statistics."""
    return [ModalityWatch(r.name, total, 1 if frame[r.name].ndim == 2 else frame[r.name].shape[2],
                          f"topic {r.topic}", stats=r.role == "target", scale=raw[r.name][1] if r.role == "target"
                          else None, metres=DEFAULT_MODALITY_ATTRS.get(r.name, {}).get("units") == "metres",
                          ceiling=255.0 if r.role == "source" else None, error=BagError) for r in roles]


def _modality_attrs(roles: list[Role], streams: dict[str, Stream], frame: dict[str, np.ndarray],
                    raw: dict[str, tuple[tuple[int, int], float]]) -> dict:
    out = {}
    for r in roles:
        s = streams[r.topic]
        a: dict = {"topic": r.topic, "message_type": s.msgtype, "encoding": s.encoding}
        if r.role == "source" and r.name not in DEFAULT_MODALITY_ATTRS:
            a.update(units="srgb-uint8", channels="R,G,B")
        if r.role == "target":
            scale = raw[r.name][1]
            a["scale"] = float(scale)
            if r.name not in DEFAULT_MODALITY_ATTRS:
                c = 1 if frame[r.name].ndim == 2 else frame[r.name].shape[2]
                a["units"] = "message values" + (f" x {scale:g}" if scale != 1 else "")
                a["channels"] = f"{r.name}: {c} channel{'s' if c > 1 else ''} from {r.topic}; NaN stored as 0"
        out[r.name] = a
    return out


# ------------------------------------------------------------------------------------------------ command line

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Pair image topics of ROS 1 / ROS 2 bags by header stamp (sensor time, not receive time) and "
                    "write one paired HDF5 split (docs/data_format.md). Source stored uint8 RGB; depth targets float32 "
                    "metres (0 = no reading); other targets float32 x --scale.",
        epilog="example: python -m data_tools.rosbag --bag run1.bag --source rgb=/camera/color/image_raw "
               "--target depth=/camera/aligned_depth_to_color/image_raw --camera-info /camera/color/camera_info "
               "--out data/robot/unlabeled.h5")
    p.add_argument("--bag", type=Path, action="append", required=True, metavar="PATH",
                   help="a ROS 1 .bag file, a ROS 2 bag folder (metadata.yaml) or a .db3 / .mcap file; repeatable "
                        "(read together, merged by time; ROS 1 and ROS 2 not mixed)")
    p.add_argument("--source", type=_pair, required=True, metavar="NAME=TOPIC",
                   help="colour image topic (Image rgb8/bgr8/rgba8/bgra8/mono8 or CompressedImage jpeg/png), "
                        "e.g. rgb=/camera/color/image_raw")
    p.add_argument("--target", type=_pair, action="append", required=True, metavar="NAME=TOPIC",
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
    p.add_argument("--scale", type=_pair, action="append", default=[], metavar="NAME=FACTOR",
                   help="multiply a target's message values by FACTOR instead of the default (0.001 for 16-bit depth, "
                        "else 1), e.g. depth=0.0002 for 5000 counts per metre")
    p.add_argument("--workers", type=int_at_least(1), default=1, metavar="N",
                   help="decode in N processes (default 1)")
    p.add_argument("--out", required=True, type=Path, help="output HDF5 file, e.g. data/robot/unlabeled.h5")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _roles(args: argparse.Namespace) -> list[Role]:
    scale: dict[str, float] = {}
    targets = {n for n, _ in args.target}
    for name, value in args.scale:
        if name not in targets:
            raise ValueError(f"--scale {name}=...: '{name}' is not a --target here ({', '.join(sorted(targets))})")
        try:
            scale[name] = float(value)
        except ValueError:
            raise ValueError(f"--scale {name}={value}: not a number") from None
        if not np.isfinite(scale[name]) or scale[name] == 0:
            raise ValueError(f"--scale {name}={value}: expected a finite non-zero factor")
    roles = [Role(args.source[0], "source", args.source[1])]
    roles += [Role(n, "target", t, scale.get(n)) for n, t in args.target]
    names, topics = set(), set()
    for r in roles:
        if not MODALITY_NAME.fullmatch(r.name) or r.name in RESERVED_MODALITIES or r.name == "label":
            raise ValueError(f"modality name {r.name!r}: expected a letter then letters, digits or _ "
                             f"(not 'label' or {', '.join(RESERVED_MODALITIES)})")
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
