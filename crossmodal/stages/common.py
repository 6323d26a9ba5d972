"""Pieces every stage shares: optimiser and schedule, a progress bar, a loss curve."""
from __future__ import annotations

import math
from typing import Iterable, Iterator, TypeVar

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

T = TypeVar("T")


def sync_batchnorm(model: torch.nn.Module, accelerator: Accelerator) -> torch.nn.Module:
    """BatchNorm statistics over the global batch when several GPU processes train.

    PyTorch's SyncBatchNorm needs CUDA; on CPU each process normalises its own share of the batch.
    """
    if accelerator.num_processes > 1 and accelerator.device.type == "cuda":
        return torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def make_optimizer(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float,
                   slow: tuple[Iterable[torch.nn.Parameter], float] | None = None) -> torch.optim.Optimizer:
    """AdamW over the trainable `params`; with `slow` = (some of those parameters, scale), those get lr x scale."""
    params = [p for p in params if p.requires_grad]
    if slow is None:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    slow_ids = {id(p) for p in slow[0]}
    groups = [{"params": [p for p in params if id(p) not in slow_ids], "lr": lr},
              {"params": [p for p in params if id(p) in slow_ids], "lr": lr * slow[1]}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, weight_decay=weight_decay)


def warmup_cosine(optimizer: torch.optim.Optimizer, total_steps: int,
                  warmup_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up then cosine decay to zero over `total_steps` optimiser steps."""
    total = max(1, total_steps)
    warm = min(warmup_steps, total - 1)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def cpu_state(state: dict) -> dict:
    """A state dict detached from its module: tensors copied to the CPU, extra state as it is."""
    return {k: v.detach().to("cpu", copy=True) if torch.is_tensor(v) else v for k, v in state.items()}


def progress(items: Iterable[T], accelerator: Accelerator, desc: str, total: int | None = None) -> Iterator[T]:
    """A tqdm bar with throughput and ETA, shown on the main process only."""
    return iter(tqdm(items, desc=desc, total=total, disable=not accelerator.is_local_main_process,
                     dynamic_ncols=True, leave=True, unit="batch"))


class Curve:
    """Running mean of a loss, recorded every `every` steps as (step, value) points for plots and reports."""

    def __init__(self, every: int = 5) -> None:
        self.every = every
        self.points: list[tuple[int, float]] = []
        self._sum = 0.0
        self._n = 0

    def add(self, step: int, value: float) -> None:
        self._sum += value
        self._n += 1
        if self._n >= self.every:
            self.flush(step)

    def state_dict(self) -> dict:
        return {"points": list(self.points), "sum": self._sum, "n": self._n}

    def load_state_dict(self, state: dict) -> None:
        self.points = [tuple(p) for p in state["points"]]
        self._sum, self._n = state["sum"], state["n"]

    def flush(self, step: int) -> None:
        if self._n:
            self.points.append((step, self._sum / self._n))
            self._sum, self._n = 0.0, 0
