"""Weight files: reading state dicts safely, loading them strictly, adapting the first convolution.

State dicts are read with weights_only or from safetensors; loading reports clearly what does not fit; a 3-channel first
convolution is adapted to another input channel count.
"""
from __future__ import annotations

from pathlib import Path
from typing import Collection

import torch
from torch import nn

from crossmodal.errors import NetworkError

WRAPPER_KEYS = ("state_dict", "model")  # {"model": sd} / {"state_dict": sd}, as training scripts save them
PREFIXES = ("module.", "_orig_mod.")  # DistributedDataParallel / DataParallel, torch.compile


def read_state_dict(path: str | Path, key: str, *, hint: str = "") -> dict[str, torch.Tensor]:
    """The state dict in `path`, for config key `key`.

    A torch file is read with weights_only=True; .safetensors files are read as such. It is unwrapped from {"model":
    ...} or {"state_dict": ...} and stripped of 'module.' and '_orig_mod.' prefixes.
    """
    path = Path(path)
    if not path.is_file():
        raise NetworkError(f"config key '{key}': weights file not found: {path}" + (f". {hint}" if hint else ""))
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
            raise NetworkError(f"config key '{key}': {path} cannot be read as safetensors: {err}") from None
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # noqa: BLE001 - any unreadable file gets the same clear message
            raise NetworkError(
                f"config key '{key}': {path} cannot be read as a state dict ({str(err).splitlines()[0][:200]}). "
                f"Save weights with torch.save(model.state_dict(), path): whole pickled models are not loaded, "
                f"since unpickling them runs arbitrary code") from None
    for _ in range(3):
        wrapped = [k for k in WRAPPER_KEYS if isinstance(state, dict) and isinstance(state.get(k), dict)]
        if not wrapped:
            break
        state = state[wrapped[0]]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise NetworkError(f"config key '{key}': {path} holds {type(state).__name__}"
                           + (f" with keys {list(state)[:5]}" if isinstance(state, dict) else "")
                           + "; expected a state dict (parameter name -> tensor), optionally under 'model' or "
                             "'state_dict'")
    out = {}
    for name, value in state.items():
        changed = True
        while changed:
            changed = False
            for prefix in PREFIXES:
                if name.startswith(prefix):
                    name, changed = name[len(prefix):], True
        out[name] = value
    return out


def mismatch(module: nn.Module, state: dict[str, torch.Tensor],
             only: Collection[str] | None = None) -> tuple[list[str], list[str], list[str]]:
    """What does not fit between `module` and `state`.

    Keys of `module` missing from `state`, keys of `state` the module lacks, and keys whose shapes differ; limited to
    the names in `only` when given.
    """
    own = module.state_dict()
    keep = (lambda k: True) if only is None else (lambda k: k in only)
    missing = [k for k in own if k not in state and keep(k)]
    unexpected = [k for k in state if k not in own and keep(k)]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own
              if k in state and keep(k) and state[k].shape != own[k].shape]
    return missing, unexpected, shapes


def describe(missing: list[str], unexpected: list[str], shapes: list[str]) -> str:
    parts = []
    for label, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatch", shapes)):
        if keys:
            parts.append(f"{len(keys)} {label} (first: {', '.join(keys[:4])})")
    return "; ".join(parts)


def load_strict(module: nn.Module, state: dict[str, torch.Tensor], path: str | Path, key: str, what: str) -> None:
    """load_state_dict(strict=True), refusing with the first few missing / unexpected / mis-shaped keys."""
    problems = describe(*mismatch(module, state))
    if problems:
        raise NetworkError(f"config key '{key}': {path} does not fit {what}: {problems}")
    module.load_state_dict(state, strict=True)


def adapt_input_conv(in_channels: int, weight: torch.Tensor) -> torch.Tensor:
    """A first-conv weight for `in_channels` made from one trained on 3.

    timm's rule: sum for 1 channel, tile and rescale otherwise.
    """
    out_c, src_c, kh, kw = weight.shape
    if in_channels == src_c:
        return weight
    dtype = weight.dtype
    weight = weight.float()
    if in_channels == 1:
        return weight.sum(dim=1, keepdim=True).to(dtype)
    reps = -(-in_channels // src_c)
    w = weight.repeat(1, reps, 1, 1)[:, :in_channels]
    return (w * (src_c / in_channels)).to(dtype)


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d] | None:
    """The first Conv2d of `model` in registration order (the stem of every torchvision network)."""
    return next(((name, m) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)


def set_input_channels(model: nn.Module, in_channels: int) -> None:
    """Give `model`'s first convolution `in_channels` inputs, its weights adapted from the present ones."""
    found = first_conv(model)
    if found is None or found[1].in_channels == in_channels:
        return
    name, conv = found
    if conv.groups != 1:
        raise NetworkError(f"the first convolution '{name}' is grouped ({conv.groups} groups); its input channels "
                           f"cannot be changed to {in_channels}")
    new = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                    1, conv.bias is not None, conv.padding_mode)
    with torch.no_grad():
        new.weight.copy_(adapt_input_conv(in_channels, conv.weight))
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    setattr(parent, name.rpartition(".")[2], new)
