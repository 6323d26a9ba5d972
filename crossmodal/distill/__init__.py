"""Distillation losses for cross-modal transfer, and the distillers selectable by name in configs.

Imported lazily: `crossmodal.distill.options` (what configs need) stays free of torch; CRDLoss, DISTILLERS and
the distiller classes load torch on first use.
"""
from __future__ import annotations

import importlib
from typing import Any

from crossmodal.distill.options import OPTIONS, DistillerConfig, config_key

__all__ = ["CRDLoss", "DISTILLERS", "Distiller", "DistillerConfig", "OPTIONS", "config_key"]
MODULES = ("kd", "fitnet", "at", "sp", "cc", "vid", "rkd", "pkt", "nst", "crd_pooled", "crd_dense", "crd_kd", "crd_dense_kd")


def __getattr__(name: str) -> Any:
    if name == "CRDLoss":
        return importlib.import_module("crossmodal.distill.crd_loss").CRDLoss
    if name in ("DISTILLERS", "Distiller"):
        for module in MODULES:  # registers each distiller
            importlib.import_module(f"crossmodal.distill.{module}")
        return getattr(importlib.import_module("crossmodal.distill.base"), name)
    raise AttributeError(f"module 'crossmodal.distill' has no attribute {name!r}")
