"""What a method produced downstream, and which test frames every method shows as examples."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class MethodResult:
    """What one method produced: its metrics, loss curves, and predictions on the example frames."""

    metrics: dict[str, Any]
    confusion: np.ndarray | None
    curves: dict[str, list] = field(default_factory=dict)
    examples: np.ndarray | None = None


def example_indices(num_test: int, k: int) -> list[int]:
    """k test frames spread evenly over the split (the same for every method)."""
    return sorted({int(i) for i in np.linspace(0, num_test - 1, num=min(k, num_test))}) if k else []
