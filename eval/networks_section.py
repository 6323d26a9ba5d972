"""The "Networks" section of report.md: the tapped modules and parameter counts.

For teacher and student: each tapped module, the stages the distillers' `layer` options index, with its channels and
stride, and the parameter counts.
"""
from __future__ import annotations

from typing import Any

from crossmodal.models.summary import network_table


def networks_section(rows: list[dict[str, Any]] | None) -> list[str]:
    """The section's markdown lines (a blank line first) from describe_network rows; none without rows."""
    if not rows:
        return []
    return ["", "## Networks", "",
            "The modules tapped for the distillers, shallow to deep; a `layer` option names a stage by either index "
            "(`transfer.crd_dense.teacher_layer` picks the teacher's stage separately). Strides are against the "
            "frame.", "", network_table(list(rows))]
