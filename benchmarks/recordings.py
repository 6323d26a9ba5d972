"""Bag conversion speed: data_tools.rosbag frames/s and peak memory, one process against --workers 2.

Writes bags with the rosbags writer into a temporary folder: 480x640 colour + 16UC1 depth (millimetres) + CameraInfo,
both cameras at 30 Hz with their own header-stamp jitter, a fixed depth latency, transport delay and jitter in the
receive times (so the bag's message order is not stamp order) and ~2% of the depth frames dropped; smooth random
content (compresses like a photo, not like noise). Rows: a ROS 1 .bag of raw sensor_msgs/Image rgb8 + 16UC1, the same
as jpeg CompressedImage colour + compressedDepth png depth, and (--mcap) the raw one as a ROS 2 .mcap file.

Each conversion is data_tools.rosbag's main (what `python -m data_tools.rosbag` and the crossmodal-rosbag script run)
with `... --workers N --no-progress` in a fresh subprocess, --workers 1 and 2 interleaved, --repeats times, median.
frames/s = paired frames written / wall time from starting the process to the renamed output file appearing.
Memory: the process tree's resident set (the converter, its spawn workers and the resource tracker; psutil, summed,
sampled every 20 ms) at its highest, a lower bound, and the sum of each of those processes' own kernel high-water
marks (VmHWM; the converter reports its own at the end), an upper bound. Linux (/proc) for the memory figures.

    python benchmarks/recordings.py [--frames 150] [--repeats 3] [--mcap] [--write docs/benchmarks.md] [--out r.json]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import cv2
import h5py
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))  # the shared section writer (appended: shadows no package)

from markdown_section import write_results  # noqa: E402
from smooth_field import smooth  # noqa: E402

from crossmodal.runtime import cpu_name  # noqa: E402 (torch-free, unlike crossmodal.runtime)

SECTION = "## Recordings (benchmarks/recordings.py)"
RGB, DEPTH, INFO = "/camera/color/image_raw", "/camera/depth/image_rect_raw", "/camera/color/camera_info"
RGB_C, DEPTH_C = "/camera/color/image_raw/compressed", "/camera/depth/image_rect_raw/compressedDepth"
IMAGE, COMPRESSED, CAMINFO = "sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage", "sensor_msgs/msg/CameraInfo"
T0 = 1_700_000_000.0
POLL_S = 0.02
ROWS = {"ros1-raw": "ROS 1 .bag, Image rgb8 + 16UC1",
        "ros1-compressed": "ROS 1 .bag, CompressedImage jpeg + compressedDepth png",
        "mcap-raw": "ROS 2 .mcap, Image rgb8 + 16UC1"}


def timeline(frames: int, seed: int) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(header stamp, receive time) of each colour and each depth message.

    30 Hz, stamp jitter 1 ms, depth 8 ms later than colour, transport delay 15 / 25 ms + 3 ms jitter, and about 2% of
    depth frames dropped.
    """
    rng = np.random.default_rng(seed)
    base = T0 + np.arange(frames) / 30.0
    c_stamp = base + rng.normal(0, 0.001, frames)
    d_stamp = base + 0.008 + rng.normal(0, 0.001, frames)
    c_recv = c_stamp + 0.015 + np.abs(rng.normal(0, 0.003, frames))
    d_recv = d_stamp + 0.025 + np.abs(rng.normal(0, 0.003, frames))
    keep = rng.random(frames) >= 0.02
    keep[0] = True
    colour = list(zip(c_stamp.tolist(), c_recv.tolist()))
    depth = [(s, r) for s, r, k in zip(d_stamp.tolist(), d_recv.tolist(), keep) if k]
    return colour, depth


def _write_messages(path: Path, ros1: bool, store, msgs: list[tuple[float, int, str, str, object]]) -> None:
    """The messages in order of receive time, into a ROS 1 bag or a single-file MCAP ROS 2 bag at `path`."""
    from rosbags.rosbag1 import Writer as Writer1
    from rosbags.rosbag2 import StoragePlugin
    from rosbags.rosbag2 import Writer as Writer2

    if ros1:
        writer = Writer1(path)
    else:
        writer = Writer2(path, version=9, storage_plugin=StoragePlugin.MCAP)
    conns: dict = {}
    with writer:
        for recv, _, topic, typ, msg in sorted(msgs, key=lambda m: (m[0], m[1])):
            if topic not in conns:
                conns[topic] = writer.add_connection(topic, typ, typestore=store)
            data = store.serialize_ros1(msg, typ) if ros1 else store.serialize_cdr(msg, typ)
            writer.write(conns[topic], int(recv * 1e9), data)


def write_bag(path: Path, kind: str, frames: int, size: tuple[int, int], seed: int = 0) -> dict:
    """One generated recording; kind 'ros1-raw', 'ros1-compressed' or 'mcap-raw'. Returns what it holds."""
    from rosbags.typesys import Stores, get_typestore

    ros1 = kind.startswith("ros1")
    store = get_typestore(Stores.ROS1_NOETIC if ros1 else Stores.ROS2_HUMBLE)
    t = store.types
    h, w = size
    rng = np.random.default_rng(seed)
    colour, depth = timeline(frames, seed)

    def header(stamp: float):
        sec = int(np.floor(stamp))
        time_ = t["builtin_interfaces/msg/Time"](sec=sec, nanosec=min(int(round((stamp - sec) * 1e9)), 999_999_999))
        return t["std_msgs/msg/Header"](**({"seq": 0} if ros1 else {}), stamp=time_, frame_id="camera")

    compressed = kind.endswith("compressed")
    msgs: list[tuple[float, int, str, str, object]] = []  # receive time, order, topic, type, message
    for stamp, recv in colour:
        rgb = (smooth(rng, size, 3) * 256).astype(np.uint8)
        if compressed:
            ok, jpg = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
            assert ok
            msg = t[COMPRESSED](header=header(stamp), format="rgb8; jpeg compressed bgr8", data=jpg.ravel())
            msgs.append((recv, len(msgs), RGB_C, COMPRESSED, msg))
        else:
            msg = t[IMAGE](header=header(stamp), height=h, width=w, encoding="rgb8", is_bigendian=0, step=w * 3,
                           data=rgb.ravel())
            msgs.append((recv, len(msgs), RGB, IMAGE, msg))
        k = np.array([525.0 * w / 640, 0, w / 2 - 0.5, 0, 525.0 * w / 640, h / 2 - 0.5, 0, 0, 1])
        roi = t["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False)
        arrays = dict(D=np.zeros(5), K=k, R=np.eye(3).ravel(), P=np.zeros(12))
        info = t[CAMINFO](header=header(stamp), height=h, width=w, distortion_model="plumb_bob", binning_x=0,
                          binning_y=0, roi=roi, **{(n if ros1 else n.lower()): v for n, v in arrays.items()})
        msgs.append((recv + 0.0001, len(msgs), INFO, CAMINFO, info))
    for stamp, recv in depth:
        mm = (500 + smooth(rng, size, 1)[..., 0] * 4500).astype(np.uint16)
        mm[rng.random(size) < 0.02] = 0  # missing readings
        if compressed:
            ok, png = cv2.imencode(".png", mm, [cv2.IMWRITE_PNG_COMPRESSION, 1])
            assert ok
            data = np.frombuffer(np.array([0], "<i4").tobytes() + np.zeros(2, "<f4").tobytes() + png.tobytes(),
                                 np.uint8)  # ConfigHeader (format, depthQuantA, depthQuantB) + PNG
            msg = t[COMPRESSED](header=header(stamp), format="16UC1; compressedDepth png", data=data)
            msgs.append((recv, len(msgs), DEPTH_C, COMPRESSED, msg))
        else:
            msg = t[IMAGE](header=header(stamp), height=h, width=w, encoding="16UC1", is_bigendian=0, step=w * 2,
                           data=mm.view(np.uint8).ravel())
            msgs.append((recv, len(msgs), DEPTH, IMAGE, msg))
    _write_messages(path, ros1, store, msgs)
    bag = path if ros1 else next(path.glob("*.mcap"))  # a single .mcap file, as a robot's recorder leaves it
    return {"bag": bag, "colour": len(colour), "depth": len(depth),
            "source": RGB_C if compressed else RGB, "target": DEPTH_C if compressed else DEPTH,
            "bytes": sum(p.stat().st_size for p in ([path] if ros1 else path.iterdir()))}


def _hwm(pid: int) -> int:
    """The kernel's high-water resident bytes of one process (VmHWM in /proc/PID/status; 0 when unreadable)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _tree_sample(proc, hwm: dict[int, int], ours: set[int]) -> dict[int, int]:
    """Resident bytes of a psutil process and each of its descendants now, as pid -> bytes.

    Any that just exited are left out. It updates hwm, pid -> the highest VmHWM seen, and ours: the process and its
    multiprocessing children, spawn workers and resource tracker.
    """
    import psutil

    try:
        family = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return {}
    rss = {}
    for p in family:
        try:
            rss[p.pid] = p.memory_info().rss
            if p.pid not in ours and (p.pid == proc.pid or "multiprocessing" in " ".join(p.cmdline())):
                ours.add(p.pid)
        except psutil.Error:
            continue
        hwm[p.pid] = max(hwm.get(p.pid, 0), _hwm(p.pid))
    return rss


# The converter, run as the crossmodal-rosbag console script runs it (data_tools.rosbag:main), then its own peak
# resident set read from /proc/self/status. Not getrusage: a child's ru_maxrss starts from the high-water mark of
# the process it was forked from (here the benchmark, which held a whole recording in memory while writing it).
WRAPPER = """import os, sys
from data_tools.rosbag import main
code = main(sys.argv[1:])
try:
    with open("/proc/self/status") as f:
        hwm = next(ln for ln in f if ln.startswith("VmHWM:")).split()[1]
except (OSError, StopIteration):
    hwm = "0"
with open(os.environ["RECORDINGS_BENCH_HWM"], "w") as f:
    f.write(hwm)
sys.exit(code)
"""


def convert_once(bag: dict, out: Path, workers: int) -> dict:
    """One data_tools.rosbag conversion in a fresh process, measured.

    Wall time to the renamed output, paired frames, peak tree RSS as sampled, and the sum of each process's own peak RSS
    (VmHWM).
    """
    import psutil

    out.unlink(missing_ok=True)
    hwm_file = out.with_suffix(".hwm")
    hwm_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-c", WRAPPER, "--bag", str(bag["bag"]), "--source", f"rgb={bag['source']}",
           "--target", f"depth={bag['target']}", "--camera-info", INFO, "--max-dt", "0.02",
           "--workers", str(workers), "--no-progress", "--out", str(out)]
    log = out.with_suffix(".log")
    with open(log, "w") as fh:
        t0 = time.perf_counter()
        child = subprocess.Popen(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                 env={**os.environ, "RECORDINGS_BENCH_HWM": str(hwm_file)})
        ps = psutil.Process(child.pid)
        samples, t_out, hwm, ours = [], None, {}, {child.pid}
        while True:
            if child.poll() is not None:
                break
            samples.append(_tree_sample(ps, hwm, ours))
            if t_out is None and out.exists():
                t_out = time.perf_counter() - t0
            time.sleep(POLL_S)
        t_exit = time.perf_counter() - t0
    if child.returncode != 0 or not out.exists():
        raise RuntimeError(f"{' '.join(cmd)} failed ({child.returncode}):\n{log.read_text()[-3000:]}")
    if t_out is None:
        t_out = t_exit
    with h5py.File(out, "r") as f:
        n = int(f["rgb"].shape[0])
        assert f["depth"].shape[0] == n and f["rgb"].shape[1:] == (*f["depth"].shape[1:3], 3)
    out.unlink()
    converter = int(hwm_file.read_text()) * 1024  # its VmHWM at the end of main(), exact
    # only the converter and its multiprocessing children count: a moment's helper (importing h5py runs
    # `uname -p`, forked from the converter with its memory shared) is not a worker, its copied high-water mark
    # not memory of its own
    hwm = {pid: hwm.get(pid, 0) for pid in ours}
    hwm[child.pid] = max(hwm[child.pid], converter)
    peak_tree = max((sum(b for pid, b in sample.items() if pid in ours) for sample in samples), default=0)
    return {"frames": n, "seconds_to_output": t_out, "seconds_to_exit": t_exit, "frames_per_s": n / t_out,
            "peak_tree_rss_mib": peak_tree / 2**20, "sum_process_peaks_mib": sum(hwm.values()) / 2**20,
            "converter_peak_mib": converter / 2**20, "processes": len(hwm)}


def _version(name: str) -> str:
    try:
        return version(name)
    except Exception:
        return "?"


def report(res: dict) -> str:
    """The markdown section."""
    s, m, v = res["settings"], res["machine"], res["software"]
    h, w = s["size"]
    lines = [SECTION, "",
             ("`python benchmarks/recordings.py --tiny` (a smoke run, not representative)" if res["tiny"] else
              f"`python benchmarks/recordings.py --frames {s['frames']} --repeats {s['repeats']}"
              f"{' --mcap' if 'mcap-raw' in s['rows'] else ''}`") +
             f": machine {m['cpu']}, {m['logical_cpus']} "
             f"logical CPUs; rosbags {v['rosbags']}, h5py {v['h5py']} (HDF5 {v['hdf5']}), opencv {v['opencv']}, "
             f"numpy {v['numpy']}, Python {v['python']}; 1-minute load average {res['load_before']:.2f} before, "
             f"{res['load_after']:.2f} after ({m['logical_cpus']}.0 means every core busy, with this script or "
             f"others).",
             "",
             f"Generated recordings: {s['frames']} colour frames at {h}x{w} and 16UC1 depth (millimetres) at 30 Hz "
             f"plus CameraInfo, smooth random content; header stamps with 1 ms jitter, depth 8 ms behind colour, "
             f"receive times 15 / 25 ms (+ jitter) after the stamps so the bag's order is not stamp order, ~2% of "
             f"depth frames dropped. Each conversion is data_tools.rosbag's main (as the crossmodal-rosbag console "
             f"script runs it) with `--bag B --source rgb=... --target depth=... --camera-info ... --workers N "
             f"--no-progress --out O` in a fresh process (interpreter start-up included), --workers 1 and 2 "
             f"interleaved, {s['repeats']} repeat{'s' if s['repeats'] > 1 else ''}, median. "
             f"frames/s = paired frames written / seconds from starting the process to the renamed output. "
             f"Peak memory of the whole conversion (the converter, its spawn workers and multiprocessing's resource "
             f"tracker): 'sampled' = their resident sets summed every {POLL_S * 1000:.0f} ms, highest sample (a lower "
             f"bound: a spike between samples is missed); 'sum of peaks' = each process's own kernel high-water "
             f"mark (VmHWM) added up, an upper bound since the peaks need not coincide (the converter's read by "
             f"itself at the end of its main(), the workers' as last sampled; their memory is flat while they "
             f"decode). Shared library pages count once per process in both.", "",
             "| recording | bag MiB | paired frames | workers | frames/s | vs 1 worker | s to output | "
             "peak MiB (sampled) | peak MiB (sum of peaks) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for key in s["rows"]:
        row = res["rows"][key]
        one = row["median"]["1"]["frames_per_s"]
        for wk in ("1", "2"):
            md = row["median"][wk]
            lines.append(f"| {ROWS[key]} | {row['bag_mib']:.1f} | {md['frames']} | {wk} | {md['frames_per_s']:.1f} | "
                         f"{md['frames_per_s'] / one:.2f}x | {md['seconds_to_output']:.2f} | "
                         f"{md['peak_tree_rss_mib']:.0f} | {md['sum_process_peaks_mib']:.0f} |")
    lines += ["", "Runs (frames/s, in order): " + "; ".join(
        f"{key} w{wk}: " + ", ".join(f"{r['frames_per_s']:.1f}" for r in res["rows"][key]["runs"][wk])
        for key in s["rows"] for wk in ("1", "2")) + "."]
    med = {key: res["rows"][key]["median"] for key in s["rows"]}
    ratios = "; ".join(f"{ROWS[k]}: {med[k]['2']['frames_per_s'] / med[k]['1']['frames_per_s']:.2f}x" for k in med)
    lines += ["", f"--workers 2 against 1 (median frames/s): {ratios}. Only decoding moves to the workers: reading and "
                  f"deserialising the bag, writing the HDF5 file and the channel statistics stay in the main "
                  f"process, each frame crosses a process boundary twice (message bytes out, decoded arrays back) "
                  f"and the two spawn workers start their own interpreters; on {m['logical_cpus']} logical CPU"
                  f"{'s' if m['logical_cpus'] != 1 else ''} the main process and both workers share the cores."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=150, help="colour frames per recording (default 150, 30 Hz)")
    p.add_argument("--repeats", type=int, default=3, help="conversions per recording and worker count (median)")
    p.add_argument("--mcap", action="store_true", help="also a ROS 2 .mcap row (raw images)")
    p.add_argument("--tiny", action="store_true", help="8 frames at 120x160, 1 repeat: a seconds-long smoke run")
    p.add_argument("--write", default="", help=f"replace (or append) the '{SECTION}' section of this markdown file")
    p.add_argument("--out", default="", help="write the raw numbers as JSON here")
    args = p.parse_args(argv)
    frames, repeats, size = (8, 1, (120, 160)) if args.tiny else (args.frames, args.repeats, (480, 640))
    if frames < 2 or repeats < 1:
        p.error("--frames must be >= 2 and --repeats >= 1")
    rows = ["ros1-raw", "ros1-compressed"] + (["mcap-raw"] if args.mcap else [])
    res: dict = {"tiny": args.tiny,
                 "settings": {"frames": frames, "repeats": repeats, "size": list(size), "rows": rows,
                              "poll_s": POLL_S},
                 "machine": {"cpu": cpu_name(), "logical_cpus": os.cpu_count(), "platform": platform.platform()},
                 "software": {"rosbags": _version("rosbags"), "h5py": h5py.__version__,
                              "hdf5": h5py.version.hdf5_version, "opencv": cv2.__version__,
                              "numpy": np.__version__, "psutil": _version("psutil"),
                              "python": platform.python_version()},
                 "rows": {}}
    with tempfile.TemporaryDirectory(prefix="rec_bench_") as tmpdir:
        tmp = Path(tmpdir)
        bags = {}
        for key in rows:
            t0 = time.perf_counter()
            bags[key] = write_bag(tmp / (f"{key}.bag" if key.startswith("ros1") else key), key, frames, size)
            print(f"wrote {key}: {bags[key]['bytes'] / 2**20:.1f} MiB in {time.perf_counter() - t0:.1f} s",
                  flush=True)
        res["load_before"] = os.getloadavg()[0]
        runs: dict = {key: {"1": [], "2": []} for key in rows}
        for rep in range(repeats):
            for key in rows:
                for wk in ((1, 2) if rep % 2 == 0 else (2, 1)):
                    r = convert_once(bags[key], tmp / "out.h5", wk)
                    runs[key][str(wk)].append(r)
                    print(f"{key} workers {wk}: {r['frames']} frames, {r['frames_per_s']:.1f} frames/s, peak tree "
                          f"{r['peak_tree_rss_mib']:.0f} MiB", flush=True)
        res["load_after"] = os.getloadavg()[0]
        for key in rows:
            b = bags[key]
            med = {wk: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for wk, rs in runs[key].items()}
            for wk in med:
                med[wk]["frames"], med[wk]["processes"] = int(med[wk]["frames"]), int(med[wk]["processes"])
            res["rows"][key] = {"description": ROWS[key], "bag_mib": b["bytes"] / 2**20, "colour_messages":
                                b["colour"], "depth_messages": b["depth"], "runs": runs[key], "median": med}
    text = report(res)
    print(text)
    write_results(res, text, args.out, args.write, SECTION, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
