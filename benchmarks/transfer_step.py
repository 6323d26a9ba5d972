"""How much the distillation loss adds to a transfer step in the default config (CPU): profiler attribution.

A step = teacher forward (no grad) + student forward + distiller loss + backward + AdamW step, built from the
config's models and `transfer.crd` / `transfer.crd_dense` sections, as run_transfer.py trains them.

1. Profiler attribution (the measurement the 5% target is judged on). N steps of each method are run interleaved
   under torch.profiler (CPU activity). The loss's share of a step is read from that step's own events:
   - forward: the `distill_loss` record_function range around the distiller call (every op in it, the Python glue
     between them and, for `crd`, the memory-bank and Z updates that CRDLoss does inside forward);
   - backward: the autograd nodes the loss created: `autograd::engine::evaluate_function: ...` events whose
     sequence_nr equals that of a forward op recorded inside the range, plus the AccumulateGrad of the distiller's
     own parameters (the engine runs a leaf's AccumulateGrad immediately after the node that produced its gradient:
     an AccumulateGrad event counts for the loss when the backward node just before it does; the count is checked
     against the number of distiller parameters);
   - optimiser: AdamW on the distiller's parameters, run as a second AdamW instance (same hyper-parameters) inside a
     `distill_opt` range; on CPU AdamW updates parameter by parameter, so this is the same work as one optimiser
     over student + distiller, plus one extra step() call's Python overhead (counted against the loss).
   Only top-level events of each set are summed (nested ops are inside their parents' times). Step time = the
   `step` range around the whole step. Times are the profiler's CPU times: wall time on the main thread (intra-op
   threads work inside the ops that launch them). Not attributed: zero_grad (set_to_none, microseconds). The
   profiler's own per-op overhead is inside the times and weighs more on the loss's many small ops than on the
   convolutions, so the share is, if anything, high.
   Sanity check: a fake loss that is one (n x n) @ (n x n) matmul with a trainable right factor (backward: one
   matmul of the same size) is profiled in the same loop; its attributed time is compared with the same
   forward + backward and AdamW step timed in isolation without the profiler.
2. Wall clock (kept for reference, noisy on a shared CPU): each distiller's unprofiled step against the same step
   with a zero loss on the student features, interleaved; median of the per-repeat differences.
Both parts run for each thread count of --threads (default 2, the 2-core CPU the default config targets). On a CPU
shared with another busy process, OpenMP's spin-waiting makes multi-threaded steps stall (every parallel region
waits for a descheduled thread), which inflates small parallel ops far more than convolutions; a 1-thread run is
not exposed to that, and its shares are a lower bound for more threads as long as the convolutions gain more from
threads than the loss's small ops do.

    python benchmarks/transfer_step.py [--config configs/default.yaml] [--repeats 40] [--profile-steps 10]
        [--threads 2[,1]] [--write docs/benchmarks.md] [--note "free text for the section"]

--write replaces the "## Transfer step overhead" section of that markdown file (or appends one).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from collections import Counter
from pathlib import Path

import torch
from markdown_section import replace_section  # this folder's shared section writer
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function

from crossmodal.config import load_config
from crossmodal.distill import DISTILLERS
from crossmodal.models import Segmenter, build_backbone
from crossmodal.runtime import cpu_name

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Transfer step overhead"
EVAL = "autograd::engine::evaluate_function: "
ACCUMULATE = EVAL + "torch::autograd::AccumulateGrad"
TARGET = 5.0  # percent of a step
METHODS = ("crd", "crd_dense")
PROBE = "matmul probe"


class MatmulProbe(nn.Module):
    """Sanity-check 'loss' of known cost: sum(A @ W).

    A is constant and W trainable, both (n, n); forward is one matmul, backward one more (dW = A^T @ 1). A zero-weighted
    term keeps the student's backward in the graph.
    """

    def __init__(self, n: int) -> None:
        super().__init__()
        self.register_buffer("a", torch.randn(n, n) / n)
        self.w = nn.Parameter(torch.randn(n, n) / n)

    def forward(self, student_feats, teacher_feats, index):
        return (self.a @ self.w).sum() + student_feats[-1].mean() * 0


def descendants(evt):
    stack = list(evt.cpu_children)
    while stack:
        e = stack.pop()
        yield e
        stack.extend(e.cpu_children)


def has_ancestor(evt, stop, pred) -> bool:
    p = evt.cpu_parent
    while p is not None and p is not stop:
        if pred(p):
            return True
        p = p.cpu_parent
    return False


def attribute(step_evt, num_params: int) -> dict:
    """Times (us) of one profiled step: total, and the loss's forward, backward and optimiser parts."""
    desc = list(descendants(step_evt))
    ranges = {n: [e for e in desc if e.name == n] for n in ("distill_loss", "distill_opt")}
    if any(len(v) != 1 for v in ranges.values()):
        raise RuntimeError(f"expected one distill_loss and one distill_opt range per step, got "
                           f"{ {k: len(v) for k, v in ranges.items()} }")
    loss_range, opt_range = ranges["distill_loss"][0], ranges["distill_opt"][0]
    def is_node(e) -> bool:
        return e.name.startswith(EVAL)

    # forward ops record the sequence number of the autograd node they create; ops in grad mode that create none
    # record the number the next node will get, so numbers also seen on forward ops after the range are dropped
    after = {e.sequence_nr for e in desc if e.sequence_nr >= 0 and e.time_range.start >= loss_range.time_range.end
             and not is_node(e) and not has_ancestor(e, step_evt, is_node)}
    seqs = {e.sequence_nr for e in descendants(loss_range) if e.sequence_nr >= 0} - after
    ops_only = sum(e.cpu_time_total for e in loss_range.cpu_children)
    # top-level backward nodes of this step, in execution order
    nodes = sorted((e for e in desc if is_node(e) and not has_ancestor(e, step_evt, is_node)),
                   key=lambda e: e.time_range.start)
    if not nodes:
        raise RuntimeError("no autograd backward events under the step range (backward on another thread?)")
    matched, accumulate, owner = [], [], None
    for e in nodes:
        if e.name == ACCUMULATE:
            if owner:
                accumulate.append(e)
            continue
        owner = e.sequence_nr >= 0 and e.sequence_nr in seqs
        if owner:
            matched.append(e)
    if len(accumulate) != num_params:
        raise RuntimeError(f"attributed {len(accumulate)} AccumulateGrad events to the loss, expected {num_params} "
                           "(one per distiller parameter)")
    return {"step": step_evt.cpu_time_total, "fwd": loss_range.cpu_time_total, "fwd_ops": ops_only,
            "bwd": sum(e.cpu_time_total for e in matched) + sum(e.cpu_time_total for e in accumulate),
            "opt": opt_range.cpu_time_total, "bwd_nodes": Counter(e.name[len(EVAL):] for e in matched)}


def median_time(fn, repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def _parser() -> argparse.ArgumentParser:
    """The script's options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    p.add_argument("--repeats", type=int, default=40, help="wall-clock repeats (each: no loss, crd, crd_dense)")
    p.add_argument("--profile-steps", type=int, default=10, help="profiled steps per method")
    p.add_argument("--probe-size", type=int, default=512, help="n of the sanity-check matmul probe")
    p.add_argument("--num-samples", type=int, default=1500, help="unlabeled pairs (memory bank rows for crd)")
    p.add_argument("--threads", default="2", help="torch threads; a comma list (e.g. 2,1) runs both parts for each")
    p.add_argument("--write", default="", help="replace (or append) the section in this markdown file")
    p.add_argument("--note", default="", help="paragraph added to the written section (e.g. machine load)")
    return p


class StepBench:
    """The config's teacher, student and distillers on one random batch, timed with and without the profiler."""

    def __init__(self, cfg, num_samples: int, probe_size: int) -> None:
        torch.manual_seed(0)
        h, w = (int(v) for v in cfg.data.synthetic.size.split("x"))
        b, self.t = cfg.transfer.batch_size, cfg.transfer
        self.teacher = Segmenter(build_backbone(cfg.teacher.net.arch, 3), 12).eval()
        self.student = build_backbone(cfg.student.arch, 2)
        self.rgb, self.depth = torch.randn(b, 3, h, w), torch.randn(b, 2, h, w)
        self.index = torch.randint(0, num_samples, (b,))
        self.distillers: dict[str, nn.Module] = {
            m: DISTILLERS[m](self.student.out_channels, self.teacher.backbone.out_channels, num_samples,
                             getattr(self.t, m))
            for m in METHODS}
        self.distillers[PROBE] = MatmulProbe(probe_size)
        self.names = list(self.distillers)
        # one AdamW for the student and one per distiller (same hyper-parameters): the distiller's update is its own
        self.opt_student = self.adamw(self.student.parameters())
        self.opt_distill = {m: self.adamw(d.parameters()) for m, d in self.distillers.items()}
        self.probe = self.distillers[PROBE]
        with torch.no_grad():
            feat_shape = self.student(self.depth)[-1].shape
        self.fake_feats = [torch.randn(feat_shape, requires_grad=True)]
        self.probe_opt = self.adamw(self.probe.parameters())

    def adamw(self, params) -> torch.optim.AdamW:
        return torch.optim.AdamW(list(params), lr=self.t.lr, weight_decay=self.t.weight_decay)

    def profiled_step(self, method: str) -> None:
        """One step of `method` with the ranges the attribution reads."""
        with record_function("step"):
            with torch.no_grad():
                t_feats = self.teacher.backbone(self.rgb)
            s_feats = self.student(self.depth)
            with record_function("distill_loss"):
                loss = self.distillers[method](s_feats, t_feats, self.index)
            self.opt_student.zero_grad(set_to_none=True)
            self.opt_distill[method].zero_grad(set_to_none=True)
            loss.backward()
            self.opt_student.step()
            with record_function("distill_opt"):
                self.opt_distill[method].step()

    def probe_fwd_bwd(self) -> None:
        self.probe.w.grad = None
        self.probe(self.fake_feats, None, self.index).backward()

    def profile_steps(self, threads: int, steps: int) -> tuple[dict[str, list[dict]], float, float]:
        """Per-step attributions of `steps` interleaved profiled steps per method, and the probe's timed alone.

        The probe's forward + backward and its AdamW step are timed without the profiler, in seconds.
        """
        torch.set_num_threads(threads)
        for _ in range(2):  # warm-up (and, the first time, the optimisers' state initialisation)
            for m in self.names:
                self.profiled_step(m)
        order = []
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                for m in self.names:
                    self.profiled_step(m)
                    order.append(m)
        found = sorted((e for e in prof.events() if e.name == "step" and e.cpu_parent is None),
                       key=lambda e: e.time_range.start)
        if len(found) != len(order):
            raise RuntimeError(f"found {len(found)} step ranges, ran {len(order)} steps")
        res: dict[str, list[dict]] = {m: [] for m in self.names}
        for m, evt in zip(order, found):
            res[m].append(attribute(evt, sum(1 for q in self.distillers[m].parameters() if q.requires_grad)))
        # sanity check: the probe's forward + backward and AdamW step timed alone, no profiler
        self.probe_fwd_bwd()
        self.probe_opt.step()
        iso_loss = median_time(self.probe_fwd_bwd, 2 * steps)
        iso_opt = median_time(self.probe_opt.step, 2 * steps)
        return res, iso_loss, iso_opt

    def wall_clock(self, threads: int, repeats: int, opt: torch.optim.Optimizer) -> dict:
        """Unprofiled step times of no loss and each distiller, interleaved, after three warm-up rounds.

        `opt` is one AdamW over the student and the distillers.
        """
        torch.set_num_threads(threads)

        def step(method: str | None) -> float:
            t0 = time.perf_counter()
            with torch.no_grad():
                t_feats = self.teacher.backbone(self.rgb)
            s_feats = self.student(self.depth)
            loss = self.distillers[method](s_feats, t_feats, self.index) if method else s_feats[-1].mean() * 0
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return time.perf_counter() - t0

        names = [None, *METHODS]
        times: dict = {n: [] for n in names}
        for _ in range(3):
            for n in names:
                step(n)
        for _ in range(repeats):
            for n in names:
                times[n].append(step(n))
        return times


def _attributed(r: dict) -> float:
    return r["fwd"] + r["bwd"] + r["opt"]


def _med(rs: list[dict], key) -> float:
    """The median over the steps of `key` (a field or a function of the step), in ms."""
    return statistics.median(key(r) if callable(key) else r[key] for r in rs) / 1e3


def _shares(rs: list[dict]) -> tuple[float, float, float, float]:
    """The loss's share of a step in %: summed over the steps, and the median, min and max of the steps' own."""
    per_step = [100 * _attributed(r) / r["step"] for r in rs]
    summed = 100 * sum(map(_attributed, rs)) / sum(r["step"] for r in rs)
    return summed, statistics.median(per_step), min(per_step), max(per_step)


def _intro(args: argparse.Namespace, cfg, loads: tuple[float, float]) -> list[str]:
    """The heading, the setting, and what the profiler table's columns mean."""
    h, w = (int(v) for v in cfg.data.synthetic.size.split("x"))
    b, t = cfg.transfer.batch_size, cfg.transfer
    n = args.profile_steps
    cmd = f"python benchmarks/transfer_step.py --repeats {args.repeats} --profile-steps {n} --threads {args.threads}"
    return [f"{SECTION} ({cpu_name()}, {os.cpu_count()} logical CPUs, torch {torch.__version__})", "",
            f"`{cmd}`. Config {Path(args.config).name}: batch {b}, {h}x{w}, student {cfg.student.arch}, teacher "
            f"{cfg.teacher.net.arch}; `crd` with {args.num_samples} bank rows, K = {t.crd.num_negatives}, "
            f"negatives {t.crd.negatives}; `crd_dense` with {t.crd_dense.num_locations} locations per frame "
            f"({b * t.crd_dense.num_locations} in the batch). A step = teacher forward (no grad) + student forward + "
            f"loss + backward + AdamW. 1-minute load average {loads[0]:.1f} before, {loads[1]:.1f} after.", "",
            f"### Profiler attribution ({n} profiled steps per method, interleaved)", "",
            "Per step, from that step's torch.profiler (CPU) events: **forward** = the `distill_loss` "
            "record_function range around the distiller call (its ops, the Python glue between them and, for "
            "`crd`, the memory-bank and Z updates done inside forward; in brackets the ops alone); **backward** = "
            "the autograd nodes the loss created (evaluate_function events whose sequence_nr matches a forward op "
            "inside the range) plus the AccumulateGrad of the distiller's parameters (the one right after the node "
            "producing the gradient); **AdamW** = the update of the distiller's parameters (a second AdamW instance "
            "in a `distill_opt` range). Top-level events only, so nothing is counted twice. Step = the range "
            "around the whole step. Not attributed: zero_grad (set_to_none). The profiler's per-op overhead is "
            "inside the times, relatively heavier on the loss's small ops than on the convolutions, so shares are, "
            "if anything, high. Times: medians over the profiled steps, ms of main-thread wall time.", ""]


def _profiler_table(runs: dict, names: list[str], probe_size: int) -> list[str]:
    """Per thread count and method: the step, the loss's parts, and its share; then the backward nodes seen."""
    lines = ["| threads | method | step | loss forward (ops only) | loss backward | distiller AdamW | attributed | "
             "share (summed) | share (median of steps, min-max) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for th, (res, _, _) in runs.items():
        for m in names:
            label = f"`{m}`" if m in METHODS else f"{m} (n = {probe_size}, sanity check)"
            summed, mid, lo, hi = _shares(res[m])
            lines.append(f"| {th} | {label} | {_med(res[m], 'step'):.1f} | {_med(res[m], 'fwd'):.2f} "
                         f"({_med(res[m], 'fwd_ops'):.2f}) | {_med(res[m], 'bwd'):.2f} | {_med(res[m], 'opt'):.2f} | "
                         f"{_med(res[m], _attributed):.2f} | {summed:.1f}% | {mid:.1f}% ({lo:.1f}-{hi:.1f}) |")
    first = next(iter(runs.values()))[0]
    return lines + ["", "Backward nodes attributed: " + "; ".join(
        f"`{m}`: " + ", ".join(f"{k} x{v}" if v > 1 else k for k, v in sorted(first[m][0]["bwd_nodes"].items()))
        for m in names) + " (one step); the AccumulateGrad of each distiller parameter is added.", ""]


def _checks(runs: dict, probe_size: int) -> list[str]:
    """The probe's attributed times against its times alone, then each distiller against the target."""
    lines = []
    for th, (res, iso_loss, iso_opt) in runs.items():
        probe_loss = _med(res[PROBE], lambda r: r["fwd"] + r["bwd"])
        probe_opt_ms = _med(res[PROBE], "opt")
        lines += [f"Sanity check, {th} thread(s): the {PROBE}'s attributed forward + backward {probe_loss:.2f} ms "
                  f"against {1e3 * iso_loss:.2f} ms timed alone without the profiler "
                  f"({probe_loss / (1e3 * iso_loss):.2f}x); AdamW on its {probe_size}x{probe_size} "
                  f"parameter {probe_opt_ms:.2f} ms against {1e3 * iso_opt:.2f} ms alone "
                  f"({probe_opt_ms / (1e3 * iso_opt):.2f}x).", ""]
    for th, (res, _, _) in runs.items():
        verdicts = []
        for m in METHODS:
            summed, mid, _, _ = _shares(res[m])
            verdicts.append(f"`{m}` {mid:.1f}% (summed {summed:.1f}%): "
                            + ("within" if max(summed, mid) <= TARGET else "above"))
        lines += [f"Target (the loss and its memory update add at most {TARGET:g}% to a step), {th} thread(s): "
                  + "; ".join(verdicts) + ".", ""]
    return lines


def _wall_table(walls: dict, runs: dict, repeats: int) -> list[str]:
    """Each distiller's unprofiled step against the step without a loss, and the profiler's overhead."""
    lines = [f"### Wall clock ({repeats} interleaved repeats per thread count, no profiler)", "",
             "Each distiller's step against the same step with a zero loss on the student features (one AdamW over "
             "student and distillers); 'added' is the median of the per-repeat differences (each repeat runs the "
             "three steps back to back). Differences of whole steps: sensitive to run-to-run variation of the "
             "convolutions on a shared CPU.", "",
             "| threads | step | median s | added by the loss |", "|---|---|---|---|"]
    for th, times in walls.items():
        base = statistics.median(times[None])
        lines.append(f"| {th} | teacher fwd + student fwd/bwd + AdamW (no loss) | {base:.4f} | - |")
        for m in METHODS:
            what = "loss and memory-bank update" if m == "crd" else "loss"
            added = statistics.median(a - b for a, b in zip(times[m], times[None]))
            lines.append(f"| {th} | + `{m}` {what} | {statistics.median(times[m]):.4f} | "
                         f"{100 * added / base:+.1f}% |")
    return lines + ["", "Profiler overhead, profiled against unprofiled `crd` step (medians): " + "; ".join(
        f"{th} thread(s) {_med(runs[th][0]['crd'], 'step'):.1f} against "
        f"{1e3 * statistics.median(walls[th]['crd']):.1f} ms" for th in walls) + ".", ""]


def main() -> None:
    """Both parts for each thread count, then the section printed and written where asked."""
    args = _parser().parse_args()
    cfg = load_config(args.config)
    thread_counts = [int(v) for v in args.threads.split(",")]
    torch.set_num_threads(thread_counts[0])
    load_before = os.getloadavg()[0]
    bench = StepBench(cfg, args.num_samples, args.probe_size)
    runs = {th: bench.profile_steps(th, args.profile_steps) for th in thread_counts}
    opt = bench.adamw([*bench.student.parameters(), *(q for m in METHODS for q in bench.distillers[m].parameters())])
    walls = {th: bench.wall_clock(th, args.repeats, opt) for th in thread_counts}
    lines = _intro(args, cfg, (load_before, os.getloadavg()[0])) + _profiler_table(runs, bench.names, args.probe_size)
    lines += _checks(runs, args.probe_size) + _wall_table(walls, runs, args.repeats)
    if args.note:
        lines += [args.note.strip(), ""]
    text = "\n".join(lines)
    print(text)
    if args.write:
        replace_section(args.write, text, SECTION)

if __name__ == "__main__":
    main()
