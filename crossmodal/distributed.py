"""Small torch.distributed helpers that degrade to no-ops in a single process (gloo/CPU and NCCL alike)."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = [
    "all_gather_cat",
    "broadcast_",
    "install_gradient_averaging",
    "is_distributed",
    "max_over_ranks",
    "rank",
    "world_size",
]

_HOOK_FLAG = "_crossmodal_grad_averaging"


def is_distributed() -> bool:
    """True when a process group is initialised with more than one process (collectives are then needed)."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Number of processes in the default group, 1 when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def rank() -> int:
    """Rank of this process in the default group, 0 when torch.distributed is not initialised."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return 0


def all_gather_cat(t: Tensor) -> Tensor:
    """Concatenate `t` from every rank along dim 0 in rank order (equal shapes assumed, no autograd)."""
    if not is_distributed():
        return t
    t = t.detach().contiguous()
    parts = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, t)
    return torch.cat(parts, dim=0)


def broadcast_(t: Tensor, src: int = 0) -> Tensor:
    """Overwrite `t` in place with rank `src`'s values so every rank holds the same tensor; returns `t`."""
    if is_distributed():
        dist.broadcast(t.data, src=src)
    return t


def max_over_ranks(value: int, device: torch.device | str = "cpu") -> int:
    """Return the largest of every rank's `value`, the same on each rank; `value` itself in a single process.

    `device` must suit the backend (CUDA for NCCL).
    """
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.int64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def _average_across_ranks(grad: Tensor) -> Tensor:
    """Gradient hook: mean over ranks when distributed at backward time, identity otherwise."""
    if not is_distributed():
        return grad
    averaged = grad.detach().clone(memory_format=torch.contiguous_format)
    dist.all_reduce(averaged, op=dist.ReduceOp.SUM)
    return averaged.div_(dist.get_world_size())


def install_gradient_averaging(module: nn.Module) -> None:
    """Average the gradients of `module`'s trainable parameters over ranks, for modules not wrapped in DDP.

    One tensor hook per parameter (fires once per backward with the summed gradient of that backward, before it is
    accumulated into .grad); it all-reduces only if torch.distributed is initialised when backward runs, so the module
    may be built before the process group. Idempotent: a parameter already hooked is skipped. Every rank must run the
    same backward graph (collectives are issued in backward order on the default group).
    """
    for param in module.parameters():
        if not param.requires_grad or getattr(param, _HOOK_FLAG, False):
            continue
        param.register_hook(_average_across_ranks)
        setattr(param, _HOOK_FLAG, True)
