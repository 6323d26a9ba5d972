"""The report's per-class figures with many classes.

The per-class IoU chart keeps the CHART_CLASSES most frequent test classes, the examples' legend the classes shown; up
to CHART_CLASSES classes both keep every class.
"""
import numpy as np

from crossmodal.data.h5writer import write_paired
from eval.class_figures import CHART_CLASSES, chart_classes, legend_classes


def test_the_chart_keeps_the_most_frequent_classes_in_id_order(tmp_path):
    names = [f"k{i}" for i in range(100)]
    label = np.full((1, 40, 50), 65535, np.uint16)
    flat = label.reshape(-1)
    pos = 0
    for i in range(45):  # class i has 45 - i pixels, classes 45..99 none
        flat[pos:pos + 45 - i] = i
        pos += 45 - i
    path = write_paired(tmp_path / "t.h5", {"label": label}, class_names=names, source="test")
    charted, title = chart_classes(names, path)
    assert charted == names[:CHART_CLASSES] and title.endswith(f"the {CHART_CLASSES} most frequent of 100 classes")
    assert chart_classes(names[:CHART_CLASSES], path) == (names[:CHART_CLASSES], "Per-class IoU on the test split")


def test_the_legend_lists_the_shown_classes_only_when_there_are_many():
    maps = [np.array([[3, 255, 299]], np.uint16), np.array([[7, 65535, 3]], np.int64)]
    assert legend_classes(300, maps) == [3, 7, 255, 299]
    assert legend_classes(12, [np.array([[3, 255]], np.uint8)]) == list(range(12))
