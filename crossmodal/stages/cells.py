"""One (method, seed) cell of a run: transfer (unless `none`), then the task's downstream protocol; saved when done.

The protocol is the task's (Task.downstream()): for segmentation a frozen probe, a label curve, fine-tuning and
test; for classification linear probes at every stage. What of the cell already exists (finished, taken over from
`--reuse-cells`, an earlier transfer or a trial's fine-tuned student) is the CellStore's answer
(crossmodal/stages/reuse.py). An unfinished cell continues from its stages' step checkpoints (runs/<name>/state/).
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from crossmodal.atomic import save_checkpoint
from crossmodal.config import Config, to_dict
from crossmodal.downstream import MethodResult, distiller_head
from crossmodal.models import FeatureNet
from crossmodal.stages.checkpoints import StageCheckpoints
from crossmodal.stages.common import cpu_state
from crossmodal.stages.context import RunContext
from crossmodal.stages.reuse import Cell, CellStore
from crossmodal.stages.transfer import build_student, run_transfer


@dataclass
class CellRun:
    """A cell whose transfer is done: what its downstream protocol starts from.

    `head` is the distiller's head for the fine-tuning to start from (finetune.head_init: distiller), `ckpt` the
    fine-tuning stage's step checkpoints, `finetuned` a trial's fine-tuned student the cell may take over
    (CellStore.finetuned).
    """

    ctx: RunContext
    cell: Cell
    student: FeatureNet
    head: dict | None
    ckpt: StageCheckpoints
    finetuned: dict | None


def run_cell(ctx: RunContext, cfg: Config, method: str, seed: int, control: str = "",
             trial: bool = False) -> MethodResult:
    """The result of `method` with student-side seed `seed`, run with `cfg` against the context's teacher.

    A `control` (e.g. 'random_teacher') tags the cell's files `<method>@<control>` so they never mix with the
    method's own; it has no probe or label curve. A `trial` (a setting being tried on val) is measured on the
    validation split only: no test, no probe, no label curve, no checkpoints. A cell finished earlier in this run,
    or in the run folder ctx.reuse, with the same cell_identity is reused as it is.
    """
    cell = Cell(cfg, method, seed, control, trial)
    store = CellStore(ctx)
    done = store.existing(cell)
    if done is not None:
        return done
    t0 = time.time()
    stages = [ctx.checkpoints(cell.seeded, f"{stage}-{cell.stem}") for stage in ("transfer", "finetune")]
    earlier = store.earlier_transfer(cell)
    student, transferred = _transferred(ctx, cell, earlier, stages[0])
    head = distiller_head(cfg, method, transferred and transferred["distiller"])  # finetune.head_init: distiller
    run = CellRun(ctx, cell, student, head, stages[1], store.finetuned(cell, earlier))
    result, finetuned = cfg.task_spec.downstream().measure(run)
    result.curves.update({"transfer": transferred["curve"]} if transferred else {})
    result.metrics["time_s"] = round(time.time() - t0, 1)
    if stages[0].skipped_nonfinite:  # transfer steps skipped for a non-finite loss (transfer.skip_nonfinite)
        result.metrics["skipped_nonfinite"] = stages[0].skipped_nonfinite
    store.save(cell, result, transferred, finetuned)
    for stage in stages:
        stage.clear()
    ctx.accelerator.wait_for_everyone()
    return result


def run_cells(ctx: RunContext, configs: dict[str, Config], methods: list[str],
              control: str = "") -> dict[str, dict[int, MethodResult]]:
    """Every cell of `methods`, seed by seed, each method with its config in `configs`: {method: {seed: result}}."""
    results: dict[str, dict[int, MethodResult]] = {m: {} for m in methods}
    for seed in ctx.cfg.run_seeds:
        for method in methods:
            results[method][seed] = run_cell(ctx, configs[method], method, seed, control)
    return results


def _transferred(ctx: RunContext, cell: Cell, earlier: dict | None,
                 ckpt: StageCheckpoints) -> tuple[FeatureNet, dict | None]:
    """The cell's student after its transfer, and the transfer's student, distiller and curve (None for `none`).

    The transfer is taken from `earlier` when there is one (CellStore.earlier_transfer), else run (resumable via
    `ckpt`). A reported cell's transfer is saved as checkpoints/<name>_transfer.pt.
    """
    cfg = cell.seeded
    if cell.method == "none":  # random initialisation: nothing to transfer
        return build_student(cfg, ctx.data), None
    if earlier is not None:  # a finished cell with this seed and the same transfer settings: done already
        student = build_student(cfg, ctx.data)
        student.load_state_dict(earlier["student"])
        transferred = {"student": earlier["student"], "distiller": earlier["distiller"], "curve": earlier["curve"]}
        ctx.log.info("%s seed %d: reusing the transfer of %s", cell.tag, cell.seed, earlier["path"])
    else:
        student, distiller, curve = run_transfer(ctx, cfg, cell.method, ckpt)
        transferred = {"student": cpu_state(student.state_dict()), "distiller": cpu_state(distiller.state_dict()),
                       "curve": curve}  # copies: fine-tuning changes the student in place
    if ctx.is_main and not cell.trial:
        save_checkpoint({**transferred, "method": cell.method, "seed": cell.seed, "config": to_dict(cfg)},
                        ctx.run_dir / "checkpoints" / f"{cell.name}_transfer.pt")
    return student, transferred
