"""Choices made on the validation split: each setting listed in tune.trials is run with the tune seeds and scored
by its val mIoU; the best is what the method runs with afterwards. Trial cells never read the test split."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from accelerate import Accelerator
from torch import nn

from crossmodal.config import Config, with_setting
from crossmodal.data.files import DataFiles
from crossmodal.stages.cells import run_cell


def tune_methods(cfg: Config, data: DataFiles, teacher: nn.Module, accelerator: Accelerator, log: logging.Logger,
                 run_dir: Path, reuse: Path | None = None) -> tuple[dict[str, Config], dict[str, dict[str, Any]]]:
    """For every method of tune.trials: the config of its chosen setting, and what was tried (metrics.json
    "tuning": each setting with its val mIoU per tune seed and mean, the chosen one and the rule). Trial cells
    finished in the run folder `reuse` with the same settings are taken over from it."""
    chosen: dict[str, Config] = {}
    record: dict[str, dict[str, Any]] = {}
    for method, settings in cfg.tune.trials.items():
        trials = []
        for i, setting in enumerate(settings):
            trial_cfg = with_setting(cfg, method, setting, f"tune.trials.{method}[{i}]")
            per_seed = {str(seed): run_cell(trial_cfg, method, seed, data, teacher, accelerator, log, run_dir,
                                            f"trial{i}", trial=True, reuse=reuse).metrics["val_miou"]
                        for seed in cfg.tune.seeds}
            trials.append({"setting": dict(setting), "val_miou": float(np.mean(list(per_seed.values()))),
                           "val_miou_per_seed": per_seed})
            log.info("tune %s [%d] %s: val mIoU %.4f", method, i, setting or "as configured", trials[-1]["val_miou"])
        best = max(range(len(trials)), key=lambda k: (trials[k]["val_miou"], -k))  # ties: the first listed
        chosen[method] = with_setting(cfg, method, settings[best], f"tune.trials.{method}[{best}]")
        record[method] = {"chosen": best, "setting": dict(settings[best]), "trials": trials,
                          "seeds": list(cfg.tune.seeds)}
        log.info("tune %s: chose [%d] %s (val mIoU %.4f)", method, best, settings[best] or "as configured",
                 trials[best]["val_miou"])
    return chosen, record
