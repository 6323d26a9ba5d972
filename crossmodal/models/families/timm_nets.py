"""timm networks: any model that supports features_only and takes its input channels as `in_chans`.

Stages come from its feature_info. Weights come from a local file through pretrained_cfg_overlay: a path, or one found
in the caches. timm reaches the hub only with allow_download.
"""
from __future__ import annotations

import difflib
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from crossmodal.errors import NetworkError
from crossmodal.models.features import FeatureNet, HookedFeatures, check_feature_names, measure
from crossmodal.models.vit import ViTFeatures, default_taps, is_vit
from crossmodal.models.weight_sources import DOWNLOAD, resolve_pretrained, where_to_get


class TimmFeatures(FeatureNet):
    """A timm features_only model under the project's contract.

    Channels and strides come from feature_info. Given a `probe_size`, one dry forward at that size refuses a model that
    cannot run on such frames.
    """

    def __init__(self, model: nn.Module, in_channels: int, probe_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.model = model
        self.in_channels = in_channels
        self.out_channels = list(model.feature_info.channels())
        self.strides = list(model.feature_info.reduction())
        if probe_size is not None:
            measure(self, model, in_channels, probe_size)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = list(self.model(x))
        if str(getattr(self.model, "output_fmt", "NCHW")).endswith("NHWC"):  # swin & co. give channels last
            feats = [f.permute(0, 3, 1, 2).contiguous() for f in feats]
        return feats


def _timm():
    import timm

    return timm


def _check(name: str, pretrained: str, key: str, allow_download: bool = False) -> str:
    """Refuse names timm cannot build here; return the weights to load ('' / a file / DOWNLOAD)."""
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
    # a tagged name (timm:resnet18.a1_in1k) or `cache`: the published weights, from the caches (or downloaded)
    return resolve_pretrained("timm", name, pretrained, allow_download, key)


def download_hint(name: str) -> str:
    """Which file to download from where (and where `pretrained: cache` finds it), for error messages."""
    return where_to_get("timm", name)


def _create(name: str, in_channels: int, pretrained: str, key: str, **kwargs) -> nn.Module:
    # a local file through the overlay (a state dict, unless timm's own .npz format); DOWNLOAD: timm fetches it
    local = {"file": str(pretrained)} | ({} if str(pretrained).endswith(".npz") else {"custom_load": False})
    overlay = {"pretrained_cfg_overlay": local} if pretrained and pretrained != DOWNLOAD else {}
    try:
        return _timm().create_model(name, pretrained=bool(pretrained), in_chans=in_channels, **overlay, **kwargs)
    except RuntimeError as err:
        text = str(err)
        if "features_only" in text or "feature" in text and "not" in text:
            raise NetworkError(f"config key '{key}.arch': timm:{name} does not support features_only; name its stages "
                               f"in {key}.features") from None
        if pretrained and ("state_dict" in text or "size mismatch" in text or "Missing key" in text):
            first = text.splitlines()[0][:300]
            raise NetworkError(f"config key '{key}.pretrained': {pretrained} does not fit timm:{name}: "
                               f"{first}") from None
        raise


DYNAMIC = {"dynamic_img_size": True, "dynamic_img_pad": True}  # a ViT at any frame size (position embeddings
# interpolated to the token grid on each forward; frames padded at the bottom / right to a multiple of the patch)
SIZE_KWARGS = ("dynamic_img_size", "dynamic_img_pad", "img_size")  # set in kwargs: the config decides, not us


def _create_with(name: str, in_channels: int, pretrained: str, key: str, kwargs: Mapping[str, Any],
                 ours: Mapping[str, Any] | None = None, **fixed) -> nn.Module | None:
    """_create with the config's kwargs and `ours`, the size options.

    Returns None when the model refuses one of `ours`, since it has no such option. When it refuses one of the config's,
    a NetworkError names {key}.kwargs.
    """
    ours = dict(ours or {})
    try:
        return _create(name, in_channels, pretrained, key, **fixed, **ours, **kwargs)
    except TypeError as err:
        text = str(err)
        if "keyword argument" not in text:
            raise
        if any(f"'{k}'" in text for k in ours):
            return None
        raise NetworkError(f"config key '{key}.kwargs' is {dict(kwargs)}, which timm:{name} does not take "
                           f"({text.splitlines()[0][:200]}; in_chans, pretrained and features_only are set by the "
                           f"project)") from None


def _fixed_size(name: str, probe_size: tuple[int, int] | None) -> dict[str, Any]:
    """img_size set to the frame size for a fixed-size model such as swin or beit.

    timm resizes its position tables when it loads weights. Nothing is set when the frame size is unknown or the model
    takes any size.
    """
    if probe_size is None:
        return {}
    try:
        fixed = bool(getattr(_timm().models.get_pretrained_cfg(name), "fixed_input_size", False))
    except RuntimeError:  # an unknown tag: _check has already named it
        fixed = False
    return {"img_size": tuple(int(v) for v in probe_size)} if fixed else {}


def _whole(name: str, in_channels: int, pretrained: str, key: str, kwargs: Mapping[str, Any],
           probe_size: tuple[int, int] | None) -> tuple[nn.Module | None, dict[str, Any]]:
    """The whole model when it may be a ViT, and the size options it took.

    The options are the config's own, which then decide; DYNAMIC, for any frame size; or img_size, for a fixed-size
    model. A CNN refuses both at once, before anything is built, and gives (None, {}).
    """
    if any(k in kwargs for k in SIZE_KWARGS):
        return _create_with(name, in_channels, pretrained, key, kwargs), {}
    for ours in (DYNAMIC, _fixed_size(name, probe_size)):
        model = _create_with(name, in_channels, pretrained, key, kwargs, ours) if ours else None
        if model is not None:
            return model, ours
    return None, {}


def _vit(model: nn.Module, features: Sequence[str], in_channels: int, size: tuple[int, int] | None, name: str,
         key: str) -> FeatureNet:
    """A ViT's blocks (the named ones, else evenly spaced) as maps."""
    names = list(features) or default_taps(model)
    check_feature_names(model, names, f"{key}.features", f"timm:{name}")
    return ViTFeatures(model, names, in_channels, size)


def backbone(name: str, in_channels: int, features: Sequence[str], pretrained: str, num_classes: int,
             key: str, allow_download: bool = False, *, kwargs: Mapping[str, Any] | None = None,
             probe_size: tuple[int, int] | None = None) -> FeatureNet:
    """A timm model as a feature backbone.

    ViTs are built to take any frame size (DYNAMIC) and tapped at their blocks; other models go through features_only,
    or hooks on `features`. `kwargs` go to timm.create_model. The dry forward runs at `probe_size`, the frame size, so a
    model that cannot take it is refused here.
    """
    pretrained = _check(name, pretrained, key, allow_download)
    kwargs = dict(kwargs or {})
    model, ours = _whole(name, in_channels, pretrained, key, kwargs, probe_size)
    if model is not None and is_vit(model):
        return _vit(model, features, in_channels, probe_size, name, key)
    if not features:
        built = _create_with(name, in_channels, pretrained, key, kwargs, ours, features_only=True)
        return TimmFeatures(built, in_channels, probe_size)
    if model is None:
        model = _create_with(name, in_channels, pretrained, key, kwargs)
    check_feature_names(model, features, f"{key}.features", f"timm:{name}")
    return HookedFeatures(model, features, in_channels, probe_size)


def pretrained_normalisation(name: str) -> tuple[list[float], list[float]] | None:
    """The mean and std the weights of timm model `name` were trained with.

    They come from timm's pretrained_cfg, tagged name or not, without building the model; None when timm does not say.
    """
    try:
        cfg = _timm().models.get_pretrained_cfg(name)
    except RuntimeError:  # an unknown tag
        return None
    mean, std = getattr(cfg, "mean", None), getattr(cfg, "std", None)
    if not mean or not std:
        return None
    return [float(v) for v in mean], [float(v) for v in std]


def segmentation_model(name: str, in_channels: int, num_classes: int, features: Sequence[str], pretrained: str,
                       key: str, state_keys: set[str],
                       allow_download: bool = False, *, kwargs: Mapping[str, Any] | None = None,
                       probe_size: tuple[int, int] | None = None) -> tuple[nn.Module, list[str]] | None:
    return None  # timm backbones get the project's segmentation head (backbone() checks the name)


def fingerprint(name: str) -> str:
    return f"timm {_timm().__version__}"
