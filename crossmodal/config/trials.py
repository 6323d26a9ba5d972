"""Trial settings: the config with one setting of tune.trials applied, and the check of every listed setting.

A setting is a mapping of dotted keys to values. A method's setting may set its own distiller section
transfer.<section>.*, the transfer keys of STAGE_KEYS and the fine-tuning keys of FINETUNE_KEYS; `none` has no
transfer, so it may set only the last.
"""
from __future__ import annotations

import difflib
from typing import Any, Mapping

from crossmodal.config.distillers import config_key
from crossmodal.config.schema import Config
from crossmodal.config.typed_yaml import build, to_dict
from crossmodal.config.validation import validate
from crossmodal.errors import ConfigError, check

STAGE_KEYS = ("epochs", "lr", "weight_decay", "warmup_steps", "batch_size", "grad_accum")  # transfer.* a trial may set
FINETUNE_KEYS = ("epochs", "lr", "backbone_lr_scale", "weight_decay", "batch_size", "head_init")  # a trial may set


def _check_keys(method: str, setting: Mapping[str, Any], key: str) -> None:
    """Refuse a key of `setting` that a setting of `method` may not set."""
    own = f"transfer.{config_key(method)}."
    finetune = f"finetune.{{{','.join(FINETUNE_KEYS)}}}"
    for dotted in setting:
        head, _, rest = dotted.partition(".")
        if head == "finetune" and rest in FINETUNE_KEYS:
            continue
        if method == "none":
            raise ConfigError(f"config key '{key}' sets '{dotted}'; a setting of none (no transfer) may set only "
                              f"{finetune}")
        if not (dotted.startswith(own) or (head == "transfer" and rest in STAGE_KEYS)):
            raise ConfigError(f"config key '{key}' sets '{dotted}'; a setting of {method} may set only {own}*, "
                              f"transfer.{{{','.join(STAGE_KEYS)}}} or {finetune}")


def _apply_setting(tree: dict, setting: Mapping[str, Any], key: str) -> None:
    """Set each dotted key of `setting` in the plain config `tree`; ConfigError for a key the config lacks."""
    for dotted, value in setting.items():
        parts = dotted.split(".")
        node = tree
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                raise ConfigError(f"config key '{key}' sets '{dotted}', which is not a config key")
        if parts[-1] not in node:
            near = ['.'.join(parts[:-1] + [n]) for n in difflib.get_close_matches(parts[-1], list(node), n=3,
                                                                                  cutoff=0.5)]
            raise ConfigError(f"config key '{key}' sets unknown key '{dotted}'"
                              + (f"; did you mean {', '.join(near)}?" if near else ""))
        node[parts[-1]] = value


def with_setting(cfg: Config, method: str, setting: Mapping[str, Any], key: str = "setting") -> Config:
    """Return `cfg` with one tried setting of `method` applied, validated.

    The keys a setting may set are in the module's docstring. A ConfigError names `key` and the offending key.
    """
    _check_keys(method, setting, key)
    tree = to_dict(cfg)
    _apply_setting(tree, setting, key)
    tree["tune"] = {"seeds": [0], "trials": {}}
    try:
        out = build(Config, tree)
        validate(out)
    except ConfigError as err:
        raise ConfigError(f"config key '{key}': {err}") from None
    out.tune = cfg.tune
    return out


def check_trials(cfg: Config) -> None:
    """Check tune.trials: methods of `methods`, each a non-empty list of distinct settings that apply cleanly."""
    tune = cfg.tune
    check(not tune.trials or cfg.task_spec.fine_tunes, "tune.trials", f"empty when task is {cfg.task} (its "
          f"{cfg.task_spec.protocol.replace('_', ' ')} have no validation protocol yet)", tune.trials)
    for method, settings in tune.trials.items():
        check(method in cfg.methods, "tune.trials", f"methods of 'methods' ({', '.join(cfg.methods)}) as keys",
              method)
        check(len(settings) >= 1, f"tune.trials.{method}", "a non-empty list of settings", settings)
        seen = []
        for i, setting in enumerate(settings):
            check(setting not in seen, f"tune.trials.{method}[{i}]", "a setting not listed before", setting)
            seen.append(setting)
            with_setting(cfg, method, setting, f"tune.trials.{method}[{i}]")
