"""Distillation losses for cross-modal transfer, and the distillers selectable by name in configs."""

from crossmodal.distill.crd_loss import CRDLoss
from crossmodal.distill.base import DISTILLERS, Distiller, DistillerConfig, config_key
from crossmodal.distill import (  # noqa: F401  (register the distillers)
    at, cc, crd_dense, crd_kd, crd_pooled, fitnet, kd, nst, pkt, rkd, sp, vid)

__all__ = ["CRDLoss", "DISTILLERS", "Distiller", "DistillerConfig", "config_key"]
