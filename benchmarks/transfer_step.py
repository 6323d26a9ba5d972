"""How much the distillation loss adds to a transfer step in the default config (CPU, side by side).

A step = teacher forward (no grad) + student forward + backward + optimiser step. Each distiller's step is timed
against the same step with a zero loss on the student features, interleaved, median of repeats.
    python benchmarks/transfer_step.py [--config configs/default.yaml] [--repeats 15] [--write docs/benchmarks.md]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from crossmodal.runtime import cpu_name
from crossmodal.config import load_config
from crossmodal.distill import DISTILLERS
from crossmodal.models import Segmenter, build_backbone

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    p.add_argument("--repeats", type=int, default=40)
    p.add_argument("--num-samples", type=int, default=1500, help="unlabeled pairs (memory bank rows for crd)")
    p.add_argument("--write", default="", help="append the table to this markdown file")
    args = p.parse_args()
    cfg = load_config(args.config)
    torch.set_num_threads(2)
    torch.manual_seed(0)
    h, w = (int(v) for v in cfg.data.synthetic.size.split("x"))
    b = cfg.transfer.batch_size
    teacher = Segmenter(build_backbone(cfg.teacher.net.arch, 3), 12).eval()
    student = build_backbone(cfg.student.arch, 2)
    rgb, depth = torch.randn(b, 3, h, w), torch.randn(b, 2, h, w)
    index = torch.randint(0, args.num_samples, (b,))
    distillers = {m: DISTILLERS[m](student.out_channels, teacher.backbone.out_channels, args.num_samples,
                                   getattr(cfg.transfer, m)) for m in ("crd", "crd_dense")}
    params = [*student.parameters(), *(q for d in distillers.values() for q in d.parameters())]
    opt = torch.optim.AdamW(params, lr=1e-4)

    def step(method: str | None) -> float:
        t0 = time.perf_counter()
        with torch.no_grad():
            t_feats = teacher.backbone(rgb)
        s_feats = student(depth)
        loss = distillers[method](s_feats, t_feats, index) if method else s_feats[-1].mean() * 0
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    names = [None, "crd", "crd_dense"]
    times: dict = {n: [] for n in names}
    for _ in range(3):
        for n in names:
            step(n)
    for _ in range(args.repeats):
        for n in names:
            times[n].append(step(n))
    base = statistics.median(times[None])
    # paired differences (each repeat runs the three steps back to back) are less noisy than differences of medians
    added = {n: statistics.median(a - b for a, b in zip(times[n], times[None])) for n in names[1:]}
    lines = [f"## Transfer step overhead ({cpu_name()}, 2 threads, torch {torch.__version__})", "",
             f"Config {Path(args.config).name}: batch {b}, {h}x{w}, student {cfg.student.arch}, teacher "
             f"{cfg.teacher.net.arch}, {args.num_samples} bank rows; median of {args.repeats} interleaved steps; "
             f"'added' is the median of the per-repeat differences to the step without the loss.", "",
             "| step | median s | added by the loss |", "|---|---|---|",
             f"| teacher fwd + student fwd/bwd + AdamW (no loss) | {base:.4f} | - |"]
    for n in names[1:]:
        what = "loss and memory-bank update" if n == "crd" else "loss"
        lines.append(f"| + `{n}` {what} | {statistics.median(times[n]):.4f} | "
                     f"{100 * added[n] / base:+.1f}% |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        with open(args.write, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
