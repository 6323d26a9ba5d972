"""The GPU suite's markdown section, also its printed summary: what it measures, the run, and each part's table."""
from __future__ import annotations

SECTION = "## GPU suite (benchmarks/gpu_suite.py)"
FULL = {"size": "480x640", "batch": 32, "teacher": "torchvision:resnet50",
        "students": ["torchvision:resnet18", "timm:mobilenetv3_large_100"], "repeats": 15, "warmup": 3,
        "loader_samples": 2048, "loader_epochs": 2, "cache_frames": 256, "cache_repeats": 5}


def fmt(v, spec: str, none: str = "-") -> str:
    """`v` formatted by `spec`; `none` for None."""
    return none if v is None else format(v, spec)


def _intro(note: str) -> list[str]:
    """What the suite measures and how to run it, then the run's note."""
    lines = [SECTION, "",
             "What it measures (details in the script's docstring): the transfer step of a "
             f"{FULL['teacher']} teacher with {' and '.join(FULL['students'])} students at {FULL['size']}, batch "
             f"{FULL['batch']}, without a loss and with `crd` and `crd_dense` (images/s, what the loss adds, peak GPU "
             "memory); a head-less ViT-B/14 teacher -> resnet18 student with `crd_dense` (images/s, teacher share, "
             "peak memory); run_transfer epochs with that ViT teacher live against teacher.cache_views 1 (epoch "
             "ratio, build time, bytes per frame and view, peak memory); the default student's fp32, fp16 and int8 "
             "ONNX files on onnxruntime's CUDA and TensorRT providers where it has them; `make_loader` with every "
             "core against that step; and the smoke pipeline end to end under "
             "`accelerate launch --mixed_precision bf16`. bf16 autocast and channels_last models and inputs.", "",
             "On a GPU machine (the checkout installed with `pip install -e \".[dev]\"` and timm; meant to finish in "
             "under 6 minutes on one GPU, the run's own total is in its results; `--tmp-dir` if the system's temporary "
             "folder lacks the 4.4 GB the loader file takes; the cached-teacher row's frames and cache take about "
             "1.2 GB before that):", "",
             "```bash",
             "python benchmarks/gpu_suite.py --out gpu_suite.json --write docs/benchmarks.md",
             "```", "",
             "`--device cpu --tiny --skip-pipeline` runs the same code at tiny sizes on a CPU "
             "(tests/benchmarks/test_gpu_suite.py).", ""]
    return lines + ([note.strip(), ""] if note else [])


def _run(res: dict, cuda: bool) -> list[str]:
    """The device, the settings and, on a CPU, what the figures do not say."""
    s = res["settings"]
    amp = "bf16 autocast" if s["amp"] else "no autocast (float32)"
    lines = [f"### Run: {res['device']['name']}, {res['software']}",
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
    return lines


def _steps(res: dict) -> list[str]:
    """The transfer-step table."""
    lines = ["#### Transfer step", "",
             "| student | loss | step ms (median, min) | images/s | loss adds (vs no loss) | peak memory MiB | "
             "step memory MiB |", "|---|---|---|---|---|---|---|"]
    for c in res["cases"]:
        added = "-" if c["loss_added_pct"] is None else f"{c['loss_added_pct']:+.1f}%"
        lines.append(f"| {c['student']} | {c['loss']} | {1e3 * c['step_s_median']:.1f}, {1e3 * c['step_s_min']:.1f} | "
                     f"{c['images_per_s']:.1f} | {added} | {fmt(c['peak_mem_mib'], '.0f')} | "
                     f"{fmt(c['step_mem_mib'], '.0f')} |")
    return lines


def _loader(res: dict, ld: dict) -> list[str]:
    """The loader's rate against each step's, and whether it keeps up."""
    lines = ["", "#### Loader against the step", "",
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
    return lines + ["", f"Smallest ratio {ratio:.2f}x (against {worst['student']} with `{worst['loss']}`): the loader "
                        + ("keeps up with every step timed here." if ratio >= 1 else
                           "does NOT keep up with the fastest step: that student would wait for data.")
                        + " Loader and step were timed one after the other; in training the workers share the "
                          "machine with the main process."]


def _percent(x) -> str:
    return fmt(None if x is None else 100 * x, ".1f")


def _pipeline(pl: dict) -> list[str]:
    """The smoke pipeline's wall time and per-method scores, or how it failed."""
    lines = ["", "#### Smoke pipeline", "", f"`{pl['command']}`: "]
    if "methods" not in pl:
        lines[-1] += f"FAILED ({pl.get('error')}) after {pl['wall_s']:.1f} s."
        return lines
    lines[-1] += (f"{pl['wall_s']:.1f} s wall time (subprocess start to exit; the run itself reports "
                  f"{fmt(pl.get('run_wall_time_s'), '.1f')} s on {pl.get('run_device')}).")
    lines += ["", "| method | mIoU | frozen probe mIoU | pixel acc |", "|---|---|---|---|"]
    for k, v in pl["methods"].items():
        lines.append(f"| {k} | {_percent(v['miou'])} | {_percent(v['probe_miou'])} | {_percent(v['pixel_acc'])} |")
    return lines


def section(res: dict, note: str, vit_lines, deploy_lines=None) -> str:
    """The markdown section; `vit_lines(row, cuda)` and `deploy_lines(row)` give the ViT and deploy parts' lines."""
    cuda = res["device"]["type"] == "cuda"
    lines = _intro(note) + _run(res, cuda) + _steps(res)
    if res.get("vit"):
        lines += [""] + vit_lines(res["vit"], cuda)
    elif not cuda:
        lines += ["", "Head-less ViT teacher row: skipped (--skip-vit); it has not been run on a GPU yet."]
    if res.get("teacher_cache"):
        lines += [""] + teacher_cache_lines(res["teacher_cache"], cuda)
    elif not cuda:
        lines += ["", "Cached-teacher row: skipped (--skip-teacher-cache); it has not been run on a GPU yet."]
    if res.get("deploy") and deploy_lines is not None:
        lines += [""] + deploy_lines(res["deploy"])
    if res.get("loader"):
        lines += _loader(res, res["loader"])
    if res.get("pipeline"):
        lines += _pipeline(res["pipeline"])
    elif res["settings"]["skip_pipeline"]:
        lines += ["", "Smoke pipeline: skipped (--skip-pipeline)."]
    return "\n".join(lines) + "\n"


def teacher_cache_lines(row: dict, cuda: bool) -> list[str]:
    """The cached-teacher part: live vs cached transfer epochs with the head-less ViT teacher (teacher_cache.py)."""
    tiny = ", --tiny: a 2-block, 48-wide ViT" if row["tiny"] else ""
    lv, ca = row["live"], row["cached"]
    lines = ["#### Cached teacher", "",
             f"`{row['teacher_label']}` (random weights{tiny}) -> resnet18 student with `{row['method']}`: "
             f"run_transfer epochs over {row['frames']} generated frames at {row['size']}, batch {row['batch']}, "
             f"{row['workers']} loader workers, {'bf16 autocast' if row['amp'] else 'float32'}; live teacher against "
             f"teacher.cache_views {row['views']} ({row['dtype']}), interleaved, medians of "
             f"{len(row['raw']['live'])} repeats; ratio = median of per-repeat live / cached epoch; loader = time "
             "waiting for batches; peak = torch.cuda.max_memory_allocated() over the epoch.", ""]
    if not cuda:
        lines += ["**The cached-teacher row has not been run on a GPU yet**: the figures below are the CPU check "
                  "(code path only).", ""]
    peak = "-" if lv["peak_mib"] is None else f"{lv['peak_mib']:.0f} / {ca['peak_mib']:.0f}"
    return lines + ["| live epoch s | cached epoch s | live / cached | loader s (live / cached) | build s | "
                    "bytes per frame-view | peak memory MiB (live / cached) |", "|---|---|---|---|---|---|---|",
                    f"| {lv['epoch_s']:.3f} | {ca['epoch_s']:.3f} | **{row['ratio']:.2f}x** | "
                    f"{lv['loader_s']:.3f} / {ca['loader_s']:.3f} | {row['build_s']:.2f} | "
                    f"{row['bytes_per_frame_view']:,} | {peak} |"]
