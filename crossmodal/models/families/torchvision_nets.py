"""torchvision networks: classification backbones and segmentation models with their own heads.

Backbones serve either side; segmentation models serve as teachers. They are always built with weights=None: weights
come from a local file named in the config or found in TORCH_HOME (`pretrained: cache`), downloaded there only with
allow_download.
"""
from __future__ import annotations

import difflib
from typing import Any, Mapping, Sequence

import torchvision
from torch import nn

from crossmodal.errors import NetworkError
from crossmodal.models.features import FeatureNet, HookedFeatures, check_feature_names, last_per_stride
from crossmodal.models.weight_sources import local_weights
from crossmodal.models.weights import (
    adapt_input_conv,
    describe,
    first_conv,
    mismatch,
    read_state_dict,
    set_input_channels,
)

SEGMENTATION = frozenset(torchvision.models.list_models(module=torchvision.models.segmentation))
CLASSIFICATION = frozenset(torchvision.models.list_models(module=torchvision.models))
STAGE_CONTAINERS = ("features", "trunk_output", "layers")  # mobilenet/efficientnet/convnext, regnet, mnasnet


def _check_name(name: str, key: str) -> None:
    if name not in SEGMENTATION | CLASSIFICATION:
        near = difflib.get_close_matches(name, sorted(SEGMENTATION | CLASSIFICATION), n=5, cutoff=0.5)
        raise NetworkError(f"config key '{key}.arch': torchvision has no model '{name}'"
                           + (f"; nearest: {', '.join('torchvision:' + n for n in near)}" if near else "")
                           + " (torchvision.models.list_models() lists them)")


def download_hint(name: str) -> str:
    """Where the official weights of `name` are (to fetch on a machine with internet), for error messages."""
    try:
        url = torchvision.models.get_model_weights(name).DEFAULT.url
    except (ValueError, AttributeError, KeyError):
        return "pass the path of a state dict saved with torch.save(model.state_dict(), path)"
    return f"download {url} on a machine with internet access and name its local path in the config"


def default_taps(model: nn.Module, in_channels: int, prefix: str = "") -> list[str]:
    """One tap per scale of a torchvision network.

    layer1..layer4 for ResNet-like trunks, else the last block at each stride of the network's stage container:
    features, trunk_output or layers.
    """
    root = model.get_submodule(prefix.rstrip(".")) if prefix else model
    if all(hasattr(root, f"layer{i}") for i in range(1, 5)):
        return [f"{prefix}layer{i}" for i in range(1, 5)]
    for container in STAGE_CONTAINERS:
        stages = getattr(root, container, None)
        if isinstance(stages, nn.Sequential):
            return last_per_stride(model, [f"{prefix}{container}.{n}" for n, _ in stages.named_children()],
                                   in_channels)
    if prefix and isinstance(root, nn.ModuleDict):  # a segmentation model's IntermediateLayerGetter
        return last_per_stride(model, [f"{prefix}{n}" for n, _ in root.named_children()], in_channels)
    raise NetworkError(f"cannot find the stages of this torchvision network by itself; name them in features: "
                       f"(its top-level modules: {', '.join(n for n, _ in root.named_children())})")


def _get_model(name: str, key: str, kwargs: Mapping[str, Any] | None, **fixed) -> nn.Module:
    """torchvision.models.get_model(name, **fixed, **kwargs); the config's kwargs it refuses are one NetworkError."""
    kwargs = dict(kwargs or {})
    try:
        return torchvision.models.get_model(name, **fixed, **kwargs)
    except TypeError as err:
        if "keyword argument" not in str(err) or not kwargs:
            raise
        raise NetworkError(f"config key '{key}.kwargs' is {kwargs}, which torchvision:{name} does not take "
                           f"({str(err).splitlines()[0][:200]}; {', '.join(fixed)} are set by the project)") from None


def backbone(name: str, in_channels: int, features: Sequence[str], pretrained: str, num_classes: int,
             key: str, allow_download: bool = False, *, kwargs: Mapping[str, Any] | None = None,
             probe_size: tuple[int, int] | None = None) -> FeatureNet:
    _check_name(name, key)
    if name in SEGMENTATION:
        raise NetworkError(f"config key '{key}.arch': torchvision:{name} is a segmentation model with its own head, "
                           f"usable as a teacher only; a student is a backbone (e.g. torchvision:"
                           f"{'mobilenet_v3_large' if 'mobilenet' in name else 'resnet50'}) that gets the project's "
                           f"heads")
    model = _get_model(name, key, kwargs, weights=None)
    pretrained = local_weights("torchvision", name, pretrained, allow_download, key)  # a path, `cache`, a download
    state = read_state_dict(pretrained, f"{key}.pretrained", hint=download_hint(name)) if pretrained else None
    stem = first_conv(model)
    set_input_channels(model, in_channels)
    if features:
        check_feature_names(model, features, f"{key}.features", f"torchvision:{name}")
    names = list(features) or default_taps(model, in_channels)
    net = HookedFeatures(model, names, in_channels, probe_size)
    if state is not None:
        _load_used(model, state, stem[0] if stem else "", in_channels, pretrained, key, f"torchvision:{name}")
    return net


def _load_used(model: nn.Module, state: dict, stem: str, in_channels: int, path: str, key: str, what: str) -> None:
    """Load the weights the tapped stages use, strictly: each must be there with its shape.

    The rest of the file, such as a classifier the taps never reach, is ignored. The stem's 3-channel weights are
    adapted to in_channels.
    """
    if stem and f"{stem}.weight" in state:
        state = {**state, f"{stem}.weight": adapt_input_conv(in_channels, state[f"{stem}.weight"])}
    used = {n for n, p in model.named_parameters() if p.requires_grad}
    used_modules = {n.rpartition(".")[0] for n in used}
    relevant = {k for k in model.state_dict() if k.rpartition(".")[0] in used_modules}
    missing, _, shapes = mismatch(model, state, only=relevant)
    if missing or shapes:
        raise NetworkError(f"config key '{key}.pretrained': {path} does not fit {what}: "
                           + describe(missing, [], shapes))
    model.load_state_dict({k: v for k, v in state.items() if k in relevant}, strict=False)


def segmentation_model(name: str, in_channels: int, num_classes: int, features: Sequence[str], pretrained: str,
                       key: str, state_keys: set[str],
                       allow_download: bool = False, *, kwargs: Mapping[str, Any] | None = None,
                       probe_size: tuple[int, int] | None = None) -> tuple[nn.Module, list[str]] | None:
    if name not in SEGMENTATION:
        return None  # a classification backbone gets the project's segmentation head (backbone() checks the name)
    aux = any(k.startswith("aux_classifier.") for k in state_keys)  # trained with aux_loss=True
    model = _get_model(name, key, kwargs, weights=None, weights_backbone=None, num_classes=num_classes, aux_loss=aux)
    # backbone weights of the classification model (fc / classifier dropped): a path, `cache`, a download
    trunk = name.split("_", 1)[1] if "_" in name else name  # deeplabv3_resnet50 -> resnet50
    pretrained = local_weights("torchvision", trunk, pretrained, allow_download, key)
    if pretrained:
        state = read_state_dict(pretrained, f"{key}.pretrained", hint=download_hint(trunk))
        state = {k.removeprefix("features."): v for k, v in state.items()}
        missing, _, shapes = mismatch(model.backbone, state)
        if missing or shapes:
            raise NetworkError(f"config key '{key}.pretrained': {pretrained} does not fit the backbone of "
                               f"torchvision:{name}: " + describe(missing, [], shapes))
        own = model.backbone.state_dict()
        model.backbone.load_state_dict({k: v for k, v in state.items() if k in own})
    set_input_channels(model, in_channels)
    if features:
        check_feature_names(model, features, f"{key}.features", f"torchvision:{name}")
    return model, list(features) or default_taps(model, in_channels, prefix="backbone.")


def fingerprint(name: str) -> str:
    return f"torchvision {torchvision.__version__}"
