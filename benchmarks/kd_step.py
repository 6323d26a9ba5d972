"""What `transfer.kd.stride` and `transfer.kd.hidden` save in a transfer step of `kd` and `crd_dense+kd` (CPU).

A step = teacher forward (features and logits, no grad) + student forward + distiller loss + backward + AdamW, with
the networks of a config (default: configs/study_synthetic.yaml: resnet_narrow teacher and student, batch 32 at the
data's frame size, the data's class count). Each setting (stride, hidden) of the KD head is timed in interleaved
repeats against the others, median of each; the ratios to the full-frame, 64-wide head (the kd defaults) are what
the numbers are for (these machines are noisy, so only ratios measured side by side in one run are reported).

    python benchmarks/kd_step.py [--config configs/study_synthetic.yaml] [--repeats 15] [--threads 2]
        [--write docs/benchmarks.md]

--write replaces the "## KD step (benchmarks/kd_step.py)" section of that markdown file (or appends one).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time
from pathlib import Path

import torch
from markdown_section import replace_section  # this folder's shared section writer

from crossmodal.config import load_config
from crossmodal.config.distillers import fill_num_classes
from crossmodal.distill import DISTILLERS, config_key
from crossmodal.models import Segmenter, build_backbone
from crossmodal.runtime import cpu_name

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## KD step (benchmarks/kd_step.py)"
SETTINGS = [(1, 64), (4, 64), (1, 32), (4, 32)]  # (kd.stride, kd.hidden); the first is the kd default
METHODS = ("kd", "crd_dense+kd")
NUM_CLASSES = 18  # the rare-object data of the study (configs/study_synthetic.yaml)
TARGET_CHANNELS = 2  # logdepth_valid: log-depth and the valid mask


def kd_section(opts, method: str):
    """The KD options a method reads: transfer.kd, or the kd part of a combined distiller."""
    return opts if method == "kd" else opts.kd


def make_step(cfg, method: str, stride: int, hidden: int, batch: int, size: tuple[int, int], num_pairs: int):
    """One training step of `method` with a (stride, hidden) KD head, on fixed random inputs."""
    torch.manual_seed(0)
    teacher = Segmenter(build_backbone(cfg.teacher.net.arch, 3), NUM_CLASSES, cfg.teacher.net.head_channels).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = build_backbone(cfg.student.arch, TARGET_CHANNELS)
    opts = dataclasses.replace(getattr(cfg.transfer, config_key(method)))
    if method != "kd":
        opts.kd = dataclasses.replace(opts.kd)
    kd = kd_section(opts, method)
    kd.stride, kd.hidden, kd.num_classes = stride, hidden, 0
    fill_num_classes(opts, NUM_CLASSES)
    distiller = DISTILLERS[method](student.out_channels, teacher.out_channels, num_pairs, opts, seed=0)
    optimizer = torch.optim.AdamW([*student.parameters(), *distiller.parameters()], lr=1e-3)
    source, target = torch.randn(batch, 3, *size), torch.randn(batch, TARGET_CHANNELS, *size)
    index = torch.arange(batch)

    def step() -> float:
        t0 = time.perf_counter()
        with torch.no_grad():
            feats, logits = teacher.features_and_logits(source, True)
        loss = distiller(student(target), feats, index, logits)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - t0
    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "study_synthetic.yaml"))
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--write", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.config)
    size = tuple(int(v) for v in cfg.data.synthetic.size.split("x"))
    batch, num_pairs = cfg.transfer.batch_size, cfg.data.synthetic.num
    steps = {(m, s, h): make_step(cfg, m, s, h, batch, size, num_pairs) for m in METHODS for s, h in SETTINGS}
    for step in steps.values():  # warm-up: allocator, oneDNN primitives
        step(), step()
    times: dict = {k: [] for k in steps}
    load = os.getloadavg()[0]
    for _ in range(args.repeats):
        for key, step in steps.items():
            times[key].append(step())
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    device = f"{cpu_name()}, {args.threads} threads, torch {torch.__version__}"
    rows = ["| method | kd.stride | kd.hidden | step (ms, median) | vs stride 1, hidden 64 |", "|---|---|---|---|---|"]
    for m in METHODS:
        base = med[(m, *SETTINGS[0])]
        for s, h in SETTINGS:
            rows.append(f"| `{m}` | {s} | {h} | {med[(m, s, h)]:.0f} | {base / med[(m, s, h)]:.2f}x |")
    text = "\n".join([
        f"{SECTION}", "",
        f"`python benchmarks/kd_step.py --repeats {args.repeats} --threads {args.threads}` on {device}. Config "
        f"{Path(args.config).name}: batch {batch} at {size[0]}x{size[1]}, teacher {cfg.teacher.net.arch} and "
        f"student {cfg.student.arch}, {NUM_CLASSES} classes. A step = teacher forward with logits (no grad) + "
        f"student forward + loss + backward + AdamW; the settings are timed interleaved, {args.repeats} repeats, "
        f"after 2 warm-up steps each. 1-minute load average {load:.1f} before, {os.getloadavg()[0]:.1f} after.", "",
        *rows, ""])
    print(text)
    if args.write:
        replace_section(args.write, text, SECTION)


if __name__ == "__main__":
    main()
