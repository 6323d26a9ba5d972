"""The config against the data it runs on: the checks that need the data's sizes, and the values taken from them.

Only the facts are passed in (counts, class names), so the config package stays apart from the data layer.
"""
from __future__ import annotations

import copy
from typing import Protocol

from crossmodal.config.distillers import OPTIONS, config_key, fill_num_classes
from crossmodal.config.schema import Config


class DataFacts(Protocol):
    """What resolve_config reads of a run's data (crossmodal.data.files.DataFiles has it)."""

    @property
    def num_classes(self) -> int: ...

    @property
    def teacher_class_names(self) -> tuple[str, ...]: ...


def check_pair_count(cfg: Config, num_pairs: int) -> None:
    """Check the options of the methods run against the number of unlabeled pairs (negatives drawn from them)."""
    for method in cfg.methods:
        if method in OPTIONS:
            key = config_key(method)
            getattr(cfg.transfer, key).check_data(f"transfer.{key}", num_pairs)


def resolve_config(cfg: Config, data: DataFacts) -> Config:
    """Return a copy of `cfg` with the values that come from the data filled in, so the saved config states them.

    Those are the class count, and the teacher's class count for the heads of the logit distillers. `cfg` itself is
    left as loaded.
    """
    out = copy.deepcopy(cfg)
    out.data.num_classes = data.num_classes
    if data.teacher_class_names:
        fill_num_classes(out.transfer, len(data.teacher_class_names))
    return out
