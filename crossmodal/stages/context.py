"""What every stage of a run reads: the run's config, data, teacher, accelerator, log and folder."""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

from accelerate import Accelerator
from torch import nn

from crossmodal.config import Config
from crossmodal.data.files import DataFiles
from crossmodal.stages.checkpoints import StageCheckpoints, stage_checkpoints


@dataclass(frozen=True)
class RunContext:
    """The run a stage belongs to, passed whole instead of its parts.

    `cfg` is the run's own config; a cell or a trial may run with a config of its own, passed beside the context.
    `teacher` is None until the teacher is obtained. `reuse` is the run folder given to `--reuse-cells`, if any.
    `control` names the control whose teacher this is ('random_teacher'), empty for the run's own teacher.
    """

    cfg: Config
    data: DataFiles
    accelerator: Accelerator
    log: logging.Logger
    run_dir: Path
    teacher: nn.Module | None = None
    reuse: Path | None = None
    control: str = ""

    def with_teacher(self, teacher: nn.Module, control: str = "") -> RunContext:
        """The same run with `teacher` as the frozen teacher: the trained one, or that of `control`."""
        return dataclasses.replace(self, teacher=teacher, control=control)

    def checkpoints(self, cfg: Config, stage: str) -> StageCheckpoints:
        """The step checkpoints of `stage` (e.g. 'transfer-crd-seed0'), as `cfg`'s checkpoint section says."""
        return stage_checkpoints(cfg, self.run_dir, stage, self.accelerator, self.log)

    @property
    def is_main(self) -> bool:
        """Whether this is the main process, the one that writes the run's files."""
        return self.accelerator.is_main_process
