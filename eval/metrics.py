"""Segmentation metrics (ConfusionMatrix, segmentation_metrics), re-exported from `crossmodal.metrics`.

The implementation lives in the library so that the library's evaluation and the command-line tools share one
definition.
"""
from crossmodal.metrics import ConfusionMatrix, segmentation_metrics

__all__ = ["ConfusionMatrix", "segmentation_metrics"]
