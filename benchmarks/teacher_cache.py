"""Teacher cache: transfer epoch time with the live teacher against the cached one (teacher.cache_views), side by side.

The real code path: run_transfer on a RunContext (configs/default.yaml, transfer.epochs 1, untrained teachers from
teacher_network: nothing trained or downloaded), its loader reading the paired HDF5 file of data_tools.synthetic.
Per (teacher, method) and frame size: the cache build (teacher_views, timed; bytes per frame and view = the stored
arrays' per-frame size); then live and cached epochs interleaved (order alternating) after warm-up rounds, epoch =
the transfer loop over the loader, split into loader waits, teacher forwards (live) or TeacherViews.outputs (cached)
and the rest (student, loss, backward, AdamW); ratio = median of per-repeat live / cached. Memory (CPU): each mode
again in a fresh process (--memory-probe; --tiny: the ViT case only): RSS before, peak growth over one epoch, the
cache's resident pages. Cases: the default teacher (resnet_narrow + SegHead) with crd_dense (its deepest stage) and
kd (its logits); a head-less timm:vit_small_patch14_dinov2 (random weights) with crd_dense.

    python benchmarks/teacher_cache.py [--sizes 96x128,240x320] [--frames 128,64] [--batch 32,8] [--views 2]
        [--repeats 5] [--threads 2] [--out teacher_cache.json] [--write docs/benchmarks.md] [--note TEXT]
    python benchmarks/teacher_cache.py --tiny     # a tiny ViT, tiny frames: seconds (tests/benchmarks)

--write replaces (or appends) its "## Teacher cache" section; gpu_suite.py's cached-teacher row uses gpu_suite_row.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import gc
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(Path(__file__).resolve().parent))  # markdown_section, vit_teacher (appended: shadow no package)

import vit_teacher  # noqa: E402
from markdown_section import shown_command, write_results  # noqa: E402
from vit_teacher import GPU_STUDENT, GPU_VIT, TINY_VIT, VIT, cpu_times, malloc_trim, proc_status, sync  # noqa: E402

from crossmodal.runtime import cpu_name  # noqa: E402

SECTION = "## Teacher cache (benchmarks/teacher_cache.py)"
TEACHERS = {"default": ("resnet_narrow", "resnet_narrow + SegHead (configs/default.yaml)"),
            "vit": (VIT, f"{VIT}, head-less"), "vit_b": (GPU_VIT, f"{GPU_VIT}, head-less")}
CASES = (("default", "crd_dense"), ("default", "kd"), ("vit", "crd_dense"))
GOAL = {"default": 1.3, "vit": 3.0, "vit_b": 3.0}  # issue 38: live / cached epoch
TIMES: dict[str, float] = {}  # what the timers below add up during one run_transfer call
MIB = 2 ** 20


def timed(fn: Callable, key: str) -> Callable:
    """`fn`, adding its wall time to TIMES[key] (on a GPU: CPU time, not synchronised)."""
    def run(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            TIMES[key] = TIMES.get(key, 0.0) + time.perf_counter() - t0
    return run


def install_timers(device: torch.device) -> None:
    """Time the transfer loop's epochs, its waits for the loader, and the cache reads, by wrapping them in place."""
    from crossmodal.stages import loop, teacher_cache

    if getattr(loop.progress, "timed", False):
        return
    progress = loop.progress

    def timed_progress(items, accelerator, desc, total=None):
        it, start = progress(items, accelerator, desc, total), time.perf_counter()
        while True:
            t0 = time.perf_counter()
            try:
                batch = next(it)
            except StopIteration:
                break
            TIMES["loader_s"] = TIMES.get("loader_s", 0.0) + time.perf_counter() - t0
            yield batch
        sync(device)
        TIMES["epoch_s"] = TIMES.get("epoch_s", 0.0) + time.perf_counter() - start

    timed_progress.timed = True
    loop.progress = timed_progress
    teacher_cache.TeacherViews.outputs = timed(teacher_cache.TeacherViews.outputs, "cache_read_s")


def overrides(spec: dict, cached: bool) -> list[str]:
    """configs/default.yaml's overrides for one case: its data, teacher, method and the cache (V views or live)."""
    arch, _ = TEACHERS[spec["teacher"]]
    w, t, m = spec["work"], spec["teacher"], spec["method"]
    out = [f"output_dir={w}/runs", f"data.synthetic.out={spec['data']}", f"data.synthetic.num={spec['frames']}",
           f"data.synthetic.size={spec['size']}", f"data.synthetic.workers={spec.get('gen_workers', 2)}",
           *[f"data.synthetic.num_{s}=8" for s in ("teacher", "train", "test", "val")], f"methods=[none,{m}]",
           f"data.num_workers={spec['workers']}", f"teacher.cache_dir={w}/cache-{t}-{m}", "transfer.epochs=1",
           f"transfer.batch_size={spec['batch']}", "student.bn_recalibrate=never", "checkpoint.every_steps=0",
           f"teacher.cache_views={spec['views'] if cached else 0}", f"teacher.cache_dtype={spec['dtype']}"]
    if spec["teacher"] != "default":
        out += ["teacher.head=none", f"teacher.net.arch={arch}"]
        if spec["tiny"]:
            out.append("teacher.net.kwargs={" + ", ".join(f"{k}: {v}" for k, v in TINY_VIT.items()) + "}")
    if spec["teacher"] == "vit_b":
        out.append(f"student.arch={GPU_STUDENT}")
    return out


def make_data(spec: dict) -> None:
    """The paired files at the spec's size, written by `python -m data_tools.synthetic` (kept if already there)."""
    from crossmodal.config import load_config
    from crossmodal.data.files import ensure_synthetic

    ensure_synthetic(load_config(ROOT / "configs" / "default.yaml", overrides(spec, False)), True)


# one (teacher, method, size): its spec and its live and cached RunContexts (each with its cfg), one teacher
Case = collections.namedtuple("Case", "spec live cached")


def make_case(spec: dict, accelerator) -> Case:
    """The live and cached contexts of `spec` (the teacher untrained, frozen, seeded as a run's)."""
    from crossmodal.config import load_config, resolve_config
    from crossmodal.data.files import open_data
    from crossmodal.stages.context import RunContext
    from crossmodal.stages.teacher import teacher_network

    cfgs = [load_config(ROOT / "configs" / "default.yaml", overrides(spec, cached)) for cached in (False, True)]
    data = open_data(cfgs[0])
    live_cfg, cached_cfg = (resolve_config(c, data) for c in cfgs)
    log = logging.getLogger("benchmarks.teacher_cache")
    run_dir = Path(spec["work"]) / "runs" / f"{spec['teacher']}-{spec['method']}-{spec['size']}-{os.getpid()}"
    live = RunContext(live_cfg, data, accelerator, log, run_dir).with_teacher(
        teacher_network(live_cfg, data).to(accelerator.device))  # as get_teacher places it
    live.teacher.features_and_logits = timed(live.teacher.features_and_logits, "teacher_s")
    return Case(spec, live, dataclasses.replace(live, cfg=cached_cfg))


def distiller_for(ctx, method: str):
    """The distiller `method` as run_transfer builds it for the context's config."""
    from crossmodal.distill import config_key
    from crossmodal.stages.transfer import build_distiller, build_student

    cfg = ctx.cfg
    return build_distiller(cfg, method, getattr(cfg.transfer, config_key(method)), build_student(cfg, ctx.data),
                           ctx.teacher, ctx.data)


def accelerator_for(device: torch.device, amp: bool):
    """The Accelerator a run would make: CPU, or the GPU with bf16 autocast when `amp`."""
    from accelerate import Accelerator

    return Accelerator(cpu=device.type == "cpu", mixed_precision="bf16" if amp else "no")


def build(case: Case) -> dict:
    """Build the case's cache (timed) and measure it: per frame-view bytes, file bytes, the teacher's share."""
    from crossmodal.stages.teacher_cache import teacher_views

    ctx, device = case.cached, case.cached.accelerator.device
    cfg, distiller = ctx.cfg, distiller_for(ctx, case.spec["method"])
    TIMES.clear()
    sync(device)
    t0 = time.perf_counter()
    views = teacher_views(ctx, cfg, distiller)
    sync(device)
    build_s = time.perf_counter() - t0
    v, n = views.views, ctx.data.unlabeled.num_samples
    files = sorted(views.folder.glob("*.npy"))
    stored = {p.stem: np.load(p, mmap_mode="r") for p in files}
    per_frame = {name: a.dtype.itemsize * int(np.prod(a.shape[2:])) for name, a in stored.items()}
    return {"build_s": build_s, "build_teacher_s": TIMES.get("teacher_s", 0.0), "views": v, "frames": n,
            "arrays": {name: list(a.shape) for name, a in stored.items()}, "dtype": cfg.teacher.cache_dtype,
            "bytes_per_frame_view": sum(per_frame.values()), "array_bytes_per_frame_view": per_frame,
            "file_bytes_per_frame_view": sum(p.stat().st_size for p in files) / (v * n)}


def epoch(case: Case, cached: bool, tag: str) -> dict:
    """One run_transfer call (one epoch), live or cached: its times (and CUDA peak), the state folder removed."""
    from crossmodal.stages.transfer import run_transfer

    ctx = case.cached if cached else case.live
    cfg, device = ctx.cfg, ctx.accelerator.device
    TIMES.clear()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    resident = torch.cuda.memory_allocated(device) if device.type == "cuda" else 0
    t0 = time.perf_counter()
    _, _, curve = run_transfer(ctx, cfg, case.spec["method"], ctx.checkpoints(cfg, tag))
    sync(device)
    call_s = time.perf_counter() - t0
    shutil.rmtree(ctx.run_dir / "state" / tag, ignore_errors=True)
    t = dict(TIMES)
    parts = t.get("loader_s", 0.0) + t.get("teacher_s", 0.0) + t.get("cache_read_s", 0.0)
    return {"epoch_s": t["epoch_s"], "call_s": call_s, "loader_s": t.get("loader_s", 0.0),
            "teacher_s": t.get("teacher_s", 0.0), "cache_read_s": t.get("cache_read_s", 0.0),
            "rest_s": t["epoch_s"] - parts, "last_loss": float(np.ravel(curve)[-1]) if len(curve) else float("nan"),
            "peak_mib": torch.cuda.max_memory_allocated(device) / MIB if device.type == "cuda" else None,
            "resident_mib": resident / MIB if device.type == "cuda" else None}


def time_cases(cases: list[Case], repeats: int, warmup: int) -> list[dict]:
    """Live and cached epochs of every case, interleaved over the repeats (order alternating): raw results."""
    for w in range(warmup):  # oneDNN primitives, allocator caches, the page cache of the files
        for c in cases:
            epoch(c, False, f"warm-live-{w}")
            epoch(c, True, f"warm-cached-{w}")
    raw: list[dict] = [{"live": [], "cached": []} for _ in cases]
    for r in range(repeats):
        for c, out in zip(cases, raw):
            for cached in ((False, True) if r % 2 == 0 else (True, False)):
                mode = "cached" if cached else "live"
                out[mode].append(epoch(c, cached, f"{mode}-{r}"))
    return raw


def summarise(case: Case, built: dict, raw: dict) -> dict:
    """Medians of each mode, the per-repeat ratio, the build against one live epoch, and whether the goal is met."""
    live, cached = raw["live"], raw["cached"]
    modes = {mode: {k: None if runs[0][k] is None else statistics.median(r[k] for r in runs) for k in runs[0]}
             | {"last_loss": runs[-1]["last_loss"]} for mode, runs in (("live", live), ("cached", cached))}
    ratio = statistics.median(a["epoch_s"] / b["epoch_s"] for a, b in zip(live, cached))
    saved = modes["live"]["epoch_s"] - modes["cached"]["epoch_s"]
    spec = {k: v for k, v in case.spec.items() if k not in ("work", "data")}
    return {**spec, "teacher_label": TEACHERS[spec["teacher"]][1], **built, **modes, "ratio": ratio,
            "ratio_min": min(r["epoch_s"] for r in live) / min(r["epoch_s"] for r in cached),
            "call_ratio": statistics.median(a["call_s"] / b["call_s"] for a, b in zip(live, cached)),
            "build_over_live_epoch": built["build_s"] / modes["live"]["epoch_s"],
            "payback_epochs": built["build_s"] / saved if saved > 0 else None,
            "goal": GOAL[spec["teacher"]], "meets_goal": ratio >= GOAL[spec["teacher"]],
            "raw": {"live": live, "cached": cached}}


def cache_rss_mib(folder: str) -> float:
    """The resident pages of this process's memory maps of the .npy files in `folder` (/proc/self/smaps), MiB."""
    kib, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if head and "-" in head[0] and len(head) >= 5:  # a mapping's header line: address range, ..., path
            inside = len(head) >= 6 and head[5].startswith(folder) and head[5].endswith(".npy")
        elif inside and head and head[0] == "Rss:":
            kib += int(head[1])
    return kib / 1024


def memory_probe(spec: dict) -> dict:
    """In a fresh process: RSS before one run_transfer epoch, its peak growth, the cache's pages resident in it."""
    from crossmodal.stages import teacher_cache
    from crossmodal.stages.transfer import run_transfer

    case = make_case(spec, accelerator_for(torch.device("cpu"), False))
    ctx = case.cached if spec["mode"] == "cached" else case.live
    cfg, folder = ctx.cfg, ""
    if ctx is case.cached:  # the key (teacher fingerprint, data content) now: must find the parent's build
        folder = str(teacher_cache.teacher_views(ctx, cfg, distiller_for(ctx, spec["method"])).folder)
    resident = [0.0]  # the cache's pages resident, largest seen after a batch's read (run_transfer's own maps)
    outputs = teacher_cache.TeacherViews.outputs

    def read(*args):
        try:
            return outputs(*args)
        finally:
            resident[0] = max(resident[0], cache_rss_mib(folder))

    teacher_cache.TeacherViews.outputs = read
    gc.collect()
    trimmed = malloc_trim()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS: the build's peak does not count
    before = proc_status()
    run_transfer(ctx, cfg, spec["method"], ctx.checkpoints(cfg, f"probe-{spec['mode']}"))
    after = proc_status()
    shutil.rmtree(ctx.run_dir, ignore_errors=True)
    return {"malloc_trim": trimmed, "rss_before_mib": before["VmRSS"] / 1024,
            "epoch_growth_mib": (after["VmHWM"] - before["VmRSS"]) / 1024, "peak_rss_mib": after["VmHWM"] / 1024,
            "cache_rss_mib": resident[0]}


def probe_in_subprocess(spec: dict, threads: int) -> dict:
    """memory_probe(spec) in a fresh Python process with `threads` torch threads."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-probe", json.dumps(spec), "--threads", str(threads)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_size(size: str, frames: int, batch: int, args: argparse.Namespace, accelerator, work: Path,
             log: Callable[[str], None] = print) -> list[dict]:
    """Every case at one frame size: data, cache builds, interleaved epochs, memory probes (CPU)."""
    specs = [{"teacher": t, "method": m, "size": size, "frames": frames, "batch": batch, "views": args.views,
              "dtype": args.dtype, "tiny": args.tiny, "workers": args.workers, "data": str(work / f"data-{size}"),
              "work": str(work)} for t, m in CASES if m in args.methods or t != "default"]
    make_data(specs[0])
    cases = [make_case(s, accelerator) for s in specs]
    built = [build(c) for c in cases]
    rows = [summarise(c, b, r) for c, b, r in zip(cases, built, time_cases(cases, args.repeats, args.warmup))]
    if accelerator.device.type == "cpu" and not args.no_memory:
        probed = specs[-1:] if args.tiny else specs  # --tiny: the ViT case only (each probe is a fresh Python)
        jobs = [{**s, "mode": mode} for s in probed for mode in ("live", "cached")]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # memory does not depend on timing
            mems = list(pool.map(lambda sp: probe_in_subprocess(sp, torch.get_num_threads()), jobs))
        for i, row in enumerate(rows[len(rows) - len(probed):]):
            row["memory"] = {"live": mems[2 * i], "cached": mems[2 * i + 1]}
    for r in rows:
        log(f"  {size} b{batch} {r['teacher']:7s} {r['method']:9s} build {r['build_s']:.1f} s, "
            f"{r['bytes_per_frame_view'] / 1024:.1f} KiB per frame-view; epoch live {r['live']['epoch_s']:.2f} s, "
            f"cached {r['cached']['epoch_s']:.2f} s: {r['ratio']:.2f}x (goal {r['goal']}x)")
    return rows


def gpu_suite_row(device: torch.device, size: tuple[int, int], batch: int, repeats: int, warmup: int, amp: bool,
                  tiny: bool, frames: int, workers: int, tmp: Path, log: Callable[[str], None] = print) -> dict:
    """benchmarks/gpu_suite.py's cached-teacher row: head-less ViT-B/14 -> resnet18 with crd_dense, V = 1.

    Epoch time live vs cached, build time, disk bytes and peak memory (CUDA); --tiny: the tiny ViT.
    """
    spec = {"teacher": "vit_b", "method": "crd_dense", "size": "x".join(map(str, size)), "frames": frames,
            "batch": batch, "views": 1, "dtype": "float16", "tiny": tiny, "workers": workers,
            "gen_workers": max(1, workers), "data": str(tmp / "cache_data"), "work": str(tmp / "cache_work")}
    install_timers(device)
    make_data(spec)
    case = make_case(spec, accelerator_for(device, amp))
    built = build(case)
    row = summarise(case, built, time_cases([case], repeats, warmup)[0])
    row["amp"] = amp
    peak = "" if row["live"]["peak_mib"] is None else \
        f"  peak {row['live']['peak_mib']:.0f} / {row['cached']['peak_mib']:.0f} MiB"
    log(f"  {GPU_VIT} -> {GPU_STUDENT} crd_dense: epoch live {row['live']['epoch_s']:.2f} s, cached "
        f"{row['cached']['epoch_s']:.2f} s: {row['ratio']:.2f}x; build {row['build_s']:.1f} s{peak}")
    return row


def _ms(x: float | None) -> str:
    return "-" if x is None else f"{1e3 * x:.0f}"


def table_lines(rows: list[dict]) -> list[str]:
    """The epoch table, the where-the-time-goes table and the memory table."""
    lines = ["| size | batch | teacher | method | live epoch s | cached epoch s | live / cached (min/min) | goal | "
             "run_transfer call live / cached s | build s (x live epoch) | pays back after | bytes per frame-view |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        payback = "never" if r["payback_epochs"] is None else f"{r['payback_epochs']:.1f} epochs"
        lines.append(f"| {r['size']} | {r['batch']} | {r['teacher_label']} | `{r['method']}` | "
                     f"{r['live']['epoch_s']:.2f} | {r['cached']['epoch_s']:.2f} | **{r['ratio']:.2f}x** "
                     f"({r['ratio_min']:.2f}x) | {r['goal']}x {'met' if r['meets_goal'] else 'NOT met'} | "
                     f"{r['live']['call_s']:.2f} / {r['cached']['call_s']:.2f} | {r['build_s']:.1f} "
                     f"({r['build_over_live_epoch']:.1f}x) | {payback} | {r['bytes_per_frame_view']:,} "
                     f"({', '.join(f'{k} {v:,}' for k, v in r['array_bytes_per_frame_view'].items())}) |")
    lines += ["", "Where the epoch goes (medians, ms): loader = waiting for the next batch; teacher = its forward "
                  "(live); cache read = TeacherViews.outputs (memmap rows to a tensor); rest = student forward, loss, "
                  "backward, AdamW and the loop.", "",
              "| size | teacher | method | live: loader / teacher / rest | cached: loader / cache read / rest |",
              "|---|---|---|---|---|"]
    for r in rows:
        lv, ca = r["live"], r["cached"]
        lines.append(f"| {r['size']} | {r['teacher_label']} | `{r['method']}` | {_ms(lv['loader_s'])} / "
                     f"{_ms(lv['teacher_s'])} / {_ms(lv['rest_s'])} | {_ms(ca['loader_s'])} / "
                     f"{_ms(ca['cache_read_s'])} / {_ms(ca['rest_s'])} |")
    return lines + memory_lines(rows)


def memory_lines(rows: list[dict]) -> list[str]:
    """The memory table of the CPU probes, or nothing when none ran."""
    lines = ["", "| size | teacher | method | RSS before MiB (live / cached) | epoch peak growth MiB (live / cached) | "
                 "cache pages resident MiB |", "|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("memory"):
            lv, ca = r["memory"]["live"], r["memory"]["cached"]
            lines.append(f"| {r['size']} | {r['teacher_label']} | `{r['method']}` | {lv['rss_before_mib']:.0f} / "
                         f"{ca['rss_before_mib']:.0f} | +{lv['epoch_growth_mib']:.0f} / +{ca['epoch_growth_mib']:.0f} "
                         f"| {ca['cache_rss_mib']:.2f} |")
    return lines if len(lines) > 3 else []


def section_text(res: dict) -> str:
    """The markdown section (also printed)."""
    s, m = res["settings"], res["machine"]
    tiny = f" (--tiny: ViT kwargs {TINY_VIT})" if s["tiny"] else ""
    data = ", ".join(f"{f} frames at {z}, batch {b}" for z, f, b in zip(s["sizes"], s["frames"], s["batches"]))
    lines = [SECTION, "",
             f"`{res['command']}` on {m['device']}; torch {m['torch']}, Python {m['python']}. 1-minute load average "
             f"{res['load_before']:.2f} before, {res['load_after']:.2f} after; other processes used "
             f"{res['other_cpu_s']:.0f} CPU-seconds during the run ({res['other_cpu_pct']:.0f} % of the machine's "
             f"{m['logical_cpus']} CPUs over its {res['total_s']:.0f} s; the memory probes count as this run's own).",
             "",
             "run_transfer on a RunContext (configs/default.yaml, transfer.epochs 1, data.num_workers "
             f"{s['workers']}, untrained teachers, nothing downloaded){tiny}, the loader reading the paired HDF5 file "
             f"of `python -m data_tools.synthetic` ({data}); "
             f"teacher.cache_views {s['views']}, cache_dtype {s['dtype']}; {s['warmup']} warm-up round(s), then "
             f"{s['repeats']} repeats of one live and one cached epoch (order alternating), medians. Epoch = the "
             "transfer loop over the loader; live / cached = median of per-repeat ratios (in brackets: fastest over "
             "fastest). Build = teacher_views() computing the cache (every view of every frame). Pays back after = "
             "build / (live - cached epoch). Bytes per frame-view = the stored arrays' per-frame size (per array "
             "in brackets). Memory (CPU): a fresh process per mode, RSS with networks built and the cache opened, "
             "the growth of the peak resident set during one epoch, and the largest resident part of the cache's "
             "memory maps during it. Goal (issue 38): >= 3x with the ViT teacher, >= 1.3x with the default one.", ""]
    lines += table_lines(res["rows"])
    if res.get("note"):
        lines += ["", res["note"].strip()]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (--tiny fills in tiny sizes, frames, batch, repeats and 1 thread where not given)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="", help="frame sizes HxW, comma-separated (default 96x128,240x320)")
    p.add_argument("--frames", default="", help="unlabeled frames per size (default 128,64)")
    p.add_argument("--batch", default="", help="batch per size (default 32,8)")
    p.add_argument("--views", type=int, default=2, help="teacher.cache_views V (default 2)")
    p.add_argument("--dtype", choices=("float16", "float32"), default="float16", help="teacher.cache_dtype")
    p.add_argument("--methods", default="crd_dense,kd", help="the default teacher's methods (crd_dense, kd)")
    p.add_argument("--repeats", type=int, default=0, help="live + cached epoch pairs (default 5; 2 with --tiny)")
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds before (default 1)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default 2, 1 with --tiny)")
    p.add_argument("--workers", type=int, default=0, help="data.num_workers (default 0, as configs/default.yaml)")
    p.add_argument("--tiny", action="store_true", help="a tiny ViT, one tiny size, 2 repeats: seconds")
    p.add_argument("--no-memory", action="store_true", help="leave out the CPU memory probes (subprocesses)")
    p.add_argument("--work-dir", default="", help="where data and caches go (default: a temporary folder)")
    p.add_argument("--out", default="", help="write every raw number to this JSON file")
    p.add_argument("--write", default="", help="replace (or append) this script's section of a markdown file")
    p.add_argument("--note", default="", help="paragraph added to the written section")
    p.add_argument("--render", default="", help="write the section from an earlier --out JSON (with --note)")
    p.add_argument("--memory-probe", default="", help=argparse.SUPPRESS)  # internal: one mode's memory, as JSON
    args = p.parse_args(argv)
    args.sizes = (args.sizes or ("32x48" if args.tiny else "96x128,240x320")).split(",")
    args.frames = [int(v) for v in (args.frames or ("16" if args.tiny else "128,64")).split(",")]
    args.batch = [int(v) for v in (args.batch or ("8" if args.tiny else "32,8")).split(",")]
    args.methods = args.methods.split(",")
    args.repeats = args.repeats or (2 if args.tiny else 5)
    args.threads = args.threads or (1 if args.tiny else 2)
    if not len(args.sizes) == len(args.frames) == len(args.batch) or args.views < 1:
        p.error(f"--sizes, --frames and --batch need one value each per size (got {len(args.sizes)}, "
                f"{len(args.frames)}, {len(args.batch)}) and --views >= 1 (got {args.views})")
    return args


def machine(threads: int) -> dict:
    """The CPU, threads and software versions a figure was measured with."""
    cpu = cpu_name()
    return {"device": f"{cpu} ({os.cpu_count()} logical CPUs, {threads} torch thread{'s' * (threads != 1)}, no GPU)",
            "cpu": cpu, "logical_cpus": os.cpu_count(), "torch_threads": threads, "torch": torch.__version__,
            "python": platform.python_version()}


def main(argv: list[str] | None = None) -> int:
    """Time every case at every size (or, with --memory-probe, measure one mode's memory), print and write."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    if args.memory_probe or args.render:
        if args.memory_probe:
            print(json.dumps(memory_probe(json.loads(args.memory_probe))))
        else:
            finish({**json.loads(Path(args.render).read_text()), "note": args.note}, args)
        return 0
    res: dict = {"command": shown_command("python benchmarks/teacher_cache.py", argv if argv is not None else
                                          sys.argv[1:], ("--out", "--write", "--note", "--work-dir")),
                 "machine": machine(args.threads), "load_before": os.getloadavg()[0], "note": args.note, "rows": [],
                 "settings": {"sizes": args.sizes, "frames": args.frames, "batches": args.batch, "views": args.views,
                              "dtype": args.dtype, "repeats": args.repeats, "warmup": args.warmup, "tiny": args.tiny,
                              "workers": args.workers, "methods": args.methods}}
    print(f"Teacher cache on {res['machine']['device']}", flush=True)
    device = torch.device("cpu")
    install_timers(device)
    accelerator = accelerator_for(device, False)
    t_start, cpu_start = time.perf_counter(), cpu_times()
    with tempfile.TemporaryDirectory(prefix="teacher_cache_") as tmp:
        work = Path(args.work_dir or tmp).resolve()
        for size, frames, batch in zip(args.sizes, args.frames, args.batch):
            res["rows"] += run_size(size, frames, batch, args, accelerator, work,
                                    log=lambda msg: print(msg, flush=True))
    vit_teacher.record_run_load(res, t_start, cpu_start)
    finish(res, args)
    return 0


def finish(res: dict, args: argparse.Namespace) -> None:
    """Print the section, write it (--write) and the raw numbers (--out)."""
    text = section_text(res)
    print("\n" + text)
    write_results(res, text, args.out, args.write, SECTION)


if __name__ == "__main__":
    sys.exit(main())
