"""The options and the registration of every distiller, free of torch.

The options are the config sections transfer.<name>; keeping them free of torch lets a config be checked in a
fraction of a second, before anything heavy is imported. The `@distiller` decorator on an options class is the one
registration of a distiller: its name in `methods:`, its options, its class, its family, whether it reads the
teacher's logits and where it keeps a head for the teacher's classes. REGISTRY holds the entries; OPTIONS maps the
names to their options; `family`, `is_crd_variant`, `needs_teacher_logits` and `class_head` answer from them.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable

from crossmodal.errors import check

FAMILIES = ("baseline", "crd")  # crd: a CRD variant, which the verdict compares with the best baseline
KERNELS = ("repdistiller", "taylor")  # cc
OBJECTIVES = ("nce", "infonce")  # crd
NEGATIVE_MODES = ("per_sample", "shared", "queue")  # crd


@dataclass
class DistillerConfig:
    """Options every distiller has; subclasses add their own (the config section transfer.<name>).

    A field `num_classes`, where an options class has one, is the teacher's class count, filled from the data.
    """

    weight: float = 1.0

    def check(self, key: str) -> None:
        """Value checks that need no data; raise ConfigError naming `key`.<field>."""
        check(self.weight > 0, f"{key}.weight", "> 0", self.weight)

    def check_data(self, key: str, num_pairs: int) -> None:
        """Checks against the number of unlabeled pairs (e.g. negatives drawn from them)."""


def config_key(method: str) -> str:
    """The config section of a method: transfer.<name>, with '+' written as '_' (crd+kd -> crd_kd)."""
    return method.replace("+", "_")


@dataclass(frozen=True)
class DistillerEntry:
    """One distiller selectable in `methods:`, as its registration declares it.

    `options` is the section transfer.<config_key(name)>; `impl` is where its class is ("module:Class" inside
    crossmodal.distill, imported on first use); `family` is "crd" for a CRD variant, else "baseline";
    `needs_teacher_logits` says whether it reads the teacher's per-pixel logits; `head` is the state-dict prefix of
    its head for the teacher's classes ("head.", "kd.head."), or None when it has none.
    """

    name: str
    options: type[DistillerConfig]
    impl: str
    needs_teacher_logits: bool = False
    family: str = "baseline"
    head: str | None = None


REGISTRY: dict[str, DistillerEntry] = {}


def distiller(name: str, impl: str, *, needs_teacher_logits: bool = False, family: str = "baseline",
              head: str | None = None) -> Callable[[type], type]:
    """Register a distiller: the decorator on its options class, and the one place a distiller is declared.

    `impl` is its class as "module:Class" in crossmodal.distill; the keywords are those of DistillerEntry.
    """
    if family not in FAMILIES:
        raise RuntimeError(f"distiller '{name}': family must be {' or '.join(FAMILIES)}, got {family!r}")

    def register(options: type) -> type:
        if name in REGISTRY or name == "none":
            raise RuntimeError(f"distiller name '{name}' is registered twice (or is reserved)")
        REGISTRY[name] = DistillerEntry(name, options, impl, needs_teacher_logits, family, head)
        return options
    return register


def _check_dense_contrast(opts: Any, key: str) -> None:
    """The options of a dense contrast (feat_dim, num_locations, temperature): crd_dense and crd_dense_logits."""
    check(opts.feat_dim >= 1, f"{key}.feat_dim", ">= 1", opts.feat_dim)
    check(opts.num_locations >= 2, f"{key}.num_locations", ">= 2", opts.num_locations)
    check(opts.temperature > 0, f"{key}.temperature", "> 0", opts.temperature)


def _check_student_head(opts: Any, key: str) -> None:
    """The options of a distiller's own segmentation head (num_classes, hidden): kd and crd_dense_logits."""
    check(opts.num_classes >= 0, f"{key}.num_classes", ">= 0 (0 = from the data)", opts.num_classes)
    check(opts.hidden >= 1, f"{key}.hidden", ">= 1", opts.hidden)


@distiller("at", "at:AT")
@dataclass
class ATConfig(DistillerConfig):
    """transfer.at: weight (RepDistiller's beta 1000), exponent p, and the stages matched ([] = every stage)."""

    weight: float = 1000.0
    p: float = 2.0
    layers: list[int] = field(default_factory=list)

    def check(self, key: str) -> None:
        super().check(key)
        check(self.p > 0, f"{key}.p", "> 0", self.p)


@distiller("cc", "cc:CC")
@dataclass
class CCConfig(DistillerConfig):
    """transfer.cc: weight (RepDistiller's beta 0.02), embedding width, kernel form and its options, stage."""

    weight: float = 0.02
    feat_dim: int = 128
    kernel: str = "repdistiller"
    gamma: float = 0.4
    order: int = 2
    layer: int = -1

    def check(self, key: str) -> None:
        super().check(key)
        check(self.feat_dim >= 1, f"{key}.feat_dim", ">= 1", self.feat_dim)
        check(self.kernel in KERNELS, f"{key}.kernel", " or ".join(KERNELS), self.kernel)
        check(self.gamma > 0, f"{key}.gamma", "> 0", self.gamma)
        check(self.order >= 0, f"{key}.order", ">= 0", self.order)


@distiller("crd_dense", "crd_dense:DenseCRD", family="crd")
@dataclass
class DenseCRDConfig(DistillerConfig):
    """transfer.crd_dense: embedding width, locations, temperature, and the stages read.

    teacher_layer None means the teacher's stage is `layer` too.
    """

    feat_dim: int = 128
    num_locations: int = 16
    temperature: float = 0.07
    layer: int = -1  # the student's stage (and the teacher's, unless teacher_layer is set)
    teacher_layer: int | None = None  # the teacher's stage; None = the same index as layer

    def check(self, key: str) -> None:
        super().check(key)
        _check_dense_contrast(self, key)


@distiller("crd", "crd:PooledCRD", family="crd")
@dataclass
class CRDConfig(DistillerConfig):
    """transfer.crd: CRDLoss options (docs/crd.md) and the stage it reads (-1 = last)."""

    feat_dim: int = 128
    num_negatives: int = 1024
    temperature: float = 0.07
    momentum: float = 0.5
    objective: str = "nce"
    negatives: str = "per_sample"
    layer: int = -1

    def check(self, key: str) -> None:
        super().check(key)
        check(self.objective in OBJECTIVES, f"{key}.objective", " or ".join(OBJECTIVES), self.objective)
        check(self.negatives in NEGATIVE_MODES, f"{key}.negatives", ", ".join(NEGATIVE_MODES), self.negatives)
        check(self.num_negatives >= 1, f"{key}.num_negatives", ">= 1", self.num_negatives)
        check(0 <= self.momentum < 1, f"{key}.momentum", "in [0, 1)", self.momentum)
        check(self.temperature > 0, f"{key}.temperature", "> 0", self.temperature)
        check(self.feat_dim >= 1, f"{key}.feat_dim", ">= 1", self.feat_dim)

    def check_data(self, key: str, num_pairs: int) -> None:
        check(self.negatives == "queue" or self.num_negatives < num_pairs, f"{key}.num_negatives",
              f"smaller than the number of unlabeled pairs ({num_pairs}) for the memory-bank modes",
              self.num_negatives)


@distiller("kd", "kd:KD", needs_teacher_logits=True, head="head.")
@dataclass
class KDConfig(DistillerConfig):
    """transfer.kd: Hinton KD on the teacher's logits through a segmentation head of the distiller's own.

    The options are the weight, the temperature, the head (classes, width, skip stage), the stride of the grid the
    KL is taken on (1 = every pixel of the frame) and the class balance of its pixels: 0 weighs every pixel alike,
    p > 0 weighs a pixel by 1 / n ** p, n being the pixels of the teacher's class in the frame.
    """

    weight: float = 1.0
    temperature: float = 4.0
    num_classes: int = 0  # 0 = not known yet: the pipeline fills it from the data before building the distiller
    hidden: int = 64
    skip_stage: int = 1
    stride: int = 1
    class_balance: float = 0.0

    def check(self, key: str) -> None:
        super().check(key)
        check(self.temperature > 0, f"{key}.temperature", "> 0", self.temperature)
        check(self.stride >= 1, f"{key}.stride", ">= 1 (1 = the full frame)", self.stride)
        check(self.class_balance >= 0, f"{key}.class_balance", ">= 0 (0 = every pixel alike, 1 = every class of "
              "a frame alike)", self.class_balance)
        _check_student_head(self, key)


@distiller("crd+kd", "crd_kd:CRDKD", needs_teacher_logits=True, family="crd", head="kd.head.")
@dataclass
class CRDKDConfig(DistillerConfig):
    """transfer.crd_kd: overall weight, and each part's options; their weights are the paper's beta and alpha."""

    crd: CRDConfig = field(default_factory=lambda: CRDConfig(weight=0.8))
    kd: KDConfig = field(default_factory=lambda: KDConfig(weight=1.0))

    def check(self, key: str) -> None:
        super().check(key)
        self.crd.check(f"{key}.crd")
        self.kd.check(f"{key}.kd")

    def check_data(self, key: str, num_pairs: int) -> None:
        self.crd.check_data(f"{key}.crd", num_pairs)


@distiller("crd_dense_logits", "crd_dense_logits:DenseCRDLogits", needs_teacher_logits=True, family="crd")
@dataclass
class DenseCRDLogitsConfig(DistillerConfig):
    """transfer.crd_dense_logits: dense CRD of a student head against the teacher's logits.

    The options are the embedding width, the locations per frame, the temperature, and the student head that is
    contrasted with the teacher's logits: classes, width, skip stage.
    """

    feat_dim: int = 128
    num_locations: int = 16
    temperature: float = 0.07
    num_classes: int = 0  # 0 = not known yet: the pipeline fills it from the data before building the distiller
    hidden: int = 64
    skip_stage: int = 1

    def check(self, key: str) -> None:
        super().check(key)
        _check_dense_contrast(self, key)
        _check_student_head(self, key)


@distiller("crd_dense+kd", "crd_dense_kd:DenseCRDKD", needs_teacher_logits=True, family="crd",
           head="kd.head.")
@dataclass
class DenseCRDKDConfig(DistillerConfig):
    """transfer.crd_dense_kd: overall weight, and each part's options.

    The parts are dense CRD on the features and KD on the logits.
    """

    crd_dense: DenseCRDConfig = field(default_factory=DenseCRDConfig)
    kd: KDConfig = field(default_factory=KDConfig)

    def check(self, key: str) -> None:
        super().check(key)
        self.crd_dense.check(f"{key}.crd_dense")
        self.kd.check(f"{key}.kd")


@distiller("fitnet", "fitnet:FitNet")
@dataclass
class FitNetConfig(DistillerConfig):
    """transfer.fitnet: weight (RepDistiller's beta 100) and the hinted stage (-1 = last)."""

    weight: float = 100.0
    layer: int = -1


@distiller("nst", "nst:NST")
@dataclass
class NSTConfig(DistillerConfig):
    """transfer.nst: weight (RepDistiller's beta 50) and the stages matched ([] = every stage)."""

    weight: float = 50.0
    layers: list[int] = field(default_factory=list)


@distiller("pkt", "pkt:PKT")
@dataclass
class PKTConfig(DistillerConfig):
    """transfer.pkt: weight (RepDistiller's beta 30000), eps, and the pooled stage (-1 = last)."""

    weight: float = 30000.0
    eps: float = 1e-7
    layer: int = -1

    def check(self, key: str) -> None:
        super().check(key)
        check(self.eps > 0, f"{key}.eps", "> 0", self.eps)


@distiller("rkd", "rkd:RKD")
@dataclass
class RKDConfig(DistillerConfig):
    """transfer.rkd: weight (RepDistiller's beta 1), the distance and angle weights (25, 50), the stage."""

    weight: float = 1.0
    distance_weight: float = 25.0
    angle_weight: float = 50.0
    layer: int = -1

    def check(self, key: str) -> None:
        super().check(key)
        check(self.distance_weight >= 0, f"{key}.distance_weight", ">= 0", self.distance_weight)
        check(self.angle_weight >= 0, f"{key}.angle_weight", ">= 0", self.angle_weight)
        check(self.distance_weight + self.angle_weight > 0, f"{key}.angle_weight",
              "> 0 when distance_weight is 0", self.angle_weight)


@distiller("sp", "sp:SP")
@dataclass
class SPConfig(DistillerConfig):
    """transfer.sp: weight (RepDistiller's beta 3000) and the stage (-1 = last map)."""

    weight: float = 3000.0
    layer: int = -1


@distiller("vid", "vid:VID")
@dataclass
class VIDConfig(DistillerConfig):
    """transfer.vid: weight (RepDistiller's beta 1), initial variance, eps, regressor width, stages.

    A regressor width of 0 means the teacher's width.
    """

    weight: float = 1.0
    init_pred_var: float = 5.0
    eps: float = 1e-5
    mid_channels: int = 0
    layers: list[int] = field(default_factory=list)

    def check(self, key: str) -> None:
        super().check(key)
        check(self.eps > 0, f"{key}.eps", "> 0", self.eps)
        check(self.init_pred_var > self.eps, f"{key}.init_pred_var", f"> eps ({self.eps})", self.init_pred_var)
        check(self.mid_channels >= 0, f"{key}.mid_channels", ">= 0 (0 = the teacher's width)", self.mid_channels)


def fill_num_classes(section: Any, num_classes: int, key: str = "transfer") -> None:
    """Set `num_classes` of every distiller option inside a config section that left it at 0.

    `section` is e.g. cfg.transfer; an options class with a `num_classes` field reads the teacher's logits with a
    head of its own. A value already set must be 0 or the teacher's class count.
    """
    if not dataclasses.is_dataclass(section):
        return
    for f in dataclasses.fields(section):
        if f.name != "num_classes":
            fill_num_classes(getattr(section, f.name), num_classes, f"{key}.{f.name}")
            continue
        check(section.num_classes in (0, num_classes), f"{key}.num_classes",
              f"0 or the teacher's class count ({num_classes})", section.num_classes)
        section.num_classes = num_classes


OPTIONS: dict[str, type[DistillerConfig]] = {name: entry.options for name, entry in REGISTRY.items()}


def family(method: str) -> str | None:
    """The family `method` is registered with ("crd" or "baseline"); None for `none` or an unknown name."""
    entry = REGISTRY.get(method)
    return entry.family if entry else None


def is_crd_variant(method: str) -> bool:
    """Whether `method` is a CRD variant (crd, crd_dense, their +kd combinations, crd_dense_logits)."""
    return family(method) == "crd"


def needs_teacher_logits(method: str) -> bool:
    """Whether `method` distils the teacher's per-pixel logits, which only a segmentation teacher has."""
    entry = REGISTRY.get(method)
    return entry is not None and entry.needs_teacher_logits


def class_head(method: str, transfer: Any) -> tuple[str, KDConfig] | None:
    """Where `method`'s distiller keeps its head that predicts the teacher's classes, and that head's options.

    `transfer` is the config's transfer section. The head is what `finetune.head_init: distiller` starts the
    fine-tuning from: ("head.", transfer.kd) for kd and ("kd.head.", its kd part) for a CRD+KD combination. The
    options sit at the prefix's path in the method's section. None for a distiller without such a head.
    """
    entry = REGISTRY.get(method)
    if entry is None or entry.head is None:
        return None
    options = getattr(transfer, config_key(method))
    for part in entry.head.split(".")[:-2]:
        options = getattr(options, part)
    return entry.head, options
