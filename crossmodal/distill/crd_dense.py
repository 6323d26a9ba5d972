"""`crd_dense`: the CRD objective on dense features; the positive is the same place seen by the other sensor."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.distill.base import Distiller, FloatMaps
from crossmodal.distill.stages import stage_index
from crossmodal.errors import check


def at_points(feat: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """(B*P, C) bilinear samples of a (B, C, H, W) map at (B, P, 1, 2) normalised points, frame-major."""
    picked = F.grid_sample(feat, pts, mode="bilinear", align_corners=False)  # (B, C, P, 1)
    return picked.squeeze(-1).transpose(1, 2).reshape(-1, picked.shape[1])


def sample_points(batch: int, num: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """(B, P, 1, 2) random points in grid_sample's normalised [-1, 1] coordinates."""
    pts = torch.rand(batch, num, 1, 2, generator=generator) * 2 - 1
    return pts.to(device)


# exp(-87) is about the smallest normal float32: with cosine scores in [-1/tau, 1/tau], one shift by 1/tau serves
# both softmax directions while their range 2/tau stays below it; colder temperatures use a max per row and column
_ONE_SHIFT_RANGE = 80.0


class _SymmetricInfoNCE(torch.autograd.Function):
    """Both InfoNCE directions from one (N, N) matrix of cosine scores.

    The rows of s and t have norm <= 1.

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
                 key: str) -> tuple[int, int]:
    """The checked (student stage, teacher stage) of a dense contrast.

    `layer` serves both when `teacher_layer` is None; otherwise each names its own network's stage.
    """
    if teacher_layer is None:
        index = stage_index(layer, num_student, num_teacher, f"{key}.layer")
        return index, index
    check(-num_student <= layer < num_student, f"{key}.layer",
          f"a stage index valid for {num_student} student stages", layer)
    check(-num_teacher <= teacher_layer < num_teacher, f"{key}.teacher_layer",
          f"a stage index valid for {num_teacher} teacher stages (or null: the same as layer)", teacher_layer)
    return layer, teacher_layer


def symmetric_infonce(s: torch.Tensor, t: torch.Tensor, temperature: float) -> torch.Tensor:
    """InfoNCE in both directions over N pairs of vectors, scored by cosine similarity / temperature.

    Pair i is the positive, the other N-1 are the negatives. Equals cross_entropy(S, arange) +
    cross_entropy(S.T, arange) with S = normalize(s) @ normalize(t).T / temperature.
    """
    if s.dim() != 2 or s.shape != t.shape:
        raise ValueError(f"symmetric_infonce: s and t must both be (N, D), got {tuple(s.shape)} and {tuple(t.shape)}")
    return _SymmetricInfoNCE.apply(F.normalize(s, dim=1), F.normalize(t, dim=1), float(temperature))


class DenseContrast(Distiller):
    """The base of the dense contrasts: random locations per frame, drawn from a generator of its own.

    The generator's state is saved with the distiller's state dict, so a resumed run draws the same locations.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.generator = torch.Generator().manual_seed(self.seed)

    def get_extra_state(self) -> dict:
        return {"generator": self.generator.get_state()}

    def set_extra_state(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def points(self, s_map: torch.Tensor) -> torch.Tensor:
        """(B, P, 1, 2) random points for the frames of `s_map`, P = the option num_locations."""
        return sample_points(s_map.shape[0], self.cfg.num_locations, self.generator, s_map.device)


class DenseCRD(DenseContrast):
    """Contrasts the two networks' embeddings of the same random locations of one stage each.

    P random locations per image are embedded by a linear head per network. By cosine similarity, every student
    location is contrasted with the teacher's embedding at the same location against all other sampled locations
    of the batch, and vice versa: symmetric InfoNCE at temperature tau.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cfg = self.cfg
        self.layer, self.teacher_layer = dense_stages(cfg.layer, getattr(cfg, "teacher_layer", None),
                                                      len(self.student_channels), len(self.teacher_channels), self.key)
        self.embed_student = nn.Linear(self.student_channels[self.layer], cfg.feat_dim)
        self.embed_teacher = nn.Linear(self.teacher_channels[self.teacher_layer], cfg.feat_dim)

    def teacher_stages(self) -> set[int]:
        return {self.teacher_layer % len(self.teacher_channels)}

    def loss(self, student: FloatMaps, teacher: FloatMaps, index: torch.Tensor,
             teacher_logits: torch.Tensor | None) -> torch.Tensor:
        s_map, t_map = student[self.layer], teacher[self.teacher_layer]
        pts = self.points(s_map)
        s = self.embed_student(at_points(s_map, pts))
        t = self.embed_teacher(at_points(t_map, pts))
        return symmetric_infonce(s, t, self.cfg.temperature)
