"""Choices made on the validation split: each setting of tune.trials is tried with the tune seeds, the best kept.

A setting is scored by its val mIoU (the mean over the tune seeds); the best is what the method runs with
afterwards. Trial cells never read the test split.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from crossmodal.config import Config, with_setting
from crossmodal.stages.cells import run_cell_list
from crossmodal.stages.context import RunContext


def tune_methods(ctx: RunContext) -> tuple[dict[str, Config], dict[str, dict[str, Any]]]:
    """For every method of tune.trials: the config of its chosen setting, and what was tried.

    What was tried is metrics.json's "tuning": each setting with its val mIoU per tune seed and mean, the chosen
    one and the rule. Trial cells finished in the run folder ctx.reuse with the same settings are taken over. Every
    trial is run (or waited for, when a joined process runs it) before any choice is made.
    """
    cfg, log = ctx.cfg, ctx.log
    configs = {method: [with_setting(cfg, method, setting, f"tune.trials.{method}[{i}]")
                        for i, setting in enumerate(settings)] for method, settings in cfg.tune.trials.items()}
    keys = [(method, i, seed) for method, tried in configs.items() for i in range(len(tried))
            for seed in cfg.tune.seeds]
    done = run_cell_list(ctx, [(configs[m][i], m, seed, f"trial{i}", True) for m, i, seed in keys])
    val = {key: result.metrics["val_miou"] for key, result in zip(keys, done)}
    chosen: dict[str, Config] = {}
    record: dict[str, dict[str, Any]] = {}
    for method, settings in cfg.tune.trials.items():
        trials = []
        for i, setting in enumerate(settings):
            per_seed = {str(seed): val[method, i, seed] for seed in cfg.tune.seeds}
            trials.append({"setting": dict(setting), "val_miou": float(np.mean(list(per_seed.values()))),
                           "val_miou_per_seed": per_seed})
            log.info("tune %s [%d] %s: val mIoU %.4f", method, i, setting or "as configured", trials[-1]["val_miou"])
        best = max(range(len(trials)), key=lambda k: (trials[k]["val_miou"], -k))  # ties: the first listed
        chosen[method] = configs[method][best]
        record[method] = {"chosen": best, "setting": dict(settings[best]), "trials": trials,
                          "seeds": list(cfg.tune.seeds)}
        log.info("tune %s: chose [%d] %s (val mIoU %.4f)", method, best, settings[best] or "as configured",
                 trials[best]["val_miou"])
    return chosen, record
