"""Typed experiment configuration: YAML files plus `key.sub=value` overrides, validated before any work starts."""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from crossmodal.config.distillers import OPTIONS, config_key, needs_teacher_logits
from crossmodal.config.tasks import TASKS, Task, get_task
from crossmodal.config.teacher import expand_paths, teacher_head, validate_teacher
from crossmodal.errors import ConfigError, UserError
from crossmodal.errors import check as _check


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


@dataclass
class NetConfig:
    """A network (docs/networks.md) and where its starting weights come from (a local file; nothing is downloaded)."""

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
    epochs: int = 20
    batch_size: int = 32
    lr: float = 0.003
    weight_decay: float = 0.0001
    class_weighting: str = "none"  # or median_frequency / logarithmic: per-class CE weights from the teacher split


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


# transfer.<method> holds each distiller's own options (crossmodal/config/distillers.py, torch-free).
TransferConfig = dataclasses.make_dataclass(
    "TransferConfig",
    [(config_key(name), options, field(default_factory=options)) for name, options in OPTIONS.items()],
    bases=(TransferStage,))
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


@dataclass
class CheckpointConfig:
    """Step checkpoints for resuming (`--resume runs/<name>`): every N optimiser steps and at each stage end."""

    every_steps: int = 100  # 0 = only at the end of each stage
    keep: int = 2  # newest step checkpoints kept per stage


@dataclass
class ControlsConfig:
    """Controls run beside the methods: `random_teacher` lists methods also run against a frozen teacher of the same
    architecture with untrained weights (BatchNorm statistics measured on the teacher's frames), everything else
    equal, so the part of a gain that comes from what the teacher learned can be measured (metrics.json "controls")."""

    random_teacher: list[str] = field(default_factory=list)


@dataclass
class TuneConfig:
    """Choices made on the validation split, before the methods run: for each method in `trials`, every listed
    setting (a mapping of `transfer.*` or `finetune.*` keys to values; {} = as configured; `none` may try fine-tuning
    settings only) is run with the seeds `seeds` and scored by its val mIoU (mean over those seeds); the best (ties:
    the first listed) is what the method then runs with, for every seed, tested once. The test split is never read
    while choosing (metrics.json "tuning")."""

    seeds: list[int] = field(default_factory=lambda: [0])
    trials: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


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
        """What `task` means for the run: label key, head, downstream protocol, headline metric (crossmodal.config.tasks)."""
        return get_task(self.task)


# options added later, left out (at their default) where saved configs are compared, so the cells, step checkpoints
# and runs written before them stay reusable and resumable:
# crd_dense's teacher_layer (also inside crd_dense_kd), the teacher's head, vocabulary and input size, and every
# network's factory kwargs and allow_download
NEW_DEFAULTS = {"teacher_layer": None, "head": "auto", "num_classes": 0, "class_names": [], "input_size": [],
                "kwargs": {}, "allow_download": False}


def without_new_defaults(section: object) -> object:
    """A saved config (or a section of one, nested ones too) without the options of NEW_DEFAULTS at their default."""
    if not isinstance(section, dict):
        return section
    return {k: without_new_defaults(v) for k, v in section.items()
            if not (k in NEW_DEFAULTS and v == NEW_DEFAULTS[k])}


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check `value` against the annotation `tp`, allowing int -> float; raise ConfigError naming `key`."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}' must be a mapping of {sorted(f.name for f in dataclasses.fields(tp))}, got {value!r}")
        return _build(tp, value, key + ".")
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            if option is type(None) and value is None:
                return None
            try:
                return _coerce(value, option, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[-1])
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"config key '{key}' must be a mapping, got {value!r}")
        key_tp, value_tp = typing.get_args(tp)
        return {_coerce(k, key_tp, f"{key} (a key)"): _coerce(v, value_tp, f"{key}.{k}") for k, v in value.items()}
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"config key '{key}' must be a list, got {value!r}")
        (item_tp,) = typing.get_args(tp)
        return [_coerce(v, item_tp, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is float and isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            pass
    if tp is bool and not isinstance(value, bool):
        raise ConfigError(f"config key '{key}' must be true or false, got {value!r}")
    if tp is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"config key '{key}' must be an integer, got {value!r}")
    if not isinstance(value, tp):
        raise ConfigError(f"config key '{key}' must be {_type_name(tp)}, got {value!r} ({type(value).__name__})")
    return value


def _build(cls: type, values: Mapping[str, Any], prefix: str = "") -> Any:
    """Make dataclass `cls` from `values`, rejecting unknown keys with the nearest valid names."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    names = list(fields)
    kwargs = {}
    for key, value in values.items():
        if key not in hints:
            near = difflib.get_close_matches(str(key), names, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(prefix + n for n in near)}?" if near else ""
            raise ConfigError(f"unknown config key '{prefix}{key}'{hint} (valid keys here: {', '.join(names)})")
        try:
            kwargs[key] = _coerce(value, hints[key], prefix + key)
        except ConfigError:
            expects = fields[key].metadata.get("expects")
            if not expects:
                raise
            raise ConfigError(f"config key '{prefix}{key}' must be {expects}, got {value!r}") from None
    return cls(**kwargs)


def _set_dotted(tree: dict, dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"command-line override '{dotted}': '{part}' is not a section")
    node[parts[-1]] = value


def parse_overrides(pairs: list[str]) -> dict:
    """Turn ['a.b=1', 'c=x'] into a nested dict, values parsed as YAML scalars/lists."""
    tree: dict = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"command-line override '{pair}' must look like key.sub=value")
        key, raw = pair.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError as err:
            raise ConfigError(f"command-line override '{pair}': cannot parse value: {err}") from err
        _set_dotted(tree, key.strip(), value)
    return tree


def _merge(base: dict, update: Mapping) -> dict:
    """`update` over `base`, section by section; an empty mapping (`tune.trials={}`) clears what it replaces."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and value and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (or the built-in defaults), apply overrides, type-check and validate."""
    tree: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (the shipped configs are in configs/)")
        try:
            tree = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
        except UnicodeDecodeError as err:
            raise ConfigError(f"config file {path} is not UTF-8 text ({err.reason} at byte {err.start})") from None
        if not isinstance(tree, dict):
            raise ConfigError(f"config file {path} must hold a mapping at the top level")
    overrides = list(overrides or [])
    try:
        cfg = _build(Config, _merge(tree, parse_overrides(overrides)))
        expand_paths(cfg)
        validate(cfg)
    except ConfigError as err:
        raise ConfigError(_blame(err, path, tree, overrides)) from None
    return cfg


def _blame(err: ConfigError, path: Path | None, tree: dict, overrides: list[str]) -> str:
    """`err` said as coming from the config file, or from the first command-line override that brings it in."""
    def fails(t: dict) -> bool:
        try:
            built = _build(Config, t)
            expand_paths(built)
            validate(built)
        except UserError as again:
            return str(again) == str(err)
        return False

    if fails(tree):
        return f"{path}: {err}" if path else str(err)
    for i, pair in enumerate(overrides):
        if fails(_merge(tree, parse_overrides(overrides[:i + 1]))):
            return f"command-line override '{pair}': {err}"
    return f"{path}: {err}" if path else str(err)


def to_dict(cfg: Any) -> dict:
    """The resolved config as plain data (what is saved with every run and checkpoint)."""
    return dataclasses.asdict(cfg)


def dump_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def _available(module: str):
    import importlib.util

    return lambda: importlib.util.find_spec(module) is not None


BN_RECALIBRATE = ("auto", "always", "never")
CLASS_WEIGHTINGS = ("none", "median_frequency", "logarithmic")  # crossmodal/stages/class_weights.py
HEAD_INITS = ("fresh", "distiller")  # finetune.head_init
TRACKERS = {"tensorboard": _available("tensorboard"), "wandb": _available("wandb"), "mlflow": _available("mlflow"),
            "aim": _available("aim"), "comet_ml": _available("comet_ml")}


def validate(cfg: Config) -> None:
    """Value checks that need no data: positive sizes and rates, known names."""
    from crossmodal.config.archs import parse_arch
    from crossmodal.config.encodings import ENCODINGS

    known = ["none", *OPTIONS]
    for m in cfg.methods:
        if m not in known:
            near = difflib.get_close_matches(m, known, n=3, cutoff=0.4)
            raise ConfigError(f"config key 'methods' has unknown method '{m}'"
                              + (f"; did you mean {', '.join(near)}?" if near else "") + f" (known: {', '.join(known)})")
    _check(len(set(cfg.methods)) == len(cfg.methods), "methods", "a list without repeats", cfg.methods)
    control = cfg.controls.random_teacher
    _check(all(m in cfg.methods and m != "none" for m in control) and len(set(control)) == len(control),
           "controls.random_teacher", f"distinct methods of 'methods' other than none ({', '.join(cfg.methods)})",
           control)
    _check(cfg.task in TASKS, "task", " or ".join(TASKS), cfg.task)
    for key, value in (("teacher", cfg.teacher.class_weighting), ("finetune", cfg.finetune.class_weighting)):
        _check(value in CLASS_WEIGHTINGS, f"{key}.class_weighting", " or ".join(CLASS_WEIGHTINGS), value)
    _check(cfg.finetune.head_init in HEAD_INITS, "finetune.head_init", " or ".join(HEAD_INITS), cfg.finetune.head_init)
    task = cfg.task_spec
    validate_teacher(cfg)
    _validate_tune(cfg)
    if not task.per_pixel:
        for m in cfg.methods:
            if needs_teacher_logits(m):
                raise ConfigError(f"config key 'methods' has '{m}', which distils a segmentation teacher's per-pixel "
                                  f"logits; it is not available when task is {cfg.task}")
    for key, net in (("teacher.net", cfg.teacher.net), ("student", cfg.student)):
        parse_arch(net.arch, f"{key}.arch")
        _check(net.head_channels > 0, f"{key}.head_channels", "> 0", net.head_channels)
        _check(net.bn_recalibrate in BN_RECALIBRATE, f"{key}.bn_recalibrate", " or ".join(BN_RECALIBRATE),
               net.bn_recalibrate)
        _check(all(isinstance(f, str) and f for f in net.features), f"{key}.features",
               "a list of module names, shallow to deep", net.features)
    for side in ("source", "target"):
        enc = getattr(cfg.data, f"{side}_encoding")
        _check(enc in ENCODINGS, f"data.{side}_encoding", f"one of {', '.join(ENCODINGS)}", enc)
        mean, std = getattr(cfg.data, f"{side}_mean"), getattr(cfg.data, f"{side}_std")
        _check(len(mean) == len(std), f"data.{side}_std", f"as long as data.{side}_mean ({len(mean)} values)", std)
        _check(all(v > 0 for v in std), f"data.{side}_std", "positive values", std)
    _check(cfg.data.source != cfg.data.target, "data.target", "a modality other than data.source", cfg.data.target)
    _check(cfg.data.num_classes >= 0, "data.num_classes", ">= 0 (0 = from the data)", cfg.data.num_classes)
    _check(cfg.data.num_workers >= 0, "data.num_workers", ">= 0", cfg.data.num_workers)
    _check(0 <= cfg.data.scale_jitter < 1, "data.scale_jitter", "in [0, 1)", cfg.data.scale_jitter)
    _check(cfg.threads >= 0, "threads", ">= 0", cfg.threads)
    for tracker in cfg.trackers:
        _check(tracker in TRACKERS, "trackers", f"a list of {', '.join(TRACKERS)}", cfg.trackers)
        if not TRACKERS[tracker]():
            raise ConfigError(f"config key 'trackers' names '{tracker}', which is not installed here "
                              f"(pip install {tracker})")
    syn = cfg.data.synthetic
    try:
        h, w = (int(v) for v in syn.size.lower().split("x"))
        ok = h >= 32 and w >= 32
    except ValueError:
        ok = False
    _check(ok, "data.synthetic.size", "HxW with both sides >= 32, e.g. 96x128", syn.size)
    for key in ("num", "num_teacher", "num_train", "num_test", "num_val", "workers"):
        _check(getattr(syn, key) >= 1, f"data.synthetic.{key}", ">= 1", getattr(syn, key))
    stages = {"teacher": cfg.teacher, "transfer": cfg.transfer, "finetune": cfg.finetune}
    for name, st in stages.items():
        _check(st.epochs >= 1, f"{name}.epochs",
               ">= 1 (for no transfer, list method none in 'methods')" if name == "transfer" else ">= 1", st.epochs)
        _check(st.batch_size >= 1, f"{name}.batch_size", ">= 1", st.batch_size)
        _check(st.lr > 0, f"{name}.lr", "a positive learning rate", st.lr)
        _check(st.weight_decay >= 0, f"{name}.weight_decay", ">= 0", st.weight_decay)
    _check(cfg.transfer.grad_accum >= 1, "transfer.grad_accum", ">= 1", cfg.transfer.grad_accum)
    _check(cfg.transfer.warmup_steps >= 0, "transfer.warmup_steps", ">= 0", cfg.transfer.warmup_steps)
    _check(cfg.transfer.skip_nonfinite >= 0, "transfer.skip_nonfinite", ">= 0", cfg.transfer.skip_nonfinite)
    for name in OPTIONS:
        getattr(cfg.transfer, config_key(name)).check(f"transfer.{config_key(name)}")
    _check(cfg.finetune.backbone_lr_scale > 0, "finetune.backbone_lr_scale", "> 0 (1 = the head's rate)",
           cfg.finetune.backbone_lr_scale)
    _check(cfg.finetune.num_examples >= 0, "finetune.num_examples", ">= 0", cfg.finetune.num_examples)
    counts = cfg.finetune.label_counts
    _check(all(n >= 1 for n in counts) and len(set(counts)) == len(counts), "finetune.label_counts",
           "distinct frame counts >= 1", counts)
    _check(all(m in cfg.methods for m in cfg.finetune.label_methods), "finetune.label_methods",
           f"methods of 'methods' ({', '.join(cfg.methods)})", cfg.finetune.label_methods)
    _check(not counts or task.fine_tunes, "finetune.label_counts", f"empty when task is {cfg.task} (its downstream "
           f"protocol is {task.protocol.replace('_', ' ')})", counts)
    _check(cfg.seed >= 0, "seed", ">= 0", cfg.seed)
    _check(all(s >= 0 for s in cfg.seeds) and len(set(cfg.seeds)) == len(cfg.seeds), "seeds",
           "a list of distinct seeds >= 0", cfg.seeds)
    p = cfg.probe
    _check(p.epochs >= 1, "probe.epochs", ">= 1", p.epochs)
    _check(p.batch_size >= 1, "probe.batch_size", ">= 1", p.batch_size)
    _check(p.lr > 0, "probe.lr", "a positive learning rate", p.lr)
    _check(p.weight_decay >= 0, "probe.weight_decay", ">= 0", p.weight_decay)
    _check(p.grid >= 1, "probe.grid", ">= 1", p.grid)
    _check(cfg.checkpoint.every_steps >= 0, "checkpoint.every_steps", ">= 0 (0 = at stage ends only)",
           cfg.checkpoint.every_steps)
    _check(cfg.checkpoint.keep >= 1, "checkpoint.keep", ">= 1", cfg.checkpoint.keep)


STAGE_KEYS = ("epochs", "lr", "weight_decay", "warmup_steps", "batch_size", "grad_accum")  # transfer.* a trial may set
FINETUNE_KEYS = ("epochs", "lr", "backbone_lr_scale", "weight_decay", "batch_size", "head_init")  # a trial may set


def with_setting(cfg: Config, method: str, setting: Mapping[str, Any], key: str = "setting") -> Config:
    """`cfg` with one tried setting of `method` applied (keys transfer.<method's section>.*, transfer.<stage key>
    or finetune.<fine-tuning key>; `none` has no transfer, so only the last), validated; ConfigError names `key`
    and the offending key."""
    own = f"transfer.{config_key(method)}."
    finetune = f"finetune.{{{','.join(FINETUNE_KEYS)}}}"
    for dotted in setting:
        head, _, rest = dotted.partition(".")
        if head == "finetune" and rest in FINETUNE_KEYS:
            continue
        if method == "none":
            raise ConfigError(f"config key '{key}' sets '{dotted}'; a setting of none (no transfer) may set only "
                              f"{finetune}")
        if not (dotted.startswith(own) or (head == "transfer" and rest in STAGE_KEYS)):
            raise ConfigError(f"config key '{key}' sets '{dotted}'; a setting of {method} may set only {own}*, "
                              f"transfer.{{{','.join(STAGE_KEYS)}}} or {finetune}")
    tree = to_dict(cfg)
    for dotted, value in setting.items():
        parts = dotted.split(".")
        node = tree
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                raise ConfigError(f"config key '{key}' sets '{dotted}', which is not a config key")
        if parts[-1] not in node:
            near = ['.'.join(parts[:-1] + [n]) for n in difflib.get_close_matches(parts[-1], list(node), n=3, cutoff=0.5)]
            raise ConfigError(f"config key '{key}' sets unknown key '{dotted}'"
                              + (f"; did you mean {', '.join(near)}?" if near else ""))
        node[parts[-1]] = value
    tree["tune"] = {"seeds": [0], "trials": {}}
    try:
        out = _build(Config, tree)
        validate(out)
    except ConfigError as err:
        raise ConfigError(f"config key '{key}': {err}") from None
    out.tune = cfg.tune
    return out


def _validate_tune(cfg: Config) -> None:
    """tune.trials: methods of `methods`, each a non-empty list of settings that apply cleanly."""
    tune = cfg.tune
    _check(bool(tune.seeds) and all(s >= 0 for s in tune.seeds) and len(set(tune.seeds)) == len(tune.seeds),
           "tune.seeds", "a non-empty list of distinct seeds >= 0", tune.seeds)
    _check(not tune.trials or cfg.task_spec.fine_tunes, "tune.trials", f"empty when task is {cfg.task} (its "
           f"{cfg.task_spec.protocol.replace('_', ' ')} have no validation protocol yet)", tune.trials)
    for method, settings in tune.trials.items():
        _check(method in cfg.methods, "tune.trials", f"methods of 'methods' ({', '.join(cfg.methods)}) as keys",
               method)
        _check(len(settings) >= 1, f"tune.trials.{method}", "a non-empty list of settings", settings)
        seen = []
        for i, setting in enumerate(settings):
            _check(setting not in seen, f"tune.trials.{method}[{i}]", "a setting not listed before", setting)
            seen.append(setting)
            with_setting(cfg, method, setting, f"tune.trials.{method}[{i}]")
