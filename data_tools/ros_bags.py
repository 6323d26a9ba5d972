"""Reading bags for data_tools.rosbag: opening them, and the two passes over their messages.

The first pass reads only the header bytes of the chosen topics and checks the stamps; the second decodes only
the messages of the paired rows, in bag order. Single messages are peeked and decoded by data_tools.ros_messages.
"""
from __future__ import annotations

import struct
import sys
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from data_tools.common import warn
from data_tools.resize import Resize
from data_tools.ros_messages import (
    CAMERA_INFO,
    ENCODINGS,
    IMAGE,
    IMAGE_TYPES,
    BagError,
    Role,
    message_fields,
    peek,
)
from data_tools.stamps import Plan, Stream, check_times

PROG = "python -m data_tools.rosbag"  # the tool these passes serve, named in its warnings


def open_bags(bags: list[Path]) -> Any:
    """An opened AnyReader over all bags, ROS 1 or ROS 2, not mixed.

    ROS 1 bags are .bag files; ROS 2 bags are folders, .db3 or .mcap files.
    """
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
        raise BagError(f"{bag_names(bags)}: cannot read the bag ({_reason(err)}); truncated or not a bag?") from None
    return reader


def bag_names(bags: list[Path]) -> str:
    """The bags as messages name them: their paths, comma-separated."""
    return ", ".join(str(b) for b in bags)


def _reason(err: BaseException) -> str:
    """An exception as a short reason: its type and its text."""
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


def _connections(reader, bags: list[Path], topic: str, allowed: tuple[str, ...], what: str) -> list:
    """The connections of one topic, checked to exist and carry one of the allowed message types."""
    conns = [c for c in reader.connections if c.topic == topic]
    if not conns:
        images = sorted({(c.topic, c.msgtype) for c in reader.connections if c.msgtype in IMAGE_TYPES + (CAMERA_INFO,)})
        listed = ", ".join(f"{t} ({m})" for t, m in images) or "none"
        raise BagError(f"{bag_names(bags)}: topic {topic} ({what}) is not in the bag; its image and camera-info "
                       f"topics: {listed}")
    wrong = sorted({c.msgtype for c in conns if c.msgtype not in allowed})
    if wrong:
        raise BagError(f"{bag_names(bags)}: topic {topic} ({what}) carries {', '.join(wrong)}; expected "
                       f"{' or '.join(allowed)}")
    return conns


def _image_connections(reader, bags: list[Path], roles: list[Role], streams: dict[str, Stream]) -> list:
    """The connections of every image topic; each topic must carry one message type, noted in its stream."""
    conns = []
    for r in roles:
        cs = _connections(reader, bags, r.topic, IMAGE_TYPES, r.name)
        if len({c.msgtype for c in cs}) > 1:
            raise BagError(f"{bag_names(bags)}: topic {r.topic} mixes {', '.join(sorted({c.msgtype for c in cs}))}")
        streams[r.topic].msgtype = cs[0].msgtype
        conns += cs
    return conns


def _check_image(s: Stream, p: Any, topic: str, bags: list[Path]) -> None:
    """Check a raw image: a supported encoding, and the encoding and size of the topic's first image."""
    if p.encoding not in ENCODINGS:
        raise BagError(f"{bag_names(bags)}: topic {topic} ({s.role.name}): image encoding "
                       f"{p.encoding!r} is not supported (supported: {', '.join(ENCODINGS)})")
    size = (p.height, p.width)
    if s.size is None:
        s.size, s.encoding = size, p.encoding
    elif p.encoding != s.encoding:
        raise BagError(f"{bag_names(bags)}: topic {topic}: image encoding changes mid-bag "
                       f"({s.encoding}, then {p.encoding} at stamp {p.stamp:.9f}); convert the parts "
                       f"separately")
    elif size != s.size:
        raise BagError(f"{bag_names(bags)}: topic {topic}: images change size mid-bag "
                       f"({s.size[0]}x{s.size[1]}, then {size[0]}x{size[1]} at stamp {p.stamp:.9f}); "
                       f"convert the parts separately")


def _read_stamps(reader, bags: list[Path], conns: list, streams: dict[str, Stream], camera_info: str | None,
                 show_progress: bool) -> Any:
    """Read the header of every message of the connections into its stream; the first CameraInfo message."""
    owner = {id(c.owner): k for k, sub in enumerate(reader.readers) for c in sub.connections}  # owner -> bag
    info = None
    messages = reader.messages(connections=conns)
    if show_progress:
        from tqdm import tqdm

        messages = tqdm(messages, total=sum(c.msgcount for c in conns), desc="scanning stamps",
                        unit="msg", file=sys.stderr, dynamic_ncols=True)
    try:
        for conn, recv, raw in messages:
            if conn.topic == camera_info:
                if info is None:
                    info = reader.deserialize(raw, conn.msgtype)
                continue
            s = streams[conn.topic]
            try:
                p = peek(raw, s.msgtype, reader.is2)
            except (struct.error, UnicodeDecodeError) as err:
                raise BagError(f"{bag_names(bags)}: topic {conn.topic}: message {len(s.stamps)} is corrupt ({err})") \
                    from None
            if s.msgtype == IMAGE:
                _check_image(s, p, conn.topic, bags)
            elif not s.encoding:
                s.encoding = p.encoding
            s.stamps.append(p.stamp)
            s.received.append(recv * 1e-9)
            s.bag.append(owner[id(conn.owner)])
    except BagError:
        raise
    except Exception as err:
        raise BagError(f"{bag_names(bags)}: cannot read the bag ({_reason(err)}); truncated or corrupt?") from None
    return info


def scan(reader, bags: list[Path], roles: list[Role], camera_info: str | None, show_progress: bool,
         pair_by: str = "header") -> tuple[dict[str, Stream], Any, list]:
    """First pass: the stamps, receive times and bags of every message of the chosen topics, checked.

    Also returns the first CameraInfo message, and the connections read: the second pass reads exactly these, so
    its message k is the same.
    """
    streams = {r.topic: Stream(r, by_receive=pair_by == "receive") for r in roles}
    conns = _image_connections(reader, bags, roles, streams)
    conns += _connections(reader, bags, camera_info, (CAMERA_INFO,), "--camera-info") if camera_info else []
    info = _read_stamps(reader, bags, conns, streams, camera_info, show_progress)
    for s in streams.values():
        if not s.stamps:
            raise BagError(f"{bag_names(bags)}: topic {s.role.topic} ({s.role.name}) has no messages")
        for note in check_times(s, bags):
            warn(PROG, note)
    if camera_info and info is None:
        raise BagError(f"{bag_names(bags)}: topic {camera_info} (--camera-info) has no messages")
    if info is not None:
        check_camera_matrix(info, f"{bag_names(bags)}: topic {camera_info} (--camera-info)")
    return streams, info, conns


def check_camera_matrix(info: Any, where: str) -> None:
    """Refuse a CameraInfo whose K lacks positive focal lengths.

    A driver that never calibrated publishes zeros, which would be stored as intrinsics and break everything that
    projects depth: HHA, point clouds.
    """
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
                raise BagError(f"{bag_names(bags)}: topic {conn.topic}: message {k} is stamped {stamp:.9f} on the "
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
        raise BagError(f"{bag_names(bags)}: cannot read the bag ({_reason(err)}); truncated or corrupt?") from None
    raise BagError(f"{bag_names(bags)}: {left} paired frames were not found again on the second pass "
                   f"(the bag changed while converting?)")
