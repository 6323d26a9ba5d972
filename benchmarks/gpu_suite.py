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
1c. Cached teacher: transfer epochs with that head-less ViT-B/14 teacher -> resnet18 student (`crd_dense`) live and
   with teacher.cache_views 1 (float16), through run_transfer on a generated paired file at the step's size and batch
   (benchmarks/teacher_cache.py's gpu_suite_row: live and cached epochs interleaved, medians, ratio per repeat; build
   time, bytes per frame and view, peak memory per epoch); --skip-teacher-cache leaves it out.
1d. Deployed precisions: the default student's fp32/fp16/int8 ONNX files on onnxruntime's CUDA and TensorRT
   providers where it has them (onnxruntime-gpu), benchmarks/deploy_precision.py's gpu_suite_row; --skip-deploy.
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
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))  # data_pipeline, markdown_section (appended: shadow no package)

from gpu_suite_report import FULL, SECTION, section  # noqa: E402
from smoke_pipeline import run_pipeline  # noqa: E402

# torch, the project and benchmarks/data_pipeline.py are imported inside the functions that use them, so that --help
# (and an unusable --device) answer at once
if TYPE_CHECKING:
    import torch


def data_pipeline_bench():
    """benchmarks/data_pipeline.py, its loader benchmark and frame generator, imported on first use.

    It imports torch.
    """
    import data_pipeline

    return data_pipeline


def vit_teacher_bench():
    """benchmarks/vit_teacher.py (its step and the ViT row of this suite), imported on first use (it imports torch)."""
    import vit_teacher

    return vit_teacher


def teacher_cache_bench():
    """benchmarks/teacher_cache.py (the cached-teacher row), imported on first use (it imports torch)."""
    import teacher_cache

    return teacher_cache


def deploy_bench():
    """benchmarks/deploy_precision.py (the deployed-precision rows), imported on first use (onnxruntime, torch)."""
    import deploy_precision

    return deploy_precision


LOSSES = ("none", "crd", "crd_dense")
TINY = {"size": "64x96", "batch": 4, "teacher": "torchvision:resnet18",
        "students": ["torchvision:resnet18", "timm:mobilenetv3_large_100"], "repeats": 3, "warmup": 1,
        "loader_samples": 32, "loader_epochs": 1, "cache_frames": 16, "cache_repeats": 2}
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

class StepSetup:
    """What every case of the transfer step shares: the frozen teacher, one batch of inputs, autocast."""

    def __init__(self, device: torch.device, teacher: torch.nn.Module, rgb: torch.Tensor, depth: torch.Tensor,
                 index: torch.Tensor, num_samples: int,
                 autocast: Callable[[], contextlib.AbstractContextManager]) -> None:
        self.device, self.teacher, self.rgb, self.depth, self.index = device, teacher, rgb, depth, index
        self.num_samples, self.autocast = num_samples, autocast

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


def step_setup(device: torch.device, h: int, w: int, batch: int, teacher_arch: str, num_samples: int,
               amp: bool) -> StepSetup:
    """The teacher (project head, 40 classes) and a random batch at h x w, channels_last on `device`."""
    import torch

    from crossmodal.models import build_teacher

    torch.manual_seed(0)
    cl = torch.channels_last
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if amp else contextlib.nullcontext
    teacher = build_teacher(teacher_arch, in_channels=3, num_classes=40, head_channels=128).eval()
    teacher.to(device=device, memory_format=cl).requires_grad_(False)
    rgb = torch.randn(batch, 3, h, w, device=device).contiguous(memory_format=cl)
    depth = torch.randn(batch, 2, h, w, device=device).contiguous(memory_format=cl)
    index = torch.randint(0, num_samples, (batch,), device=device)
    return StepSetup(device, teacher, rgb, depth, index, num_samples, autocast)


def _student_parts(setup: StepSetup, arch: str) -> tuple[torch.nn.Module, dict, dict]:
    """A student on 2-channel depth, the distiller of each loss, and one AdamW per loss."""
    import torch

    from crossmodal.config import Config
    from crossmodal.distill import DISTILLERS, config_key
    from crossmodal.models import build_backbone

    t = Config().transfer
    torch.manual_seed(0)
    student = build_backbone(arch, 2).to(device=setup.device, memory_format=torch.channels_last).train()
    distillers = {m: DISTILLERS[m](student.out_channels, setup.teacher.out_channels, setup.num_samples,
                                   getattr(t, config_key(m)), seed=0).to(setup.device)
                  for m in LOSSES if m != "none"}
    opts = {m: torch.optim.AdamW([*student.parameters(), *(distillers[m].parameters() if m in distillers else [])],
                                 lr=t.lr, weight_decay=t.weight_decay) for m in LOSSES}
    return student, distillers, opts


def timed_step(setup: StepSetup, student: torch.nn.Module, dist, opt) -> tuple[float, int, int, torch.Tensor]:
    """One timed step: (seconds, peak bytes, bytes allocated at its start, the loss)."""
    import torch

    device = setup.device
    sync(device)
    start_mem = 0
    if setup.cuda:
        torch.cuda.reset_peak_memory_stats(device)
        start_mem = torch.cuda.memory_allocated(device)
    t0 = time.perf_counter()
    with torch.no_grad(), setup.autocast():
        t_feats, t_logits = setup.teacher.features_and_logits(setup.rgb, bool(dist and dist.needs_teacher_logits))
    with setup.autocast():
        s_feats = student(setup.depth)
    loss = dist(s_feats, t_feats, setup.index, t_logits) if dist else s_feats[-1].float().sum() * 0
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sync(device)
    dt = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated(device) if setup.cuda else 0
    return dt, peak, start_mem, loss.detach()


def _case(arch: str, m: str, batch: int, times: dict[str, list[float]], peaks: list[tuple[int, int]],
          cuda: bool, last_loss: torch.Tensor) -> dict:
    """One (student, loss) row: median and min step, images/s, what the loss adds against `none`, memory."""
    med = statistics.median(times[m])
    base = statistics.median(times["none"])
    added = None if m == "none" else statistics.median(a - b for a, b in zip(times[m], times["none"]))
    return {"student": arch, "family": arch.split(":")[-1], "loss": m, "step_s_median": med,
            "step_s_min": min(times[m]), "step_s": times[m], "images_per_s": batch / med,
            "loss_added_s": added, "loss_added_pct": None if added is None else 100 * added / base,
            "peak_mem_mib": max(p for p, _ in peaks) / MIB if cuda else None,
            "step_mem_mib": max(p - s for p, s in peaks) / MIB if cuda else None,
            "last_loss": float(last_loss)}


def bench_student(setup: StepSetup, arch: str, batch: int, repeats: int, warmup: int, log=print) -> list[dict]:
    """The three losses of one student, interleaved; its networks are freed on return."""
    student, distillers, opts = _student_parts(setup, arch)
    last_loss: dict[str, torch.Tensor] = {}
    for _ in range(warmup):  # cudnn autotuning, optimiser state, allocator caches
        for m in LOSSES:
            last_loss[m] = timed_step(setup, student, distillers.get(m), opts[m])[3]
    times: dict[str, list[float]] = {m: [] for m in LOSSES}
    peaks: dict[str, list[tuple[int, int]]] = {m: [] for m in LOSSES}
    for _ in range(repeats):
        for m in LOSSES:
            dt, peak, start_mem, last_loss[m] = timed_step(setup, student, distillers.get(m), opts[m])
            times[m].append(dt)
            peaks[m].append((peak, start_mem))
    out = []
    for m in LOSSES:
        case = _case(arch, m, batch, times, peaks[m], setup.cuda, last_loss[m])
        out.append(case)
        log(f"  {arch:32s} {m:10s} {1e3 * case['step_s_median']:8.1f} ms  {case['images_per_s']:8.1f} images/s"
            + ("" if case["loss_added_s"] is None else f"  loss adds {case['loss_added_pct']:+.1f}%")
            + ("" if not setup.cuda else f"  peak {case['peak_mem_mib']:.0f} MiB"))
    return out


def bench_steps(device: torch.device, h: int, w: int, batch: int, teacher_arch: str, students: list[str],
                num_samples: int, repeats: int, warmup: int, amp: bool, log=print) -> list[dict]:
    """Every (student, loss) case: step times, images/s, the loss's added share, peak memory."""
    import torch

    setup = step_setup(device, h, w, batch, teacher_arch, num_samples, amp)
    cases: list[dict] = []
    for arch in students:
        cases += bench_student(setup, arch, batch, repeats, warmup, log)
        gc.collect()
        if setup.cuda:
            torch.cuda.empty_cache()
    return cases


# ---------------------------------------------------------------------------------------------- 2. loader

def write_pairs(path: Path, num: int, h: int, w: int, distinct: int = 16) -> Path:
    """A paired rgb + depth file of `num` samples, written quickly.

    Smooth content with 10 % depth holes, cycling through `distinct` generated frames. Uncompressed, so the reading cost
    does not depend on the content.
    """
    import numpy as np
    from smooth_field import smooth

    from crossmodal.data import PairedWriter

    rng = np.random.default_rng(0)
    frames = []
    for _ in range(min(distinct, num)):
        d = (0.5 + 9 * smooth(rng, (h, w), 1)[..., 0]).astype(np.float32)
        frames.append({"rgb": (smooth(rng, (h, w), 3) * 256).astype(np.uint8),
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


_INT_OPTIONS = (
    ("--batch", 0, "batch size (default 32; 4 with --tiny)"),
    ("--repeats", 0, "interleaved timed repeats per case (default 15; 3 tiny)"),
    ("--warmup", -1, "untimed rounds before (default 3; 1 tiny)"),
    ("--num-samples", 4096, "dataset size the distillers are built for (crd's memory-bank rows; > K = 1024)"),
    ("--loader-samples", 0, "samples of the loader file (default 2048; 32 tiny)"),
    ("--loader-epochs", 0, "timed loader epochs (default 2; 1 tiny)"),
    ("--workers", 0, "loader workers (default: every usable core)"),
)
_SKIPS = (("--skip-vit", "leave out the head-less ViT-B/14 teacher row"),
          ("--skip-teacher-cache", "leave out the cached-teacher row (live vs cached transfer epochs)"),
          ("--skip-deploy", "leave out the deployed-precision rows (onnxruntime's GPU providers)"),
          ("--skip-loader", "leave out the loader measurement"),
          ("--skip-pipeline", "leave out the smoke pipeline run"))


def _parser() -> argparse.ArgumentParser:
    """The suite's options."""
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
    for flag, default, text in _INT_OPTIONS:
        p.add_argument(flag, type=int, default=default, help=text)
    for flag, text in _SKIPS:
        p.add_argument(flag, action="store_true", help=text)
    p.add_argument("--pipeline-config", default="configs/smoke.yaml",
                   help="config of the pipeline run (a relative path: from the current folder, else the repository)")
    p.add_argument("--pipeline-set", action="append", default=[], metavar="KEY=VALUE",
                   help="extra config override for the pipeline run (repeatable), e.g. transfer.epochs=1")
    p.add_argument("--pipeline-timeout", type=float, default=300.0, help="seconds before the pipeline run is killed")
    p.add_argument("--tmp-dir", default=None, help="where the temporary files go (default: the system's)")
    p.add_argument("--out", default="", help="write every raw number to this JSON file")
    p.add_argument("--write", default="", help="replace (or append) the GPU suite section of this markdown file")
    p.add_argument("--note", default="", help="paragraph added to the written section")
    return p


def _settings(args: argparse.Namespace, p: argparse.ArgumentParser, device: torch.device) -> dict:
    """The run's settings: the preset's sizes unless given, autocast, threads; torch's threads set on the way."""
    import torch

    from crossmodal.config import Config

    preset = TINY if args.tiny else FULL
    h, w = (int(v) for v in (args.size or preset["size"]).lower().split("x"))
    amp = args.amp == "bf16" or (args.amp == "auto" and device.type == "cuda")
    threads = args.threads or (1 if device.type == "cpu" and args.tiny else 0)
    if threads:
        torch.set_num_threads(threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    cfg = Config()
    if cfg.transfer.crd.num_negatives >= args.num_samples:
        p.error(f"--num-samples {args.num_samples} must exceed transfer.crd.num_negatives "
                f"({cfg.transfer.crd.num_negatives})")
    return {"size": f"{h}x{w}", "batch": args.batch or preset["batch"], "teacher": preset["teacher"],
            "students": preset["students"], "repeats": args.repeats or preset["repeats"],
            "warmup": preset["warmup"] if args.warmup < 0 else args.warmup, "amp": amp,
            "amp_dtype": "bfloat16" if amp else None, "channels_last": True,
            "torch_threads": torch.get_num_threads(), "cudnn_benchmark": device.type == "cuda",
            "num_samples": args.num_samples, "crd_num_negatives": cfg.transfer.crd.num_negatives,
            "crd_dense_locations": cfg.transfer.crd_dense.num_locations, "tiny": args.tiny,
            "skip_pipeline": args.skip_pipeline}


def _loader_and_pipeline(args: argparse.Namespace, res: dict, device: torch.device, h: int, w: int) -> None:
    """Parts 2 and 3, unless skipped, in a temporary folder; their results go into `res`."""
    preset = TINY if args.tiny else FULL
    s = res["settings"]
    with tempfile.TemporaryDirectory(prefix="gpu_suite_", dir=args.tmp_dir) as tmpdir:
        tmp = Path(tmpdir)
        if not args.skip_loader:
            samples = args.loader_samples or preset["loader_samples"]
            epochs = args.loader_epochs or preset["loader_epochs"]
            workers = args.workers or usable_cores()
            print(f"2. loader ({samples} samples at {h}x{w}, {workers} workers)", flush=True)
            res["loader"] = bench_loader_at(tmp, h, w, s["batch"], samples, epochs, workers)
            print(f"  {res['loader']['images_per_s']:.1f} images/s, {res['loader']['batches_per_s']:.2f} batches/s",
                  flush=True)
        if not args.skip_pipeline:
            print(f"3. pipeline ({args.pipeline_config})", flush=True)
            (tmp / "pipe").mkdir()
            config = args.pipeline_config  # relative to the current folder if there, else to the repository
            if Path(config).exists():
                found = Path(config).resolve()
                config = str(found.relative_to(ROOT) if found.is_relative_to(ROOT) else found)
            res["pipeline"] = run_pipeline(tmp / "pipe", config, device, s["amp"], args.pipeline_timeout,
                                           args.pipeline_set)
            print(f"  {res['pipeline']['wall_s']:.1f} s, "
                  + (str({k: round(v['miou'], 4) for k, v in res['pipeline']['methods'].items()})
                     if "methods" in res["pipeline"] else f"FAILED: {res['pipeline'].get('error')}"), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run the suite's parts, print the section, and write it and the raw numbers where asked."""
    p = _parser()
    args = p.parse_args(argv)
    import torch
    from markdown_section import shown_command, write_results

    from crossmodal.runtime import cpu_name

    device = resolve_device(args.device)
    settings = _settings(args, p, device)
    h, w = (int(v) for v in settings["size"].split("x"))
    batch, repeats, warmup, amp = settings["batch"], settings["repeats"], settings["warmup"], settings["amp"]
    res: dict = {
        "command": shown_command("python benchmarks/gpu_suite.py", argv if argv is not None else sys.argv[1:],
                                 ("--out", "--write", "--note", "--tmp-dir")),
        "device": {"type": device.type, "name": device_label(device), "cpu": cpu_name(),
                   "logical_cpus": os.cpu_count(), "usable_cores": usable_cores()},
        "software": software(device), "torch": torch.__version__, "python": platform.python_version(),
        "settings": settings,
    }
    t_start = time.perf_counter()
    print(f"GPU suite on {res['device']['name']} ({res['software']}): {h}x{w}, batch {batch}, "
          f"{'bf16 autocast' if amp else 'no autocast (float32)'}, channels_last", flush=True)
    print(f"1. transfer step ({settings['teacher']} teacher, {repeats} repeats)", flush=True)
    res["cases"] = bench_steps(device, h, w, batch, settings["teacher"], settings["students"], args.num_samples,
                               repeats, warmup, amp, log=lambda m: print(m, flush=True))
    if not args.skip_vit:
        print("1b. head-less ViT teacher", flush=True)
        res["vit"] = vit_teacher_bench().gpu_suite_row(device, (h, w), batch, repeats, warmup, amp, args.tiny,
                                                       log=lambda m: print(m, flush=True))
    if not args.skip_teacher_cache:
        preset = TINY if args.tiny else FULL
        print(f"1c. cached teacher ({preset['cache_frames']} frames)", flush=True)
        with tempfile.TemporaryDirectory(prefix="gpu_suite_cache_", dir=args.tmp_dir) as tmp:
            res["teacher_cache"] = teacher_cache_bench().gpu_suite_row(
                device, (h, w), batch, preset["cache_repeats"], 1, amp, args.tiny, preset["cache_frames"],
                args.workers or usable_cores(), Path(tmp), log=lambda m: print(m, flush=True))
    if not args.skip_deploy:
        print("1d. deployed precisions (onnxruntime GPU providers)", flush=True)
        with tempfile.TemporaryDirectory(prefix="gpu_suite_deploy_", dir=args.tmp_dir) as tmp:
            res["deploy"] = deploy_bench().gpu_suite_row(Path(tmp), (h, w), batch, repeats, warmup,
                                                         log=lambda m: print(m, flush=True))
    if device.type == "cuda":
        torch.cuda.empty_cache()  # the networks are gone; leave the GPU to the pipeline's own process
    _loader_and_pipeline(args, res, device, h, w)
    res["total_s"] = time.perf_counter() - t_start
    text = section(res, args.note, vit_teacher_bench().gpu_suite_lines, deploy_bench().gpu_suite_lines)
    print("\n" + text)
    write_results(res, text, args.out, args.write, SECTION)
    pl = res.get("pipeline")
    if pl and "methods" not in pl:
        print(f"pipeline failed; last lines of its log:\n{pl.get('log_tail', '')}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
