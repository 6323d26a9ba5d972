"""Which classes the report's per-class figures show.

Every class up to CHART_CLASSES; the shipped configs have 12 to 40. Beyond that, the per-class IoU chart shows the most
frequent classes of the test split, and the example frames' legend only the classes they hold. So a run with hundreds of
classes, in uint16 labels, still gets readable figures.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from crossmodal.stages.class_weights import label_frequencies

CHART_CLASSES = 40


def chart_classes(class_names: Sequence[str], test_path: Path) -> tuple[list[str], str]:
    """The classes of the per-class IoU chart, in class-id order, and its title.

    All of them, or the CHART_CLASSES with the most labelled pixels in the test split; fewer when fewer have any.
    """
    n = len(class_names)
    if n <= CHART_CLASSES:
        return list(class_names), "Per-class IoU on the test split"
    counts, _ = label_frequencies(test_path, "label", n)
    top = sorted(i for i in np.argsort(-counts, kind="stable")[:CHART_CLASSES].tolist() if counts[i] > 0)
    return ([class_names[i] for i in top],
            f"Per-class IoU on the test split: the {len(top)} most frequent of {n} classes")


def legend_classes(num_classes: int, maps: Iterable[np.ndarray]) -> list[int]:
    """The class ids the example figure's legend lists.

    All of them; with more than CHART_CLASSES, those present in the shown ground truth and predictions, leaving out
    ignored pixels and other values.
    """
    if num_classes <= CHART_CLASSES:
        return list(range(num_classes))
    present: set[int] = set()
    for m in maps:
        present.update(int(i) for i in np.unique(np.asarray(m)) if 0 <= i < num_classes)
    return sorted(present)
