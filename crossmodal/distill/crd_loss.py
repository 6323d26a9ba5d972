"""Contrastive Representation Distillation loss (Tian et al., ICLR 2020).

Negatives come from a memory bank, are shared within a step, or come from a queue. Reference semantics:
RepDistiller crd/criterion.py + crd/memory.py (docs/crd.md). Differences from the reference are additions, never
changes of the default behaviour: InfoNCE objective, moving-average Z, shared-negative and queue modes, float32
scoring under autocast, no host synchronisation, and correctness on many processes.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmodal.config.distillers import NEGATIVE_MODES, OBJECTIVES
from crossmodal.distributed import all_gather_cat, install_gradient_averaging, is_distributed, rank, world_size

__all__ = ["CRDLoss", "Embed"]



class Embed(nn.Module):
    """Linear projection to the shared space followed by L2 normalisation (RepDistiller's Embed)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)

    def forward(self, x: Tensor) -> Tensor:
        """Project (B, in_dim) features and normalise each row to unit length."""
        return F.normalize(self.linear(x), dim=1)


def last_occurrence(index: Tensor) -> Tensor:
    """For each position, the position of the last occurrence of the same value (so duplicate writes agree).

    Deterministic and sync-free (stable sort + suffix minimum): used so that a scatter with duplicate indices writes the
    same row for every duplicate, i.e. the last occurrence in (rank-major) batch order wins, on every device.
    """
    n = index.numel()
    sorted_index, perm = torch.sort(index, stable=True)
    positions = torch.arange(n, device=index.device)
    run_end = torch.ones(n, dtype=torch.bool, device=index.device)
    run_end[:-1] = sorted_index[1:] != sorted_index[:-1]
    end = torch.where(run_end, positions, torch.full_like(positions, n))
    end = end.flip(0).cummin(0).values.flip(0)
    source = torch.empty_like(perm)
    source[perm] = perm[end]
    return source


class _NCELoss(torch.autograd.Function):
    """Fused RepDistiller ContrastLoss from scores: forward and an analytic backward in a few (B, K) passes."""

    @staticmethod
    def forward(ctx: Any, s_pos: Tensor, s_neg: Tensor, out_pos: Tensor, out_neg: Tensor, z: Tensor,
                temperature: float, noise: float, eps: float) -> Tensor:
        """-(sum log D1 + sum log D0) / B with out = exp(s/T), P = out/Z, D1 = P/(P+c), D0 = noise/(P+c)."""
        p_pos = out_pos / z
        log_d1 = torch.log(p_pos / (p_pos + (noise + eps)))
        # -log D0 = log1p((P + eps) / noise): the same value without the rounding of a ratio close to 1 in float32
        # (the literal log(noise / (P + c)) summed over B*K terms is off by ~1e-4 relative at K=16384)
        minus_log_d0 = torch.addcmul(torch.full_like(z, eps / noise), out_neg, 1.0 / (z * noise)).log1p_()
        ctx.save_for_backward(out_pos, out_neg, z)
        ctx.c, ctx.temperature = noise + eps, temperature
        return (minus_log_d0.sum() - log_d1.sum()) / s_pos.shape[0]

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        """d/ds_neg = out / (B T (out + Z c)); d/ds_pos = (out / (out + Z c) - 1) / (B T)."""
        out_pos, out_neg, z = ctx.saved_tensors
        scale = grad / (out_pos.shape[0] * ctx.temperature)
        zc = z * ctx.c
        grad_neg = torch.div(out_neg, torch.add(out_neg, zc)).mul_(scale)
        grad_pos = (out_pos / (out_pos + zc) - 1.0) * scale
        return grad_pos, grad_neg, None, None, None, None, None, None


def exp_scores(scores: Tensor, temperature: float) -> Tensor:
    """out = exp(score / T) without autograd (the NCE loss differentiates through it analytically)."""
    with torch.no_grad():
        return torch.div(scores, temperature).exp_()


def nce_loss(pos: Tensor, neg: Tensor, z: Tensor, temperature: float, num_samples: int, eps: float = 1e-7,
             out: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """RepDistiller's ContrastLoss on the scores of the positives (B,) and the negatives (B, K).

    P = exp(s/T)/Z; the loss is summed and divided by B. `out` may pass the already computed
    (exp(pos/T), exp(neg/T)) to save a pass; Z is treated as a constant.
    """
    if out is None:
        out = (exp_scores(pos, temperature), exp_scores(neg, temperature))
    noise = neg.shape[1] / float(num_samples)
    return _NCELoss.apply(pos, neg, out[0], out[1], z.detach(), temperature, noise, eps)


def info_nce_loss(pos: Tensor, neg: Tensor, temperature: float) -> Tensor:
    """Cross-entropy over logits [pos, neg] / T with the positive as target, mean over the batch."""
    pos = pos / temperature
    log_z = torch.logaddexp(pos, torch.logsumexp(neg / temperature, dim=1))
    return (log_z - pos).mean()


def _uniform_rows(rows: int, dim: int, generator: torch.Generator) -> Tensor:
    """RepDistiller memory init: uniform in [-a, a], a = 1/sqrt(dim/3), from `generator`."""
    stdv = 1.0 / math.sqrt(dim / 3)
    return torch.rand(rows, dim, generator=generator).mul_(2 * stdv).add_(-stdv)


def _to_device(t: Tensor, device: torch.device) -> Tensor:
    """Move a freshly drawn CPU tensor to `device` without a blocking copy on CUDA."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def _sum_dtype(device: torch.device) -> torch.dtype:
    """float64 accumulation for Z across rows, float32 where float64 is unsupported (mps)."""
    return torch.float32 if device.type == "mps" else torch.float64


class CRDLoss(nn.Module):
    """Symmetric CRD loss between student and teacher features, with its heads and memory (bank or queue).

    loss = crd(f_student, f_teacher, index, contrast_index=None); f_* are (B, dim, ...) features (flattened from dim 1),
    `index` the (B,) long dataset indices, `contrast_index` an optional (B, K+1) long tensor [own index, K negatives].

    objective: "nce" (reference: NCE with Z estimated on the first batch, then frozen; with `z_momentum` set, Z is
        instead an exponential moving average Z <- z_momentum * Z + (1 - z_momentum) * Z_batch after the first batch)
        or "infonce" (cross-entropy over [positive, negatives] logits = score / T; Z unused).
    negatives: "per_sample" (reference: K uniform negatives per anchor; scored through one (B, M) matmul when
        M <= dense_scores_ratio * (K+1), else through a (B, K+1, D) gather; both exact), "shared" (K uniform
        negatives per step shared by all anchors: one (B, K) matmul) or "queue" (MoCo-style FIFO of the last
        `queue_size` detached embeddings per side replaces the O(M) bank; positive = other side's current detached
        embedding; `num_samples` only sets the NCE prior 1/M; `queue_size` defaults to `num_negatives`).

    Distributed (torch.distributed initialised, module NOT wrapped in DDP): forward is a collective; every rank gathers
    the global batch's (index, embeddings) and applies the same memory update (duplicate indices: last occurrence in
    rank-major order wins, as in one process), Z comes from the global batch, negatives of the whole global batch are
    drawn from the identical per-rank generator (rank r keeps rows r*B:(r+1)*B; equal local batch sizes required), and
    the heads' gradients are averaged over ranks. The mean of the per-rank losses equals the one-process loss on the
    global batch.

    State: memory and Z are updated only in training mode (after crd.eval() the loss is computed but memory, queue
    and Z are left untouched; negatives are still drawn). Heads and memory are initialised from `seed` (identical
    on every rank, independent of the global RNG); the generator that draws negatives is saved in state_dict
    (extra state), so register_for_checkpointing(crd) + save_state/load_state restores bank, Z and draws exactly.
    With negatives="shared" a given contrast_index must repeat one set of negatives on every row.
    Keyword options: eps (NCE epsilon, 1e-7 as RepDistiller); dense_scores_ratio (per_sample path choice, above).

    Input checks: shapes and dtypes always; index / contrast_index value ranges only for CPU tensors (checking values
    on an accelerator would need a host sync; out-of-range indices there fail inside the indexing kernels instead).
    Equal local batch sizes across ranks are likewise checked only for CPU tensors (gloo).
    """

    def __init__(
        self,
        student_dim: int,
        teacher_dim: int,
        num_samples: int,
        feat_dim: int = 128,
        num_negatives: int = 16384,
        temperature: float = 0.07,
        momentum: float = 0.5,
        objective: str = "nce",
        negatives: str = "per_sample",
        z_momentum: float | None = None,
        queue_size: int | None = None,
        seed: int = 0,
        *,
        eps: float = 1e-7,
        dense_scores_ratio: float = 16.0,
    ) -> None:
        super().__init__()
        _check_config(student_dim, teacher_dim, num_samples, feat_dim, num_negatives, temperature, momentum,
                      objective, negatives, z_momentum, queue_size)
        self.student_dim, self.teacher_dim = student_dim, teacher_dim
        self.num_samples, self.feat_dim = num_samples, feat_dim
        self.num_negatives = queue_size if negatives == "queue" and queue_size is not None else num_negatives
        self.temperature, self.momentum = float(temperature), float(momentum)
        self.objective, self.negatives = objective, negatives
        self.z_momentum = None if z_momentum is None else float(z_momentum)
        self.eps, self.dense_scores_ratio = float(eps), float(dense_scores_ratio)

        generator = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)  # identical head initialisation on every rank
            self.embed_student = Embed(student_dim, feat_dim)
            self.embed_teacher = Embed(teacher_dim, feat_dim)
        rows = self.num_negatives if negatives == "queue" else num_samples
        self.register_buffer("memory_student", _uniform_rows(rows, feat_dim, generator))
        self.register_buffer("memory_teacher", _uniform_rows(rows, feat_dim, generator))
        self.register_buffer("z_student", torch.zeros(()))
        self.register_buffer("z_teacher", torch.zeros(()))
        self.register_buffer("z_initialised", torch.zeros((), dtype=torch.bool))
        if negatives == "queue":
            self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self._generator = generator  # draws the negatives; state saved through get_extra_state
        install_gradient_averaging(self)

    # ------------------------------------------------------------------ state
    def get_extra_state(self) -> dict[str, Any]:
        """Non-buffer state for state_dict: the negative-sampling generator (so a resumed run draws the same)."""
        return {"generator_state": self._generator.get_state()}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        """Restore the negative-sampling generator saved by get_extra_state."""
        self._generator.set_state(state["generator_state"].cpu())

    def extra_repr(self) -> str:
        """Summary for print(module)."""
        return (f"num_samples={self.num_samples}, feat_dim={self.feat_dim}, num_negatives={self.num_negatives}, "
                f"T={self.temperature}, momentum={self.momentum}, objective={self.objective!r}, "
                f"negatives={self.negatives!r}, z_momentum={self.z_momentum}")

    # ---------------------------------------------------------------- forward
    def forward(self, f_student: Tensor, f_teacher: Tensor, index: Tensor, contrast_index: Tensor | None = None
                ) -> Tensor:
        """CRD loss of this rank's batch (student->teacher plus teacher->student); updates memory and Z."""
        f_student, f_teacher = _flatten(f_student, "f_student"), _flatten(f_teacher, "f_teacher")
        self._check_inputs(f_student, f_teacher, index, contrast_index)
        device = f_student.device
        with torch.autocast(device_type=device.type, enabled=False):
            v_s = self.embed_student(f_student.float())
            v_t = self.embed_teacher(f_teacher.float())
            glob_index, glob_s, glob_t = self._gather_global(index, v_s.detach(), v_t.detach())
            if contrast_index is None and self.negatives != "queue":
                contrast_index = self._draw(index)
            # student anchor vs teacher memory, teacher anchor vs student memory (RepDistiller's out_v1 / out_v2)
            scores_s = self._scores(v_s, v_t.detach(), self.memory_teacher, contrast_index, index)
            scores_t = self._scores(v_t, v_s.detach(), self.memory_student, contrast_index, index)
            loss = self._objective(scores_s, scores_t)
            if self.training:
                with torch.no_grad():
                    self._update_memory(glob_index, glob_s, glob_t)
        return loss

    def _gather_global(self, index: Tensor, v_s: Tensor, v_t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(index, student emb, teacher emb) of the global batch in rank-major order; the local batch in one process."""
        if not is_distributed():
            return index, v_s, v_t
        if index.device.type == "cpu":
            sizes = all_gather_cat(torch.tensor([index.shape[0]], device=index.device))
            if bool((sizes != index.shape[0]).any()):
                raise ValueError(f"index: CRDLoss needs equal local batch sizes on every rank, got {sizes.tolist()}")
        emb = all_gather_cat(torch.cat([v_s, v_t], dim=1))
        return all_gather_cat(index), emb[:, : self.feat_dim], emb[:, self.feat_dim:]

    def _draw(self, index: Tensor) -> Tensor:
        """Uniform negatives from the module's generator: (B, K+1) with column 0 = index, or (K,) when shared."""
        k, device = self.num_negatives, index.device
        if self.negatives == "shared":
            return _to_device(torch.randint(self.num_samples, (k,), generator=self._generator), device)
        b, r = index.shape[0], rank()
        negatives = torch.randint(self.num_samples, (world_size() * b, k), generator=self._generator)
        negatives = _to_device(negatives[r * b:(r + 1) * b], device)
        return torch.cat([index.unsqueeze(1), negatives], dim=1)

    def _scores(self, v: Tensor, v_other: Tensor, memory: Tensor, contrast: Tensor | None, index: Tensor
                ) -> tuple[Tensor, Tensor]:
        """Raw dot products of anchors `v` with their positive (B,) and their negatives (B, K)."""
        if self.negatives == "queue":
            return (v * v_other).sum(1), v @ memory.clone().t()  # clone: the queue changes before backward
        if self.negatives == "shared":
            if contrast.dim() == 2:  # user-given (B, K+1): positives column 0, shared negatives row 0's
                index, contrast = contrast[:, 0], contrast[0, 1:]
            return (v * memory.index_select(0, index)).sum(1), v @ memory.index_select(0, contrast).t()
        pos = (v * memory.index_select(0, contrast[:, 0])).sum(1)
        neg_index = contrast[:, 1:]
        if memory.shape[0] <= self.dense_scores_ratio * contrast.shape[1]:
            # (B, M) scores in one matmul, then pick (B, K): no (B, K, D) gather; clone: memory changes in forward
            return pos, (v @ memory.clone().t()).gather(1, neg_index)
        rows = memory.index_select(0, neg_index.reshape(-1)).view(*neg_index.shape, -1)
        return pos, torch.bmm(rows, v.unsqueeze(2)).squeeze(2)

    def _objective(self, scores_s: tuple[Tensor, Tensor], scores_t: tuple[Tensor, Tensor]) -> Tensor:
        """Sum of the two directions' losses; for NCE also estimates/updates Z from the global batch."""
        t = self.temperature
        if self.objective == "infonce":
            return info_nce_loss(*scores_s, t) + info_nce_loss(*scores_t, t)
        out_s = (exp_scores(scores_s[0], t), exp_scores(scores_s[1], t))
        out_t = (exp_scores(scores_t[0], t), exp_scores(scores_t[1], t))
        z_s, z_t = self._update_z(out_s, out_t)
        return (nce_loss(*scores_s, z_s, t, self.num_samples, self.eps, out=out_s)
                + nce_loss(*scores_t, z_t, t, self.num_samples, self.eps, out=out_t))

    def _update_z(self, out_s: tuple[Tensor, Tensor], out_t: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """Z per direction: mean(out) * M on the first global batch, then frozen or a moving average; no host sync."""
        pos, neg = out_s
        dtype, device = _sum_dtype(pos.device), pos.device
        # row sums in float32, then float64 across rows: split and unsplit global batches give the same Z
        sums = [o[0].to(dtype).sum() + o[1].sum(dim=1).to(dtype).sum() for o in (out_s, out_t)]
        stats = torch.stack(sums + [torch.full((), pos.numel() + neg.numel(), dtype=dtype, device=device)])
        if is_distributed():
            torch.distributed.all_reduce(stats)
        z_batch = (stats[:2] / stats[2] * self.num_samples).float()
        z_old = torch.stack([self.z_student, self.z_teacher])
        if self.z_momentum is None:
            z_next = z_old
        else:
            z_next = self.z_momentum * z_old + (1.0 - self.z_momentum) * z_batch
        z = torch.where(self.z_initialised, z_next, z_batch)
        if self.training:
            self.z_student.copy_(z[0])
            self.z_teacher.copy_(z[1])
            self.z_initialised.fill_(True)
        return z[0], z[1]

    def _update_memory(self, index: Tensor, v_s: Tensor, v_t: Tensor) -> None:
        """Bank: m[i] <- normalize(momentum*m[i] + (1-momentum)*v_i), last duplicate wins; queue: FIFO enqueue."""
        if self.negatives == "queue":
            self._enqueue(v_s, v_t)
            return
        source = last_occurrence(index)
        for memory, v in ((self.memory_student, v_s), (self.memory_teacher, v_t)):
            rows = memory.index_select(0, index) * self.momentum + v.index_select(0, source) * (1.0 - self.momentum)
            memory.index_copy_(0, index, F.normalize(rows, dim=1))

    def _enqueue(self, v_s: Tensor, v_t: Tensor) -> None:
        """Write the global batch's detached embeddings into the FIFO queues (oldest entries overwritten)."""
        n, q = v_s.shape[0], self.memory_student.shape[0]
        keep = min(n, q)
        slots = (self.queue_ptr + (n - keep) + torch.arange(keep, device=v_s.device)) % q
        self.memory_student.index_copy_(0, slots, v_s[n - keep:])
        self.memory_teacher.index_copy_(0, slots, v_t[n - keep:])
        self.queue_ptr.copy_((self.queue_ptr + n) % q)

    # ----------------------------------------------------------------- checks
    def _check_inputs(self, f_s: Tensor, f_t: Tensor, index: Tensor, contrast: Tensor | None) -> None:
        """Raise ValueError on wrong widths, batch sizes, dtypes, shapes or (CPU only) out-of-range indices."""
        if f_s.shape[1] != self.student_dim:
            raise ValueError(f"f_student: expected {self.student_dim} features per sample, got {f_s.shape[1]}")
        if f_t.shape[1] != self.teacher_dim:
            raise ValueError(f"f_teacher: expected {self.teacher_dim} features per sample, got {f_t.shape[1]}")
        b = f_s.shape[0]
        if f_t.shape[0] != b:
            raise ValueError(f"f_teacher: expected batch size {b} (as f_student), got {f_t.shape[0]}")
        if not isinstance(index, Tensor) or index.dtype != torch.long or index.dim() != 1 or index.shape[0] != b:
            got = f"{index.dtype} {tuple(index.shape)}" if isinstance(index, Tensor) else type(index).__name__
            raise ValueError(f"index: expected a 1-D torch.long tensor of length {b}, got {got}")
        _check_range(index, self.num_samples, "index")
        if contrast is None:
            return
        if self.negatives == "queue":
            raise ValueError("contrast_index: not supported with negatives='queue' (negatives are the whole queue)")
        k1 = self.num_negatives + 1
        if not isinstance(contrast, Tensor) or contrast.dtype != torch.long or tuple(contrast.shape) != (b, k1):
            got = (f"{contrast.dtype} {tuple(contrast.shape)}" if isinstance(contrast, Tensor)
                   else type(contrast).__name__)
            raise ValueError(f"contrast_index: expected a torch.long tensor of shape ({b}, {k1}), got {got}")
        _check_range(contrast, self.num_samples, "contrast_index")
        if contrast.device.type == "cpu":
            if not torch.equal(contrast[:, 0], index):
                raise ValueError("contrast_index: column 0 must be the positive, i.e. equal to index")
            if self.negatives == "shared" and not bool((contrast[:, 1:] == contrast[:1, 1:]).all()):
                raise ValueError("contrast_index: with negatives='shared' every row must have the same negatives")


def _flatten(f: Tensor, name: str) -> Tensor:
    """(B, C, ...) -> (B, C*...), so (B, C, 1, 1) pooled maps are accepted."""
    if not isinstance(f, Tensor) or f.dim() < 2 or not f.is_floating_point():
        got = f"{f.dtype} {tuple(f.shape)}" if isinstance(f, Tensor) else type(f).__name__
        raise ValueError(f"{name}: expected a floating tensor of shape (B, dim, ...), got {got}")
    return f.flatten(1)


def _check_range(t: Tensor, upper: int, name: str) -> None:
    """Values in [0, upper); checked only for CPU tensors to avoid a host sync on accelerators."""
    if t.device.type == "cpu" and t.numel() and bool(((t < 0) | (t >= upper)).any()):
        raise ValueError(f"{name}: values must lie in [0, num_samples={upper}), got [{int(t.min())}, {int(t.max())}]")


def _check_config(student_dim: int, teacher_dim: int, num_samples: int, feat_dim: int, num_negatives: int,
                  temperature: float, momentum: float, objective: str, negatives: str, z_momentum: float | None,
                  queue_size: int | None) -> None:
    """Raise ValueError naming the first bad constructor argument."""
    for name, value in (("student_dim", student_dim), ("teacher_dim", teacher_dim), ("num_samples", num_samples),
                        ("feat_dim", feat_dim), ("num_negatives", num_negatives)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: expected a positive int, got {value!r}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective: expected one of {OBJECTIVES}, got {objective!r}")
    if negatives not in NEGATIVE_MODES:
        raise ValueError(f"negatives: expected one of {NEGATIVE_MODES}, got {negatives!r}")
    if not temperature > 0:
        raise ValueError(f"temperature: expected > 0, got {temperature!r}")
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"momentum: expected a float in [0, 1], got {momentum!r}")
    if z_momentum is not None and not 0.0 <= z_momentum < 1.0:
        raise ValueError(f"z_momentum: expected None or a float in [0, 1), got {z_momentum!r}")
    if negatives == "queue":
        if queue_size is not None and (not isinstance(queue_size, int) or isinstance(queue_size, bool)
                                       or queue_size < 1):
            raise ValueError(f"queue_size: expected a positive int, got {queue_size!r}")
    else:
        if queue_size is not None:
            raise ValueError(f"queue_size: only used with negatives='queue', got {queue_size!r} with {negatives!r}")
        if num_negatives >= num_samples:
            raise ValueError(f"num_negatives: expected < num_samples={num_samples} for a memory bank, "
                             f"got {num_negatives}")
