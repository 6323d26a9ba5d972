"""The smoke pipeline end to end: run_transfer.py under `accelerate launch`, its wall time and its metrics."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

ROOT = Path(__file__).resolve().parent.parent


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
