"""GPU suite: transfer-step speed and memory, the loader against the step, and the smoke pipeline, in one run.

Made to run on one CUDA GPU in under 6 minutes (bf16 autocast, channels_last models and inputs); `--device cpu
--tiny` runs the same code on a CPU at tiny sizes in well under a minute, so a test keeps the script working.

1. Transfer step (default 480x640, batch 32): a torchvision:resnet50 teacher (project head, 40 classes) on 3-channel
   RGB, and two students on 2-channel depth (the logdepth_valid encoding): torchvision:resnet18 and
   timm:mobilenetv3_large_100. For each student, three losses: `none` (teacher forward + student forward/backward
   on a zero loss, sum of the deepest student map * 0), `crd` and `crd_dense` (the project's distillers with the
   options of Config().transfer; `crd` with a memory bank of --num-samples rows). One step = teacher forward
   (torch.no_grad) + student forward (both under autocast, as Accelerate runs them) + loss (outside autocast, as in
   crossmodal/stages/transfer.py) + backward + AdamW over student + distiller. The three losses of one student are
   run interleaved (none, crd, crd_dense, none, ...) after warm-up rounds; times are medians over the repeats,
   with torch.cuda.synchronize() before and after each step. 'Loss adds' = median of the per-repeat differences
   against the `none` step of the same repeat, over the median `none` step. Peak memory = the largest
   torch.cuda.max_memory_allocated() over the case's steps (peak stats reset before every step), which includes
   what stays resident (both networks, the three optimisers' states of that student, the memory bank); 'step
   memory' is that peak minus the memory allocated at the start of the step (activations, gradients, workspace).
   cudnn.benchmark is on for the fixed input size.
2. Loader: a generated paired HDF5 file (rgb uint8 + depth float32, uncompressed, written with the project's
   PairedWriter) at the step's size, read by crossmodal.data.loaders.make_loader (InputSpec('rgb') +
   InputSpec('logdepth_valid'), train=True augmentation, the step's batch size) with num_workers = every core this
   process may use; whole epochs after a warm-up epoch (workers restart each epoch, as in training) and the rate
   after each epoch's first batch. Compared with each step's images/s: a ratio >= 1 means the loader keeps up.
1b. Head-less ViT teacher: a `timm:vit_base_patch14_dinov2` teacher (head-less, random weights) -> resnet18 student
   with `crd_dense` at the step's size and batch (bf16 autocast on CUDA, channels_last), timed with
   benchmarks/vit_teacher.py's step (teacher forward alone and whole step interleaved, medians): step time, images/s,
   teacher share, peak memory. --tiny: a 2-block, 48-wide ViT of the same patching; --skip-vit leaves it out.
3. Pipeline: `accelerate launch --mixed_precision bf16 run_transfer.py --config configs/smoke.yaml` (output, data and
   teacher cache in a temporary folder) as a subprocess: wall time and the per-method mIoU of its metrics.json.

    python benchmarks/gpu_suite.py [--out gpu_suite.json] [--write docs/benchmarks.md] [--note TEXT]
    python benchmarks/gpu_suite.py --device cpu --tiny [--skip-pipeline]     # the CPU check (tests)

--write replaces (or appends) the "## GPU suite (benchmarks/gpu_suite.py)" section of that markdown file; --out
writes every raw number as JSON. `--device cuda` (the default) stops with an error when no GPU is visible.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))  # data_pipeline, markdown_section (appended: shadow no package)

# torch, the project and benchmarks/data_pipeline.py are imported inside the functions that use them, so that --help
# (and an unusable --device) answer at once
if TYPE_CHECKING:
    import torch


def data_pipeline_bench():
    """benchmarks/data_pipeline.py (its loader benchmark and frame generator), imported on first use (it imports
    torch)."""
    import data_pipeline

    return data_pipeline


def vit_teacher_bench():
    """benchmarks/vit_teacher.py (its step and the ViT row of this suite), imported on first use (it imports torch)."""
    import vit_teacher

    return vit_teacher


SECTION = "## GPU suite (benchmarks/gpu_suite.py)"
LOSSES = ("none", "crd", "crd_dense")
FULL = {"size": "480x640", "batch": 32, "teacher": "torchvision:resnet50",
        "students": ["torchvision:resnet18", "timm:mobilenetv3_large_100"], "repeats": 15, "warmup": 3,
        "loader_samples": 2048, "loader_epochs": 2}
TINY = {"size": "64x96", "batch": 4, "teacher": "torchvision:resnet18",
        "students": ["torchvision:resnet18", "timm:mobilenetv3_large_100"], "repeats": 3, "warmup": 1,
        "loader_samples": 32, "loader_epochs": 1}
MIB = 2 ** 20


# ---------------------------------------------------------------------------------------------- helpers

def usable_cores() -> int:
    """The cores this process may run on (the DataLoader workers' count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def device_label(device: torch.device) -> str:
    """The GPU model, or the CPU model and core count."""
    import torch

    from crossmodal.runtime import cpu_name
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    n = torch.get_num_threads()
    return f"{cpu_name()} ({os.cpu_count()} logical CPUs, {n} torch thread{'' if n == 1 else 's'})"


def software(device: torch.device) -> str:
    """torch (and CUDA / cuDNN when on a GPU) versions."""
    import torch

    text = f"torch {torch.__version__}"
    if device.type == "cuda":
        text += f", CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"
    return text


def resolve_device(name: str) -> torch.device:
    """The torch device asked for; exits with a clear message when CUDA is asked for and there is none."""
    import torch

    if name == "cuda":
        if not torch.cuda.is_available():
            built = torch.version.cuda or "none (CPU-only build)"
            sys.exit(f"error: --device cuda asked for, but no CUDA GPU is visible (torch {torch.__version__}, "
                     f"built with CUDA {built}, torch.cuda.is_available() is False). Run this on a GPU machine, "
                     f"or use `--device cpu --tiny` for the CPU check.")
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def sync(device: torch.device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------------------------- 1. transfer step

def bench_steps(device: torch.device, h: int, w: int, batch: int, teacher_arch: str, students: list[str],
                num_samples: int, repeats: int, warmup: int, amp: bool, log=print) -> list[dict]:
    """Every (student, loss) case: step times, images/s, the loss's added share, peak memory."""
    import torch

    from crossmodal.config import Config
    from crossmodal.distill import DISTILLERS, config_key
    from crossmodal.models import build_backbone, build_teacher

    cfg = Config()
    torch.manual_seed(0)
    cl = torch.channels_last
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if amp else contextlib.nullcontext
    teacher = build_teacher(teacher_arch, in_channels=3, num_classes=40, head_channels=128).eval()
    teacher.to(device=device, memory_format=cl).requires_grad_(False)
    rgb = torch.randn(batch, 3, h, w, device=device).contiguous(memory_format=cl)
    depth = torch.randn(batch, 2, h, w, device=device).contiguous(memory_format=cl)
    index = torch.randint(0, num_samples, (batch,), device=device)
    cuda = device.type == "cuda"
    cases: list[dict] = []

    def bench_student(arch: str) -> list[dict]:
        """The three losses of one student, interleaved; its networks are freed on return."""
        out: list[dict] = []
        torch.manual_seed(0)
        student = build_backbone(arch, 2).to(device=device, memory_format=cl).train()
        distillers = {m: DISTILLERS[m](student.out_channels, teacher.out_channels, num_samples,
                                       getattr(cfg.transfer, config_key(m)), seed=0).to(device)
                      for m in LOSSES if m != "none"}
        t = cfg.transfer
        opts = {m: torch.optim.AdamW([*student.parameters(), *(distillers[m].parameters() if m in distillers else [])],
                                     lr=t.lr, weight_decay=t.weight_decay) for m in LOSSES}
        last_loss: dict[str, torch.Tensor] = {}

        def step(m: str) -> tuple[float, int, int]:
            """One timed step of loss m: (seconds, peak bytes, bytes allocated at its start)."""
            dist = distillers.get(m)
            sync(device)
            start_mem = 0
            if cuda:
                torch.cuda.reset_peak_memory_stats(device)
                start_mem = torch.cuda.memory_allocated(device)
            t0 = time.perf_counter()
            with torch.no_grad(), autocast():
                t_feats, t_logits = teacher.features_and_logits(rgb, bool(dist and dist.needs_teacher_logits))
            with autocast():
                s_feats = student(depth)
            loss = dist(s_feats, t_feats, index, t_logits) if dist else s_feats[-1].float().sum() * 0
            opts[m].zero_grad(set_to_none=True)
            loss.backward()
            opts[m].step()
            sync(device)
            dt = time.perf_counter() - t0
            last_loss[m] = loss.detach()
            peak = torch.cuda.max_memory_allocated(device) if cuda else 0
            return dt, peak, start_mem

        for _ in range(warmup):  # cudnn autotuning, optimiser state, allocator caches
            for m in LOSSES:
                step(m)
        times: dict[str, list[float]] = {m: [] for m in LOSSES}
        peaks: dict[str, list[tuple[int, int]]] = {m: [] for m in LOSSES}
        for _ in range(repeats):
            for m in LOSSES:
                dt, peak, start_mem = step(m)
                times[m].append(dt)
                peaks[m].append((peak, start_mem))
        base = statistics.median(times["none"])
        for m in LOSSES:
            med = statistics.median(times[m])
            added = None if m == "none" else statistics.median(a - b for a, b in zip(times[m], times["none"]))
            case = {"student": arch, "family": arch.split(":")[-1], "loss": m, "step_s_median": med,
                    "step_s_min": min(times[m]), "step_s": times[m], "images_per_s": batch / med,
                    "loss_added_s": added, "loss_added_pct": None if added is None else 100 * added / base,
                    "peak_mem_mib": max(p for p, _ in peaks[m]) / MIB if cuda else None,
                    "step_mem_mib": max(p - s for p, s in peaks[m]) / MIB if cuda else None,
                    "last_loss": float(last_loss[m])}
            out.append(case)
            log(f"  {arch:32s} {m:10s} {1e3 * med:8.1f} ms  {case['images_per_s']:8.1f} images/s"
                + ("" if added is None else f"  loss adds {case['loss_added_pct']:+.1f}%")
                + ("" if not cuda else f"  peak {case['peak_mem_mib']:.0f} MiB"))
        return out

    for arch in students:
        cases += bench_student(arch)
        gc.collect()
        if cuda:
            torch.cuda.empty_cache()
    return cases


# ---------------------------------------------------------------------------------------------- 2. loader

def write_pairs(path: Path, num: int, h: int, w: int, distinct: int = 16) -> Path:
    """A paired rgb + depth file of `num` samples (smooth content, 10 % depth holes), cycling through `distinct`
    generated frames so a large file is written quickly (uncompressed: reading cost does not depend on content)."""
    import numpy as np

    _smooth = data_pipeline_bench()._smooth
    from crossmodal.data import PairedWriter

    rng = np.random.default_rng(0)
    frames = []
    for _ in range(min(distinct, num)):
        d = (0.5 + 9 * _smooth(rng, (h, w), 1)[..., 0]).astype(np.float32)
        frames.append({"rgb": (_smooth(rng, (h, w), 3) * 256).astype(np.uint8),
                       "depth": np.where(rng.random((h, w)) < 0.1, 0, d).astype(np.float32)})
    specs = {"rgb": ((h, w, 3), np.uint8), "depth": ((h, w), np.float32)}
    with PairedWriter(path, num, specs, class_names=None, source="benchmarks/gpu_suite.py", overwrite=True) as wr:
        for i in range(num):
            wr.write(i, frames[i % len(frames)])
    return path


def bench_loader_at(tmp: Path, h: int, w: int, batch: int, samples: int, epochs: int, workers: int) -> dict:
    """make_loader's samples/s and batches/s over a generated file at h x w (benchmarks/data_pipeline.bench_loader)."""
    bench_loader = data_pipeline_bench().bench_loader
    from crossmodal.data import read_info

    t0 = time.perf_counter()
    path = write_pairs(tmp / f"pairs_{h}x{w}.h5", samples, h, w)
    write_s = time.perf_counter() - t0
    rates = bench_loader(path, epochs, workers, batch)
    info = read_info(path)
    out = {"size": f"{h}x{w}", "samples": samples, "batch": batch, "workers": workers, "epochs": epochs,
           "file_mib": path.stat().st_size / MIB, "write_s": write_s, "num_samples_in_file": info.num_samples,
           "images_per_s": rates["whole epochs"], "images_per_s_steady": rates["after the first batch"]}
    out["batches_per_s"] = out["images_per_s"] / batch
    out["batches_per_s_steady"] = out["images_per_s_steady"] / batch
    path.unlink()
    return out


# ---------------------------------------------------------------------------------------------- 3. pipeline

def run_pipeline(tmp: Path, config: str, device: torch.device, amp: bool, timeout: float,
                 overrides: list[str] = ()) -> dict:
    """run_transfer.py under `accelerate launch` into tmp: wall time and the per-method metrics of metrics.json."""
    mixed = "bf16" if amp else "no"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--num_machines", "1",
           "--dynamo_backend", "no", "--mixed_precision", mixed, *(["--cpu"] if device.type == "cpu" else []),
           "run_transfer.py", "--config", config, f"output_dir={tmp / 'runs'}",
           f"data.synthetic.out={tmp / 'data'}", f"teacher.cache_dir={tmp / 'cache'}", *overrides]
    shown = (f"accelerate launch --mixed_precision {mixed}{' --cpu' if device.type == 'cpu' else ''} "
             f"run_transfer.py --config {config} output_dir=TMP/runs data.synthetic.out=TMP/data "
             f"teacher.cache_dir=TMP/cache" + "".join(f" {o}" for o in overrides))
    out: dict = {"config": config, "overrides": list(overrides), "command": shown, "mixed_precision": mixed}
    log_path = tmp / "pipeline.log"
    t0 = time.perf_counter()
    try:
        with open(log_path, "w") as logf:
            proc = subprocess.run(cmd, cwd=ROOT, stdout=logf, stderr=subprocess.STDOUT, timeout=timeout)
        out["returncode"] = proc.returncode
    except subprocess.TimeoutExpired:
        out["returncode"] = None
        out["error"] = f"timed out after {timeout:.0f} s"
    out["wall_s"] = time.perf_counter() - t0
    metrics_files = sorted((tmp / "runs").glob("*/metrics.json"))
    if out["returncode"] == 0 and metrics_files:
        m = json.loads(metrics_files[0].read_text())
        out["run_device"] = m.get("device")
        out["run_wall_time_s"] = m.get("wall_time_s")
        out["methods"] = {k: {key: v.get(key) for key in ("miou", "probe_miou", "pixel_acc", "mean_acc")}
                          for k, v in m["methods"].items()}
    else:
        out.setdefault("error", f"exit code {out['returncode']}" + ("" if metrics_files else ", no metrics.json"))
        out["log_tail"] = log_path.read_text(errors="replace")[-3000:]
    return out


# ---------------------------------------------------------------------------------------------- report

def fmt(v, spec: str, none: str = "-") -> str:
    return none if v is None else format(v, spec)


def section(res: dict, note: str) -> str:
    """The markdown section (also the printed summary)."""
    s = res["settings"]
    cuda = res["device"]["type"] == "cuda"
    amp = "bf16 autocast" if s["amp"] else "no autocast (float32)"
    lines = [SECTION, "",
             "What it measures (details in the script's docstring): the transfer step of a "
             f"{FULL['teacher']} teacher with {' and '.join(FULL['students'])} students at {FULL['size']}, batch "
             f"{FULL['batch']}, without a loss and with `crd` and `crd_dense` (images/s, what the loss adds, peak GPU "
             "memory); a head-less ViT-B/14 teacher -> resnet18 student with `crd_dense` (images/s, teacher share, peak "
             "memory); `make_loader` with every core against that step; and the smoke pipeline end to end under "
             "`accelerate launch --mixed_precision bf16`. bf16 autocast and channels_last models and inputs.", "",
             "On a GPU machine (the checkout installed with `pip install -e \".[dev]\"` and timm; meant to finish in "
             "under 6 minutes on one GPU, the run's own total is in its results; `--tmp-dir` if the system's temporary "
             "folder lacks the 4.4 GB the loader file takes):", "",
             "```bash",
             "python benchmarks/gpu_suite.py --out gpu_suite.json --write docs/benchmarks.md",
             "```", "",
             "`--device cpu --tiny --skip-pipeline` runs the same code at tiny sizes on a CPU "
             "(tests/benchmarks/test_gpu_suite.py).", ""]
    if note:
        lines += [note.strip(), ""]
    lines += [f"### Run: {res['device']['name']}, {res['software']}",
              "",
              f"`{res['command']}`: {s['size']}, batch {s['batch']}, teacher {s['teacher']} (project head, 40 "
              f"classes) on RGB, students on 2-channel depth; {amp}, channels_last; `crd` with {s['num_samples']} "
              f"memory-bank rows, K = {s['crd_num_negatives']}; `crd_dense` with {s['crd_dense_locations']} "
              f"locations per frame; {s['warmup']} warm-up round(s), then {s['repeats']} interleaved repeats "
              f"(medians). Python {res['python']}; total {res['total_s']:.0f} s.", ""]
    if not cuda:
        lines += ["CPU run: these figures only show that the script works end to end; they say nothing about GPU "
                  "speed (no GPU peak memory on a CPU). On a CPU autocast is off unless `--amp bf16` (bf16 "
                  "convolutions on a CPU without native bf16 run several times slower than float32), and `--tiny` "
                  "uses 1 torch thread.", ""]
    lines += ["#### Transfer step", "",
              "| student | loss | step ms (median, min) | images/s | loss adds (vs no loss) | peak memory MiB | "
              "step memory MiB |", "|---|---|---|---|---|---|---|"]
    for c in res["cases"]:
        added = "-" if c["loss_added_pct"] is None else f"{c['loss_added_pct']:+.1f}%"
        lines.append(f"| {c['student']} | {c['loss']} | {1e3 * c['step_s_median']:.1f}, {1e3 * c['step_s_min']:.1f} | "
                     f"{c['images_per_s']:.1f} | {added} | {fmt(c['peak_mem_mib'], '.0f')} | "
                     f"{fmt(c['step_mem_mib'], '.0f')} |")
    if res.get("vit"):
        lines += [""] + vit_teacher_bench().gpu_suite_lines(res["vit"], cuda)
    elif not cuda:
        lines += ["", "Head-less ViT teacher row: skipped (--skip-vit); it has not been run on a GPU yet."]
    ld = res.get("loader")
    if ld:
        lines += ["", "#### Loader against the step", "",
                  f"`make_loader` (rgb + logdepth_valid, train=True augmentation) over a generated {ld['samples']}-"
                  f"sample file at {ld['size']} ({ld['file_mib']:.0f} MiB, uncompressed), batch {ld['batch']}, "
                  f"{ld['workers']} workers (every usable core); {ld['epochs']} whole epoch(s) after a warm-up epoch: "
                  f"**{ld['images_per_s']:.1f} images/s, {ld['batches_per_s']:.2f} batches/s** "
                  f"({ld['images_per_s_steady']:.1f} images/s after each epoch's first batch).", "",
                  "| student | loss | step images/s | loader / step |", "|---|---|---|---|"]
        for c in res["cases"]:
            lines.append(f"| {c['student']} | {c['loss']} | {c['images_per_s']:.1f} | "
                         f"{ld['images_per_s'] / c['images_per_s']:.2f}x |")
        worst = min(res["cases"], key=lambda c: ld["images_per_s"] / c["images_per_s"])
        ratio = ld["images_per_s"] / worst["images_per_s"]
        lines += ["", f"Smallest ratio {ratio:.2f}x (against {worst['student']} with `{worst['loss']}`): the loader "
                      + ("keeps up with every step timed here." if ratio >= 1 else
                         "does NOT keep up with the fastest step: that student would wait for data.")
                      + " Loader and step were timed one after the other; in training the workers share the "
                        "machine with the main process."]
    pl = res.get("pipeline")
    if pl:
        lines += ["", "#### Smoke pipeline", "", f"`{pl['command']}`: "]
        if "methods" in pl:
            lines[-1] += (f"{pl['wall_s']:.1f} s wall time (subprocess start to exit; the run itself reports "
                          f"{fmt(pl.get('run_wall_time_s'), '.1f')} s on {pl.get('run_device')}).")
            lines += ["", "| method | mIoU | frozen probe mIoU | pixel acc |", "|---|---|---|---|"]
            for k, v in pl["methods"].items():
                pct = (lambda x: fmt(None if x is None else 100 * x, ".1f"))
                lines.append(f"| {k} | {pct(v['miou'])} | {pct(v['probe_miou'])} | {pct(v['pixel_acc'])} |")
        else:
            lines[-1] += f"FAILED ({pl.get('error')}) after {pl['wall_s']:.1f} s."
    elif res["settings"]["skip_pipeline"]:
        lines += ["", "Smoke pipeline: skipped (--skip-pipeline)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                epilog="example: python benchmarks/gpu_suite.py --out gpu.json --write "
                                       "docs/benchmarks.md   |   python benchmarks/gpu_suite.py --device cpu --tiny")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                   help="cuda (default; an error if no GPU is visible) or cpu")
    p.add_argument("--tiny", action="store_true",
                   help=f"tiny sizes for a quick check: {TINY['size']}, batch {TINY['batch']}, {TINY['teacher']} "
                        f"teacher, {TINY['repeats']} repeats, a {TINY['loader_samples']}-sample loader file")
    p.add_argument("--amp", choices=("auto", "bf16", "off"), default="auto",
                   help="autocast: bf16, or off (float32); auto = bf16 on CUDA, off on CPU (CPUs without native "
                        "bf16 run bf16 convolutions several times slower than float32)")
    p.add_argument("--threads", type=int, default=0,
                   help="torch threads on the CPU (default: torch's own, but 1 with --device cpu --tiny: tiny "
                        "steps gain nothing from threads, and OpenMP's spin-waiting stalls them on a shared CPU)")
    p.add_argument("--size", default="", help="HxW of the frames (default 480x640; 64x96 with --tiny)")
    p.add_argument("--batch", type=int, default=0, help="batch size (default 32; 4 with --tiny)")
    p.add_argument("--repeats", type=int, default=0, help="interleaved timed repeats per case (default 15; 3 tiny)")
    p.add_argument("--warmup", type=int, default=-1, help="untimed rounds before (default 3; 1 tiny)")
    p.add_argument("--num-samples", type=int, default=4096,
                   help="dataset size the distillers are built for (crd's memory-bank rows; > K = 1024)")
    p.add_argument("--loader-samples", type=int, default=0, help="samples of the loader file (default 2048; 32 tiny)")
    p.add_argument("--loader-epochs", type=int, default=0, help="timed loader epochs (default 2; 1 tiny)")
    p.add_argument("--workers", type=int, default=0, help="loader workers (default: every usable core)")
    p.add_argument("--skip-vit", action="store_true", help="leave out the head-less ViT-B/14 teacher row")
    p.add_argument("--skip-loader", action="store_true", help="leave out the loader measurement")
    p.add_argument("--skip-pipeline", action="store_true", help="leave out the smoke pipeline run")
    p.add_argument("--pipeline-config", default="configs/smoke.yaml",
                   help="config of the pipeline run (a relative path: from the current folder, else the repository)")
    p.add_argument("--pipeline-set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra config override for the pipeline run (repeatable), e.g. transfer.epochs=1")
    p.add_argument("--pipeline-timeout", type=float, default=300.0, help="seconds before the pipeline run is killed")
    p.add_argument("--tmp-dir", default=None, help="where the temporary files go (default: the system's)")
    p.add_argument("--out", default="", help="write every raw number to this JSON file")
    p.add_argument("--write", default="", help="replace (or append) the GPU suite section of this markdown file")
    p.add_argument("--note", default="", help="paragraph added to the written section")
    args = p.parse_args(argv)
    import torch
    from markdown_section import replace_section

    from crossmodal.config import Config
    from crossmodal.runtime import cpu_name

    device = resolve_device(args.device)
    preset = TINY if args.tiny else FULL
    size = args.size or preset["size"]
    h, w = (int(v) for v in size.lower().split("x"))
    batch = args.batch or preset["batch"]
    repeats = args.repeats or preset["repeats"]
    warmup = preset["warmup"] if args.warmup < 0 else args.warmup
    amp = args.amp == "bf16" or (args.amp == "auto" and device.type == "cuda")
    threads = args.threads or (1 if device.type == "cpu" and args.tiny else 0)
    if threads:
        torch.set_num_threads(threads)
    workers = args.workers or usable_cores()
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    cfg = Config()
    if cfg.transfer.crd.num_negatives >= args.num_samples:
        p.error(f"--num-samples {args.num_samples} must exceed transfer.crd.num_negatives "
                f"({cfg.transfer.crd.num_negatives})")
    shown = [a for a in (argv if argv is not None else sys.argv[1:])]
    for flag in ("--out", "--write", "--note", "--tmp-dir"):  # paths and prose are not part of the setting
        while flag in shown:
            i = shown.index(flag)
            del shown[i:i + 2]
    res: dict = {
        "command": " ".join(["python benchmarks/gpu_suite.py", *shown]),
        "device": {"type": device.type, "name": device_label(device), "cpu": cpu_name(),
                   "logical_cpus": os.cpu_count(), "usable_cores": usable_cores()},
        "software": software(device), "torch": torch.__version__, "python": platform.python_version(),
        "settings": {"size": f"{h}x{w}", "batch": batch, "teacher": preset["teacher"], "students": preset["students"],
                     "repeats": repeats, "warmup": warmup, "amp": amp, "amp_dtype": "bfloat16" if amp else None,
                     "channels_last": True, "torch_threads": torch.get_num_threads(),
                     "cudnn_benchmark": device.type == "cuda",
                     "num_samples": args.num_samples, "crd_num_negatives": cfg.transfer.crd.num_negatives,
                     "crd_dense_locations": cfg.transfer.crd_dense.num_locations, "tiny": args.tiny,
                     "skip_pipeline": args.skip_pipeline},
    }
    t_start = time.perf_counter()
    print(f"GPU suite on {res['device']['name']} ({res['software']}): {h}x{w}, batch {batch}, "
          f"{'bf16 autocast' if amp else 'no autocast (float32)'}, channels_last", flush=True)
    print(f"1. transfer step ({preset['teacher']} teacher, {repeats} repeats)", flush=True)
    res["cases"] = bench_steps(device, h, w, batch, preset["teacher"], preset["students"], args.num_samples,
                               repeats, warmup, amp, log=lambda m: print(m, flush=True))
    if not args.skip_vit:
        print("1b. head-less ViT teacher", flush=True)
        res["vit"] = vit_teacher_bench().gpu_suite_row(device, (h, w), batch, repeats, warmup, amp, args.tiny,
                                                       log=lambda m: print(m, flush=True))
    if device.type == "cuda":
        torch.cuda.empty_cache()  # the networks are gone; leave the GPU to the pipeline's own process
    with tempfile.TemporaryDirectory(prefix="gpu_suite_", dir=args.tmp_dir) as tmpdir:
        tmp = Path(tmpdir)
        if not args.skip_loader:
            samples = args.loader_samples or preset["loader_samples"]
            epochs = args.loader_epochs or preset["loader_epochs"]
            print(f"2. loader ({samples} samples at {h}x{w}, {workers} workers)", flush=True)
            res["loader"] = bench_loader_at(tmp, h, w, batch, samples, epochs, workers)
            print(f"  {res['loader']['images_per_s']:.1f} images/s, {res['loader']['batches_per_s']:.2f} batches/s",
                  flush=True)
        if not args.skip_pipeline:
            print(f"3. pipeline ({args.pipeline_config})", flush=True)
            (tmp / "pipe").mkdir()
            config = args.pipeline_config  # relative to the current folder if there, else to the repository
            if Path(config).exists():
                found = Path(config).resolve()
                config = str(found.relative_to(ROOT) if found.is_relative_to(ROOT) else found)
            res["pipeline"] = run_pipeline(tmp / "pipe", config, device, amp, args.pipeline_timeout,
                                           args.pipeline_set)
            print(f"  {res['pipeline']['wall_s']:.1f} s, "
                  + (str({k: round(v['miou'], 4) for k, v in res['pipeline']['methods'].items()})
                     if "methods" in res["pipeline"] else f"FAILED: {res['pipeline'].get('error')}"), flush=True)
    res["total_s"] = time.perf_counter() - t_start
    text = section(res, args.note)
    print("\n" + text)
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n")
    if args.write:
        replace_section(Path(args.write), text, SECTION)
    pl = res.get("pipeline")
    if pl and "methods" not in pl:
        print(f"pipeline failed; last lines of its log:\n{pl.get('log_tail', '')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
