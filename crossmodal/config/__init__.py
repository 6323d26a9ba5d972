"""The torch-free declarations: the config schema, archs, encodings, tasks, distiller options and teacher checks.

Nothing in this package imports torch, so a config is loaded and checked in a fraction of a second, before
anything heavy loads. A config is a YAML file plus `key.sub=value` overrides (load_config), built into the
dataclasses of `schema` by the generic loader in `typed_yaml`, and checked by each section's own `check` and the
checks across sections (`validation`). `trials` applies a setting of tune.trials; `resolve` fills in what comes
from the data, in a new Config.
"""
from crossmodal.config.load import PATH_KEYS, checked_config, expand_paths, load_config
from crossmodal.config.resolve import check_pair_count, resolve_config
from crossmodal.config.schema import (
    BN_RECALIBRATE,
    CLASS_WEIGHTINGS,
    HEAD_INITS,
    NEW_DEFAULTS,
    CheckpointConfig,
    Config,
    ControlsConfig,
    DataConfig,
    FinetuneConfig,
    NetConfig,
    ProbeConfig,
    SyntheticConfig,
    TeacherConfig,
    TransferConfig,
    TransferStage,
    TuneConfig,
    without_new_defaults,
)
from crossmodal.config.teacher import teacher_head
from crossmodal.config.trials import FINETUNE_KEYS, STAGE_KEYS, check_trials, with_setting
from crossmodal.config.typed_yaml import dump_yaml, parse_overrides, to_dict
from crossmodal.config.validation import validate
from crossmodal.errors import ConfigError

__all__ = [
    "BN_RECALIBRATE", "CLASS_WEIGHTINGS", "FINETUNE_KEYS", "HEAD_INITS", "NEW_DEFAULTS", "PATH_KEYS", "STAGE_KEYS",
    "CheckpointConfig", "Config", "ConfigError", "ControlsConfig", "DataConfig", "FinetuneConfig", "NetConfig",
    "ProbeConfig", "SyntheticConfig", "TeacherConfig", "TransferConfig", "TransferStage", "TuneConfig",
    "check_pair_count", "check_trials", "checked_config", "dump_yaml", "expand_paths", "load_config",
    "parse_overrides", "resolve_config", "teacher_head", "to_dict", "validate", "with_setting",
    "without_new_defaults",
]
