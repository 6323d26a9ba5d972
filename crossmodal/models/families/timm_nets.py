"""timm networks: any model that supports features_only, input channels through `in_chans`, stages from its
feature_info; weights from a local file through pretrained_cfg_overlay (timm never reaches the hub here)."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from crossmodal.errors import NetworkError
from crossmodal.models.features import FeatureNet, HookedFeatures, check_feature_names


class TimmFeatures(FeatureNet):
    """A timm features_only model under the project's contract (channels and strides from feature_info)."""

    def __init__(self, model: nn.Module, in_channels: int) -> None:
        super().__init__()
        self.model = model
        self.in_channels = in_channels
        self.out_channels = list(model.feature_info.channels())
        self.strides = list(model.feature_info.reduction())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.model(x))


def _timm():
    import timm

    return timm


def _check(name: str, pretrained: str, key: str) -> None:
    timm = _timm()
    if name.startswith(("hf-hub:", "hf_hub:", "local-dir:")):
        raise NetworkError(f"config key '{key}.arch': timm:{name} would load from the Hugging Face hub or a model "
                           f"folder; name the architecture (e.g. timm:resnet18) and the downloaded weights file in "
                           f"{key}.pretrained")
    if not timm.is_model(name):
        near = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.5)
        raise NetworkError(f"config key '{key}.arch': timm has no model '{name}'"
                           + (f"; nearest: {', '.join('timm:' + n for n in near)}" if near else "")
                           + " (timm.list_models() lists them)")
    if "." in name and not pretrained:  # timm:resnet18.a1_in1k names a set of trained weights
        raise NetworkError(f"config key '{key}.arch': timm:{name} names pretrained weights (tag "
                           f"'{name.split('.', 1)[1]}'), which are never downloaded here. {download_hint(name)} and "
                           f"name its path in {key}.pretrained (or name the bare architecture "
                           f"timm:{name.split('.')[0]} for random weights)")
    if pretrained and not Path(pretrained).is_file():
        raise NetworkError(f"config key '{key}.pretrained': weights file not found: {pretrained}. {download_hint(name)} "
                           f"and name its local path there")


def download_hint(name: str) -> str:
    try:
        cfg = _timm().models.get_pretrained_cfg(name)
    except Exception:  # noqa: BLE001 - only used to word a message
        cfg = None
    hub = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if hub:
        return f"Download model.safetensors from https://huggingface.co/{hub} on a machine with internet access"
    return "Save a state dict of this timm model to a local file"


def _create(name: str, in_channels: int, pretrained: str, key: str, **kwargs) -> nn.Module:
    overlay = {"pretrained_cfg_overlay": {"file": str(pretrained)}} if pretrained else {}
    try:
        return _timm().create_model(name, pretrained=bool(pretrained), in_chans=in_channels, **overlay, **kwargs)
    except RuntimeError as err:
        text = str(err)
        if "features_only" in text or "feature" in text and "not" in text:
            raise NetworkError(f"config key '{key}.arch': timm:{name} does not support features_only; name its stages "
                               f"in {key}.features") from None
        if pretrained and ("state_dict" in text or "size mismatch" in text or "Missing key" in text):
            first = text.splitlines()[0][:300]
            raise NetworkError(f"config key '{key}.pretrained': {pretrained} does not fit timm:{name}: {first}") from None
        raise


def backbone(name: str, in_channels: int, features: Sequence[str], pretrained: str, num_classes: int,
             key: str) -> FeatureNet:
    _check(name, pretrained, key)
    if not features:
        return TimmFeatures(_create(name, in_channels, pretrained, key, features_only=True), in_channels)
    model = _create(name, in_channels, pretrained, key)
    check_feature_names(model, features, f"{key}.features", f"timm:{name}")
    return HookedFeatures(model, features, in_channels)


def segmentation_model(name: str, in_channels: int, num_classes: int, features: Sequence[str], pretrained: str,
                       key: str, state_keys: set[str]) -> tuple[nn.Module, list[str]] | None:
    return None  # timm backbones get the project's segmentation head (backbone() checks the name)


def fingerprint(name: str) -> str:
    return f"timm {_timm().__version__}"
