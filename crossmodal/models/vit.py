"""Vision transformers (timm's ViT, DeiT, EVA, ...) under the feature contract: their blocks' tokens become maps.

A ViT block gives tokens (B, N, C): `num_prefix_tokens` leading ones (cls, distillation and register tokens) and
one per patch. The prefix tokens are dropped and the patch tokens laid out on the patch grid, (B, C, H/p, W/p), so
a ViT taps like any CNN stage. With timm's `dynamic_img_pad` the frame is padded at the bottom and right up to the
next multiple of the patch, so the grid is ceil(H/p) x ceil(W/p) (96x130 frames at patch 16 give 6x9 maps).

Blocks are tapped with forward hooks (crossmodal.models.features.HookedFeatures), not timm's features_only, because
its default taps for ViTs are the last 3 blocks and other blocks need their indices before the model exists; hooks
tap any `blocks.<i>` (or another module that gives tokens) by the name the config uses, stop the forward after the
deepest tap, and keep the model's state dict whole, so pretrained files and checkpoints load as they were saved.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from crossmodal.errors import NetworkError
from crossmodal.models.features import HookedFeatures

NUM_DEFAULT_TAPS = 4  # evenly spaced blocks, the last included (blocks 2, 5, 8, 11 of a 12-block ViT)


def is_vit(model: nn.Module) -> bool:
    """True for a token transformer with a patch embedding and a stack of blocks (timm's ViT, DeiT, EVA, ...)."""
    return (hasattr(model, "patch_embed") and hasattr(model, "num_prefix_tokens")
            and isinstance(getattr(model, "blocks", None), (nn.Sequential, nn.ModuleList)))


def default_taps(model: nn.Module, count: int = NUM_DEFAULT_TAPS) -> list[str]:
    """Up to `count` evenly spaced blocks, the last one included: one tap per quarter of the depth."""
    depth = len(model.blocks)
    picked = sorted({max(0, round((i + 1) * depth / count) - 1) for i in range(count)})
    return [f"blocks.{i}" for i in picked]


def patch_stride(model: nn.Module) -> int:
    """Input pixels per token along a side: the patch size (the backbone's total stride for hybrid embeddings)."""
    embed = model.patch_embed
    if hasattr(embed, "feat_ratio"):
        return int(embed.feat_ratio())
    return int(embed.patch_size[0])


def patch_grid(model: nn.Module, size: Sequence[int]) -> tuple[int, int]:
    """The token grid (rows, columns) the model makes of an input of `size` (H, W)."""
    embed = model.patch_embed
    if hasattr(embed, "dynamic_feat_size"):  # floor, or ceil with dynamic_img_pad
        rows, cols = embed.dynamic_feat_size((int(size[0]), int(size[1])))
        return int(rows), int(cols)
    return tuple(int(g) for g in embed.grid_size)  # type: ignore[return-value]


def tokens_to_map(tokens: torch.Tensor, grid: tuple[int, int], num_prefix: int) -> torch.Tensor:
    """(B, prefix + rows*cols, C) tokens -> (B, C, rows, cols) map of the patch tokens (prefix tokens dropped)."""
    if tokens.dim() != 3:
        return tokens  # already a map (or not tokens: the feature contract refuses it)
    batch, count, channels = tokens.shape
    if count != num_prefix + grid[0] * grid[1]:
        raise NetworkError(f"a ViT tap gives {count} tokens, not {num_prefix} prefix tokens + a {grid[0]}x{grid[1]} "
                           f"patch grid; tap whole blocks (blocks.<i>)")
    patches = tokens[:, num_prefix:].reshape(batch, grid[0], grid[1], channels)
    return patches.permute(0, 3, 1, 2).contiguous()


class ViTFeatures(HookedFeatures):
    """A timm ViT as a feature backbone: the named blocks' patch tokens as (B, C, H/p, W/p) maps, all at stride p."""

    def __init__(self, model: nn.Module, names: Sequence[str], in_channels: int,
                 probe_size: tuple[int, int] | None = None) -> None:
        super().__init__(model, names, in_channels, probe_size)
        self.strides = [patch_stride(model)] * len(self.feature_names)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        grid = patch_grid(self.model, x.shape[-2:])
        prefix = int(self.model.num_prefix_tokens)
        return [tokens_to_map(t, grid, prefix) for t in self.taps.run(self.model, x, stop_early=True)[0]]
