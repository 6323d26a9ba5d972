"""Choices made on the validation split: each setting of tune.trials is tried with the tune seeds, the best kept.

A setting is scored by its val mIoU (the mean over the tune seeds); the best is what the method runs with
afterwards. Trial cells never read the test split.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from crossmodal.config import Config, with_setting
from crossmodal.stages.cells import run_cell
from crossmodal.stages.context import RunContext


def tune_methods(ctx: RunContext) -> tuple[dict[str, Config], dict[str, dict[str, Any]]]:
    """For every method of tune.trials: the config of its chosen setting, and what was tried.

    What was tried is metrics.json's "tuning": each setting with its val mIoU per tune seed and mean, the chosen
    one and the rule. Trial cells finished in the run folder ctx.reuse with the same settings are taken over.
    """
    cfg, log = ctx.cfg, ctx.log
    chosen: dict[str, Config] = {}
    record: dict[str, dict[str, Any]] = {}
    for method, settings in cfg.tune.trials.items():
        trials = []
        for i, setting in enumerate(settings):
            trial_cfg = with_setting(cfg, method, setting, f"tune.trials.{method}[{i}]")
            per_seed = {str(seed): run_cell(ctx, trial_cfg, method, seed, f"trial{i}", trial=True).metrics["val_miou"]
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
