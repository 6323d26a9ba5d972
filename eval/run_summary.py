"""metrics.json of a run: what was run, each method's numbers over its seeds, the controls and what was reused."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from accelerate import Accelerator

from crossmodal.atomic import write_text_atomic
from crossmodal.config import Config, to_dict
from crossmodal.data.files import SPLITS, DataFiles
from crossmodal.downstream.results import MethodResult
from crossmodal.runtime import device_name, versions
from eval.aggregate import aggregate

Cells = Mapping[str, Mapping[int, MethodResult]]  # {method: {seed: MethodResult}}


def write_metrics(run_dir: Path, summary: dict[str, Any]) -> None:
    """Write the summary as the folder's metrics.json."""
    write_text_atomic(run_dir / "metrics.json", json.dumps(summary, indent=2))


def val_overlap(data: DataFiles) -> str:
    """What the start-up leakage check established about the validation split (crossmodal.data.leakage)."""
    return data.leakage.statement("val") if data.leakage is not None else "not compared with the other splits"


def _network(n: Any) -> str:
    """A network's architecture, its tapped stages and its starting weights, as the protocol names them."""
    return (f"`{n.arch}`" + (f" (stages {', '.join(n.features)})" if n.features else "")
            + (f", starting weights {n.pretrained}" if n.pretrained else ""))


def protocol_lines(cfg: Config, data: DataFiles, teacher_source: str, teacher_input: str,
                   downstream: list[str]) -> list[str]:
    """The protocol the report lists: networks, transfer, the downstream protocol's lines, test and seeds."""
    return [
        f"networks: teacher {_network(cfg.teacher.net)} ({teacher_source}); student {_network(cfg.student)}",
        *([teacher_input] if teacher_input else []),
        f"transfer: {data.unlabeled.num_samples} unlabeled pairs, {cfg.transfer.epochs} epochs, "
        f"batch {cfg.transfer.batch_size}",
        *downstream,
        f"test: {data.test.num_samples} frames, read once per cell after the choices; metrics from the last "
        f"epoch of a fixed schedule (no selection, tuning or early stopping on the test split)",
        f"seeds {', '.join(map(str, cfg.run_seeds))} change the student's initialisation, data order, augmentation "
        f"and sampling; data and teacher are the same for every seed",
    ]


def methods_over_seeds(results: Cells, names: list[str]) -> dict[str, dict[str, Any]]:
    """Each method aggregated over its seeds."""
    return {m: aggregate({s: r.metrics for s, r in per_seed.items()}, names) for m, per_seed in results.items()}


def run_summary(cfg: Config, data: DataFiles, results: Cells, teacher_source: str, accelerator: Accelerator,
                wall_time_s: float, resumed: bool, protocol: list[str]) -> dict[str, Any]:
    """The first part of metrics.json: the run, its data and protocol, each method over its seeds, the config."""
    names = list(data.class_names)
    return {
        "name": cfg.name, "seed": cfg.seed, "seeds": cfg.run_seeds, "device": device_name(accelerator),
        "num_processes": accelerator.num_processes, "mixed_precision": accelerator.mixed_precision,
        "wall_time_s": round(wall_time_s, 1), "resumed": resumed, "task": cfg.task, "source": cfg.data.source,
        "target": cfg.data.target, "class_names": names, "teacher": teacher_source,
        "data": {s: str(getattr(data, s).path) for s in (*SPLITS, "val") if getattr(data, s) is not None},
        "protocol": protocol,
        "methods": methods_over_seeds(results, names),
        "versions": versions(), "config": to_dict(cfg),
    }


def reused_cells(results: Cells, controls: Mapping[str, Cells]) -> dict[str, str]:
    """{cell: earlier run} for the cells taken over from an earlier run (--reuse-cells), controls included."""
    reused = {f"{m}-seed{s}": r.metrics["reused_from"] for m, per_seed in results.items()
              for s, r in per_seed.items() if r.metrics.get("reused_from")}
    reused |= {f"{m}@{c}-seed{s}": r.metrics["reused_from"] for c, per_method in controls.items()
               for m, per_seed in per_method.items() for s, r in per_seed.items() if r.metrics.get("reused_from")}
    return reused


def add_controls(summary: dict[str, Any], entries: Mapping[str, Mapping[str, Mapping[str, Any]]],
                 metric: str) -> None:
    """The control cells' headline metric, mean and per seed, added to the summary when there are any."""
    if entries:
        summary["controls"] = {c: {m: e[metric] for m, e in per.items()} for c, per in entries.items()}
        summary["controls_per_seed"] = {c: {m: {s: r[metric] for s, r in e["per_seed"].items()}
                                            for m, e in per.items()} for c, per in entries.items()}
