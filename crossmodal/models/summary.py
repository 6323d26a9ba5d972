"""What the networks of a run are: tapped modules, channels, strides, parameters, head.

For teacher and student: each tapped module, the stages the distillers read, with its channels and stride, the parameter
counts and the head. `describe_network` reads a built network; the table, the log lines and the report section are made
from its plain rows, which are JSON-ready and need no torch.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn


def _unwrap(net: nn.Module) -> nn.Module:
    """The teacher inside wrappers that only change its input (teacher.input_size: `.teacher`)."""
    from torch import nn

    seen = 0
    while isinstance(getattr(net, "teacher", None), nn.Module) and seen < 8:
        net, seen = net.teacher, seen + 1
    return net


def _backbone(net: nn.Module) -> nn.Module:
    """The module whose stages are tapped: a teacher's `.backbone` (a Segmenter, a head-less teacher), else itself."""
    net = _unwrap(net)
    return getattr(net, "backbone", net)


def tap_names(net: nn.Module) -> list[str]:
    """The names of the tapped modules, shallow to deep, inside the network that is tapped."""
    from crossmodal.models.backbone import ResNetBackbone

    tapped = _backbone(net)
    names = getattr(tapped, "feature_names", None)  # HookedFeatures, OwnHeadNet
    if names is not None:
        return [str(n) for n in names]
    info = getattr(getattr(tapped, "model", None), "feature_info", None)  # TimmFeatures
    if info is not None and hasattr(info, "module_name"):
        return [str(n) for n in info.module_name()]
    if isinstance(tapped, ResNetBackbone):
        return [f"layer{i + 1}" for i in range(tapped.num_stages)]
    return [f"stage{i}" for i in range(len(net.out_channels))]


def _arch(net: nn.Module) -> str:
    """A name for the architecture when the config's is not given: the built-in's name, timm's, or the class."""
    tapped = _backbone(net)
    if isinstance(getattr(tapped, "arch", None), str):
        return tapped.arch
    inner = getattr(tapped, "model", None)
    cfg = getattr(inner, "pretrained_cfg", None) or {}
    if isinstance(cfg, dict) and cfg.get("architecture"):
        return str(cfg["architecture"])
    return type(inner if inner is not None else tapped).__name__


def head_name(net: nn.Module) -> str | None:
    """What gives a teacher's logits (the project's head, or the network's own); None for a feature backbone."""
    from crossmodal.models.classifier import Classifier
    from crossmodal.models.own_head import OwnHeadNet
    from crossmodal.models.segmenter import Segmenter

    core = _unwrap(net)
    if isinstance(core, Segmenter):
        return f"SegHead (the project's; skip from stage {core.head.skip_stage})"
    if isinstance(core, Classifier):
        return "Linear on the pooled last stage (the project's)"
    if isinstance(core, OwnHeadNet):
        own = getattr(core.model, "classifier", None)
        return f"the network's own ({type(own).__name__})" if own is not None else "the network's own"
    return None


def describe_network(net: nn.Module, role: str, arch: str | None = None) -> dict[str, Any]:
    """{role, arch, taps: [{module, channels, stride}], params_total, params_trainable, head} of a network."""
    names, channels, strides = tap_names(net), list(net.out_channels), list(net.strides)
    if len(names) != len(channels):  # a wrapper that re-taps: keep the counts honest
        names = [f"stage{i}" for i in range(len(channels))]
    params = list(net.parameters())
    return {"role": role, "arch": arch or _arch(net),
            "taps": [{"module": n, "channels": int(c), "stride": int(s)} for n, c, s in zip(names, channels, strides)],
            "params_total": sum(p.numel() for p in params),
            "params_trainable": sum(p.numel() for p in params if p.requires_grad),
            "head": head_name(net)}


def stage_label(index: int, count: int) -> str:
    """A stage index as both ways a `layer` option may name it: '3 (-1)'."""
    index = index % count if count else index
    return f"{index} ({index - count})"


def params_line(row: dict[str, Any]) -> str:
    """'teacher `resnet_narrow`: 1,234 parameters (0 trainable); head: ...' for one network."""
    head = f"; head: {row['head']}" if row.get("head") else ""
    return (f"{row['role']} `{row['arch']}`: {row['params_total']:,} parameters "
            f"({row['params_trainable']:,} trainable){head}")


def network_table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of every network's taps (role, stage, module, channels, stride), then a parameters line each."""
    lines = ["| network | stage | module | channels | stride |", "|---|---|---|---|---|"]
    for row in rows:
        taps = row["taps"]
        lines += [f"| {row['role']} | {stage_label(i, len(taps))} | `{t['module']}` | {t['channels']} | {t['stride']} |"
                  for i, t in enumerate(taps)]
    lines += [""] + [f"- {params_line(row)}" for row in rows]
    return "\n".join(lines)


def log_networks(log: logging.Logger, rows: list[dict[str, Any]]) -> None:
    """One log line per tapped module of every network, and one with its parameter counts."""
    for row in rows:
        taps = row["taps"]
        for i, t in enumerate(taps):
            log.info("%s %s stage %s: %s, %d channels, stride %d", row["role"], row["arch"],
                     stage_label(i, len(taps)), t["module"], t["channels"], t["stride"])
        log.info("%s", params_line(row))
