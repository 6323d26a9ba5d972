"""Loading a config: a YAML file plus `key.sub=value` overrides, built, path-expanded and checked.

An error is said as coming from the file, or from the first command-line override that brings it in.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from crossmodal.config.schema import Config
from crossmodal.config.trials import check_trials
from crossmodal.config.typed_yaml import build, merge, parse_overrides
from crossmodal.config.validation import validate
from crossmodal.errors import ConfigError, UserError

PATH_KEYS = ("output_dir", "data.unlabeled", "data.teacher", "data.train", "data.val", "data.test",
             "data.synthetic.out", "teacher.checkpoint", "teacher.cache_dir", "teacher.class_names",
             "teacher.net.pretrained", "student.pretrained")  # ~ and $VARS expanded when the config is loaded


def expand_paths(cfg: Any) -> None:
    """Expand ~ and $VARS in every path key (in place); an unset variable is refused, naming the key."""
    for dotted in PATH_KEYS:
        *parents, leaf = dotted.split(".")
        node = cfg
        for part in parents:
            node = getattr(node, part)
        value = getattr(node, leaf)
        if not isinstance(value, str) or not value or value == "cache":
            continue
        expanded = os.path.expandvars(os.path.expanduser(value))
        unset = re.search(r"\$(\w+|\{\w+\})", expanded)
        if unset:
            raise ConfigError(f"config key '{dotted}' is '{value}', but the environment variable "
                              f"{unset.group(0)} is not set")
        setattr(node, leaf, expanded)


def checked_config(tree: dict) -> Config:
    """Return the Config a mapping describes, its paths expanded, every value and tried setting checked."""
    cfg = build(Config, tree)
    expand_paths(cfg)
    validate(cfg)
    check_trials(cfg)
    return cfg


def read_tree(path: Path) -> dict:
    """Return the mapping a YAML config file holds; ConfigError when it is missing, not YAML or not a mapping."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path} (the shipped configs are in configs/)")
    try:
        tree = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(f"config file {path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
    if not isinstance(tree, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return tree


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (or the built-in defaults), apply overrides, type-check and validate."""
    path = Path(path) if path is not None else None
    tree = read_tree(path) if path is not None else {}
    overrides = list(overrides or [])
    try:
        return checked_config(merge(tree, parse_overrides(overrides)))
    except ConfigError as err:
        raise ConfigError(_blame(err, path, tree, overrides)) from None


def _blame(err: ConfigError, path: Path | None, tree: dict, overrides: list[str]) -> str:
    """Return `err` said as coming from the config file, or from the first command-line override that brings it in."""
    def fails(t: dict) -> bool:
        try:
            checked_config(t)
        except UserError as again:
            return str(again) == str(err)
        return False

    if fails(tree):
        return f"{path}: {err}" if path else str(err)
    for i, pair in enumerate(overrides):
        if fails(merge(tree, parse_overrides(overrides[:i + 1]))):
            return f"command-line override '{pair}': {err}"
    return f"{path}: {err}" if path else str(err)
