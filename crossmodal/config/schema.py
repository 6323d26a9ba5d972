"""The config schema: one dataclass per section, each with its own value checks.

A section's `check(key)` raises ConfigError naming `key`.<field> for a value that is wrong on its own; the checks
that compare sections with each other are in crossmodal.config.validation.
"""
from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any

from crossmodal.config.archs import parse_arch
from crossmodal.config.distillers import OPTIONS, config_key
from crossmodal.config.encodings import ENCODINGS
from crossmodal.config.tasks import TASKS, Task, get_task
from crossmodal.config.teacher import check_teacher_options
from crossmodal.errors import ConfigError, check

BN_RECALIBRATE = ("auto", "always", "never")
CLASS_WEIGHTINGS = ("none", "median_frequency", "logarithmic")  # crossmodal/stages/class_weights.py
HEAD_INITS = ("fresh", "distiller")  # finetune.head_init


def check_schedule(stage: Any, key: str, epochs: str = ">= 1") -> None:
    """Check the epochs, batch size, learning rate and weight decay of a training stage at `key`."""
    check(stage.epochs >= 1, f"{key}.epochs", epochs, stage.epochs)
    check(stage.batch_size >= 1, f"{key}.batch_size", ">= 1", stage.batch_size)
    check(stage.lr > 0, f"{key}.lr", "a positive learning rate", stage.lr)
    check(stage.weight_decay >= 0, f"{key}.weight_decay", ">= 0", stage.weight_decay)


@dataclass
class SyntheticConfig:
    """The embedded procedural RGB-D data, generated into `out` when its files are missing."""

    enabled: bool = True
    out: str = "data/synthetic"
    num: int = 1500
    num_teacher: int = 2400
    num_train: int = 150
    num_test: int = 300
    num_val: int = 150
    size: str = "96x128"
    seed: int = 0
    workers: int = 2
    rare_objects: bool = False  # six more classes, each in a few percent of rooms (data_tools/synthetic/rare.py)

    def check(self, key: str) -> None:
        """Check the frame size and the counts."""
        try:
            h, w = (int(v) for v in self.size.lower().split("x"))
            ok = h >= 32 and w >= 32
        except ValueError:
            ok = False
        check(ok, f"{key}.size", "HxW with both sides >= 32, e.g. 96x128", self.size)
        for name in ("num", "num_teacher", "num_train", "num_test", "num_val", "workers"):
            check(getattr(self, name) >= 1, f"{key}.{name}", ">= 1", getattr(self, name))


@dataclass
class DataConfig:
    """Paired HDF5 files (docs/data_format.md) and how the two modalities become network inputs."""

    unlabeled: str = ""  # paired frames for transfer; empty = the synthetic split
    teacher: str = ""  # labeled source-modality frames to train the teacher on; empty = synthetic
    train: str = ""  # small labeled split for downstream fine-tuning
    # labeled target-sensor frames disjoint from train and test, where every choice (tune.trials) is made; empty =
    # the synthetic split when the embedded data are on, otherwise none (then nothing can be tuned)
    val: str = ""
    test: str = ""
    source: str = "rgb"  # the teacher's modality (a dataset name in the files)
    target: str = "depth"  # the student's modality
    source_encoding: str = "rgb"  # how each becomes input channels: see crossmodal.modalities.ENCODINGS
    target_encoding: str = "logdepth_valid"
    source_mean: list[float] = field(default_factory=list)  # optional per-channel standardisation after encoding
    source_std: list[float] = field(default_factory=list)
    target_mean: list[float] = field(default_factory=list)
    target_std: list[float] = field(default_factory=list)
    num_classes: int = 0  # 0 = take it from the data; otherwise it must agree with the data
    num_workers: int = 1
    hflip: bool = True
    scale_jitter: float = 0.25
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)

    def check(self, key: str) -> None:
        """Check the encodings and their standardisation, the modalities, the counts and the embedded data."""
        for side in ("source", "target"):
            enc = getattr(self, f"{side}_encoding")
            check(enc in ENCODINGS, f"{key}.{side}_encoding", f"one of {', '.join(ENCODINGS)}", enc)
            mean, std = getattr(self, f"{side}_mean"), getattr(self, f"{side}_std")
            check(len(mean) == len(std), f"{key}.{side}_std", f"as long as data.{side}_mean ({len(mean)} values)", std)
            check(all(v > 0 for v in std), f"{key}.{side}_std", "positive values", std)
        check(self.source != self.target, f"{key}.target", "a modality other than data.source", self.target)
        check(self.num_classes >= 0, f"{key}.num_classes", ">= 0 (0 = from the data)", self.num_classes)
        check(self.num_workers >= 0, f"{key}.num_workers", ">= 0", self.num_workers)
        check(0 <= self.scale_jitter < 1, f"{key}.scale_jitter", "in [0, 1)", self.scale_jitter)
        self.synthetic.check(f"{key}.synthetic")


@dataclass
class NetConfig:
    """A network and where its starting weights come from: a local file, nothing is downloaded (docs/networks.md)."""

    arch: str = "resnet_narrow"  # built-in name, timm:<model>, torchvision:<model> or python:<module>:<callable>
    features: list[str] = field(default_factory=list)  # module names of the stages to tap, shallow to deep
    # local weights file for the backbone (~ and $VARS expanded), "cache" (the file in the Hugging Face hub cache or
    # TORCH_HOME, found without network), or empty for random init
    pretrained: str = field(default="", metadata={"expects": "a weights file path, 'cache' (the standard caches), or "
                                                             "empty for random init; to let timm / torchvision fetch "
                                                             "the weights, also set allow_download: true"})
    kwargs: dict[str, Any] = field(default_factory=dict)  # extra factory arguments (timm / torchvision / python:)
    allow_download: bool = False  # let timm / torchvision fetch missing pretrained weights (off: nothing downloads)
    head_channels: int = 64
    # re-estimate BatchNorm statistics on the stage's frames before evaluating what a training stage produced:
    # auto = when the stage was too short for the layers' momentum to forget their initial statistics
    bn_recalibrate: str = "auto"

    def check(self, key: str) -> None:
        """Check the architecture name, the head width, the BatchNorm rule and the tapped modules."""
        parse_arch(self.arch, f"{key}.arch")
        check(self.head_channels > 0, f"{key}.head_channels", "> 0", self.head_channels)
        check(self.bn_recalibrate in BN_RECALIBRATE, f"{key}.bn_recalibrate", " or ".join(BN_RECALIBRATE),
              self.bn_recalibrate)
        check(all(isinstance(f, str) and f for f in self.features), f"{key}.features",
              "a list of module names, shallow to deep", self.features)


@dataclass
class TeacherConfig:
    """The frozen source-modality network: loaded from `checkpoint`, or trained once and cached."""

    net: NetConfig = field(default_factory=NetConfig)
    # auto: `checkpoint` when teacher.checkpoint is set, else `train`; train: trained once on data.teacher and
    # cached; checkpoint: loaded from teacher.checkpoint; none: a frozen feature backbone (no logits, never trained)
    head: str = "auto"
    checkpoint: str = ""
    num_classes: int = 0  # the teacher's own vocabulary (0 = the data's classes)
    class_names: list[str] | str = field(default_factory=list)  # its class names: a list, or a text file (one a line)
    input_size: list[int] = field(default_factory=list)  # [H, W] the teacher sees (default: the frame size)
    cache_dir: str = "runs/_teacher_cache"
    # V > 0: the frozen teacher's outputs on V fixed paired views per unlabeled frame are computed once, stored in
    # cache_dir and read by every transfer (0 = the teacher runs live on each batch); cache_dtype: how they are stored
    cache_views: int = 0
    cache_dtype: str = "float16"
    epochs: int = 20
    batch_size: int = 32
    lr: float = 0.003
    weight_decay: float = 0.0001
    class_weighting: str = "none"  # or median_frequency / logarithmic: per-class CE weights from the teacher split

    def check(self, key: str) -> None:
        """Check the class weighting, the head and its vocabulary, the training schedule and the network."""
        check(self.class_weighting in CLASS_WEIGHTINGS, f"{key}.class_weighting", " or ".join(CLASS_WEIGHTINGS),
              self.class_weighting)
        check_teacher_options(self)
        check_schedule(self, key)
        self.net.check(f"{key}.net")


@dataclass
class TransferStage:
    """The unlabeled stage: the student learns from the frozen teacher on paired frames."""

    epochs: int = 8
    batch_size: int = 32
    lr: float = 0.003
    weight_decay: float = 0.0001
    warmup_steps: int = 20
    grad_accum: int = 1
    skip_nonfinite: int = 0  # optimiser steps with a non-finite loss that may be skipped (counted); more stop the stage

    def check(self, key: str) -> None:
        """Check the schedule, the warm-up, the accumulation and the skips."""
        check_schedule(self, key, ">= 1 (for no transfer, list method none in 'methods')")
        check(self.grad_accum >= 1, f"{key}.grad_accum", ">= 1", self.grad_accum)
        check(self.warmup_steps >= 0, f"{key}.warmup_steps", ">= 0", self.warmup_steps)
        check(self.skip_nonfinite >= 0, f"{key}.skip_nonfinite", ">= 0", self.skip_nonfinite)


def check_transfer(transfer: Any, key: str) -> None:
    """Check the transfer stage and every distiller's section under it."""
    TransferStage.check(transfer, key)
    for name in OPTIONS:
        getattr(transfer, config_key(name)).check(f"{key}.{config_key(name)}")


# transfer.<method> holds each distiller's own options (crossmodal/config/distillers.py, torch-free).
TransferConfig = dataclasses.make_dataclass(
    "TransferConfig",
    [(config_key(name), options, field(default_factory=options)) for name, options in OPTIONS.items()],
    bases=(TransferStage,), namespace={"check": check_transfer})
TransferConfig.__doc__ = TransferStage.__doc__ + " One section per distiller holds its options."


@dataclass
class FinetuneConfig:
    """The downstream protocol: fine-tune student + segmentation head on the small labeled split."""

    epochs: int = 25
    batch_size: int = 16
    lr: float = 0.003
    # the backbone's learning rate is lr x this (the fresh head always gets lr): below 1 keeps more of what the
    # transfer put in the backbone; 1 = one rate for all
    backbone_lr_scale: float = 1.0
    weight_decay: float = 0.0001
    # none / median_frequency / logarithmic: per-class CE weights counted from the frames fine-tuned on (the same
    # rule for every method)
    class_weighting: str = "none"
    # fresh: every method's student gets the same freshly initialised head; distiller: a method whose distiller
    # trained a head predicting the teacher's classes (kd and the CRD+KD combinations) starts from that head, so
    # fine-tuning refines a segmenter that already knows the teacher's classes (the others keep the fresh head)
    head_init: str = "fresh"
    num_examples: int = 4
    # label efficiency: also fine-tune (and test) each method (those of label_methods when given; never a control)
    # on nested subsets of this many data.train frames (the first n of one permutation fixed by the cell's seed: the
    # same for every method, a new draw per seed), each with the optimiser steps of the full fine-tuning; the full
    # split is always the last point (metrics.json "label_efficiency")
    label_counts: list[int] = field(default_factory=list)
    label_methods: list[str] = field(default_factory=list)  # the methods the curve is measured for; [] = every one

    def check(self, key: str) -> None:
        """Check the class weighting, the head's start, the schedule, the examples and the label counts."""
        check(self.class_weighting in CLASS_WEIGHTINGS, f"{key}.class_weighting", " or ".join(CLASS_WEIGHTINGS),
              self.class_weighting)
        check(self.head_init in HEAD_INITS, f"{key}.head_init", " or ".join(HEAD_INITS), self.head_init)
        check_schedule(self, key)
        check(self.backbone_lr_scale > 0, f"{key}.backbone_lr_scale", "> 0 (1 = the head's rate)",
              self.backbone_lr_scale)
        check(self.num_examples >= 0, f"{key}.num_examples", ">= 0", self.num_examples)
        counts = self.label_counts
        check(all(n >= 1 for n in counts) and len(set(counts)) == len(counts), f"{key}.label_counts",
              "distinct frame counts >= 1", counts)


@dataclass
class ProbeConfig:
    """The frozen-backbone probe: a 1x1 convolution trained on one stage's dense features (backbone fixed)."""

    enabled: bool = True
    layer: int = -1
    epochs: int = 30
    batch_size: int = 16
    lr: float = 0.01
    weight_decay: float = 0.0
    grid: int = 2  # classification probes: each stage average-pooled to grid x grid cells before the linear layer

    def check(self, key: str) -> None:
        """Check the schedule and the pooling grid."""
        check_schedule(self, key)
        check(self.grid >= 1, f"{key}.grid", ">= 1", self.grid)


@dataclass
class CheckpointConfig:
    """Step checkpoints for resuming (`--resume runs/<name>`): every N optimiser steps and at each stage end."""

    every_steps: int = 100  # 0 = only at the end of each stage
    keep: int = 2  # newest step checkpoints kept per stage

    def check(self, key: str) -> None:
        """Check the interval and how many are kept."""
        check(self.every_steps >= 0, f"{key}.every_steps", ">= 0 (0 = at stage ends only)", self.every_steps)
        check(self.keep >= 1, f"{key}.keep", ">= 1", self.keep)


@dataclass
class ControlsConfig:
    """Controls run beside the methods, everything else equal.

    `random_teacher` lists methods also run against a frozen teacher of the same architecture with untrained weights
    (BatchNorm statistics measured on the teacher's frames), so the part of a gain that comes from what the teacher
    learned can be measured (metrics.json "controls").
    """

    random_teacher: list[str] = field(default_factory=list)


@dataclass
class TuneConfig:
    """Choices made on the validation split, before the methods run.

    For each method in `trials`, every listed setting is run with the seeds `seeds` and scored by its val mIoU, the
    mean over those seeds. A setting is a mapping of `transfer.*` or `finetune.*` keys to values; {} is the method
    as configured, and `none` may try fine-tuning settings only. The best setting, the first listed on ties, is what
    the method then runs with, for every seed, tested once. The test split is never read while choosing
    (metrics.json "tuning").
    """

    seeds: list[int] = field(default_factory=lambda: [0])
    trials: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def check(self, key: str) -> None:
        """Check the seeds; the settings are checked by crossmodal.config.trials.check_trials."""
        check(bool(self.seeds) and all(s >= 0 for s in self.seeds) and len(set(self.seeds)) == len(self.seeds),
              f"{key}.seeds", "a non-empty list of distinct seeds >= 0", self.seeds)


@dataclass
class Config:
    """One experiment: data, teacher, student, the methods compared, and the downstream protocol."""

    name: str = "default"
    # segmentation: per-pixel `label` (teacher = segmenter; downstream = fine-tuning and a frozen 1x1 probe);
    # classification: image-level `class_id` (teacher = classifier; downstream = linear probes at every stage)
    task: str = "segmentation"
    seed: int = 0  # data order, initialisation and sampling; the teacher is always trained with this seed
    seeds: list[int] = field(default_factory=list)  # student-side seeds of a study; empty = [seed]
    output_dir: str = "runs"
    methods: list[str] = field(default_factory=lambda: ["none", "crd_dense"])
    threads: int = 0  # torch CPU threads per process; 0 = the machine's cores shared among its processes
    trackers: list[str] = field(default_factory=list)  # Accelerate trackers, e.g. [tensorboard]; logs in the run folder
    data: DataConfig = field(default_factory=DataConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    student: NetConfig = field(default_factory=NetConfig)
    transfer: TransferConfig = field(default_factory=TransferConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    controls: ControlsConfig = field(default_factory=ControlsConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)

    @property
    def run_seeds(self) -> list[int]:
        """The seeds the methods are run with: `seeds`, or just `seed`."""
        return list(self.seeds) or [self.seed]

    @property
    def task_spec(self) -> Task:
        """What `task` means for the run: labels, head, protocol and headline metric (crossmodal.config.tasks)."""
        return get_task(self.task)

    def check(self) -> None:
        """Check the top-level keys, then each section with its own check."""
        known = ["none", *OPTIONS]
        for m in self.methods:
            if m not in known:
                near = difflib.get_close_matches(m, known, n=3, cutoff=0.4)
                raise ConfigError(f"config key 'methods' has unknown method '{m}'"
                                  + (f"; did you mean {', '.join(near)}?" if near else "")
                                  + f" (known: {', '.join(known)})")
        check(len(set(self.methods)) == len(self.methods), "methods", "a list without repeats", self.methods)
        check(self.task in TASKS, "task", " or ".join(TASKS), self.task)
        check(self.threads >= 0, "threads", ">= 0", self.threads)
        check(self.seed >= 0, "seed", ">= 0", self.seed)
        check(all(s >= 0 for s in self.seeds) and len(set(self.seeds)) == len(self.seeds), "seeds",
              "a list of distinct seeds >= 0", self.seeds)
        for name in ("data", "teacher", "student", "transfer", "finetune", "probe", "checkpoint", "tune"):
            getattr(self, name).check(name)


# options added later, left out (at their default) where saved configs are compared, so the cells, step checkpoints
# and runs written before them stay reusable and resumable:
# crd_dense's teacher_layer (also inside crd_dense_kd), the teacher's head, vocabulary and input size, and every
# network's factory kwargs and allow_download
NEW_DEFAULTS = {"teacher_layer": None, "head": "auto", "num_classes": 0, "class_names": [], "input_size": [],
                "kwargs": {}, "allow_download": False, "cache_views": 0, "cache_dtype": "float16"}


def without_new_defaults(section: object) -> object:
    """Return a saved config, or a section of one, without the options of NEW_DEFAULTS at their default."""
    if not isinstance(section, dict):
        return section
    return {k: without_new_defaults(v) for k, v in section.items()
            if not (k in NEW_DEFAULTS and v == NEW_DEFAULTS[k])}
