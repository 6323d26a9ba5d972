"""The one contract for "a network that gives multi-scale features", and forward hooks that make any module keep it.

A feature backbone's forward returns a list of maps, shallow to deep; `out_channels[i]` and `strides[i]` describe
map i (channels, and input size / map size). Every distiller, probe and head reads networks through it, whatever
family built them (crossmodal.models.networks).
"""
from __future__ import annotations

import difflib
from typing import Callable, Sequence

import torch
from torch import nn

from crossmodal.errors import NetworkError


class FeatureNet(nn.Module):
    """Base of every feature backbone: forward(x) -> [map, ...] shallow to deep, with `out_channels` and `strides`."""

    out_channels: list[int]
    strides: list[int]
    in_channels: int

    @property
    def num_stages(self) -> int:
        return len(self.out_channels)


PROBE_SIZE = (64, 64)  # the dry run's input: divisible by 32, small enough to be quick on a CPU


class ProbeError(NetworkError):
    """The dry forward failed at its input size: the network cannot run on frames of that size."""

    def __init__(self, size: tuple[int, int], cause: str, accepts: str) -> None:
        self.size, self.cause, self.accepts = tuple(size), cause, accepts
        super().__init__(f"the network cannot run on {size[0]}x{size[1]} inputs ({cause}); {accepts}")


def accepted_sizes(model: nn.Module) -> str:
    """What input sizes `model` takes, as far as its modules say (timm's patch embeddings do), for error messages."""
    for module in model.modules():
        img, patch = getattr(module, "img_size", None), getattr(module, "patch_size", None)
        if img is None or patch is None or not hasattr(module, "strict_img_size"):
            continue
        if module.strict_img_size:
            return (f"it accepts {img[0]}x{img[1]} inputs only (a timm ViT: leave kwargs dynamic_img_size unset, or "
                    f"set it true, to let it take any size)")
        if not getattr(module, "dynamic_img_pad", False):
            return f"it accepts sides that are multiples of its patch size {patch[0]} only"
    return "give it frames of a size its code accepts, or change the network"


class _Stop(Exception):
    """Raised by the deepest tap's hook: nothing after it is needed, so the rest of the forward is skipped."""


def submodule_names(model: nn.Module) -> list[str]:
    """Every named submodule of `model` (the names `features:` may use), in registration order."""
    return [name for name, _ in model.named_modules() if name]


class Taps:
    """Forward hooks on named submodules of `model` that collect their outputs (4-D maps) during one forward."""

    def __init__(self, model: nn.Module, names: Sequence[str]) -> None:
        self.names = list(names)
        self.outputs: dict[str, torch.Tensor] = {}
        self.stop_after: str | None = None
        self.handles: list = []
        self.hooked: list[nn.Module] = []
        self._hook_all(model)

    def _hook_all(self, model: nn.Module) -> None:
        self.remove()
        modules = dict(model.named_modules())
        self.hooked = [modules[name] for name in self.names]
        self.handles = [m.register_forward_hook(self._hook(name)) for m, name in zip(self.hooked, self.names)]

    def _hook(self, name: str):
        def hook(module: nn.Module, args, output) -> None:
            if isinstance(output, (tuple, list)):  # some blocks return (features, extras)
                output = output[0]
            self.outputs[name] = output
            if name == self.stop_after and all(n in self.outputs for n in self.names):
                raise _Stop
        return hook

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def run(self, model: nn.Module, x: torch.Tensor, *, stop_early: bool) -> tuple[list[torch.Tensor], object]:
        """Run model(x); returns the tapped maps and the model's output (None when the forward was cut short)."""
        if any(model.get_submodule(n) is not m for n, m in zip(self.names, self.hooked)):
            self._hook_all(model)  # a tapped module was replaced (e.g. by SyncBatchNorm conversion): hook the new one
        self.outputs = {}
        self.stop_after = self.names[-1] if stop_early and self.names else None
        out = None
        try:
            out = model(x)
        except _Stop:
            pass
        finally:
            self.stop_after = None
        missing = [n for n in self.names if n not in self.outputs]
        if missing:
            raise NetworkError(f"feature taps {missing} were not reached by the forward pass; name modules its "
                               f"forward runs")
        feats = [self.outputs[n] for n in self.names]
        self.outputs = {}
        return feats, out


class HookedFeatures(FeatureNet):
    """Any module as a feature backbone: the outputs of the submodules named in `names` (shallow to deep).

    The forward stops right after the deepest tap, so a classifier's pooling and fc never run. Parameters the taps
    do not depend on (a classifier head, say) are frozen, so they are neither trained nor expected by
    DistributedDataParallel. Channels and strides are measured once with a dry forward pass.
    """

    def __init__(self, model: nn.Module, names: Sequence[str], in_channels: int,
                 probe_size: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.model = model
        self.in_channels = in_channels
        self.feature_names = list(names)
        self.taps = Taps(model, names)
        size = tuple(probe_size) if probe_size else PROBE_SIZE  # the frame size when known
        self.out_channels, self.strides, used = measure(self, model, in_channels, size, with_grad=True)
        for name, p in model.named_parameters():
            if name not in used:
                p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.taps.run(self.model, x, stop_early=True)[0]


def measure(forward: Callable[[torch.Tensor], list[torch.Tensor]], params: nn.Module, in_channels: int,
            size: tuple[int, int] = PROBE_SIZE, with_grad: bool = False) -> tuple[list[int], list[int], set[str]]:
    """Channels and strides of the maps `forward` gives for a random input.

    It runs in eval mode and leaves the state untouched. With `with_grad` it also gives the names of the parameters of
    `params` that the maps depend on.
    """
    was_training = params.training
    params.eval()
    flags = {name: p.requires_grad for name, p in params.named_parameters()}
    try:
        with torch.set_grad_enabled(with_grad):
            if with_grad:
                for p in params.parameters():
                    p.requires_grad_(True)
            try:
                feats = forward(torch.randn(1, in_channels, *size))
            except (RuntimeError, AssertionError) as err:  # shape errors; ValueError & co. are bugs: keep traceback
                cause = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
                raise ProbeError(size, cause, accepted_sizes(params)) from err
            bad = [i for i, f in enumerate(feats) if not isinstance(f, torch.Tensor) or f.dim() != 4]
            if bad:
                raise NetworkError(f"feature tap(s) {bad} do not give 4-D (B, C, H, W) maps; name modules whose "
                                   f"output is a feature map")
            used: set[str] = set()
            if with_grad:
                sum(f.float().mean() for f in feats).backward()
                used = {name for name, p in params.named_parameters() if p.grad is not None}
    finally:
        for name, p in params.named_parameters():
            p.grad = None
            p.requires_grad_(flags[name])
        params.train(was_training)
    channels = [int(f.shape[1]) for f in feats]
    strides = [map_stride(size[0], int(f.shape[-2])) for f in feats]
    return channels, strides, used


def map_stride(size: int, n: int) -> int:
    """The stride that turns `size` input pixels into `n` map pixels.

    It is the power of two that does it, rounding either way, since CNN stages pad: 100 px give 4 at stride 32.
    Otherwise it is the nearest integer; ViTs report their patch size.
    """
    for stride in (2 ** k for k in range(11)):
        if n in (size // stride, -(-size // stride)):
            return stride
    return max(1, round(size / n))


def check_feature_names(model: nn.Module, names: Sequence[str], key: str, arch: str) -> None:
    """Every name must be a submodule of `model`; otherwise say which is not and list the nearest names."""
    known = submodule_names(model)
    for name in names:
        if name not in known:
            near = difflib.get_close_matches(name, known, n=5, cutoff=0.4)
            raise NetworkError(f"config key '{key}' has '{name}', which is not a submodule of {arch}"
                               + (f"; nearest: {', '.join(near)}" if near else "")
                               + f" (its top-level modules: {', '.join(n for n, _ in model.named_children())})")
    if len(set(names)) != len(names):
        raise NetworkError(f"config key '{key}' names a module twice: {list(names)}")


def last_per_stride(model: nn.Module, candidates: Sequence[str], in_channels: int) -> list[str]:
    """Of the candidate submodules in forward order, the last one at each output stride.

    That is one tap per scale, as timm's feature_info picks them.
    """
    taps = Taps(model, candidates)
    try:
        _, strides, _ = measure(lambda x: taps.run(model, x, stop_early=True)[0], model, in_channels)
    finally:
        taps.remove()
    picked: dict[int, str] = {}
    for name, stride in zip(candidates, strides):
        picked[stride] = name
    return [picked[s] for s in sorted(picked)]
