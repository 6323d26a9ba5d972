"""One (method, seed) cell of a run: transfer (unless `none`), then the downstream protocol of the task
(segmentation: frozen probe, fine-tune and test; classification: linear probes at every stage); saved when done.

A finished cell is stored in runs/<name>/cells/ and reused when the run is resumed, or by a new run started with
`--reuse-cells` from another run's folder, whenever what the cell depends on (`cell_identity`, and the content
fingerprints of the data it reads, `cell_data`) is unchanged; an unfinished one continues from its stages' step
checkpoints (runs/<name>/state/).
"""
from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from torch import nn

from crossmodal.atomic import atomic_path, save_checkpoint
from crossmodal.config import Config, TransferStage, to_dict, without_new_defaults
from crossmodal.config.distillers import config_key
from crossmodal.data.files import DataFiles
from crossmodal.downstream import (
    MethodResult,
    distiller_head,
    evaluate_finetuned,
    finetune_and_evaluate,
    linear_probes,
    probe_segmentation,
)
from crossmodal.models import Segmenter
from crossmodal.stages.checkpoints import stage_checkpoints
from crossmodal.stages.transfer import build_student, run_transfer


def cell_name(method: str, seed: int, cfg: Config) -> str:
    """'crd' for a one-seed run, 'crd-seed2' when the run has several seeds (file names of its checkpoints)."""
    return method if len(cfg.run_seeds) == 1 else f"{method}-seed{seed}"


def run_cell(cfg: Config, method: str, seed: int, data: DataFiles, teacher: nn.Module, accelerator: Accelerator,
             log: logging.Logger, run_dir: Path, control: str = "", trial: bool = False,
             reuse: Path | None = None) -> MethodResult:
    """The result of `method` with student-side seed `seed` (the teacher is shared by every cell); a `control`
    (e.g. 'random_teacher', 'trial1') names the cell's files `<method>@<control>` so it never mixes with the
    method's own, and has no probe or label curve. A `trial` (a setting being tried on val) is measured on the
    validation split only: no test, no probe, no label curve, no checkpoints. A cell finished earlier in this run, or
    in the run folder `reuse`, with the same `cell_identity` is reused as it is."""
    tag = f"{method}@{control}" if control else method
    path = run_dir / "cells" / f"{tag}-seed{seed}.pt"
    done = _finished(path, cfg, method, control, trial, data)
    if done is not None:
        log.info("%s seed %d: finished earlier, reusing %s", tag, seed, path)
        return done
    if reuse is not None:
        done = _adopt(reuse, path, cfg, method, seed, control, trial, accelerator, data)
        if done is not None:
            log.info("%s seed %d: finished in %s with the same cell config, reused", tag, seed, reuse)
            return done
    t0 = time.time()
    cell_cfg = dataclasses.replace(cfg, seed=seed)
    name = cell_name(tag, seed, cfg)
    stages = [stage_checkpoints(cell_cfg, run_dir, f"{stage}-{tag}-seed{seed}", accelerator, log)
              for stage in ("transfer", "finetune")]
    transferred = None
    # a trial (whose files are tagged trial<i>) or a reported cell reuses the transfer of an earlier trial with the
    # same transfer settings, and a reported cell also its fine-tuned student when the fine-tuning settings agree
    tried = None if control and not trial else _tried(run_dir, method, seed, cfg, data)
    if tried is None and reuse is not None and method != "none":  # or the same transfer in the run `reuse`
        tried = _earlier_transfer(reuse, f"{tag}-seed{seed}.pt", method, seed, control, trial, cfg, data)
    if method == "none":
        student, curves = build_student(cell_cfg, data), {}
    else:
        if tried is not None:  # a finished cell with this seed and the same transfer settings: done already
            student = build_student(cell_cfg, data)
            student.load_state_dict(tried["student"])
            transferred = {"student": tried["student"], "distiller": tried["distiller"], "curve": tried["curve"]}
            log.info("%s seed %d: reusing the transfer of %s", tag, seed, tried["path"])
        else:
            student, distiller, curve = run_transfer(cell_cfg, method, data, teacher, accelerator, log, stages[0])
            transferred = {"student": _copy(student.state_dict()), "distiller": _copy(distiller.state_dict()),
                           "curve": curve}  # copies: fine-tuning changes the student in place
        curves = {"transfer": transferred["curve"]}
        if accelerator.is_main_process and not trial:
            save_checkpoint({**transferred, "method": method, "seed": seed, "config": to_dict(cell_cfg)},
                            run_dir / "checkpoints" / f"{name}_transfer.pt")
    head = distiller_head(cfg, method, transferred and transferred["distiller"])  # finetune.head_init: distiller
    finetuned = None  # the fine-tuned weights a trial keeps, so the reported cell of its setting need not redo them
    if not cfg.task_spec.fine_tunes:  # the paper's L -> ab protocol: linear probes on the frozen student
        result = MethodResult(linear_probes(cell_cfg, student, data, accelerator), None, curves)
        log.info("%s seed %d: linear-probe top-1 per stage %s", method, seed,
                 [round(v, 4) for v in result.metrics["top1_per_stage"]])
    elif trial:
        result, model = finetune_and_evaluate(cell_cfg, tag, student, data, accelerator, log, stages[1], test=False,
                                              head_state=head)
        result.curves.update(curves)
        finetuned = _copy(model.state_dict())
    else:
        # the frozen probe describes the method's own student; a control cell skips it (the report reads only
        # the control's fine-tuned mIoU)
        probe = probe_segmentation(cell_cfg, student, data, accelerator) if cfg.probe.enabled and not control \
            else None
        curve_points = {}
        for n in _label_counts(cfg, method, control, trial):  # label efficiency: the same student on fewer labels
            stage = stage_checkpoints(cell_cfg, run_dir, f"finetune{n}-{tag}-seed{seed}", accelerator, log)
            twin = build_student(cell_cfg, data)  # a fresh copy (deepcopy would share forward hooks of tapped nets)
            twin.load_state_dict(student.state_dict())
            few, _ = finetune_and_evaluate(cell_cfg, method, twin, data, accelerator, log, stage, label_count=n,
                                           head_state=head)
            curve_points[str(n)] = few.metrics["miou"]
            stage.clear()
        if tried is not None and "finetuned" in tried and _same_finetuning(tried["config"], cfg, method):
            model = Segmenter(build_student(cell_cfg, data), data.num_classes, cfg.student.head_channels)
            model.load_state_dict(tried["finetuned"])
            log.info("%s seed %d: reusing the fine-tuned student of its trial %s", tag, seed, tried["path"])
            result = evaluate_finetuned(cell_cfg, method, model, data, accelerator, log,
                                        tried["result"]["curves"]["finetune"])
        else:
            result, model = finetune_and_evaluate(cell_cfg, method, student, data, accelerator, log, stages[1],
                                                  head_state=head)
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
        # a trial keeps its transferred and fine-tuned student: the reported cell of the chosen setting reuses them
        keep = {k: transferred[k] for k in ("student", "distiller", "curve")} if trial and transferred else {}
        if finetuned is not None:
            keep["finetuned"] = finetuned
        save_checkpoint({"result": dataclasses.asdict(result), "config": to_dict(cfg),
                         "data": cell_data(data, method), **keep}, path)
    for stage in stages:
        stage.clear()
    accelerator.wait_for_everyone()
    return result


# run-level keys no cell result depends on: where the run is written, which cells it has, how it is executed
_RUN_ONLY = ("name", "output_dir", "seeds", "methods", "threads", "trackers", "checkpoint", "controls", "tune")
_STAGE_FIELDS = tuple(f.name for f in dataclasses.fields(TransferStage))


def cell_identity(config: dict, method: str, control: str = "", trial: bool = False) -> dict:
    """What one cell of `method` depends on, from a run's saved config (to_dict): the config without the run-level
    keys above, the loader workers and cache folder, the other methods' transfer sections (for `none`, which has no
    transfer and no teacher, those too), the label counts the cell does not measure and, for a control or a trial,
    the probe. A finished cell whose identity equals the one asked for is reused."""
    tree = {k: v for k, v in config.items() if k not in _RUN_ONLY}
    data = {k: v for k, v in tree["data"].items() if k != "num_workers"}
    data["synthetic"] = {k: v for k, v in data["synthetic"].items() if k != "workers"}
    tree["data"] = data
    tree["teacher"] = without_new_defaults({k: v for k, v in tree["teacher"].items() if k != "cache_dir"})
    tree["student"] = without_new_defaults(tree["student"])
    if method == "none":  # no transfer and no teacher (the run's `seed` is the teacher's; the cell has its own)
        for key in ("transfer", "teacher", "seed"):
            tree.pop(key)
    else:
        tree["transfer"] = {k: without_new_defaults(v) for k, v in tree["transfer"].items()
                            if k in _STAGE_FIELDS or k == config_key(method)}
    ft = {k: v for k, v in tree["finetune"].items() if k not in ("label_counts", "label_methods")}
    ft["label_counts"] = _label_counts(config, method, control, trial)
    tree["finetune"] = ft
    if control or trial:
        tree.pop("probe")
    return tree


def _label_counts(cfg: Config | dict, method: str, control: str, trial: bool) -> list[int]:
    """The label counts a cell fine-tunes for (finetune.label_counts for a listed method; none for a control or a
    trial)."""
    ft = cfg["finetune"] if isinstance(cfg, dict) else to_dict(cfg.finetune)
    if control or trial or (ft["label_methods"] and method not in ft["label_methods"]):
        return []
    return list(ft["label_counts"])


def cell_data(data: DataFiles, method: str) -> dict[str, str]:
    """The content fingerprints of the splits a cell of `method` reads ({split: fingerprint}; `none` reads neither
    the unlabeled pairs nor the teacher's split). A cell file without them (an older version's) is never reused."""
    skip = ("unlabeled", "teacher") if method == "none" else ()
    return {s: fp for s, fp in sorted(data.fingerprints.items()) if s not in skip}


def _finished(path: Path, cfg: Config, method: str, control: str, trial: bool,
              data: DataFiles) -> MethodResult | None:
    """The result stored in cell file `path` if it exists, has the identity `cfg` gives the cell and was computed on
    data of the same content, else None."""
    if not path.is_file():
        return None
    blob = torch.load(path, map_location="cpu", weights_only=False)
    want = cell_identity(to_dict(cfg), method, control, trial)
    same = cell_identity(blob["config"], method, control, trial) == want and blob.get("data") == cell_data(data, method)
    return MethodResult(**blob["result"]) if same else None


def _adopt(reuse: Path, path: Path, cfg: Config, method: str, seed: int, control: str, trial: bool,
           accelerator: Accelerator, data: DataFiles) -> MethodResult | None:
    """The same cell finished in the run folder `reuse`, if its identity matches: copied into this run (the cell
    file, recording where it came from, and its transfer and fine-tuned checkpoints), else None."""
    source = reuse / "cells" / path.name
    if _finished(source, cfg, method, control, trial, data) is None:
        return None
    blob = torch.load(source, map_location="cpu", weights_only=False)
    blob["result"]["metrics"]["reused_from"] = str(reuse)
    if accelerator.is_main_process:
        old = blob["config"]
        tag = path.name[:-len(f"-seed{seed}.pt")]
        src_name = _source_name(old, tag, seed)
        run_dir = path.parent.parent
        for part in ("transfer", "finetuned"):
            src = reuse / "checkpoints" / f"{src_name}_{part}.pt"
            if src.is_file():
                with atomic_path(run_dir / "checkpoints" / f"{cell_name(tag, seed, cfg)}_{part}.pt") as tmp:
                    shutil.copyfile(src, tmp)
        save_checkpoint({**blob, "config": to_dict(cfg)}, path)
    accelerator.wait_for_everyone()
    return MethodResult(**blob["result"])


def _source_name(config: dict, tag: str, seed: int) -> str:
    """The checkpoint name (cell_name) the run with saved `config` gave cell `tag` with `seed`."""
    return tag if len(config["seeds"] or [config["seed"]]) == 1 else f"{tag}-seed{seed}"


def _copy(state: dict) -> dict:
    """A state dict detached from the module (tensors copied to the CPU; extra state as is)."""
    return {k: v.detach().to("cpu", copy=True) if torch.is_tensor(v) else v for k, v in state.items()}


def _transfer_part(identity: dict) -> dict:
    """What a cell's transfer depends on: its identity without the sections read only after it (fine-tuning,
    probe)."""
    return {k: v for k, v in identity.items() if k not in ("finetune", "probe")}


def _same_finetuning(trial_config: dict, cfg: Config, method: str) -> bool:
    """Whether a trial with `trial_config` fine-tuned exactly as a reported cell with `cfg` would (same identity
    apart from what only the reported cell does: probe, label curve)."""
    return cell_identity(trial_config, method, trial=True) == cell_identity(to_dict(cfg), method, trial=True)


def _earlier_transfer(reuse: Path, cell_file: str, method: str, seed: int, control: str, trial: bool,
                      cfg: Config, data: DataFiles) -> dict | None:
    """The transferred student, distiller and curve of the same cell in the run folder `reuse` when its transfer
    settings equal those of `cfg` (it differed in fine-tuning or probe only): its transfer checkpoint (or, for a
    trial, its cell file), else None."""
    source = reuse / "cells" / cell_file
    if not source.is_file():
        return None
    blob = torch.load(source, map_location="cpu", weights_only=False)
    old = blob["config"]
    if _transfer_part(cell_identity(old, method, control, trial)) != \
            _transfer_part(cell_identity(to_dict(cfg), method, control, trial)) or \
            blob.get("data") != cell_data(data, method):
        return None
    if trial:
        return {**blob, "path": source} if "student" in blob else None
    path = reuse / "checkpoints" / f"{_source_name(old, cell_file[:-len(f'-seed{seed}.pt')], seed)}_transfer.pt"
    if not path.is_file():
        return None
    saved = torch.load(path, map_location="cpu", weights_only=False)
    return {"student": saved["student"], "distiller": saved["distiller"], "curve": saved["curve"], "path": path}


def _tried(run_dir: Path, method: str, seed: int, cfg: Config, data: DataFiles) -> dict | None:
    """A finished trial cell of `method` and `seed` whose config equals `cfg` up to fine-tuning and probe options
    (so settings that differ only there share one transfer): its blob (transferred student, distiller and curve;
    fine-tuned student) and path, or None."""
    want = _transfer_part(cell_identity(to_dict(cfg), method, trial=True))
    found = []
    for path in sorted((run_dir / "cells").glob(f"{method}@trial*-seed{seed}.pt")):
        blob = torch.load(path, map_location="cpu", weights_only=False)
        if _transfer_part(cell_identity(blob["config"], method, trial=True)) == want and (
                "student" in blob or method == "none") and blob.get("data") == cell_data(data, method):
            found.append({**blob, "path": path})
    # the trial that also fine-tuned as `cfg` does comes first: its fine-tuned student is reused too
    found.sort(key=lambda b: not ("finetuned" in b and _same_finetuning(b["config"], cfg, method)))
    return found[0] if found else None
