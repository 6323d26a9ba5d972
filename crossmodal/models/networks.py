"""Builds every network a config names, whatever its family: the one module that knows families exist.

`arch` is a built-in name (crossmodal.config.archs.ARCHS), `timm:<model>`, `torchvision:<model>` or
`python:<module>:<callable>` (docs/networks.md). Students are feature backbones (crossmodal.models.features) that
get the project's heads; teachers give features and logits: the project's head on a backbone, or the network's own
head (torchvision segmentation models, your own code).
"""
from __future__ import annotations

import importlib
from contextlib import contextmanager
from types import ModuleType
from typing import Any, Iterator, Mapping, Sequence

from torch import nn

from crossmodal.config.archs import parse_arch
from crossmodal.config.tasks import get_task
from crossmodal.errors import NetworkError
from crossmodal.models.classifier import Classifier
from crossmodal.models.features import FeatureNet, ProbeError
from crossmodal.models.own_head import OwnHeadNet
from crossmodal.models.segmenter import Segmenter

ADAPTERS = {"builtin": "builtin", "timm": "timm_nets", "torchvision": "torchvision_nets", "python": "python_nets"}


def _adapter(family: str) -> ModuleType:
    return importlib.import_module(f"crossmodal.models.families.{ADAPTERS[family]}")


def _extra(family: str, kwargs: Mapping[str, Any], probe_size: tuple[int, int] | None, key: str) -> dict[str, Any]:
    """The adapter's kwargs= and probe_size= arguments.

    kwargs are the factory's arguments; probe_size is the frame size, where its dry forward runs. Built-in networks take
    neither: they run at any size.
    """
    if family == "builtin":
        if kwargs:
            raise NetworkError(f"config key '{key}.kwargs' is {dict(kwargs)}, but built-in networks take no factory "
                               f"arguments (kwargs are for timm:, torchvision: and python: networks)")
        return {}
    return {"kwargs": dict(kwargs), "probe_size": (int(probe_size[0]), int(probe_size[1])) if probe_size else None}


@contextmanager
def _refuse_size(arch: str, key: str, probe_size: tuple[int, int] | None) -> Iterator[None]:
    """A failed dry forward (ProbeError) as one line naming the config key, the frame size and what it accepts."""
    try:
        yield
    except ProbeError as err:
        size = f"{err.size[0]}x{err.size[1]}"
        where = f"{size} frames" if probe_size else f"the {size} dry-run input"
        raise NetworkError(f"config key '{key}.arch': {arch} cannot run on {where} ({err.cause}); "
                           f"{err.accepts}") from err


def build_backbone(arch: str, in_channels: int, *, features: Sequence[str] = (), pretrained: str = "",
                   num_classes: int = 0, key: str = "student", allow_download: bool = False,
                   kwargs: Mapping[str, Any] = {}, probe_size: tuple[int, int] | None = None) -> FeatureNet:
    """A feature backbone for `arch` with `in_channels` inputs.

    Weights are random, or `pretrained`: a local file, or `cache` for the published weights found in the standard
    caches, fetched only with `allow_download`. `kwargs` go to the family's factory. `probe_size` is the (H, W) it will
    see; a network that cannot run on it is refused here.
    """
    spec = parse_arch(arch, f"{key}.arch")
    extra = _extra(spec.family, kwargs, probe_size, key)
    with _refuse_size(arch, key, probe_size):
        return _adapter(spec.family).backbone(spec.name, in_channels, list(features), pretrained, num_classes, key,
                                              allow_download=allow_download, **extra)


def build_teacher(arch: str, in_channels: int, num_classes: int, *, task: str = "segmentation",
                  features: Sequence[str] = (), pretrained: str = "", head_channels: int = 64,
                  key: str = "teacher.net", state_keys: frozenset[str] | set[str] = frozenset(),
                  allow_download: bool = False, kwargs: Mapping[str, Any] = {},
                  probe_size: tuple[int, int] | None = None) -> nn.Module:
    """A teacher network for `arch`.

    It offers features_and_logits(x, need_logits), forward(x) giving logits, out_channels, strides, and
    checkpoint_module(), whose state dict teacher.checkpoint holds. `state_keys` are the checkpoint's keys, for families
    whose layout depends on how the network was trained, such as an auxiliary head. `kwargs` and `probe_size` as for
    build_backbone.
    """
    spec = parse_arch(arch, f"{key}.arch")
    adapter = _adapter(spec.family)
    extra = _extra(spec.family, kwargs, probe_size, key)
    with _refuse_size(arch, key, probe_size):
        own = adapter.segmentation_model(spec.name, in_channels, num_classes, list(features), pretrained, key,
                                         set(state_keys), allow_download=allow_download, **extra)
        if own is not None:
            model, taps = own
            return OwnHeadNet(model, taps, in_channels, num_classes, task, f"{key}.arch={spec}", probe_size)
        backbone = adapter.backbone(spec.name, in_channels, list(features), pretrained, num_classes, key,
                                    allow_download=allow_download, **extra)
    if not get_task(task).per_pixel:
        return Classifier(backbone, num_classes)
    return Segmenter(backbone, num_classes, head_channels)


def pretrained_normalisation(arch: str) -> tuple[list[float], list[float]] | None:
    """The (mean, std) the published weights of `arch` expect inputs normalised with.

    For timm:<model>[.tag] it is timm's pretrained_cfg; None for other families, or when timm does not say.
    """
    spec = parse_arch(arch)
    return _adapter("timm").pretrained_normalisation(spec.name) if spec.family == "timm" else None


def code_fingerprint(arch: str) -> str:
    """What the network's code depends on besides its config.

    A library version or your module's source: a cached teacher trained from it is not reused after the code changed.
    """
    spec = parse_arch(arch)
    return _adapter(spec.family).fingerprint(spec.name)
