"""Warnings about the teacher's reference, for report.md and the log.

A reference below the best student, and a head that predicts few of the classes: a teacher that has little to teach, or
that was loaded for other data.
"""
from __future__ import annotations

from typing import Any, Mapping


def reference_warnings(methods: Mapping[str, Mapping[str, Any]], num_classes: int) -> list[str]:
    """One sentence per problem found in the aggregated rows of a segmentation run (empty when none)."""
    refs = {m: e for m, e in methods.items() if m.startswith("teacher_") and "miou" in e}
    students = {m: e for m, e in methods.items() if not m.startswith("teacher_") and "miou" in e}
    out = []
    if refs and students:
        best = max(students, key=lambda m: students[m]["miou"])
        ref = max(refs, key=lambda m: refs[m]["miou"])
        if refs[ref]["miou"] < students[best]["miou"]:
            out.append(f"The teacher's best reference (`{ref}`, {100 * refs[ref]['miou']:.1f} mIoU) is below the best "
                       f"student (`{best}`, {100 * students[best]['miou']:.1f}): the teacher knows less about these "
                       f"classes on its sensor than the student learns from the labels, so there is little to "
                       f"transfer. Check the teacher (its weights, input size and normalisation).")
    for name, entry in refs.items():
        predicted = entry.get("classes_predicted")
        if predicted is not None and predicted < num_classes / 2:
            out.append(f"The teacher's head (`{name}`) predicts only {int(round(predicted))} of the {num_classes} "
                       f"classes on the test split: it was trained for other data or did not learn, and what it "
                       f"distils is mostly those {int(round(predicted))} classes.")
    return out
