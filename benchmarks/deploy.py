"""Deployed-model speed: the exported default student under onnxruntime against the same model in PyTorch eager.

What is measured, in one process:

- The model: configs/default.yaml's student (`student.arch`, `student.head_channels`, built as
  crossmodal/downstream/evaluate.py load_finetuned builds it) with the class count of the embedded synthetic data
  (data_tools/synthetic/scene.py CLASS_NAMES), wrapped in crossmodal.deploy.export.SensorModel with the config's target
  encoding (logdepth_valid) and standardisation, so it takes float32 depth in metres (N, H, W), 0 = no reading, and
  returns logits (N, K, H, W), exactly what crossmodal-export writes. Its weights are random (seed 0): latency does
  not depend on them, and no trained run is needed. `--run RUN --method M [--seed S]` benchmarks that run's
  fine-tuned student instead, built by crossmodal.deploy.export.build_sensor_model.
- ONNX: exported with crossmodal.deploy.export.write_onnx (the call `crossmodal-export --format onnx` makes:
  TorchScript-based torch.onnx.export, opset 17, dynamic batch, height and width), traced once on a batch-2 input of
  the trained size, into a temporary folder; the same file serves every size and batch below.
- Backends: onnxruntime InferenceSession with CPUExecutionProvider, intra_op_num_threads = torch.get_num_threads(),
  inter_op_num_threads 1, sequential execution, all graph optimisations (ORT_ENABLE_ALL), and
  session.intra_op.allow_spinning = 0: by default onnxruntime's worker threads keep spinning for a while after a run,
  and with the backends alternating they hold a core the next torch call needs (on the 2-core development machine,
  2 threads, 96x128, batch 1: torch 15.0 ms with onnxruntime spinning against 6.8 ms without, while onnxruntime
  itself went from 3.0 to 2.9 ms); `--ort-spinning on` keeps onnxruntime's default. PyTorch eager:
  the SensorModel in eval mode under torch.inference_mode(), the same thread count. `--threads 2,1` repeats every
  case at each thread count (one session per count).
- One call = NumPy array in, NumPy logits out: `session.run(None, {"sensor": x})[0]` against
  `model(torch.from_numpy(x)).numpy()` (both zero-copy at the ends), on the same float32 array: positive depths
  (0.5 to 10 m) with 10 % holes, seed 0.
- Cases: the trained size (96x128 for configs/default.yaml) and 480x640, each at batch 1 and batch 16. Per case:
  the outputs of the two backends are compared (max |logit difference| and the fraction of pixels whose argmax
  agrees), then warm-up calls of both, then R repeats alternating the backends (onnxruntime, torch, onnxruntime,
  torch, ...). Latency = median seconds per call; throughput = batch / median latency; speed-up = torch median /
  onnxruntime median (above 1: onnxruntime is faster). Alternating calls share the cores with whatever the other
  backend's thread pool is still doing (libgomp's brief spin-wait before its threads sleep; onnxruntime's spinning
  with --ort-spinning on); with other work on the machine, multi-threaded calls of both slow down most (a thread
  that loses its core holds up the others at every barrier).
- Recorded: CPU model (/proc/cpuinfo), logical CPUs, torch threads, torch / onnxruntime / onnx versions, the
  1-minute load average before and after (the 'after' one counts this run's own threads), and the CPU time other
  processes used while the cases ran (busy time of the whole machine from /proc/stat, hypervisor steal included,
  minus this process's own user + system time): other work slows both backends, not necessarily equally.

Precision rows (`--precisions fp16,int8,int8-uint8`, the default): the files `crossmodal-export --precision`
writes, timed against fp32 in every case, with sizes and agreement (benchmarks/deploy_precision.py's docstring).

`--device cuda` runs PyTorch on the GPU (the copy of the logits back to NumPy waits for the GPU before the clock
stops) and onnxruntime with CUDAExecutionProvider when ort.get_available_providers() lists it and the session
takes it; otherwise the onnxruntime side is left out and the reason stated. Host-to-device copies are inside
every call (NumPy in, NumPy out) on both sides.

    python benchmarks/deploy.py [--write docs/benchmarks.md] [--out deploy.json] [--repeats N] [--threads 2,1]
    python benchmarks/deploy.py --run runs/default --method crd_dense     # a trained run's student
    python benchmarks/deploy.py --tiny                                    # seconds; tests/benchmarks/test_deploy.py

--write replaces (or appends) the "## Deploy (benchmarks/deploy.py)" section of that markdown file; --out writes
every raw number (each call's time included) as JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "benchmarks"))  # the shared section writer (appended: shadows no package)

from deploy_precision import alternating_times, run_precisions, section_lines  # noqa: E402
from markdown_section import shown_command, write_results  # noqa: E402

SECTION = "## Deploy (benchmarks/deploy.py)"
LARGE = (480, 640)
FULL = {"batches": [1, 16], "repeats": {1: 100, 16: 30}, "warmup": 2, "large_repeats": {1: 30, 16: 10}}
TINY = {"size": (32, 64), "batches": [1, 2], "repeats": 3, "warmup": 1}


def cpu_busy_s() -> tuple[float, float] | None:
    """(busy seconds of the whole machine from /proc/stat, this process's user + system seconds); None off Linux."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    busy = sum(fields[:8]) - idle  # user nice system idle iowait irq softirq steal (guest is inside user)
    t = os.times()
    return busy / os.sysconf("SC_CLK_TCK"), t.user + t.system


# ---------------------------------------------------------------------------------------------- the model

def config_model(config: str) -> tuple[Any, dict[str, Any]]:
    """configs/default.yaml's student with random weights (seed 0), wrapped in SensorModel, and minimal metadata."""
    import torch

    from crossmodal.config import load_config
    from crossmodal.config.encodings import encoding_channels
    from crossmodal.data.loaders import input_spec
    from crossmodal.deploy.export import INPUT_NAME, OUTPUT_NAME, SensorModel
    from crossmodal.models import Segmenter, build_backbone
    from data_tools.synthetic import CLASS_NAMES

    cfg = load_config(config)
    spec = input_spec(cfg, "target")
    if spec.encoding not in ("logdepth_valid", "metres"):
        sys.exit(f"error: {config} encodes its target with '{spec.encoding}'; this benchmark feeds depth in metres "
                 f"(N, H, W) and needs logdepth_valid or metres (or use --run with a run of that config)")
    channels = encoding_channels(spec.encoding, (0, 0))
    torch.manual_seed(0)
    s = cfg.student
    backbone = build_backbone(s.arch, channels, features=s.features, num_classes=len(CLASS_NAMES), key="student")
    segmenter = Segmenter(backbone, len(CLASS_NAMES), s.head_channels)
    model = SensorModel(segmenter, spec.encoding, spec.mean, spec.std).eval()
    stride = int(max(segmenter.strides))
    h, w = (int(v) for v in cfg.data.synthetic.size.lower().split("x"))
    meta = {"format": "crossmodal-export", "format_version": 1, "run": None, "method": None, "seed": None,
            "weights": "random (torch.manual_seed(0))", "config": config, "student": s.arch,
            "class_names": list(CLASS_NAMES), "num_classes": len(CLASS_NAMES), "modality": cfg.data.target,
            "units": "metres", "encoding": spec.encoding, "mean": list(spec.mean), "std": list(spec.std),
            "network_channels": channels,
            "input": {"name": INPUT_NAME, "layout": "NHW", "dtype": "float32", "shape": ["batch", "height", "width"]},
            "output": {"name": OUTPUT_NAME, "layout": "NCHW", "dtype": "float32",
                       "shape": ["batch", len(CLASS_NAMES), "height", "width"]},
            "stride_multiple": stride, "trained_size": [h, w], "torch_version": torch.__version__,
            "size_rule": f"height and width must be multiples of {stride} (the network's largest stride)"}
    return model, meta


def run_model(run: str, method: str, seed: int | None) -> tuple[Any, dict[str, Any]]:
    """A trained run's fine-tuned student, as crossmodal-export builds it."""
    from crossmodal.deploy.export import build_sensor_model

    model, meta = build_sensor_model(run, method, seed)
    if meta["input"]["layout"] != "NHW" or meta["input"]["dtype"] != "float32":
        sys.exit(f"error: run {run}'s student takes {meta['input']['dtype']} {meta['input']['layout']}; this "
                 f"benchmark feeds float32 depth (N, H, W)")
    return model, dict(meta, weights=f"trained ({meta['checkpoint']})")


def export_onnx(model: Any, meta: dict[str, Any], path: Path) -> dict[str, Any]:
    """The ONNX file crossmodal-export writes (its write_onnx), traced on example_input (batch 2, trained size)."""
    import torch

    from crossmodal.deploy.export import example_input, write_onnx

    x = example_input(meta)  # what export() traces on
    t0 = time.perf_counter()
    with torch.no_grad():
        written = json.loads(write_onnx(model, x, path, meta))
    return {"export_s": time.perf_counter() - t0, "exporter": written["exporter"], "opset": written["opset"],
            "file_mib": path.stat().st_size / 2 ** 20}


def depth_batch(batch: int, h: int, w: int, seed: int = 0):
    """float32 metres (N, H, W): 0.5 to 10 m, 10 % holes (0)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    d = rng.uniform(0.5, 10.0, (batch, h, w)).astype(np.float32)
    d[rng.random((batch, h, w)) < 0.1] = 0.0
    return d


# ---------------------------------------------------------------------------------------------- backends

def make_backends(model: Any, onnx_path: Path, device: str, threads: int,
                  spinning: bool = True) -> tuple[dict[str, Callable], dict]:
    """The backends, {'ort': f, 'torch': f}, and what each runs on.

    Each f maps a NumPy (N, H, W) batch to NumPy logits. 'ort' is left out, with the reason, when onnxruntime cannot run
    on the device.
    """
    import onnxruntime as ort
    import torch

    info: dict[str, Any] = {"ort_available_providers": ort.get_available_providers()}
    backends: dict[str, Callable] = {}
    provider = "CUDAExecutionProvider" if device == "cuda" else "CPUExecutionProvider"
    if provider in ort.get_available_providers():
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not spinning:
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(str(onnx_path), so, providers=[provider])
        name = sess.get_inputs()[0].name
        info["ort_providers"] = sess.get_providers()
        if provider in info["ort_providers"]:
            backends["ort"] = lambda x: sess.run(None, {name: x})[0]
        else:  # e.g. onnxruntime-gpu without the CUDA libraries it needs: it falls back to the CPU
            info["ort_skipped"] = f"the session did not take {provider} (it runs on {', '.join(info['ort_providers'])})"
        info["ort_intra_op_threads"], info["ort_inter_op_threads"] = threads, 1
        info["ort_spinning"] = spinning
    else:
        info["ort_skipped"] = (f"onnxruntime {ort.__version__} has no {provider} here (available: "
                               f"{', '.join(ort.get_available_providers())}; the GPU build is the onnxruntime-gpu "
                               f"package)")
    dev = torch.device(device)
    model = model.to(dev).eval()

    def torch_call(x):
        with torch.inference_mode():
            y = model(torch.from_numpy(x).to(dev)).cpu().numpy()  # .cpu() synchronises on CUDA
        return y

    backends["torch"] = torch_call
    info["torch_device"] = str(dev) if device == "cpu" else f"cuda ({torch.cuda.get_device_name(dev)})"
    return backends, info


def bench_case(backends: dict[str, Callable], x, repeats: int, warmup: int, log=print) -> dict[str, Any]:
    """Agreement of the outputs, then warm-up and `repeats` alternating timed calls of every backend."""
    import numpy as np

    n, h, w = x.shape
    out: dict[str, Any] = {"size": f"{h}x{w}", "height": h, "width": w, "batch": n, "repeats": repeats,
                           "warmup": warmup}
    ys = {k: f(x) for k, f in backends.items()}
    if "ort" in ys:
        a, b = ys["ort"], ys["torch"]
        out["max_abs_diff"] = float(np.abs(a - b).max())
        out["max_abs_logit"] = float(np.abs(b).max())
        out["argmax_agree"] = float((a.argmax(1) == b.argmax(1)).mean())
    out["output_shape"] = list(ys["torch"].shape)
    del ys
    times = alternating_times(backends, x, repeats, warmup)
    for k, ts in times.items():
        med = statistics.median(ts)
        out[k] = {"median_s": med, "min_s": min(ts), "images_per_s": n / med, "times_s": ts}
    if "ort" in times:
        out["speedup"] = out["torch"]["median_s"] / out["ort"]["median_s"]
        out["speedup_median_of_repeats"] = statistics.median(t / o for t, o in zip(times["torch"], times["ort"]))
    log(f"  {h}x{w} batch {n:2d}: torch {1e3 * out['torch']['median_s']:8.2f} ms"
        + (f", ort {1e3 * out['ort']['median_s']:8.2f} ms, speed-up {out['speedup']:.2f}x, max |diff| "
           f"{out['max_abs_diff']:.1e}" if "ort" in out else ", ort skipped"))
    return out


# ---------------------------------------------------------------------------------------------- report

def section(res: dict[str, Any]) -> str:
    """The markdown section (also the printed summary)."""
    m, s, ex = res["model"], res["settings"], res["export"]
    who = (f"run `{m['run']}`'s `{m['method']}` student (seed {m['seed']}, {m['weights']})" if m.get("run") else
           f"{m['config']}'s student ({m['student']}, random weights: latency does not depend on them)")
    lines = [SECTION, "",
             f"`{res['command']}`: {who}, {m['num_classes']} classes, wrapped with its `{m['encoding']}` encoding "
             f"(crossmodal.deploy.export.SensorModel: float32 depth in metres (N, H, W) in, logits (N, "
             f"{m['num_classes']}, H, W) out). ONNX exported as `crossmodal-export` does ({ex['exporter']}, opset "
             f"{ex['opset']}, dynamic batch/height/width, {ex['file_mib']:.1f} MiB), run by onnxruntime "
             f"{res['software']['onnxruntime']} {', '.join(res['backends'].get('ort_providers', [])) or '(skipped)'} "
             f"with intra_op_num_threads = torch.get_num_threads() (inter-op 1, ORT_ENABLE_ALL, "
             + ("spinning on, onnxruntime's default: its spinning workers also slow the torch call after each "
                "onnxruntime call" if s["ort_spinning"] else "spinning off, since with the backends alternating "
                "onnxruntime's spinning workers would hold a core the next torch call needs")
             + "); "
             f"against PyTorch {res['software']['torch']} eager on {res['backends']['torch_device']} under "
             f"torch.inference_mode(), same threads. One call = NumPy array in, NumPy logits out, the same input "
             f"for both (depths 0.5-10 m, 10 % holes). Per case: warm-up, then repeats alternating onnxruntime and "
             f"torch; medians; images/s = batch / median; speed-up = torch / onnxruntime.", "",
             f"Machine: {res['machine']['cpu']} ({res['machine']['logical_cpus']} logical CPUs), "
             f"{' and '.join(map(str, s['threads']))} thread(s); Python {res['python']}; 1-minute load average "
             f"{res['load_before']:.2f} before, {res['load_after']:.2f} after (which counts this run's own "
             f"threads); total {res['total_s']:.0f} s." + other_work(res), "",
             "| threads | size | batch | repeats | torch ms | onnxruntime ms | ort speed-up (torch/ort) | "
             "torch images/s | onnxruntime images/s | max abs logit diff |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    trained = "x".join(map(str, m["trained_size"])) if m.get("trained_size") else None
    for c in res["cases"]:
        size = c["size"] + (" (trained size)" if c["size"] == trained else "")
        t = c["torch"]
        row = f"| {c['threads']} | {size} | {c['batch']} | {c['repeats']} | {1e3 * t['median_s']:.2f} | "
        if "ort" in c:
            o = c["ort"]
            lines.append(row + f"{1e3 * o['median_s']:.2f} | {c['speedup']:.2f}x | {t['images_per_s']:.1f} | "
                               f"{o['images_per_s']:.1f} | {c['max_abs_diff']:.1e} |")
        else:
            lines.append(row + f"- | - | {t['images_per_s']:.1f} | - | - |")
    agree = [c for c in res["cases"] if "ort" in c]
    if agree:
        worst = max(agree, key=lambda c: c["max_abs_diff"])
        lines += ["", f"Outputs agree: largest |logit difference| {worst['max_abs_diff']:.1e} (at {worst['size']}, "
                      f"batch {worst['batch']}; logits up to {worst['max_abs_logit']:.1f} there); argmax agrees on "
                      f"{100 * min(c['argmax_agree'] for c in agree):.3f} % of pixels or more."]
    if "ort_skipped" in res["backends"]:
        lines += ["", f"onnxruntime left out: {res['backends']['ort_skipped']}."]
    if "precision" in res:
        lines += section_lines(res)
    if res.get("tiny"):
        lines += ["", "`--tiny`: a check that the script runs, not a measurement."]
    return "\n".join(lines) + "\n"


def other_work(res: dict[str, Any]) -> str:
    """A sentence on the CPU time other processes took while the cases ran."""
    o = res.get("other_cpu")
    if not o:
        return ""
    text = (f" Other processes used {o['seconds']:.1f} CPU-seconds while the cases ran ({100 * o['share']:.0f} % of "
            f"the machine's {res['machine']['logical_cpus']} CPUs over {o['wall_s']:.0f} s)")
    if o["share"] < 0.05:
        return text + ": the machine was essentially idle otherwise."
    return text + (": absolute times are noisy, the multi-threaded ones most (a thread that loses its core holds up "
                   "the others at every barrier); the ratios are measured side by side, call against call.")


def _parser() -> argparse.ArgumentParser:
    """The script's options."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                epilog="example: python benchmarks/deploy.py --write docs/benchmarks.md --out "
                                       "deploy.json   |   python benchmarks/deploy.py --tiny")
    p.add_argument("--config", default="configs/default.yaml", help="config whose student is built (random weights)")
    p.add_argument("--run", default="", help="benchmark this run's fine-tuned student instead (needs --method)")
    p.add_argument("--method", default="", help="method of --run, e.g. crd_dense")
    p.add_argument("--seed", type=int, default=None, help="student seed of --run (when it has several)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cpu (default) or cuda (PyTorch on the GPU, onnxruntime's CUDAExecutionProvider if present)")
    p.add_argument("--threads", default="", help="torch and onnxruntime intra-op threads, comma-separated to time "
                                                 "several, e.g. 2,1 (default: torch.get_num_threads())")
    p.add_argument("--ort-spinning", choices=("on", "off"), default="off",
                   help="onnxruntime's session.intra_op.allow_spinning (default off: its spinning workers slow the "
                        "alternating torch calls; on is onnxruntime's own default)")
    p.add_argument("--sizes", default="", help="comma-separated HxW (default: the trained size and 480x640)")
    p.add_argument("--batches", default="", help="comma-separated batch sizes (default 1,16)")
    p.add_argument("--repeats", type=int, default=0,
                   help="timed repeats per case (default: 100 at batch 1 and 30 at batch 16 at the trained size, "
                        "30 and 10 at 480x640; 3 with --tiny)")
    p.add_argument("--warmup", type=int, default=-1, help="untimed calls of each backend per case (default 2; 1 tiny)")
    p.add_argument("--tiny", action="store_true", help=f"a seconds-long check: {TINY['size'][0]}x{TINY['size'][1]}, "
                                                       f"batches 1 and 2, {TINY['repeats']} repeats")
    p.add_argument("--precisions", default="fp16,int8,int8-uint8", help="lower-precision files to time against "
                   "fp32 (crossmodal-export --precision; int8-uint8 = --activations uint8; '' leaves them out)")
    p.add_argument("--out", default="", help="write every raw number to this JSON file")
    p.add_argument("--write", default="", help="replace (or append) this script's section of this markdown file")
    return p


def _sizes(args: argparse.Namespace, meta: dict[str, Any], p: argparse.ArgumentParser) -> list[tuple[int, int]]:
    """The frame sizes to time: as given, the tiny one, or the trained size and LARGE; each checked to fit."""
    from crossmodal.deploy.export import check_frame_size
    from crossmodal.errors import UserError

    trained = tuple(meta["trained_size"]) if meta.get("trained_size") else None
    if args.sizes:
        sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]
    elif args.tiny:
        sizes = [TINY["size"]]
    else:
        sizes = [s for s in (trained, LARGE) if s]
        sizes = list(dict.fromkeys(sizes))
    for h, w in sizes:
        try:
            check_frame_size(meta, h, w)
        except UserError as err:
            p.error(str(err))
    return sizes


def _repeats_for(args: argparse.Namespace, size: tuple[int, int], batch: int) -> int:
    """Timed repeats of one case: as given, the tiny count, or by size and batch."""
    if args.repeats:
        return args.repeats
    if args.tiny:
        return TINY["repeats"]
    table = FULL["large_repeats"] if size[0] * size[1] > 4 * 96 * 128 else FULL["repeats"]
    return table.get(batch, 10 if batch < 8 else 5)


def _time_cases(res: dict[str, Any], args: argparse.Namespace, model, onnx_path: Path, thread_counts: list[int],
                sizes: list[tuple[int, int]]) -> None:
    """Every (threads, size, batch) case, both backends side by side; the cases go into `res`."""
    import torch

    settings = res["settings"]
    res["cases"] = []
    for n in thread_counts:
        torch.set_num_threads(n)
        backends, res["backends"] = make_backends(model, onnx_path, args.device, n, args.ort_spinning == "on")
        if "ort_skipped" in res["backends"]:
            print(f"onnxruntime left out: {res['backends']['ort_skipped']}", flush=True)
        print(f"{n} thread(s):", flush=True)
        for h, w in sizes:
            for b in settings["batches"]:
                case = bench_case(backends, depth_batch(b, h, w), _repeats_for(args, (h, w), b), settings["warmup"],
                                  log=lambda s: print(s, flush=True))
                res["cases"].append({"threads": n, **case})
        del backends


def _other_cpu(cpu0, cpu1, wall: float) -> dict[str, float] | None:
    """What other processes used of the machine while the cases ran; None when /proc/stat is unreadable."""
    if not (cpu0 and cpu1):
        return None
    other = max(0.0, (cpu1[0] - cpu0[0]) - (cpu1[1] - cpu0[1]))
    return {"seconds": other, "wall_s": wall, "share": other / (wall * (os.cpu_count() or 1)),
            "machine_busy_s": cpu1[0] - cpu0[0], "own_cpu_s": cpu1[1] - cpu0[1]}


def _describe(args: argparse.Namespace, argv: list[str] | None, meta: dict[str, Any], thread_counts: list[int],
              sizes: list[tuple[int, int]], load_before: float) -> dict[str, Any]:
    """The results' first part: the command, machine, software, settings and model."""
    import onnx
    import onnxruntime as ort
    import torch

    from crossmodal.runtime import cpu_name

    res: dict[str, Any] = {
        "command": shown_command("python benchmarks/deploy.py", argv if argv is not None else sys.argv[1:],
                                 ("--out", "--write")),
        "machine": {"cpu": cpu_name(), "processor": platform.processor(), "logical_cpus": os.cpu_count(),
                    "torch_threads": thread_counts[0]},
        "software": {"torch": torch.__version__, "onnxruntime": ort.__version__, "onnx": onnx.__version__},
        "python": platform.python_version(), "tiny": args.tiny, "load_before": load_before,
        "settings": {"device": args.device, "threads": thread_counts, "sizes": [f"{h}x{w}" for h, w in sizes],
                     "batches": [int(b) for b in args.batches.split(",")] if args.batches else
                     (TINY if args.tiny else FULL)["batches"],
                     "warmup": args.warmup if args.warmup >= 0 else (TINY if args.tiny else FULL)["warmup"],
                     "ort_spinning": args.ort_spinning == "on"},
        "model": {k: meta.get(k) for k in ("run", "method", "seed", "weights", "config", "student", "num_classes",
                                           "encoding", "mean", "std", "stride_multiple", "trained_size")},
    }
    if args.run:
        res["model"]["student"] = meta.get("checkpoint")
    return res


def main(argv: list[str] | None = None) -> int:
    """Export the student, time both backends on every case, print the section and write it where asked."""
    p = _parser()
    args = p.parse_args(argv)
    if bool(args.run) != bool(args.method):
        p.error("--run and --method go together")
    try:
        import onnx  # noqa: F401
        import onnxruntime as ort
    except ImportError as err:
        sys.exit(f"error: {err.name} is not installed; this benchmark needs onnx and onnxruntime: "
                 f"pip install -e \".[deploy]\"")
    import torch

    from crossmodal.errors import UserError
    from crossmodal.runtime import cpu_name

    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit(f"error: --device cuda asked for, but no CUDA GPU is visible (torch {torch.__version__}, built with "
                 f"CUDA {torch.version.cuda or 'none'}); leave out --device for the CPU benchmark")
    thread_counts = [int(t) for t in args.threads.split(",")] if args.threads else [torch.get_num_threads()]
    torch.set_num_threads(thread_counts[0])
    load_before = os.getloadavg()[0]
    t_start = time.perf_counter()
    try:
        model, meta = run_model(args.run, args.method, args.seed) if args.run else config_model(args.config)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    sizes = _sizes(args, meta, p)
    res = _describe(args, argv, meta, thread_counts, sizes, load_before)
    print(f"Deploy benchmark on {cpu_name()} ({os.cpu_count()} logical CPUs, {args.threads or thread_counts[0]} "
          f"thread(s)), torch {torch.__version__}, onnxruntime {ort.__version__}; device {args.device}", flush=True)
    cpu0, wall0 = cpu_busy_s(), time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="deploy_bench_") as tmpdir:
        onnx_path = Path(tmpdir) / "student.onnx"
        try:
            res["export"] = export_onnx(model, meta, onnx_path)
        except UserError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"exported {res['export']['file_mib']:.1f} MiB ONNX in {res['export']['export_s']:.1f} s "
              f"({res['export']['exporter']}, opset {res['export']['opset']})", flush=True)
        _time_cases(res, args, model, onnx_path, thread_counts, sizes)
        if args.precisions not in ("", "fp32"):  # the fp16 / int8 rows, from the same fp32 file
            torch.set_num_threads(thread_counts[0])
            run_precisions(res, args, meta, onnx_path, sizes, thread_counts[0], depth_batch, _repeats_for)
    other = _other_cpu(cpu0, cpu_busy_s(), time.perf_counter() - wall0)
    if other is not None:
        res["other_cpu"] = other
    res["load_after"] = os.getloadavg()[0]
    res["total_s"] = time.perf_counter() - t_start
    text = section(res)
    print("\n" + text)
    write_results(res, text, args.out, args.write, SECTION)
    return 0


if __name__ == "__main__":
    sys.exit(main())
