"""Head-less ViT teacher in the transfer step: what a DINOv2 ViT-S/14 teacher costs against the default teacher.

The transfer step of crossmodal/stages/transfer.py (`run_transfer`'s train_step) with `crd_dense` and the default
student (resnet_narrow on the 2-channel logdepth_valid encoding), for two teachers on 3-channel RGB:
- `timm:vit_small_patch14_dinov2`, head-less (HeadlessTeacher: teacher.head none), random weights, built by
  build_backbone with probe_size = the frame size (its maps: 384 channels at ceil(H/14) x ceil(W/14), 4 blocks);
- `resnet_narrow`, the default teacher's backbone, also head-less (crd_dense needs no logits, so the default
  Segmenter teacher runs exactly this backbone in a transfer step).
Frame sizes 96x128 and 240x320 by default, batch 32 at 96x128 (the transfer's default batch_size) and 8 at 240x320
(6.25x the pixels: a ViT step of about a second on a 2-core CPU). Per case (teacher, frame size, autocast), seed 0
(torch.manual_seed before each network, distiller seed=0, fixed random inputs):
(a) teacher forward alone: features_and_logits(rgb, False) under torch.no_grad (as the transfer; --grad-mode
    inference_mode for torch.inference_mode) and autocast when on;
(b) the whole step: (a) + student forward (under autocast when on, as Accelerate runs a prepared model) +
    crd_dense loss (outside autocast) + backward + AdamW over student + distiller (lr and weight decay of
    Config().transfer) + zero_grad. The teacher part inside the step is also timed (a cross-check of the share).
All cases of one frame size run interleaved (for each repeat: every case's (a) then (b)) after warm-up rounds;
times are medians over the repeats (torch.cuda.synchronize() around each call on a GPU). Reported: teacher share =
median (a) / median (b); images/s = batch / median (b); ViT / default = median over repeats of the ViT step over
the default teacher's step of the same repeat (same frame size and autocast): the figure this script is for, since
shared machines are noisy and only ratios measured side by side hold.
Peak memory: on a CPU each case runs again in a fresh Python process (--memory-probe): the resident set (VmRSS)
once the networks and inputs exist (after gc and glibc's malloc_trim(0), so that heap freed by the build's dry
forward cannot absorb later growth), then the kernel's high-water mark (VmHWM, reset through /proc/self/clear_refs
so the build's own peak does not count) after 2 teacher forwards and after 2 steps: the growth over that RSS is
what the teacher forward and the step take (activations, gradients, AdamW state, allocator caches). On CUDA:
torch.cuda.max_memory_allocated() over the timed calls (peak stats reset before each call).
Autocast (--amp): `auto` = bf16 on CUDA; on a CPU float32 (the transfer's default there: Accelerate with
mixed_precision no), plus bf16 when the CPU reports native bf16 (avx512_bf16 / amx_bf16 in /proc/cpuinfo).
The machine, torch threads, load average and the CPU time other processes used while timing go into the report.

    python benchmarks/vit_teacher.py [--sizes 96x128,240x320] [--batch 32,8] [--repeats 10] [--threads 2]
        [--amp auto|off|bf16|off,bf16] [--out vit_teacher.json] [--write docs/benchmarks.md]
    python benchmarks/vit_teacher.py --tiny        # a tiny ViT, tiny frames: seconds (tests/benchmarks)

--write replaces (or appends) the "## Head-less ViT teacher (benchmarks/vit_teacher.py)" section of that file.
benchmarks/gpu_suite.py reuses make_case / bench_case for its ViT-B/14 teacher row.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(Path(__file__).resolve().parent))  # markdown_section (appended: shadows no package)

from markdown_section import replace_section  # noqa: E402

from crossmodal.config import Config  # noqa: E402
from crossmodal.distill import DISTILLERS, config_key  # noqa: E402
from crossmodal.models import build_backbone  # noqa: E402
from crossmodal.models.teacher_views import HeadlessTeacher  # noqa: E402
from crossmodal.runtime import cpu_name  # noqa: E402

SECTION = "## Head-less ViT teacher (benchmarks/vit_teacher.py)"
VIT = "timm:vit_small_patch14_dinov2"
DEFAULT_TEACHER = "resnet_narrow"
STUDENT = "resnet_narrow"
METHOD = "crd_dense"
TINY_VIT = {"depth": 2, "embed_dim": 48, "num_heads": 2}  # --tiny: a 2-block, 48-wide ViT with the same patching
NUM_SAMPLES = 4096  # unlabeled pairs the distiller is built for (crd_dense keeps no memory bank)
GPU_VIT, GPU_STUDENT = "timm:vit_base_patch14_dinov2", "resnet18"  # benchmarks/gpu_suite.py's ViT teacher row
MIB = 2 ** 20


@dataclass
class Case:
    """One (teacher, frame size, autocast) setting: its two timed calls and what it was built from."""

    spec: dict
    teacher_forward: Callable[[], tuple[float, int]]  # -> (seconds, CUDA peak bytes or 0)
    step: Callable[[], tuple[float, float, int]]  # -> (seconds, seconds of its teacher part, CUDA peak bytes or 0)
    last_loss: list


def native_bf16() -> bool:
    """Whether this CPU reports native bf16 arithmetic (AVX512-BF16 or AMX-BF16)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", text))


def sync(device: torch.device) -> None:
    """Wait for the GPU (nothing on a CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def frozen_teacher(arch: str, h: int, w: int, kwargs: dict) -> HeadlessTeacher:
    """A head-less, frozen teacher on RGB (random weights) that has run a dry forward at h x w."""
    backbone = build_backbone(arch, 3, kwargs=kwargs, probe_size=(h, w)) if ":" in arch else build_backbone(arch, 3)
    teacher = HeadlessTeacher(backbone).eval()
    teacher.requires_grad_(False)
    return teacher


def make_case(spec: dict, device: torch.device, channels_last: bool = False) -> Case:
    """The teacher forward and the whole transfer step of `spec` on fixed random inputs, seed 0.

    `spec` names teacher, student, size, batch, amp, grad_mode and teacher_kwargs.
    """
    h, w = spec["size"]
    cuda = device.type == "cuda"
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    amp = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if spec["amp"] else contextlib.nullcontext
    grad_off = torch.inference_mode if spec.get("grad_mode") == "inference_mode" else torch.no_grad
    torch.manual_seed(0)
    teacher = frozen_teacher(spec["teacher"], h, w, spec.get("teacher_kwargs") or {}).to(device, memory_format=fmt)
    torch.manual_seed(0)
    student = build_backbone(spec["student"], 2).to(device, memory_format=fmt).train()
    t = Config().transfer
    torch.manual_seed(0)
    distiller = DISTILLERS[METHOD](student.out_channels, teacher.out_channels, NUM_SAMPLES,
                                   getattr(t, config_key(METHOD)), seed=0).to(device)
    params = [p for p in [*student.parameters(), *distiller.parameters()] if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=t.lr, weight_decay=t.weight_decay)
    gen = torch.Generator().manual_seed(0)
    rgb = torch.randn(spec["batch"], 3, h, w, generator=gen).to(device).contiguous(memory_format=fmt)
    depth = torch.randn(spec["batch"], 2, h, w, generator=gen).to(device).contiguous(memory_format=fmt)
    index = torch.arange(spec["batch"], device=device)
    last_loss: list = [float("nan")]

    def start() -> float:
        sync(device)
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        return time.perf_counter()

    def teacher_forward() -> tuple[float, int]:
        t0 = start()
        with grad_off(), amp():
            teacher.features_and_logits(rgb, False)
        sync(device)
        return time.perf_counter() - t0, torch.cuda.max_memory_allocated(device) if cuda else 0

    def step() -> tuple[float, float, int]:
        t0 = start()
        with grad_off(), amp():
            t_feats, _ = teacher.features_and_logits(rgb, False)
        if spec.get("grad_mode") == "inference_mode":
            t_feats = [f.clone() for f in t_feats]  # inference tensors cannot be saved for backward
        sync(device)
        t1 = time.perf_counter()
        with amp():
            s_feats = student(depth)
        loss = distiller(s_feats, t_feats, index, None)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(device)
        last_loss[0] = loss.detach()
        return time.perf_counter() - t0, t1 - t0, torch.cuda.max_memory_allocated(device) if cuda else 0

    return Case(spec, teacher_forward, step, last_loss)


def time_cases(cases: list[Case], repeats: int, warmup: int) -> list[dict]:
    """Every case's teacher forward and step, interleaved over the repeats after `warmup` rounds: raw times."""
    for _ in range(warmup):  # oneDNN primitives, AdamW state, allocator caches (cudnn autotuning on a GPU)
        for c in cases:
            c.teacher_forward()
            c.step()
    raw = [{"teacher_s": [], "step_s": [], "step_teacher_s": [], "teacher_peak": 0, "step_peak": 0} for _ in cases]
    for _ in range(repeats):
        for c, r in zip(cases, raw):
            dt, peak = c.teacher_forward()
            r["teacher_s"].append(dt)
            r["teacher_peak"] = max(r["teacher_peak"], peak)
            dt, dt_teacher, peak = c.step()
            r["step_s"].append(dt)
            r["step_teacher_s"].append(dt_teacher)
            r["step_peak"] = max(r["step_peak"], peak)
    return raw


def summarise(spec: dict, raw: dict, last_loss: float, cuda: bool) -> dict:
    """Medians, the teacher share, images/s (and CUDA peaks) of one case's raw times."""
    teacher, step = statistics.median(raw["teacher_s"]), statistics.median(raw["step_s"])
    return {**{k: v for k, v in spec.items() if k != "size"}, "size": "x".join(map(str, spec["size"])),
            "teacher_ms": 1e3 * teacher, "step_ms": 1e3 * step, "step_ms_min": 1e3 * min(raw["step_s"]),
            "teacher_share": teacher / step,
            "teacher_share_in_step": statistics.median(a / b for a, b in zip(raw["step_teacher_s"], raw["step_s"])),
            "images_per_s": spec["batch"] / step, "last_loss": last_loss,
            "teacher_peak_mib": raw["teacher_peak"] / MIB if cuda else None,
            "step_peak_mib": raw["step_peak"] / MIB if cuda else None, "raw": raw}


def bench_case(spec: dict, device: torch.device, repeats: int, warmup: int, channels_last: bool = False) -> dict:
    """One case timed on its own (benchmarks/gpu_suite.py's ViT teacher row): summarise()'s dict."""
    case = make_case(spec, device, channels_last)
    raw = time_cases([case], repeats, warmup)[0]
    return summarise(spec, raw, float(case.last_loss[0]), device.type == "cuda")


def gpu_suite_row(device: torch.device, size: tuple[int, int], batch: int, repeats: int, warmup: int, amp: bool,
                  tiny: bool, log: Callable[[str], None] = print) -> dict:
    """benchmarks/gpu_suite.py's ViT row: a head-less ViT-B/14 teacher -> resnet18 student.

    With crd_dense and channels_last; --tiny uses the tiny ViT.
    """
    spec = {"teacher": GPU_VIT, "teacher_kwargs": TINY_VIT if tiny else {}, "student": GPU_STUDENT, "size": size,
            "batch": batch, "amp": amp, "grad_mode": "no_grad"}
    row = bench_case(spec, device, repeats, warmup, channels_last=True)
    peak = "" if row["step_peak_mib"] is None else f"  peak {row['step_peak_mib']:.0f} MiB"
    log(f"  {GPU_VIT} -> {GPU_STUDENT} {METHOD}: step {row['step_ms']:.1f} ms  {row['images_per_s']:.1f} images/s  "
        f"teacher share {100 * row['teacher_share']:.1f}%{peak}")
    return row


def gpu_suite_lines(row: dict, cuda: bool) -> list[str]:
    """The ViT teacher part of benchmarks/gpu_suite.py's markdown section."""
    tiny = f", --tiny: kwargs {row['teacher_kwargs']}" if row["teacher_kwargs"] else ""
    lines = ["#### Head-less ViT teacher", "",
             f"`{row['teacher']}` (head-less, random weights{tiny}) -> `{row['student']}` student with `{METHOD}`, "
             f"{row['size']}, batch {row['batch']}, {'bf16 autocast' if row['amp'] else 'float32'}, "
             "channels_last; the step of benchmarks/vit_teacher.py (teacher forward alone and whole step "
             "interleaved, medians; teacher share = teacher forward / step; peak memory = "
             "torch.cuda.max_memory_allocated() over the calls, resident networks and AdamW state included).", ""]
    if not cuda:
        lines += ["**The ViT teacher row has not been run on a GPU yet**: the figures below are the CPU check "
                  "(code path only).", ""]
    peak = "-" if row["step_peak_mib"] is None else f"{row['teacher_peak_mib']:.0f} / {row['step_peak_mib']:.0f}"
    return lines + ["| teacher | student | step ms (median, min) | images/s | teacher share | "
                    "peak memory MiB (teacher fwd / step) |", "|---|---|---|---|---|---|",
                    f"| {row['teacher']} | {row['student']} | {row['step_ms']:.1f}, {row['step_ms_min']:.1f} | "
                    f"{row['images_per_s']:.1f} | {100 * row['teacher_share']:.1f}% | {peak} |"]


# ---------------------------------------------------------------------------------------------- CPU memory

def proc_status() -> dict[str, int]:
    """VmRSS and VmHWM of this process, in KiB (Linux)."""
    text = Path("/proc/self/status").read_text()
    return {k: int(re.search(k + r":\s+(\d+)", text).group(1)) for k in ("VmRSS", "VmHWM")}


def malloc_trim() -> bool:
    """glibc's malloc_trim(0): free heap pages returned to the system; False where there is no glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        return True
    except (OSError, AttributeError):
        return False


def memory_probe(spec: dict) -> dict:
    """In a fresh process: RSS once built, then the high-water mark after 2 teacher forwards and after 2 steps."""
    case = make_case(spec, torch.device("cpu"))
    gc.collect()
    trimmed = malloc_trim()  # freed heap (the build's dry forward) back to the system: later growth is not hidden in it
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS: the build's peak does not count
        reset = True
    except OSError:
        reset = False
    before = proc_status()
    for _ in range(2):
        case.teacher_forward()
    after_teacher = proc_status()
    for _ in range(2):
        case.step()
    after_step = proc_status()
    return {"hwm_reset": reset, "malloc_trim": trimmed, "rss_before_mib": before["VmRSS"] / 1024,
            "teacher_growth_mib": (after_teacher["VmHWM"] - before["VmRSS"]) / 1024,
            "step_growth_mib": (after_step["VmHWM"] - before["VmRSS"]) / 1024,
            "peak_rss_mib": after_step["VmHWM"] / 1024,
            "lifetime_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def probe_in_subprocess(spec: dict, threads: int) -> dict:
    """memory_probe(spec) in a fresh Python process with `threads` torch threads."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-probe", json.dumps(spec), "--threads", str(threads)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe {spec} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def record_run_load(res: dict, t_start: float, cpu_start: tuple[float, float] | None) -> None:
    """Put the run's wall time, other processes' CPU seconds meanwhile (share) and the load after into `res`."""
    res["total_s"] = time.perf_counter() - t_start
    cpu_end = cpu_times()
    other = (cpu_end[0] - cpu_start[0]) - (cpu_end[1] - cpu_start[1]) if cpu_start and cpu_end else float("nan")
    res["other_cpu_s"], res["load_after"] = max(0.0, other), os.getloadavg()[0]
    res["other_cpu_pct"] = 100 * res["other_cpu_s"] / (res["total_s"] * (os.cpu_count() or 1))


def cpu_times() -> tuple[float, float] | None:
    """CPU seconds so far, for the machine and for this process; None off Linux.

    The busy seconds of the whole machine from /proc/stat, and the user + system seconds of this process and its
    finished children, the memory probes.
    """
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    busy = sum(fields[:8]) - fields[3] - (fields[4] if len(fields) > 4 else 0)  # less idle and iowait
    t = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), t.user + t.system + t.children_user + t.children_system


# ---------------------------------------------------------------------------------------------- run and report

def run_size(size: tuple[int, int], batch: int, amps: list[bool], args, device: torch.device) -> list[dict]:
    """Every (teacher, autocast) case at one frame size, timed interleaved; memory per case (CPU: subprocesses)."""
    kwargs = TINY_VIT if args.tiny else {}
    specs = [{"teacher": arch, "teacher_kwargs": kwargs if arch == VIT else {}, "student": STUDENT, "size": size,
              "batch": batch, "amp": amp, "grad_mode": args.grad_mode}
             for amp in amps for arch in (VIT, DEFAULT_TEACHER)]
    cases = [make_case(s, device) for s in specs]
    raw = time_cases(cases, args.repeats, args.warmup)
    rows = [summarise(s, r, float(c.last_loss[0]), device.type == "cuda") for s, r, c in zip(specs, raw, cases)]
    del cases
    for row, other in zip(rows, [rows[i ^ 1] for i in range(len(rows))]):  # the ViT / default pair of one amp
        if row["teacher"] == VIT:
            ratios = [a / b for a, b in zip(row["raw"]["step_s"], other["raw"]["step_s"])]
            row["vit_over_default"], other["vit_over_default"] = statistics.median(ratios), None
            row["vit_over_default_min"] = min(row["raw"]["step_s"]) / min(other["raw"]["step_s"])
    if device.type == "cpu" and not args.no_memory and not (args.tiny and size != args.first_size):
        # memory does not depend on timing: the probes run side by side, as many at a time as there are CPUs
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            mems = list(pool.map(lambda sp: probe_in_subprocess(sp, torch.get_num_threads()), specs))
        for row, mem in zip(rows, mems):
            row["memory"] = mem
    for row in rows:
        mem = row.get("memory", {})
        print(f"  {row['size']} b{row['batch']} {'bf16' if row['amp'] else 'fp32'} {row['teacher']:30s} teacher "
              f"{row['teacher_ms']:8.1f} ms  step {row['step_ms']:8.1f} ms  share {100 * row['teacher_share']:5.1f}%  "
              f"{row['images_per_s']:7.1f} images/s" + ratio_text(row, "  ViT/default {:.2f}x")
              + (f"  step +{mem['step_growth_mib']:.0f} MiB" if mem else ""), flush=True)
    return rows


def ratio_text(row: dict, spec: str, reference: str = "") -> str:
    """The ViT / default step ratio formatted with `spec` (`reference` for the default teacher's own row)."""
    ratio = row.get("vit_over_default")
    return reference if ratio is None else spec.format(ratio)


def mem_cells(row: dict) -> str:
    """The memory cells of a table row (CPU: RSS from the probe; CUDA: peak allocated)."""
    m = row.get("memory")
    if m:
        return (f"{m['rss_before_mib']:.0f} | +{m['teacher_growth_mib']:.0f} | +{m['step_growth_mib']:.0f} "
                f"({m['peak_rss_mib']:.0f})")
    if row.get("step_peak_mib") is not None:
        return f"- | {row['teacher_peak_mib']:.0f} (allocated) | {row['step_peak_mib']:.0f} (allocated)"
    return "- | - | -"


def section_text(res: dict) -> str:
    """The markdown section (also printed)."""
    s, m = res["settings"], res["machine"]
    lines = [SECTION, "",
             f"`{res['command']}` on {m['device']}; torch {m['torch']}, timm {m['timm']}, Python {m['python']}; "
             f"seed 0 (every network, the distiller and the inputs: random weights, nothing downloaded); "
             f"{s['repeats']} interleaved repeats after {s['warmup']} warm-up round(s), medians; teacher under "
             f"torch.{s['grad_mode']}. 1-minute load average {res['load_before']:.2f} before, "
             f"{res['load_after']:.2f} after; other processes used {res['other_cpu_s']:.0f} CPU-seconds during the "
             f"run ({res['other_cpu_pct']:.0f} % of the machine's {m['logical_cpus']} CPUs over its "
             f"{res['total_s']:.0f} s; the memory probes count as this run's own).", "",
             f"Step = teacher forward + student `{STUDENT}` forward on 2-channel depth + `{METHOD}` loss + backward + "
             f"AdamW (script docstring). Teachers head-less with random weights: `{VIT}`"
             + (f" (--tiny: kwargs {TINY_VIT})" if s["tiny"] else "") + f" and the default `{DEFAULT_TEACHER}`. "
             "Teacher share = teacher forward alone / whole step (in brackets: the teacher part timed inside the "
             "step); ViT / default = the ViT step over the default teacher's step, median of per-repeat ratios (in "
             "brackets: fastest ViT step over fastest default step, the estimate least moved by other work on the "
             "machine). "
             + ("" if s["tiny"] else "Batch 32 at 96x128 is the transfer's default batch_size; at 240x320 (6.25x the "
                "pixels) batch 8, so that a ViT step stays around a second on a 2-core CPU. ")
             + "Memory (CPU): a fresh process per row; RSS once built (after gc and malloc_trim), then the growth of "
             "the peak resident set over it during 2 teacher forwards, and during 2 steps (AdamW state included; in "
             "brackets the peak resident set itself, imports included)"
             + (" (--tiny: at the first size only)." if s["tiny"] else "."), "",
             "| size | batch | autocast | teacher | teacher fwd ms | step ms (median, min) | teacher share | "
             "images/s | ViT / default step | RSS built MiB | teacher fwd peak MiB | step peak MiB (peak RSS) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in res["rows"]:
        lines.append(f"| {r['size']} | {r['batch']} | {'bf16' if r['amp'] else 'off (fp32)'} | `{r['teacher']}` | "
                     f"{r['teacher_ms']:.1f} | {r['step_ms']:.1f}, {r['step_ms_min']:.1f} | "
                     f"{100 * r['teacher_share']:.1f}% ({100 * r['teacher_share_in_step']:.1f}%) | "
                     f"{r['images_per_s']:.1f} | {ratio_text(r, '{:.2f}x', '1 (reference)')}"
                     + ("" if r.get("vit_over_default_min") is None else f" ({r['vit_over_default_min']:.2f}x)")
                     + f" | {mem_cells(r)} |")
    if res.get("note"):
        lines += ["", res["note"].strip()]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (--tiny fills in tiny sizes, batch, repeats and 1 thread where not given)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="", help="frame sizes HxW, comma-separated (default 96x128,240x320)")
    p.add_argument("--batch", default="", help="batch per size, comma-separated, or one for all (default 32,8)")
    p.add_argument("--repeats", type=int, default=0, help="interleaved timed repeats (default 10; 2 with --tiny)")
    p.add_argument("--warmup", type=int, default=-1, help="untimed rounds before (default 2; 1 with --tiny)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default 2, 1 with --tiny)")
    p.add_argument("--amp", default="auto", help="autocast: off, bf16, or a list (off,bf16); auto = bf16 on CUDA, "
                                                 "off on a CPU plus bf16 when the CPU has native bf16")
    p.add_argument("--grad-mode", choices=("no_grad", "inference_mode"), default="no_grad",
                   help="what the teacher forward runs under (no_grad: as the transfer does)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--tiny", action="store_true", help="tiny ViT (kwargs), tiny frames, 2 repeats: seconds")
    p.add_argument("--no-memory", action="store_true", help="leave out the CPU memory probes (subprocesses)")
    p.add_argument("--out", default="", help="write every raw number to this JSON file")
    p.add_argument("--write", default="", help="replace (or append) this script's section of a markdown file")
    p.add_argument("--note", default="", help="paragraph added to the written section")
    p.add_argument("--memory-probe", default="", help=argparse.SUPPRESS)  # internal: one case's memory, as JSON
    args = p.parse_args(argv)
    args.sizes = args.sizes or ("28x42,42x56" if args.tiny else "96x128,240x320")
    args.batch = args.batch or ("2" if args.tiny else "32,8")
    args.repeats = args.repeats or (2 if args.tiny else 10)
    args.warmup = args.warmup if args.warmup >= 0 else (1 if args.tiny else 2)
    args.threads = args.threads or (1 if args.tiny else 2)
    return args


def amp_modes(text: str, device: torch.device) -> list[bool]:
    """--amp as a list of autocast on/off."""
    if text == "auto":
        return [True] if device.type == "cuda" else ([False, True] if native_bf16() else [False])
    return [{"off": False, "bf16": True}[v.strip()] for v in text.split(",")]


def machine(device: torch.device, threads: int) -> dict:
    """The device, CPU, threads and software versions a figure was measured with."""
    import timm

    cpu = cpu_name()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu
    return {"device": f"{name} ({os.cpu_count()} logical CPUs, {threads} torch thread{'s' * (threads != 1)}"
                      + (f", native bf16: {native_bf16()})" if device.type == "cpu" else ")"),
            "cpu": cpu, "logical_cpus": os.cpu_count(), "torch_threads": threads, "native_bf16": native_bf16(),
            "torch": torch.__version__, "timm": timm.__version__, "python": platform.python_version()}


def main(argv: list[str] | None = None) -> int:
    """Time every case at every size (or, with --memory-probe, measure one case's memory), print and write."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.memory_probe:
        spec = json.loads(args.memory_probe)
        print(json.dumps(memory_probe({**spec, "size": tuple(spec["size"])})))
        return 0
    device = torch.device("cuda") if args.device == "cuda" else torch.device("cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("error: --device cuda asked for, but no CUDA GPU is visible")
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
    args.first_size = sizes[0]  # --tiny probes memory at this size only (each probe is a fresh Python process)
    batches = [int(b) for b in args.batch.split(",")]
    batches = batches * len(sizes) if len(batches) == 1 else batches
    if len(batches) != len(sizes):
        sys.exit(f"error: --batch gives {len(batches)} values for {len(sizes)} sizes")
    shown = list(argv if argv is not None else sys.argv[1:])
    for flag in ("--out", "--write", "--note"):  # paths and prose are not part of the setting
        while flag in shown:
            del shown[shown.index(flag):shown.index(flag) + 2]
    res: dict = {"command": " ".join(["python benchmarks/vit_teacher.py", *shown]),
                 "machine": machine(device, args.threads),
                 "settings": {"sizes": [f"{h}x{w}" for h, w in sizes], "batches": batches, "repeats": args.repeats,
                              "warmup": args.warmup, "grad_mode": args.grad_mode, "tiny": args.tiny, "seed": 0,
                              "amp": ["bf16" if a else "off" for a in amp_modes(args.amp, device)]},
                 "load_before": os.getloadavg()[0], "note": args.note, "rows": []}
    print(f"Head-less ViT teacher on {res['machine']['device']}", flush=True)
    t_start, cpu_start = time.perf_counter(), cpu_times()
    for size, batch in zip(sizes, batches):
        res["rows"] += run_size(size, batch, amp_modes(args.amp, device), args, device)
    record_run_load(res, t_start, cpu_start)
    text = section_text(res)
    print("\n" + text)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2, default=str) + "\n")
    if args.write:
        replace_section(args.write, text, SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
