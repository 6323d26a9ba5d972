"""Distillation losses for cross-modal transfer, and the distillers selectable by name in configs.

Imported lazily: `crossmodal.config.distillers` (what configs need) stays free of torch; CRDLoss, DISTILLERS and
the distiller classes load torch on first use.
"""
from __future__ import annotations

import importlib
from typing import Any

from crossmodal.config.distillers import OPTIONS, REGISTRY, DistillerConfig, config_key, needs_teacher_logits

__all__ = ["CRDLoss", "DISTILLERS", "Distiller", "DistillerConfig", "OPTIONS", "REGISTRY", "config_key",
           "needs_teacher_logits"]


def __getattr__(name: str) -> Any:
    if name == "CRDLoss":
        return importlib.import_module("crossmodal.distill.crd_loss").CRDLoss
    if name == "DISTILLERS":
        return importlib.import_module("crossmodal.distill.base").load_distillers()
    if name == "Distiller":
        return importlib.import_module("crossmodal.distill.base").Distiller
    raise AttributeError(f"module 'crossmodal.distill' has no attribute {name!r}")
