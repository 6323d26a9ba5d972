"""The teacher's part of the config checks: torch-free, run when a config is loaded.

The section's own options are teacher.head, a vocabulary of its own and input_size. Across sections, a head-less
teacher cannot give what the logit distillers and finetune.head_init read from a teacher's logits.
"""
from __future__ import annotations

from typing import Any

from crossmodal.config.distillers import needs_teacher_logits
from crossmodal.errors import ConfigError, check

TEACHER_HEADS = ("auto", "train", "checkpoint", "none")  # teacher.head
CACHE_DTYPES = ("float16", "float32")  # teacher.cache_dtype
MAX_CACHE_VIEWS = 64


def resolved_head(teacher: Any) -> str:
    """Return what a teacher section's head resolves to: `auto` is `checkpoint` with a checkpoint set, else `train`."""
    if teacher.head != "auto":
        return teacher.head
    return "checkpoint" if teacher.checkpoint else "train"


def teacher_head(cfg: Any) -> str:
    """Return what teacher.head of a config resolves to (see resolved_head)."""
    return resolved_head(cfg.teacher)


def check_teacher_options(t: Any) -> None:
    """Check teacher.head, the teacher's own vocabulary (num_classes, class_names) and its input_size."""
    check(t.head in TEACHER_HEADS, "teacher.head", " or ".join(TEACHER_HEADS), t.head)
    head = resolved_head(t)
    if head == "checkpoint" and not t.checkpoint:
        raise ConfigError("config key 'teacher.head' is checkpoint, but teacher.checkpoint is empty: name the "
                          "teacher's weights file there")
    if head in ("train", "none") and t.checkpoint:
        raise ConfigError(f"config key 'teacher.checkpoint' is set, but teacher.head is {head}: a checkpoint is "
                          f"loaded with teacher.head checkpoint" + (" (a head-less teacher's weights are "
                          "teacher.net.pretrained)" if head == "none" else ""))
    check(t.num_classes >= 0, "teacher.num_classes", ">= 0 (0 = the data's classes)", t.num_classes)
    if t.num_classes and head != "checkpoint":
        raise ConfigError(f"config key 'teacher.num_classes' is {t.num_classes}, but teacher.head is {head}: a "
                          f"vocabulary of its own is a loaded teacher's (teacher.head checkpoint"
                          + (", teacher.checkpoint FILE)" if head == "train" else "); a head-less teacher has none)"))
    if t.class_names:
        check(bool(t.num_classes), "teacher.class_names", "empty unless teacher.num_classes is set", t.class_names)
        if isinstance(t.class_names, list):
            check(len(t.class_names) == t.num_classes, "teacher.class_names",
                  f"{t.num_classes} names (teacher.num_classes), or a text file with one a line", t.class_names)
    check(0 <= t.cache_views <= MAX_CACHE_VIEWS, "teacher.cache_views",
          f"0 (the teacher runs live) to {MAX_CACHE_VIEWS} fixed views per unlabeled frame", t.cache_views)
    check(t.cache_dtype in CACHE_DTYPES, "teacher.cache_dtype", " or ".join(CACHE_DTYPES), t.cache_dtype)
    check(not t.input_size or (len(t.input_size) == 2 and min(t.input_size) >= 16), "teacher.input_size",
          "[H, W] with both >= 16, or [] for the frame size", t.input_size)
    if t.input_size and head == "train":
        raise ConfigError("config key 'teacher.input_size' is set, but teacher.head is train: a teacher trained here "
                          "learns at the frame size; input_size is for a loaded or head-less teacher")


def check_headless(cfg: Any) -> None:
    """Check that nothing reads the logits of a head-less teacher (teacher.head none)."""
    if teacher_head(cfg) != "none":
        return
    check(cfg.task_spec.per_pixel, "teacher.head", f"train or checkpoint when task is {cfg.task} (a head-less "
          f"teacher is for dense transfer)", cfg.teacher.head)
    for method in cfg.methods:
        if needs_teacher_logits(method):
            raise ConfigError(f"config key 'methods' has '{method}', which distils the teacher's logits, but "
                              f"teacher.head is none (a feature backbone without a head): use a feature distiller "
                              f"(crd_dense, crd, fitnet, at, sp, cc, vid, rkd, pkt, nst)")
    if cfg.finetune.head_init == "distiller":
        raise ConfigError("config key 'finetune.head_init' is distiller, but teacher.head is none: no distiller "
                          "trains a head on a head-less teacher's classes; use fresh")
