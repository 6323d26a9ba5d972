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
from crossmodal.stages.claims import CellClaim
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


def run_cell(ctx: RunContext, cfg: Config, method: str, seed: int, control: str = "", trial: bool = False,
             wait: bool = True) -> MethodResult | None:
    """The result of `method` with student-side seed `seed`, run with `cfg` against the context's teacher.

    A `control` (e.g. 'random_teacher') tags the cell's files `<method>@<control>` so they never mix with the
    method's own; it has no probe or label curve. A `trial` (a setting being tried on val) is measured on the
    validation split only: no test, no probe, no label curve, no checkpoints. A cell finished earlier in this run,
    or in the run folder ctx.reuse, with the same cell_identity is reused as it is. A cell another process is
    running (`--join`, CellClaim) is waited for, or left (None) when not `wait`.
    """
    cell = Cell(cfg, method, seed, control, trial)
    store = CellStore(ctx)
    done = store.existing(cell)
    if done is not None:
        return done
    if ctx.accelerator.num_processes > 1:  # one launch's processes run each cell together: no claims between them
        return _compute(ctx, cell, store)
    claim = CellClaim(store.path(cell))
    if not claim.take(wait=False):
        if not wait:
            return None
        ctx.log.info("%s seed %d: another process is running it; waiting", cell.tag, cell.seed)
        claim.take(wait=True)
    if claim.unlocked:
        ctx.log.warning("%s: this file system gives no file locks; processes joined to this run (--join) may run "
                        "a cell twice", claim.lock.lock_file)
    try:
        done = store.existing(cell)  # finished by the process that held the claim
        return done if done is not None else _compute(ctx, cell, store)
    finally:
        claim.release()


def _compute(ctx: RunContext, cell: Cell, store: CellStore) -> MethodResult:
    """Run the cell's transfer and downstream protocol, continuing from its step checkpoints, and save it."""
    t0 = time.time()
    stages = [ctx.checkpoints(cell.seeded, f"{stage}-{cell.stem}") for stage in ("transfer", "finetune")]
    earlier = store.earlier_transfer(cell)
    student, transferred = _transferred(ctx, cell, earlier, stages[0])
    head = distiller_head(cell.cfg, cell.method, transferred and transferred["distiller"])  # head_init: distiller
    run = CellRun(ctx, cell, student, head, stages[1], store.finetuned(cell, earlier))
    result, finetuned = cell.cfg.task_spec.downstream().measure(run)
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
    """Every cell of `methods`, seed by seed, each method with its config in `configs`: {method: {seed: result}}.

    Cells another process is running are left for last and then waited for (run_cell_list).
    """
    keys = [(method, seed) for seed in ctx.cfg.run_seeds for method in methods]
    done = run_cell_list(ctx, [(configs[m], m, s, control, False) for m, s in keys])
    results: dict[str, dict[int, MethodResult]] = {m: {} for m in methods}
    for (method, seed), result in zip(keys, done):
        results[method][seed] = result
    return results


def run_cell_list(ctx: RunContext, cells: list[tuple[Config, str, int, str, bool]]) -> list[MethodResult]:
    """The results of `cells`, each (cfg, method, seed, control, trial), in their order.

    A first pass runs every cell no other process holds; a second waits for the rest, so that processes joined
    to one run (`--join`) share its cells instead of queueing behind each other.
    """
    results = [run_cell(ctx, *cell, wait=False) for cell in cells]
    return [r if r is not None else run_cell(ctx, *cell) for r, cell in zip(results, cells)]


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
