"""`run_transfer.py --dry-run`: every distiller built and run once on a random batch; nothing trains.

Each distiller the run needs is built as the transfer stage builds it, and one forward of teacher, student and
distiller proves the shapes fit. The output is the networks' table and one line per distiller.
"""
from __future__ import annotations

from typing import Any, Iterator

import torch
from torch import nn

from crossmodal.config import Config, with_setting
from crossmodal.data.files import DataFiles
from crossmodal.distill import Distiller, config_key
from crossmodal.modalities import encoding_channels
from crossmodal.models.summary import describe_network, network_table
from crossmodal.stages.teacher_cache import cache_plan
from crossmodal.stages.transfer import build_distiller

BATCH = 2  # frames of the random batch the dry run's forward sees


def network_rows(cfg: Config, teacher: nn.Module, student: nn.Module) -> list[dict[str, Any]]:
    """describe_network of the teacher and the student, named by their config's arch."""
    return [describe_network(teacher, "teacher", cfg.teacher.net.arch),
            describe_network(student, "student", cfg.student.arch)]


def distiller_settings(cfg: Config) -> Iterator[tuple[str, str, Any]]:
    """(label, method, options) of every distinct distiller the run's methods and tune.trials settings build."""
    seen: dict[str, list[Any]] = {}
    settings = [(m, m, cfg) for m in cfg.methods]
    for method, tried in cfg.tune.trials.items():
        settings += [(f"{method} (tune.trials.{method}[{i}])", method,
                      with_setting(cfg, method, setting, f"tune.trials.{method}[{i}]"))
                     for i, setting in enumerate(tried)]
    for label, method, run_cfg in settings:
        if method == "none":
            continue
        options = getattr(run_cfg.transfer, config_key(method))
        if options in seen.setdefault(method, []):
            continue
        seen[method].append(options)
        yield label, method, options


def random_batch(cfg: Config, data: DataFiles, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(source, target) random frames of the unlabeled pairs' size and channels, BATCH of each."""
    info = data.unlabeled
    size = (info.height, info.width)
    source = encoding_channels(cfg.data.source_encoding, info.shapes[cfg.data.source])
    target = encoding_channels(cfg.data.target_encoding, info.shapes[cfg.data.target])
    g = torch.Generator().manual_seed(0)
    return (torch.randn(BATCH, source, *size, generator=g).to(device),
            torch.randn(BATCH, target, *size, generator=g).to(device))


def _device(net: nn.Module) -> torch.device:
    return next((p.device for p in net.parameters()), torch.device("cpu"))


def check_forward(cfg: Config, data: DataFiles, teacher: nn.Module, student: nn.Module,
                  distiller: Distiller) -> float:
    """One forward of teacher, student and distiller on a random batch (eval, no grad); the finite scalar loss."""
    device = _device(teacher)
    modes = [(m, m.training) for m in (teacher, student, distiller)]
    student.to(device), distiller.to(device)
    source, target = random_batch(cfg, data, device)
    try:
        for module, _ in modes:
            module.eval()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            t_feats, t_logits = teacher.features_and_logits(source, distiller.needs_teacher_logits)
            loss = distiller(student(target), t_feats, torch.arange(BATCH, device=device), t_logits)
    finally:
        for module, mode in modes:
            module.train(mode)
    if loss.dim() != 0 or not torch.isfinite(loss):
        raise RuntimeError(f"{distiller.name}: the dry run's loss is {loss} (expected a finite scalar)")
    return float(loss)


def _tap(row: dict[str, Any], index: int) -> str:
    """'stage -1 (`layer3`, 64 ch, stride 8)' of a network row."""
    taps = row["taps"]
    t = taps[index]
    return f"stage {index % len(taps)} (`{t['module']}`, {t['channels']} ch, stride {t['stride']})"


def read_stages(distiller: Distiller) -> list[tuple[int, int]]:
    """(student stage, teacher stage) pairs a distiller and its parts read by `layer`, `teacher_layer`, `layers`."""
    pairs: list[tuple[int, int]] = []
    for part in [distiller, *(m for m in distiller.children() if isinstance(m, Distiller))]:
        if isinstance(getattr(part, "layer", None), int):
            pairs.append((part.layer, getattr(part, "teacher_layer", part.layer)))
        elif isinstance(getattr(part, "layers", None), list):
            pairs += [(i, i) for i in part.layers]
    return pairs


def distiller_line(label: str, distiller: Distiller, rows: list[dict[str, Any]]) -> str:
    """One line per distiller: its name, the teacher and student stages it reads, its parameter count."""
    teacher, student = rows
    reads = "; ".join(f"teacher {_tap(teacher, t)} -> student {_tap(student, s)}"
                      for s, t in read_stages(distiller))
    logits = "the teacher's logits" if distiller.needs_teacher_logits else ""
    what = ", ".join(x for x in (reads, logits) if x) or "every stage"
    params = sum(p.numel() for p in distiller.parameters())
    return f"- {label}: distiller `{distiller.name}` reads {what}; {params:,} parameters"


def dry_run(cfg: Config, data: DataFiles, teacher: nn.Module, student: nn.Module) -> str:
    """Build and run once every distiller the run needs, training nothing; the networks' table and distiller lines."""
    rows = network_rows(cfg, teacher, student)
    lines = ["## Networks", "", network_table(rows), "", "## Distillers", ""]
    distillers = []
    for label, method, options in distiller_settings(cfg):
        distillers.append(build_distiller(cfg, method, options, student, teacher, data))
        check_forward(cfg, data, teacher, student, distillers[-1])
        lines.append(distiller_line(label, distillers[-1], rows))
    if lines[-1] == "":
        lines.append("- none (methods: none only)")
    if cfg.teacher.cache_views and distillers:
        lines += ["", f"## Teacher cache (teacher.cache_views: {cfg.teacher.cache_views})", "",
                  *cache_plan(cfg, data, teacher, distillers)]
    return "\n".join(lines)
