"""The teacher's part of the config checks (teacher.head, a vocabulary of its own, input_size, and what a head-less
teacher cannot give), and the expansion of ~ and $VARS in every path key: torch-free, run when a config is loaded."""
from __future__ import annotations

import os
import re
from typing import Any

from crossmodal.config.distillers import needs_teacher_logits
from crossmodal.errors import ConfigError
from crossmodal.errors import check as _check

TEACHER_HEADS = ("auto", "train", "checkpoint", "none")  # teacher.head


def teacher_head(cfg: Any) -> str:
    """What teacher.head resolves to: `auto` is `checkpoint` with teacher.checkpoint set, else `train`."""
    if cfg.teacher.head != "auto":
        return cfg.teacher.head
    return "checkpoint" if cfg.teacher.checkpoint else "train"


def validate_teacher(cfg: Any) -> None:
    """teacher.head, its own vocabulary (num_classes, class_names) and input_size, and what a head-less teacher
    cannot give (logits: the distillers and finetune.head_init that read them)."""
    t = cfg.teacher
    _check(t.head in TEACHER_HEADS, "teacher.head", " or ".join(TEACHER_HEADS), t.head)
    head = teacher_head(cfg)
    if head == "checkpoint" and not t.checkpoint:
        raise ConfigError("config key 'teacher.head' is checkpoint, but teacher.checkpoint is empty: name the "
                          "teacher's weights file there")
    if head in ("train", "none") and t.checkpoint:
        raise ConfigError(f"config key 'teacher.checkpoint' is set, but teacher.head is {head}: a checkpoint is "
                          f"loaded with teacher.head checkpoint" + (" (a head-less teacher's weights are "
                          "teacher.net.pretrained)" if head == "none" else ""))
    _check(t.num_classes >= 0, "teacher.num_classes", ">= 0 (0 = the data's classes)", t.num_classes)
    if t.num_classes and head != "checkpoint":
        raise ConfigError(f"config key 'teacher.num_classes' is {t.num_classes}, but teacher.head is {head}: a "
                          f"vocabulary of its own is a loaded teacher's (teacher.head checkpoint"
                          + (", teacher.checkpoint FILE)" if head == "train" else "); a head-less teacher has none)"))
    if t.class_names:
        _check(bool(t.num_classes), "teacher.class_names", "empty unless teacher.num_classes is set",
               t.class_names)
        if isinstance(t.class_names, list):
            _check(len(t.class_names) == t.num_classes, "teacher.class_names",
                   f"{t.num_classes} names (teacher.num_classes), or a text file with one a line", t.class_names)
    _check(not t.input_size or (len(t.input_size) == 2 and min(t.input_size) >= 16), "teacher.input_size",
           "[H, W] with both >= 16, or [] for the frame size", t.input_size)
    if t.input_size and head == "train":
        raise ConfigError("config key 'teacher.input_size' is set, but teacher.head is train: a teacher trained here "
                          "learns at the frame size; input_size is for a loaded or head-less teacher")
    if head != "none":
        return
    _check(cfg.task_spec.per_pixel, "teacher.head", f"train or checkpoint when task is {cfg.task} (a head-less "
           f"teacher is for dense transfer)", t.head)
    for method in cfg.methods:
        if needs_teacher_logits(method):
            raise ConfigError(f"config key 'methods' has '{method}', which distils the teacher's logits, but "
                              f"teacher.head is none (a feature backbone without a head): use a feature distiller "
                              f"(crd_dense, crd, fitnet, at, sp, cc, vid, rkd, pkt, nst)")
    if cfg.finetune.head_init == "distiller":
        raise ConfigError("config key 'finetune.head_init' is distiller, but teacher.head is none: no distiller "
                          "trains a head on a head-less teacher's classes; use fresh")


PATH_KEYS = ("output_dir", "data.unlabeled", "data.teacher", "data.train", "data.val", "data.test",
             "data.synthetic.out", "teacher.checkpoint", "teacher.cache_dir", "teacher.class_names",
             "teacher.net.pretrained", "student.pretrained")  # ~ and $VARS expanded when the config is loaded


def expand_paths(cfg: Any) -> None:
    """Expand ~ and $VARS in every path key (in place); an unset variable is refused, naming the key."""
    for dotted in PATH_KEYS:
        *parents, leaf = dotted.split(".")
        node = cfg
        for part in parents:
            node = getattr(node, part)
        value = getattr(node, leaf)
        if not isinstance(value, str) or not value or value == "cache":
            continue
        expanded = os.path.expandvars(os.path.expanduser(value))
        unset = re.search(r"\$(\w+|\{\w+\})", expanded)
        if unset:
            raise ConfigError(f"config key '{dotted}' is '{value}', but the environment variable "
                              f"{unset.group(0)} is not set")
        setattr(node, leaf, expanded)
