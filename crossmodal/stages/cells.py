"""One (method, seed) cell of a run: transfer (unless `none`), then the downstream protocol of the task
(segmentation: frozen probe, fine-tune and test; classification: linear probes at every stage); saved when done.

A finished cell is stored in runs/<name>/cells/ and reused when the run is resumed; an unfinished one continues
from its stages' step checkpoints (runs/<name>/state/).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import torch
from torch import nn
from accelerate import Accelerator

from crossmodal.atomic import save_checkpoint
from crossmodal.config import Config, to_dict
from crossmodal.data.files import DataFiles
from crossmodal.data.loaders import input_spec, make_loader
from crossmodal.downstream import MethodResult, evaluate_model, finetune_and_evaluate, linear_probes, probe_segmentation
from crossmodal.seeds import seed_for
from crossmodal.stages.checkpoints import stage_checkpoints
from crossmodal.stages.supervised import evaluate_classifier
from crossmodal.stages.transfer import build_student, run_transfer


def cell_name(method: str, seed: int, cfg: Config) -> str:
    """'crd' for a one-seed run, 'crd-seed2' when the run has several seeds (file names of its checkpoints)."""
    return method if len(cfg.run_seeds) == 1 else f"{method}-seed{seed}"


def run_cell(cfg: Config, method: str, seed: int, data: DataFiles, teacher: nn.Module, accelerator: Accelerator,
             log: logging.Logger, run_dir: Path, control: str = "", trial: bool = False) -> MethodResult:
    """The result of `method` with student-side seed `seed` (the teacher is shared by every cell); a `control`
    (e.g. 'random_teacher', 'trial1') names the cell's files `<method>@<control>` so it never mixes with the
    method's own, and has no probe or label curve. A `trial` (a setting being tried on val) is measured on the validation split only: no test, no
    probe, no label curve, no checkpoints."""
    tag = f"{method}@{control}" if control else method
    path = run_dir / "cells" / f"{tag}-seed{seed}.pt"
    if path.is_file():
        blob = torch.load(path, map_location="cpu", weights_only=False)
        if blob["config"] == to_dict(cfg):
            log.info("%s seed %d: finished earlier, reusing %s", tag, seed, path)
            return MethodResult(**blob["result"])
    t0 = time.time()
    cell_cfg = dataclasses.replace(cfg, seed=seed)
    name = cell_name(tag, seed, cfg)
    stages = [stage_checkpoints(cell_cfg, run_dir, f"{stage}-{tag}-seed{seed}", accelerator, log)
              for stage in ("transfer", "finetune")]
    transferred = None
    if method == "none":
        student, curves = build_student(cell_cfg, data), {}
    else:
        # a trial (whose files are tagged trial<i>) or a reported cell reuses the same transfer of an earlier trial
        tried = None if control and not trial else _tried_transfer(run_dir, method, seed, cfg)
        if tried is not None:  # a finished trial with this seed and the same transfer settings: done already
            student = build_student(cell_cfg, data)
            student.load_state_dict(tried["student"])
            transferred = {"student": tried["student"], "distiller": tried["distiller"], "curve": tried["curve"]}
            log.info("%s seed %d: reusing the transfer of its trial %s", tag, seed, tried["path"])
        else:
            student, distiller, curve = run_transfer(cell_cfg, method, data, teacher, accelerator, log, stages[0])
            transferred = {"student": _copy(student.state_dict()), "distiller": _copy(distiller.state_dict()),
                           "curve": curve}  # copies: fine-tuning changes the student in place
        curves = {"transfer": transferred["curve"]}
        if accelerator.is_main_process and not trial:
            save_checkpoint({**transferred, "method": method, "seed": seed, "config": to_dict(cell_cfg)},
                            run_dir / "checkpoints" / f"{name}_transfer.pt")
    if not cfg.task_spec.fine_tunes:  # the paper's L -> ab protocol: linear probes on the frozen student
        result = MethodResult(linear_probes(cell_cfg, student, data, accelerator), None, curves)
        log.info("%s seed %d: linear-probe top-1 per stage %s", method, seed,
                 [round(v, 4) for v in result.metrics["top1_per_stage"]])
    elif trial:
        result, _ = finetune_and_evaluate(cell_cfg, tag, student, data, accelerator, log, stages[1], test=False)
        result.curves.update(curves)
    else:
        # the frozen probe describes the method's own student; a control cell skips it (the report reads only
        # the control's fine-tuned mIoU)
        probe = probe_segmentation(cell_cfg, student, data, accelerator) if cfg.probe.enabled and not control \
            else None
        curve_points = {}
        counts = [] if control or (cfg.finetune.label_methods and method not in cfg.finetune.label_methods) \
            else cfg.finetune.label_counts
        for n in counts:  # label efficiency: the same student fine-tuned on fewer labels (not for controls)
            stage = stage_checkpoints(cell_cfg, run_dir, f"finetune{n}-{tag}-seed{seed}", accelerator, log)
            twin = build_student(cell_cfg, data)  # a fresh copy (deepcopy would share forward hooks of tapped nets)
            twin.load_state_dict(student.state_dict())
            few, _ = finetune_and_evaluate(cell_cfg, method, twin, data, accelerator, log, stage, label_count=n)
            curve_points[str(n)] = few.metrics["miou"]
            stage.clear()
        result, model = finetune_and_evaluate(cell_cfg, method, student, data, accelerator, log, stages[1])
        if curve_points:
            result.metrics["label_efficiency"] = {**curve_points, str(data.train.num_samples): result.metrics["miou"]}
        result.curves.update(curves)
        if probe is not None:
            result.metrics["probe"] = probe
            log.info("%s seed %d: frozen probe mIoU %.4f", method, seed, probe["miou"])
        if accelerator.is_main_process:
            save_checkpoint({"model": model.state_dict(), "method": method, "seed": seed,
                             "class_names": list(data.class_names), "config": to_dict(cell_cfg)},
                            run_dir / "checkpoints" / f"{name}_finetuned.pt")
    result.metrics["time_s"] = round(time.time() - t0, 1)
    if stages[0].skipped_nonfinite:  # transfer steps skipped for a non-finite loss (transfer.skip_nonfinite)
        result.metrics["skipped_nonfinite"] = stages[0].skipped_nonfinite
    if accelerator.is_main_process:
        keep = {k: transferred[k] for k in ("student", "distiller")} if trial and transferred else {}
        # (a trial keeps its transferred student: the reported cell of the chosen setting need not transfer again)
        save_checkpoint({"result": dataclasses.asdict(result), "config": to_dict(cfg), **keep,
                         **({"curve": transferred["curve"]} if keep else {})}, path)
    for stage in stages:
        stage.clear()
    accelerator.wait_for_everyone()
    return result


def _copy(state: dict) -> dict:
    """A state dict detached from the module (tensors copied to the CPU; extra state as is)."""
    return {k: v.detach().to("cpu", copy=True) if torch.is_tensor(v) else v for k, v in state.items()}


def _transfer_part(config: dict) -> dict:
    """What a cell's transfer depends on: its config without the sections read only after it (fine-tuning, probe)."""
    return {k: v for k, v in config.items() if k not in ("finetune", "probe")}


def _tried_transfer(run_dir: Path, method: str, seed: int, cfg: Config) -> dict | None:
    """The transferred student (and distiller, curve) of a finished trial cell of `method` and `seed` whose config
    equals `cfg` up to fine-tuning and probe options (so settings that differ only there share one transfer), or
    None."""
    want = _transfer_part(to_dict(cfg))
    for path in sorted((run_dir / "cells").glob(f"{method}@trial*-seed{seed}.pt")):
        blob = torch.load(path, map_location="cpu", weights_only=False)
        if _transfer_part(blob["config"]) == want and "student" in blob:
            return {**blob, "path": path}
    return None


def teacher_result(cfg: Config, teacher: torch.nn.Module, data: DataFiles, accelerator: Accelerator,
                   curve: list) -> MethodResult:
    """The frozen teacher on its own sensor and the test split: the reference the students are measured against."""
    key, spec = cfg.data.source, input_spec(cfg, "source")
    if not cfg.task_spec.per_pixel:  # image-level labels: the teacher is a classifier
        loader = make_loader(data.test, {key: spec}, train=False, batch_size=cfg.finetune.batch_size,
                             num_workers=cfg.data.num_workers, seed=seed_for(cfg.seed, "evaluation"),
                             label=cfg.task_spec.label_key)
        return MethodResult(evaluate_classifier(accelerator, teacher, loader, key, "test[teacher]"), None,
                            {"teacher": curve})
    metrics, confusion, examples = evaluate_model(cfg, teacher, data.test, data.class_names, key, spec, accelerator,
                                                  "test[teacher]")
    return MethodResult(metrics, confusion, {"teacher": curve}, examples)
