"""What of a cell already exists: its result, its transfer, or its fine-tuned student.

A finished cell is stored in runs/<name>/cells/. It is reused when the run is resumed, or by a new run started with
`--reuse-cells` from another run's folder, whenever what the cell depends on is unchanged: its identity
(`cell_identity`) and the content fingerprints of the data it reads (`cell_data`). A cell that must run again may
still start from an earlier transfer with the same settings: a trial's, or the same cell's in the run given to
`--reuse-cells`. The reported cell of a tuned method also takes over the fine-tuned student of the trial that
fine-tuned exactly as it would.
"""
from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import torch

from crossmodal.atomic import atomic_path, save_checkpoint
from crossmodal.config import Config, TransferStage, to_dict, without_new_defaults
from crossmodal.config.distillers import config_key
from crossmodal.data.files import DataFiles
from crossmodal.downstream.results import MethodResult
from crossmodal.stages.context import RunContext

# run-level keys no cell result depends on: where the run is written, which cells it has, how it is executed
_RUN_ONLY = ("name", "output_dir", "seeds", "methods", "threads", "trackers", "checkpoint", "controls", "tune")
_STAGE_FIELDS = tuple(f.name for f in dataclasses.fields(TransferStage))


def cell_name(method: str, seed: int, cfg: Config) -> str:
    """The name of a cell's checkpoints: 'crd' in a one-seed run, 'crd-seed2' when the run has several seeds."""
    return method if len(cfg.run_seeds) == 1 else f"{method}-seed{seed}"


@dataclass(frozen=True)
class Cell:
    """One (method, seed) cell of a run and the config it runs with.

    A `control` (e.g. 'random_teacher') or a `trial` (a setting tried on val) tags the cell's files
    `<method>@<control>`, so they never mix with the method's own.
    """

    cfg: Config
    method: str
    seed: int
    control: str = ""
    trial: bool = False

    @property
    def tag(self) -> str:
        """'crd', or 'crd@random_teacher' for a control."""
        return f"{self.method}@{self.control}" if self.control else self.method

    @property
    def stem(self) -> str:
        """'crd-seed0': the cell file's stem, also the end of its stages' checkpoint folders."""
        return f"{self.tag}-seed{self.seed}"

    @property
    def name(self) -> str:
        """The name of the cell's transfer and fine-tuned checkpoints (cell_name)."""
        return cell_name(self.tag, self.seed, self.cfg)

    @cached_property
    def seeded(self) -> Config:
        """The cell's config with the cell's seed: what its stages run with."""
        return dataclasses.replace(self.cfg, seed=self.seed)

    def identity(self, config: dict | None = None) -> dict:
        """The cell_identity of this cell under a saved `config` (the cell's own config when None)."""
        return cell_identity(to_dict(self.cfg) if config is None else config, self.method, self.control, self.trial)


def cell_identity(config: dict, method: str, control: str = "", trial: bool = False) -> dict:
    """What one cell of `method` depends on, from a run's saved config (to_dict).

    That is the config without the run-level keys, the loader workers and cache folder, the other methods'
    transfer sections and the label counts the cell does not measure. For `none`, which has no transfer and no
    teacher, the transfer, teacher and run seed are left out too; for a control or a trial, the probe. A finished
    cell whose identity equals the one asked for is reused.
    """
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
    ft["label_counts"] = label_counts(config, method, control, trial)
    tree["finetune"] = ft
    if control or trial:
        tree.pop("probe")
    return tree


def label_counts(cfg: Config | dict, method: str, control: str = "", trial: bool = False) -> list[int]:
    """The label counts a cell measures: finetune.label_counts for a listed method, none for a control or trial."""
    ft = cfg["finetune"] if isinstance(cfg, dict) else to_dict(cfg.finetune)
    if control or trial or (ft["label_methods"] and method not in ft["label_methods"]):
        return []
    return list(ft["label_counts"])


def cell_data(data: DataFiles, method: str) -> dict[str, str]:
    """The content fingerprints of the splits a cell of `method` reads, {split: fingerprint}.

    `none` reads neither the unlabeled pairs nor the teacher's split. A cell file without them (an older
    version's) is never reused.
    """
    skip = ("unlabeled", "teacher") if method == "none" else ()
    return {s: fp for s, fp in sorted(data.fingerprints.items()) if s not in skip}


def _source_name(config: dict, tag: str, seed: int) -> str:
    """The checkpoint name (cell_name) the run with saved `config` gave cell `tag` with `seed`."""
    return tag if len(config["seeds"] or [config["seed"]]) == 1 else f"{tag}-seed{seed}"


def _transfer_part(identity: dict) -> dict:
    """What a cell's transfer depends on: its identity without the sections read after it (fine-tuning, probe)."""
    return {k: v for k, v in identity.items() if k not in ("finetune", "probe")}


def _same_finetuning(trial_config: dict, cfg: Config, method: str) -> bool:
    """Whether a trial with `trial_config` fine-tuned exactly as a reported cell with `cfg` would.

    The two identities are compared as a trial's, which leaves out what only the reported cell does: the probe
    and the label curve.
    """
    return cell_identity(trial_config, method, trial=True) == cell_identity(to_dict(cfg), method, trial=True)


def _load(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=False)


class CellStore:
    """The cells of a run folder, and of the run given to `--reuse-cells`: what of a cell already exists."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.reuse = ctx.reuse

    def path(self, cell: Cell) -> Path:
        """The cell's file in this run: runs/<name>/cells/<tag>-seed<seed>.pt."""
        return self.ctx.run_dir / "cells" / f"{cell.stem}.pt"

    def existing(self, cell: Cell) -> MethodResult | None:
        """The cell's result if it finished earlier in this run, or in the run `reuse` (then copied here); else None."""
        log, path = self.ctx.log, self.path(cell)
        done = self._finished(path, cell)
        if done is not None:
            log.info("%s seed %d: finished earlier, reusing %s", cell.tag, cell.seed, path)
            return done
        if self.reuse is not None:
            done = self._adopt(cell)
            if done is not None:
                log.info("%s seed %d: finished in %s with the same cell config, reused", cell.tag, cell.seed,
                         self.reuse)
        return done

    def earlier_transfer(self, cell: Cell) -> dict | None:
        """A finished transfer the cell can start from, or None.

        A trial, or a reported cell, reuses the transfer of an earlier trial with the same transfer settings; any
        cell but `none` also the same cell's transfer in the run `reuse`. The blob holds the transferred
        student, distiller and curve and the path it came from; a trial's also its fine-tuned student.
        """
        earlier = None if cell.control and not cell.trial else self._tried(cell)
        if earlier is None and self.reuse is not None and cell.method != "none":
            earlier = self._earlier_transfer(cell)
        return earlier

    def finetuned(self, cell: Cell, earlier: dict | None) -> dict | None:
        """The fine-tuned student of the trial `earlier` if it fine-tuned exactly as `cell` would, else None.

        The answer holds the weights (`model`), the trial's cell file (`path`) and its fine-tuning loss curve.
        """
        if earlier is None or "finetuned" not in earlier or not _same_finetuning(earlier["config"], cell.cfg,
                                                                                  cell.method):
            return None
        return {"model": earlier["finetuned"], "path": earlier["path"],
                "curve": earlier["result"]["curves"]["finetune"]}

    def save(self, cell: Cell, result: MethodResult, transferred: dict | None, finetuned: dict | None) -> None:
        """Write the finished cell's file (main process): its result, config and data fingerprints.

        A trial keeps its transferred and fine-tuned student too: the reported cell of the chosen setting reuses
        them.
        """
        if not self.ctx.is_main:
            return
        keep = {k: transferred[k] for k in ("student", "distiller", "curve")} if cell.trial and transferred else {}
        if finetuned is not None:
            keep["finetuned"] = finetuned
        save_checkpoint({"result": dataclasses.asdict(result), "config": to_dict(cell.cfg),
                         "data": cell_data(self.ctx.data, cell.method), **keep}, self.path(cell))

    def _finished(self, path: Path, cell: Cell) -> MethodResult | None:
        """The result in cell file `path` if it has the cell's identity and was computed on data of the same content."""
        blob = self._matching(path, cell)
        return None if blob is None else MethodResult(**blob["result"])

    def _matching(self, path: Path, cell: Cell) -> dict[str, Any] | None:
        """The contents of cell file `path` if it has the cell's identity and data of the same content, else None."""
        if not path.is_file():
            return None
        blob = _load(path)
        same = cell.identity(blob["config"]) == cell.identity() and \
            blob.get("data") == cell_data(self.ctx.data, cell.method)
        return blob if same else None

    def _adopt(self, cell: Cell) -> MethodResult | None:
        """The same cell finished in the run `reuse`, copied into this run when its identity matches; else None.

        The cell file is copied with a note of where it came from, and so are its transfer and fine-tuned
        checkpoints.
        """
        blob = self._matching(self.reuse / "cells" / f"{cell.stem}.pt", cell)
        if blob is None:
            return None
        blob["result"]["metrics"]["reused_from"] = str(self.reuse)
        if self.ctx.is_main:
            src_name = _source_name(blob["config"], cell.tag, cell.seed)
            for part in ("transfer", "finetuned"):
                src = self.reuse / "checkpoints" / f"{src_name}_{part}.pt"
                if src.is_file():
                    with atomic_path(self.ctx.run_dir / "checkpoints" / f"{cell.name}_{part}.pt") as tmp:
                        shutil.copyfile(src, tmp)
            save_checkpoint({**blob, "config": to_dict(cell.cfg)}, self.path(cell))
        self.ctx.accelerator.wait_for_everyone()
        return MethodResult(**blob["result"])

    def _earlier_transfer(self, cell: Cell) -> dict | None:
        """The same cell's transfer in the run `reuse` when its transfer settings equal the cell's, else None.

        The two may differ in fine-tuning or probe only. A trial's comes from its cell file, any other cell's from
        its transfer checkpoint.
        """
        source = self.reuse / "cells" / f"{cell.stem}.pt"
        if not source.is_file():
            return None
        blob = _load(source)
        old = blob["config"]
        if _transfer_part(cell.identity(old)) != _transfer_part(cell.identity()) or \
                blob.get("data") != cell_data(self.ctx.data, cell.method):
            return None
        if cell.trial:
            return {**blob, "path": source} if "student" in blob else None
        path = self.reuse / "checkpoints" / f"{_source_name(old, cell.tag, cell.seed)}_transfer.pt"
        if not path.is_file():
            return None
        saved = _load(path)
        return {"student": saved["student"], "distiller": saved["distiller"], "curve": saved["curve"], "path": path}

    def _tried(self, cell: Cell) -> dict | None:
        """A finished trial of the cell's method and seed with the cell's transfer settings, or None.

        The trial's config equals the cell's up to fine-tuning and probe options: settings that differ only there
        share one transfer. The answer is the trial's blob and path: its transferred student, distiller and curve,
        and its fine-tuned student.
        """
        method, data = cell.method, self.ctx.data
        want = _transfer_part(cell_identity(to_dict(cell.cfg), method, trial=True))
        found = []
        for path in sorted((self.ctx.run_dir / "cells").glob(f"{method}@trial*-seed{cell.seed}.pt")):
            blob = _load(path)
            if _transfer_part(cell_identity(blob["config"], method, trial=True)) == want and (
                    "student" in blob or method == "none") and blob.get("data") == cell_data(data, method):
                found.append({**blob, "path": path})
        # the trial that also fine-tuned as the cell does comes first: its fine-tuned student is reused too
        found.sort(key=lambda b: not ("finetuned" in b and _same_finetuning(b["config"], cell.cfg, method)))
        return found[0] if found else None
