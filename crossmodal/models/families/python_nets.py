"""Your own networks: `python:<module>:<callable>`, imported from the Python path.

The callable is called as callable(num_classes=C, in_channels=K); the stages to distil are named in `features:` and
tapped by hooks.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
from typing import Any, Mapping, Sequence

from torch import nn

from crossmodal.errors import NetworkError
from crossmodal.models.features import FeatureNet, HookedFeatures, check_feature_names, submodule_names
from crossmodal.models.weight_sources import resolve_pretrained
from crossmodal.models.weights import load_strict, read_state_dict


def build(name: str, in_channels: int, num_classes: int, key: str,
          kwargs: Mapping[str, Any] | None = None) -> nn.Module:
    """Import and call the factory, with the config's `kwargs` too.

    Each step is checked, so a wrong name or signature is one clear line.
    """
    kwargs = dict(kwargs or {})
    module_name, _, attr = name.partition(":")
    spec = f"python:{name}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and module_name.startswith(err.name):
            raise NetworkError(f"config key '{key}.arch' is {spec}, but module '{err.name}' cannot be imported: put "
                               f"its folder on PYTHONPATH or pip install your package") from None
        raise
    factory = getattr(module, attr, None)
    if factory is None:
        near = difflib.get_close_matches(attr, [n for n in dir(module) if not n.startswith("_")], n=5, cutoff=0.4)
        raise NetworkError(f"config key '{key}.arch' is {spec}, but {module.__file__} has no '{attr}'"
                           + (f"; nearest: {', '.join(near)}" if near else ""))
    if not callable(factory):
        raise NetworkError(f"config key '{key}.arch' is {spec}, but '{attr}' is a {type(factory).__name__}, not a "
                           f"callable")
    _check_signature(factory, spec, key, num_classes, in_channels, kwargs)
    model = factory(num_classes=num_classes, in_channels=in_channels, **kwargs)
    if not isinstance(model, nn.Module):
        raise NetworkError(f"config key '{key}.arch' is {spec}, which returned a {type(model).__name__}; it must "
                           f"return a torch.nn.Module")
    return model


def _check_signature(factory, spec: str, key: str, num_classes: int, in_channels: int,
                     kwargs: Mapping[str, Any]) -> None:
    """The factory must take num_classes= and in_channels=, and the config's kwargs: one clear line if not."""
    try:
        signature = inspect.signature(factory)
    except ValueError:  # no signature to inspect (a builtin): just call it
        return
    try:
        signature.bind(num_classes=num_classes, in_channels=in_channels)
    except TypeError as err:
        raise NetworkError(f"config key '{key}.arch' is {spec}, which must accept the keyword arguments "
                           f"num_classes= and in_channels= ({err})") from None
    try:
        signature.bind(num_classes=num_classes, in_channels=in_channels, **kwargs)
    except TypeError as err:
        raise NetworkError(f"config key '{key}.kwargs' is {dict(kwargs)}, which {spec} does not take: it is called "
                           f"as callable(num_classes=, in_channels=, **kwargs) ({err})") from None


def _features(model: nn.Module, features: Sequence[str], key: str, name: str) -> list[str]:
    if not features:
        names = submodule_names(model)
        raise NetworkError(f"config key '{key}.features' must name the stages of python:{name} to distil from, "
                           f"shallow to deep (module names as model.named_modules() gives them, e.g. "
                           f"[{', '.join(names[:3])}]; top-level: {', '.join(n for n, _ in model.named_children())})")
    check_feature_names(model, features, f"{key}.features", f"python:{name}")
    return list(features)


def _pretrained(model: nn.Module, pretrained: str, key: str, name: str) -> None:
    if pretrained:
        pretrained = resolve_pretrained("python", name, pretrained, False, key)  # refuses `cache`: none for your code
        state = read_state_dict(pretrained, f"{key}.pretrained")
        load_strict(model, state, pretrained, f"{key}.pretrained", f"python:{name}")


def backbone(name: str, in_channels: int, features: Sequence[str], pretrained: str, num_classes: int,
             key: str, allow_download: bool = False, *, kwargs: Mapping[str, Any] | None = None,
             probe_size: tuple[int, int] | None = None) -> FeatureNet:
    model = build(name, in_channels, num_classes, key, kwargs)
    names = _features(model, features, key, name)
    _pretrained(model, pretrained, key, name)
    return HookedFeatures(model, names, in_channels, probe_size)


def segmentation_model(name: str, in_channels: int, num_classes: int, features: Sequence[str], pretrained: str,
                       key: str, state_keys: set[str],
                       allow_download: bool = False, *, kwargs: Mapping[str, Any] | None = None,
                       probe_size: tuple[int, int] | None = None) -> tuple[nn.Module, list[str]] | None:
    model = build(name, in_channels, num_classes, key, kwargs)
    names = _features(model, features, key, name)
    _pretrained(model, pretrained, key, name)
    return model, names


def fingerprint(name: str) -> str:
    """A hash of the factory's module source: a teacher cached from your code is retrained when the code changes."""
    import hashlib
    from pathlib import Path

    source = getattr(importlib.import_module(name.partition(":")[0]), "__file__", None)
    return hashlib.sha256(Path(source).read_bytes()).hexdigest()[:16] if source else ""
