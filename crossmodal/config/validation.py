"""The checks of a config that need no data: each section's own, then those across sections.

The settings listed in tune.trials are checked apart, by crossmodal.config.trials.check_trials, since each is
applied to the config and checked with `validate`.
"""
from __future__ import annotations

from crossmodal.config.distillers import needs_teacher_logits
from crossmodal.config.schema import Config
from crossmodal.config.teacher import check_headless
from crossmodal.errors import ConfigError, check


def check_methods_across(cfg: Config) -> None:
    """Check the keys that name methods of `methods`, and the methods the task cannot run."""
    control = cfg.controls.random_teacher
    check(all(m in cfg.methods and m != "none" for m in control) and len(set(control)) == len(control),
          "controls.random_teacher", f"distinct methods of 'methods' other than none ({', '.join(cfg.methods)})",
          control)
    if not cfg.task_spec.per_pixel:
        for m in cfg.methods:
            if needs_teacher_logits(m):
                raise ConfigError(f"config key 'methods' has '{m}', which distils a segmentation teacher's per-pixel "
                                  f"logits; it is not available when task is {cfg.task}")
    check(all(m in cfg.methods for m in cfg.finetune.label_methods), "finetune.label_methods",
          f"methods of 'methods' ({', '.join(cfg.methods)})", cfg.finetune.label_methods)
    task, counts = cfg.task_spec, cfg.finetune.label_counts
    check(not counts or task.fine_tunes, "finetune.label_counts", f"empty when task is {cfg.task} (its downstream "
          f"protocol is {task.protocol.replace('_', ' ')})", counts)


def validate(cfg: Config) -> None:
    """Check every value that needs no data: positive sizes and rates, known names, keys that agree."""
    # crossmodal.runtime builds the Accelerator from a loaded config, so it is imported when first used here
    from crossmodal.runtime import check_trackers

    cfg.check()
    check_methods_across(cfg)
    check_headless(cfg)
    check_trackers(cfg.trackers)
