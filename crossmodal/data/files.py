"""Which data files a run reads, and their checks against the config.

h5py and numpy only, so a run whose data disagree with its config fails before torch is loaded.
"""
from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from crossmodal.config import Config, ConfigError, check_pair_count, teacher_head
from crossmodal.config.encodings import check_encoding
from crossmodal.data.checks import check_label_ids, check_same_names, check_stored_alike
from crossmodal.data.content import content_fingerprint
from crossmodal.data.h5format import PairedInfo, read_info
from crossmodal.data.leakage import LeakageCheck, check_leakage
from crossmodal.data.plausibility import check_plausibility

SPLITS = ("unlabeled", "teacher", "train", "test")  # always read; data.val is read when there is one


@dataclass(frozen=True)
class DataFiles:
    """The split files a run reads, validated against each other and the config (val: None when there is none)."""

    unlabeled: PairedInfo
    teacher: PairedInfo | None  # None when the teacher is loaded or head-less and data.teacher is not named
    train: PairedInfo
    test: PairedInfo
    num_classes: int
    class_names: tuple[str, ...]
    val: PairedInfo | None = None
    # the classes the teacher predicts: the data's, or its own vocabulary (teacher.num_classes); () when head-less
    teacher_classes: tuple[str, ...] | None = None
    # content fingerprint of each split read ({split: 32 hex digits}): what cell reuse, the teacher cache and --resume
    # compare, so changed data at the same path are never taken for the old
    fingerprints: dict[str, str] = field(default_factory=dict)
    leakage: LeakageCheck | None = None  # which splits were compared for shared frames (none are shared)

    @property
    def teacher_class_names(self) -> tuple[str, ...]:
        """The teacher's class names (the data's unless it has a vocabulary of its own)."""
        return self.class_names if self.teacher_classes is None else self.teacher_classes

    @property
    def source_info(self) -> PairedInfo:
        """A split holding the source modality for the teacher's input shape: data.teacher, else the unlabeled pairs."""
        return self.teacher if self.teacher is not None else self.unlabeled


def synthetic_command(cfg: Config) -> list[str]:
    """The data_tools.synthetic command line that builds the configured embedded data."""
    s = cfg.data.synthetic
    return [sys.executable, "-m", "data_tools.synthetic", "--out", s.out, "--num", str(s.num), "--size", s.size,
            "--seed", str(s.seed), "--num-teacher", str(s.num_teacher), "--num-train", str(s.num_train),
            "--num-test", str(s.num_test), "--num-val", str(s.num_val), "--workers", str(s.workers),
            *(["--rare-objects"] if s.rare_objects else [])]


def split_path(cfg: Config, split: str) -> Path:
    """The configured file for `split`, or the synthetic one when none is named."""
    named = getattr(cfg.data, split)
    if named:
        return Path(named)
    if cfg.data.synthetic.enabled:
        return Path(cfg.data.synthetic.out) / f"{split}.h5"
    raise ConfigError(f"config key 'data.{split}' is empty and data.synthetic.enabled is false: name a paired HDF5 "
                      f"file (docs/data_format.md), e.g. one built by python -m data_tools.synthetic --out DIR")


def val_path(cfg: Config) -> Path | None:
    """Return the validation file, or None when the run has none.

    That is data.val; else the synthetic val.h5 when data.train is the synthetic one too, since a val split must
    come from the same sensor and classes as train.
    """
    if cfg.data.val or (cfg.data.synthetic.enabled and not cfg.data.train):
        return split_path(cfg, "val")
    return None


def _synthetic_matches(cfg: Config) -> bool:
    """True when the synthetic files exist and were made with the configured seed, size, counts and objects."""
    s = cfg.data.synthetic
    want = {"unlabeled": s.num, "teacher": s.num_teacher, "train": s.num_train, "test": s.num_test,
            "val": s.num_val}
    h, w = (int(v) for v in s.size.lower().split("x"))
    for split, num in want.items():
        if getattr(cfg.data, split) or (split == "val" and val_path(cfg) is None):
            continue
        path = split_path(cfg, split)
        if not path.is_file():
            return False
        info = read_info(path)
        if info.num_samples != num or (info.height, info.width) != (h, w) or info.attrs.get("seed") != s.seed:
            return False
        if bool(info.attrs.get("rare_objects", 0)) != s.rare_objects:
            return False
    return True


def data_ready(cfg: Config) -> bool:
    """True when nothing is left to generate: the embedded data are off or already made as configured."""
    return not cfg.data.synthetic.enabled or _synthetic_matches(cfg)


def ensure_synthetic(cfg: Config, is_main: bool) -> None:
    """Generate the embedded procedural data (main process only) when it is missing or made differently."""
    if not cfg.data.synthetic.enabled or not is_main or _synthetic_matches(cfg):
        return
    cmd = synthetic_command(cfg) + ["--overwrite"]
    print("[crossmodal] generating the embedded procedural RGB-D data:", " ".join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True)


def needs_teacher_split(cfg: Config) -> bool:
    """Tell whether data.teacher is read: when the teacher is trained on it, or when it is named.

    A loaded or head-less teacher needs no labeled source frames.
    """
    return teacher_head(cfg) == "train" or bool(cfg.data.teacher)


def teacher_vocabulary(cfg: Config) -> tuple[str, ...] | None:
    """Return the teacher's own class names: () for a head-less teacher, None when it predicts the data's.

    A vocabulary of its own has teacher.num_classes classes, named by teacher.class_names, a list or a text file
    with one name a line, or class_<i> when not given.
    """
    t = cfg.teacher
    if teacher_head(cfg) == "none":
        return ()
    if not t.num_classes:
        return None
    names = t.class_names
    if isinstance(names, str):
        path = Path(names)
        if not path.is_file():
            raise FileNotFoundError(f"config key 'teacher.class_names': class name file not found: {path} (a text "
                                    f"file with one name a line, {t.num_classes} lines)")
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        if len(names) != t.num_classes:
            raise ConfigError(f"config key 'teacher.class_names': {path} has {len(names)} names, but "
                              f"teacher.num_classes is {t.num_classes}")
    return tuple(names) if names else tuple(f"class_{i}" for i in range(t.num_classes))


def read_infos(cfg: Config) -> dict[str, PairedInfo]:
    """Return what each split file the run reads holds; FileNotFoundError saying how to build a missing one."""
    infos = {}
    splits = [s for s in SPLITS if s != "teacher" or needs_teacher_split(cfg)]
    splits += ["val"] if val_path(cfg) is not None else []
    for split in splits:
        path = split_path(cfg, split)
        if not path.is_file():
            how = (" ".join(synthetic_command(cfg)[1:]) if not getattr(cfg.data, split) else
                   "-m data_tools.synthetic --out DIR (embedded data), or the data_tools converter for your sensor")
            raise FileNotFoundError(f"dataset file for data.{split} does not exist: {path}. Build it with: "
                                    f"python {how}")
        infos[split] = read_info(path)
    return infos


def check_modalities(cfg: Config, infos: dict[str, PairedInfo], trains_teacher: bool) -> None:
    """Check that each split holds the modalities and labels the run reads from it, in the configured encodings."""
    src, tgt, label = cfg.data.source, cfg.data.target, cfg.task_spec.label_key
    need = {"unlabeled": [src, tgt], "teacher": [src, label] if trains_teacher else [src], "train": [tgt, label],
            "test": [src, tgt, label], "val": [tgt, label]}
    for split, mods in need.items():
        if split not in infos:
            continue
        info = infos[split]
        for m in mods:
            if not info.holds(m):
                raise ConfigError(f"dataset {info.path} (data.{split}) lacks {'modality ' if m != 'class_id' else ''}"
                                  f"'{m}' needed here (task: {cfg.task}); it has {', '.join(info.modalities)}"
                                  + (", class_id" if info.has_class_id else ""))
        for side, name in (("source", src), ("target", tgt)):
            if name in mods:
                d = cfg.data
                check_encoding(getattr(d, f"{side}_encoding"), name, info.shapes[name], str(info.path),
                               tuple(getattr(d, f"{side}_mean")), tuple(getattr(d, f"{side}_std")))


def open_data(cfg: Config) -> DataFiles:
    """Read and cross-check the split files the run reads.

    Each must be present, hold the modalities and classes the config needs, be stored like the others and name the
    same classes, with every label id within the class list (crossmodal.data.checks).
    """
    infos = read_infos(cfg)
    task = cfg.task_spec
    src, tgt, label = cfg.data.source, cfg.data.target, task.label_key
    trains_teacher = teacher_head(cfg) == "train"
    check_modalities(cfg, infos, trains_teacher)
    check_stored_alike(infos, [src, tgt])
    names_of, names_attr = task.class_names, task.class_names_attr
    names = names_of(infos["test"])
    if not names:
        raise ConfigError(f"{infos['test'].path} names no classes ({names_attr} attribute) for task {cfg.task}")
    named = {s: i for s, i in infos.items() if (s != "unlabeled" or (i.holds(label) and names_of(i)))
             and (s != "teacher" or trains_teacher)}
    check_same_names(named, "test", names_attr, names_of)
    if cfg.data.num_classes and cfg.data.num_classes != len(names):
        raise ConfigError(f"config key 'data.num_classes' is {cfg.data.num_classes} but {infos['test'].path} "
                          f"has {len(names)} classes ({', '.join(names)})")
    too_many = [n for n in cfg.finetune.label_counts if n >= infos["train"].num_samples]
    if too_many:
        raise ConfigError(f"config key 'finetune.label_counts' has {too_many}, not fewer than the "
                          f"{infos['train'].num_samples} frames of {infos['train'].path} (data.train, which is "
                          f"always the last point of the curve)")
    check_pair_count(cfg, infos["unlabeled"].num_samples)
    if cfg.tune.trials and "val" not in infos:
        raise ConfigError("config key 'tune.trials' needs a validation split to choose on, and this run has none: "
                          "name one in data.val (e.g. --val-fraction of the data_tools converters) or use the "
                          "embedded data")
    vocabulary = teacher_vocabulary(cfg)
    for split, info in infos.items():  # last: the one check that reads whole datasets (once per file version)
        check_label_ids(info, split, info.num_classes)
    check_plausibility(infos, [src, tgt])  # depth in metres with a plausible median; suspicious frames printed
    leakage = check_leakage(infos)  # no split shares a frame with one it is measured on
    fingerprints = {split: content_fingerprint(info.path) for split, info in infos.items()}
    infos.setdefault("teacher", None)
    return DataFiles(**infos, num_classes=len(names), class_names=tuple(names), teacher_classes=vocabulary,
                     fingerprints=fingerprints, leakage=leakage)
