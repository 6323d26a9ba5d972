"""`crd_dense`: the CRD objective on dense features; the positive is the same place seen by the other sensor."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.distill.at import stage_index
from crossmodal.distill.base import Distiller
from crossmodal.errors import check


def sample_points(batch: int, num: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """(B, P, 1, 2) random points in grid_sample's normalised [-1, 1] coordinates."""
    pts = torch.rand(batch, num, 1, 2, generator=generator) * 2 - 1
    return pts.to(device)


# exp(-87) is about the smallest normal float32: with cosine scores in [-1/tau, 1/tau], one shift by 1/tau serves
# both softmax directions while their range 2/tau stays below it; colder temperatures use a max per row and column
_ONE_SHIFT_RANGE = 80.0


class _SymmetricInfoNCE(torch.autograd.Function):
    """Both InfoNCE directions from one (N, N) matrix of cosine scores (rows of s and t have norm <= 1).

    Forward keeps only P = softmax over rows + softmax over columns; since d(loss)/d(scores) = (P - 2I) / N, the
    backward is one elementwise step and two matrix products. Two cross-entropies (one on the transposed scores)
    would keep and revisit four N x N tensors and add two gradients of different memory layout."""

    @staticmethod
    def forward(ctx, s: torch.Tensor, t: torch.Tensor, temperature: float) -> torch.Tensor:
        scores = (s / temperature) @ t.T
        if 2.0 / temperature <= _ONE_SHIFT_RANGE:
            row_shift = col_shift = 1.0 / temperature
            rows = cols = torch.exp(scores - row_shift)
        else:
            row_shift, col_shift = scores.amax(1, keepdim=True), scores.amax(0, keepdim=True)
            rows, cols = torch.exp(scores - row_shift), torch.exp(scores - col_shift)
        row_sum, col_sum = rows.sum(1, keepdim=True), cols.sum(0, keepdim=True)
        loss = ((row_sum.log() + row_shift).mean() + (col_sum.log() + col_shift).mean()
                - 2 * scores.diagonal().mean())
        probs = (rows / row_sum).add_(cols.div_(col_sum))  # rows is read before cols (maybe the same tensor) changes
        ctx.save_for_backward(s, t, probs)
        ctx.temperature = temperature
        return loss

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        s, t, probs = ctx.saved_tensors
        scale = grad / (s.shape[0] * ctx.temperature)
        d_scores = probs * scale
        d_scores.diagonal().sub_(2 * scale)
        return d_scores @ t, d_scores.T @ s, None


def dense_stages(layer: int, teacher_layer: int | None, num_student: int, num_teacher: int,
                 key: str = "transfer.crd_dense") -> tuple[int, int]:
    """Validated (student stage, teacher stage): `layer` on both when `teacher_layer` is None, else one each."""
    if teacher_layer is None:
        index = stage_index(layer, num_student, num_teacher, f"{key}.layer")
        return index, index
    check(-num_student <= layer < num_student, f"{key}.layer",
          f"a stage index valid for {num_student} student stages", layer)
    check(-num_teacher <= teacher_layer < num_teacher, f"{key}.teacher_layer",
          f"a stage index valid for {num_teacher} teacher stages (or null: the same as layer)", teacher_layer)
    return layer, teacher_layer


def symmetric_infonce(s: torch.Tensor, t: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE in both directions over N pairs of vectors, scored by cosine similarity / temperature: pair i is the
    positive, the other N-1 the negatives. Equals cross_entropy(S, arange) + cross_entropy(S.T, arange) with
    S = normalize(s) @ normalize(t).T / temperature."""
    if s.dim() != 2 or s.shape != t.shape:
        raise ValueError(f"symmetric_infonce: s and t must both be (N, D), got {tuple(s.shape)} and {tuple(t.shape)}")
    return _SymmetricInfoNCE.apply(F.normalize(s, dim=1), F.normalize(t, dim=1), float(temperature))


class DenseCRD(Distiller):
    """Embeds P random locations per image from one stage of each network (linear heads) and contrasts, by cosine
    similarity, every student location with the teacher's embedding at the same location against all other sampled
    locations of the batch, and vice versa (symmetric InfoNCE at temperature tau)."""


    def __init__(self, student_channels: list[int], teacher_channels: list[int], num_samples: int, cfg,
                 seed: int = 0) -> None:
        super().__init__(student_channels, teacher_channels, num_samples, cfg, seed)
        self.layer, self.teacher_layer = dense_stages(cfg.layer, getattr(cfg, "teacher_layer", None),
                                                      len(student_channels), len(teacher_channels))
        self.embed_student = nn.Linear(student_channels[self.layer], cfg.feat_dim)
        self.embed_teacher = nn.Linear(teacher_channels[self.teacher_layer], cfg.feat_dim)
        self.generator = torch.Generator().manual_seed(seed)

    def get_extra_state(self) -> dict:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def _embed(self, head: nn.Module, feat: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
        picked = F.grid_sample(feat.float(), pts, mode="bilinear", align_corners=False)  # (B, C, P, 1)
        rows = picked.squeeze(-1).transpose(1, 2).reshape(-1, picked.shape[1])  # (B*P, C), frame-major
        return head(rows)

    def forward(self, student_feats, teacher_feats, index, teacher_logits=None):
        s_map, t_map = student_feats[self.layer], teacher_feats[self.teacher_layer]
        with torch.autocast(device_type=s_map.device.type, enabled=False):
            pts = sample_points(s_map.shape[0], self.cfg.num_locations, self.generator, s_map.device)
            s = self._embed(self.embed_student, s_map, pts)
            t = self._embed(self.embed_teacher, t_map.detach(), pts)
            return self.weight * symmetric_infonce(s, t, self.cfg.temperature)
