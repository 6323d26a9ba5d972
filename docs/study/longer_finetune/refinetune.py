"""Fine-tune the transferred students of a finished run again with other fine-tuning settings; prints and saves
each cell's val and test mIoU (%). The record behind docs/study.md, "How the fine-tuning schedule was found":

    python docs/study/longer_finetune/refinetune.py runs/base3 finetune.epochs=80 --out ft80.json
    python docs/study/longer_finetune/refinetune.py runs/base3 finetune.epochs=80 --labels 50 --only none,crd_dense

Every cell of the run with a `checkpoints/<method>-seed<s>_transfer.pt` (controls included) and `none` for each
seed is fine-tuned from its transferred weights by the pipeline's own finetune_and_evaluate (same head
initialisation, data order and BatchNorm recalibration as a cell of the run), so only the overridden keys differ.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import tempfile
from pathlib import Path

import torch
from accelerate import Accelerator

from crossmodal.config import load_config
from crossmodal.data.files import open_data
from crossmodal.downstream.finetune import finetune_and_evaluate
from crossmodal.stages.checkpoints import stage_checkpoints
from crossmodal.stages.transfer import build_student


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished run folder (runs/<name>) with checkpoints/*_transfer.pt")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. finetune.epochs=80")
    parser.add_argument("--labels", type=int, default=None, help="fine-tune on this many labels (label_subset)")
    parser.add_argument("--only", default="", help="comma-separated prefixes of the cells to run (e.g. none,kd)")
    parser.add_argument("--out", type=Path, default=None, help="write {cell: [val, test]} here as JSON")
    args = parser.parse_args()
    cfg = load_config(args.run / "config.yaml", args.overrides)
    data = open_data(cfg)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    log = logging.getLogger("refinetune")
    names = [p.name[:-len("_transfer.pt")] for p in sorted((args.run / "checkpoints").glob("*_transfer.pt"))]
    names += [f"none-seed{s}" for s in cfg.run_seeds]
    wanted = [p for p in args.only.split(",") if p]
    out: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            if wanted and not any(name.startswith(p) for p in wanted):
                continue
            match = re.match(r"(.*)-seed(\d+)$", name)
            if match is None:
                raise SystemExit(f"{args.run}: checkpoint name {name!r} is not <method>-seed<n> (a one-seed run?)")
            method, seed = match.group(1), int(match.group(2))
            cell_cfg = dataclasses.replace(cfg, seed=seed)
            student = build_student(cell_cfg, data)
            if method != "none":
                blob = torch.load(args.run / "checkpoints" / f"{name}_transfer.pt", map_location="cpu",
                                  weights_only=False)
                student.load_state_dict(blob["student"])
            stage = stage_checkpoints(cell_cfg, Path(tmp) / name, f"refinetune-{name}", accelerator, log)
            result, _ = finetune_and_evaluate(cell_cfg, method, student, data, accelerator, log, stage,
                                              label_count=args.labels)
            out[name] = [round(100 * result.metrics["val_miou"], 2), round(100 * result.metrics["miou"], 2)]
            print(name, "val", out[name][0], "test", out[name][1], flush=True)
    if args.out is not None:
        args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
