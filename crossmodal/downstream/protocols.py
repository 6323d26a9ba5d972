"""The downstream protocols: how a task measures a cell's student and the teacher's reference.

Each task names its protocol class in crossmodal/config/tasks.py ("module:Class", imported on first use), so a
cell calls `cfg.task_spec.downstream().measure(run)` instead of branching on the task. A protocol has three parts:

* `measure(run)`: the result of a cell whose transfer is done (crossmodal.stages.cells.CellRun), and the
  fine-tuned weights a trial keeps (None when there are none).
* `teacher_result(ctx, curve)`: the frozen teacher's own head on its sensor and the test split.
* `teacher_probe(ctx)`: the probe of the teacher's features, or None when the protocol has none.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from crossmodal.atomic import save_checkpoint
from crossmodal.config import to_dict
from crossmodal.downstream.finetune import evaluate_finetuned, finetune_and_evaluate
from crossmodal.downstream.probes import linear_probes, probe_segmentation
from crossmodal.downstream.results import MethodResult
from crossmodal.models import Segmenter
from crossmodal.stages.common import cpu_state
from crossmodal.stages.reuse import label_counts
from crossmodal.stages.teacher_reference import probed_teacher, teacher_classification, teacher_segmentation
from crossmodal.stages.transfer import build_student

if TYPE_CHECKING:
    from crossmodal.stages.cells import CellRun
    from crossmodal.stages.context import RunContext


class FineTune:
    """Segmentation: a frozen probe, a label curve, then fine-tuning with a fresh head, scored on val and test."""

    def measure(self, run: CellRun) -> tuple[MethodResult, dict | None]:
        """The cell's result, and for a trial its fine-tuned student (the chosen setting's cell reuses it).

        A trial is measured on val only. A reported cell also gets the frozen probe (not a control's: the report
        reads only its fine-tuned mIoU) and the label curve, and its fine-tuned student is saved as
        checkpoints/<name>_finetuned.pt.
        """
        ctx, cell = run.ctx, run.cell
        cfg, data = cell.seeded, ctx.data
        if cell.trial:
            result, model = finetune_and_evaluate(cfg, cell.tag, run.student, data, ctx.accelerator, ctx.log,
                                                  run.ckpt, test=False, head_state=run.head)
            return result, cpu_state(model.state_dict())
        probe = probe_segmentation(cfg, run.student, data, ctx.accelerator) if cell.cfg.probe.enabled and \
            not cell.control else None
        points = label_curve(run)
        result, model = self._finetuned(run)
        if points:
            result.metrics["label_efficiency"] = {**points, str(data.train.num_samples): result.metrics["miou"]}
        if probe is not None:
            result.metrics["probe"] = probe
            ctx.log.info("%s seed %d: frozen probe mIoU %.4f", cell.method, cell.seed, probe["miou"])
        if ctx.is_main:
            save_checkpoint({"model": model.state_dict(), "method": cell.method, "seed": cell.seed,
                             "class_names": list(data.class_names), "config": to_dict(cfg)},
                            ctx.run_dir / "checkpoints" / f"{cell.name}_finetuned.pt")
        return result, None

    @staticmethod
    def _finetuned(run: CellRun) -> tuple[MethodResult, Segmenter]:
        """The reported cell fine-tuned and tested, or its trial's fine-tuned student tested.

        The trial's student is taken over when it fine-tuned exactly as the cell would (run.finetuned).
        """
        ctx, cell = run.ctx, run.cell
        cfg, data = cell.seeded, ctx.data
        if run.finetuned is None:
            return finetune_and_evaluate(cfg, cell.method, run.student, data, ctx.accelerator, ctx.log, run.ckpt,
                                         head_state=run.head)
        model = Segmenter(build_student(cfg, data), data.num_classes, cell.cfg.student.head_channels)
        model.load_state_dict(run.finetuned["model"])
        ctx.log.info("%s seed %d: reusing the fine-tuned student of its trial %s", cell.tag, cell.seed,
                     run.finetuned["path"])
        return evaluate_finetuned(cfg, cell.method, model, data, ctx.accelerator, ctx.log,
                                  run.finetuned["curve"]), model

    @staticmethod
    def teacher_result(ctx: RunContext, curve: list) -> MethodResult:
        """The teacher's segmentation head on the test split."""
        return teacher_segmentation(ctx, curve)

    @staticmethod
    def teacher_probe(ctx: RunContext) -> MethodResult | None:
        """The frozen probe of the teacher's features (probe.enabled, data.train holding the source frames)."""
        return probed_teacher(ctx)


def label_curve(run: CellRun) -> dict[str, float]:
    """Label efficiency: the cell's transferred student fine-tuned on fewer labels; test mIoU per label count."""
    ctx, cell = run.ctx, run.cell
    points = {}
    for n in label_counts(cell.cfg, cell.method, cell.control, cell.trial):
        stage = ctx.checkpoints(cell.seeded, f"finetune{n}-{cell.stem}")
        twin = build_student(cell.seeded, ctx.data)  # a fresh copy (deepcopy would share forward hooks of tapped nets)
        twin.load_state_dict(run.student.state_dict())
        few, _ = finetune_and_evaluate(cell.seeded, cell.method, twin, ctx.data, ctx.accelerator, ctx.log, stage,
                                       label_count=n, head_state=run.head)
        points[str(n)] = few.metrics["miou"]
        stage.clear()
    return points


class LinearProbes:
    """Classification, the paper's L -> ab protocol: linear probes on every stage of the frozen student."""

    @staticmethod
    def measure(run: CellRun) -> tuple[MethodResult, dict | None]:
        """The top-1 accuracy of a linear probe on each stage of the cell's frozen student; nothing to keep."""
        ctx, cell = run.ctx, run.cell
        result = MethodResult(linear_probes(cell.seeded, run.student, ctx.data, ctx.accelerator), None, {})
        ctx.log.info("%s seed %d: linear-probe top-1 per stage %s", cell.method, cell.seed,
                     [round(v, 4) for v in result.metrics["top1_per_stage"]])
        return result, None

    @staticmethod
    def teacher_result(ctx: RunContext, curve: list) -> MethodResult:
        """The teacher's classifier head: top-1 accuracy on the test split."""
        return teacher_classification(ctx, curve)

    @staticmethod
    def teacher_probe(ctx: RunContext) -> MethodResult | None:
        """None: the linear probes have no probe of the teacher."""
        return None
