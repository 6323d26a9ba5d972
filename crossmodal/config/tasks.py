"""The downstream task of a run (`task:`): its labels, its teacher head, its protocol and its headline metric.

The task is chosen once per run. It says what the labeled splits hold, the head a teacher has, the downstream
protocol, the headline metric, and so which report is written. This module is torch-free: config checking reads it.
The protocol's code is named as "module:Class" and imported on first use, like the distiller registry.

A new task is one more Task here plus its protocol class in crossmodal/downstream/protocols.py; the other modules
read these fields or call the protocol instead of comparing task names.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class Task:
    """One downstream task: what its labels are, how its networks predict, and how a student is measured."""

    name: str
    label_key: str         # what the labeled splits are labeled with (a key of the dataset files)
    class_names_attr: str  # the file attribute naming those classes
    logits_dims: int       # the logits a network gives: 4 = (B, C, H, W) per pixel, 2 = (B, C) per image
    protocol: str          # "finetune": student + fresh head, scored on val and test; "linear_probes": frozen student
    metric: str            # the headline number's key in metrics.json
    headline: str          # and its name in logs and reports
    impl: str              # the protocol's class as "module:Class", imported on first use (downstream())

    @property
    def per_pixel(self) -> bool:
        """Dense labels: a segmentation head, per-pixel teacher logits (kd and its kin), an exportable student."""
        return self.logits_dims == 4

    @property
    def fine_tunes(self) -> bool:
        """The downstream protocol fine-tunes the student: label counts, a val score and tune.trials apply."""
        return self.protocol == "finetune"

    def downstream(self) -> Any:
        """The task's downstream protocol object (crossmodal.downstream.protocols), imported on first use."""
        return _protocol(self.impl)

    def class_names(self, info: Any) -> tuple[str, ...]:
        """The class names a dataset file (a PairedInfo) gives for this task's labels."""
        return tuple(getattr(info, self.class_names_attr))


SEGMENTATION = Task("segmentation", label_key="label", class_names_attr="class_names", logits_dims=4,
                    protocol="finetune", metric="miou", headline="mIoU",
                    impl="crossmodal.downstream.protocols:FineTune")
# the paper's L -> ab protocol: linear probes on every stage of the frozen student
CLASSIFICATION = Task("classification", label_key="class_id", class_names_attr="image_class_names", logits_dims=2,
                      protocol="linear_probes", metric="top1", headline="linear-probe top-1",
                      impl="crossmodal.downstream.protocols:LinearProbes")
TASKS: dict[str, Task] = {t.name: t for t in (SEGMENTATION, CLASSIFICATION)}


@lru_cache(maxsize=None)
def _protocol(impl: str) -> Any:
    """One instance of the protocol class named "module:Class"."""
    module, _, name = impl.partition(":")
    return getattr(importlib.import_module(module), name)()


def get_task(name: str) -> Task:
    """The Task called `name`; a KeyError naming the known ones otherwise.

    Config checking reports an unknown task first.
    """
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; the tasks are {', '.join(TASKS)}") from None
