"""CRDLoss against hand-computed values, a plain gather+bmm reference, state round trips and input checks."""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch
import torch.nn.functional as F

from crossmodal.distill import CRDLoss
from crossmodal.distill.crd_loss import last_occurrence
from crossmodal.distributed import all_gather_cat, install_gradient_averaging, is_distributed, rank, world_size

T = 0.07
EPS = 1e-7
M = 5
# tiny case: feat_dim 2, identity heads, so embeddings are the normalised features
MEM_S = [[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-0.8, 0.6], [-1.0, 0.0]]
MEM_T = [[0.8, 0.6], [0.0, -1.0], [0.6, -0.8], [1.0, 0.0], [-0.6, 0.8]]
F_S = [[3.0, 4.0], [1.0, 0.0]]  # -> v_s = (0.6, 0.8), (1, 0)
F_T = [[0.0, 2.0], [4.0, -3.0]]  # -> v_t = (0, 1), (0.8, -0.6)
INDEX = [1, 3]
CONTRAST = [[1, 0, 4], [3, 2, 2]]  # column 0 = own index; a repeated negative on purpose


# ------------------------------------------------------------------ plain-python reference
def _dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


def _unit(a: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in a))
    return [x / n for x in a]


def _py_scores(v: list[list[float]], memory: list[list[float]], contrast: list[list[int]]) -> list[list[float]]:
    return [[_dot(memory[j], v[b]) for j in row] for b, row in enumerate(contrast)]


def _py_z(scores: list[list[float]], m: int) -> float:
    vals = [math.exp(s / T) for row in scores for s in row]
    return sum(vals) / len(vals) * m


def _py_nce(scores: list[list[float]], z: float, m: int) -> float:
    noise = (len(scores[0]) - 1) / m
    total = 0.0
    for row in scores:
        p = [math.exp(s / T) / z for s in row]
        total += math.log(p[0] / (p[0] + noise + EPS))
        total += sum(math.log(noise / (q + noise + EPS)) for q in p[1:])
    return -total / len(scores)


def _py_infonce(scores: list[list[float]]) -> float:
    total = 0.0
    for row in scores:
        logits = [s / T for s in row]
        mx = max(logits)
        total += -(logits[0] - mx - math.log(sum(math.exp(x - mx) for x in logits)))
    return total / len(scores)


def _tiny(objective: str = "nce", **kwargs) -> CRDLoss:
    crd = CRDLoss(2, 2, M, feat_dim=2, num_negatives=2, objective=objective, **kwargs)
    with torch.no_grad():
        for head in (crd.embed_student, crd.embed_teacher):
            head.linear.weight.copy_(torch.eye(2))
            head.linear.bias.zero_()
        crd.memory_student.copy_(torch.tensor(MEM_S))
        crd.memory_teacher.copy_(torch.tensor(MEM_T))
    return crd


def _tiny_call(crd: CRDLoss, f_s=F_S, f_t=F_T, index=INDEX, contrast=CONTRAST) -> torch.Tensor:
    return crd(torch.tensor(f_s), torch.tensor(f_t), torch.tensor(index), torch.tensor(contrast))


def _v(f: list[list[float]]) -> list[list[float]]:
    return [_unit(row) for row in f]


# ------------------------------------------------------------------ hand-computed tiny case
def test_nce_loss_matches_hand_computation() -> None:
    crd = _tiny("nce")
    loss = _tiny_call(crd)
    s_s = _py_scores(_v(F_S), MEM_T, CONTRAST)  # student anchor vs teacher memory
    s_t = _py_scores(_v(F_T), MEM_S, CONTRAST)  # teacher anchor vs student memory
    z_s, z_t = _py_z(s_s, M), _py_z(s_t, M)
    expected = _py_nce(s_s, z_s, M) + _py_nce(s_t, z_t, M)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert crd.z_student.item() == pytest.approx(z_s, rel=1e-5)
    assert crd.z_teacher.item() == pytest.approx(z_t, rel=1e-5)
    assert bool(crd.z_initialised)


def test_infonce_loss_matches_hand_computation() -> None:
    crd = _tiny("infonce")
    loss = _tiny_call(crd)
    expected = _py_infonce(_py_scores(_v(F_S), MEM_T, CONTRAST)) + _py_infonce(_py_scores(_v(F_T), MEM_S, CONTRAST))
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert not bool(crd.z_initialised)


def test_memory_update_rule_after_scoring() -> None:
    crd = _tiny("nce", momentum=0.3)
    _tiny_call(crd)
    exp_s, exp_t = [list(r) for r in MEM_S], [list(r) for r in MEM_T]
    for b, i in enumerate(INDEX):
        exp_s[i] = _unit([0.3 * m + 0.7 * v for m, v in zip(MEM_S[i], _v(F_S)[b])])
        exp_t[i] = _unit([0.3 * m + 0.7 * v for m, v in zip(MEM_T[i], _v(F_T)[b])])
    torch.testing.assert_close(crd.memory_student, torch.tensor(exp_s), atol=1e-6, rtol=0)
    torch.testing.assert_close(crd.memory_teacher, torch.tensor(exp_t), atol=1e-6, rtol=0)


def test_duplicate_index_last_occurrence_wins() -> None:
    crd = _tiny("nce")
    f_s = [[3.0, 4.0], [1.0, 0.0], [0.0, 5.0]]
    _tiny_call(crd, f_s=f_s, f_t=F_T + [[1.0, 1.0]], index=[2, 4, 2], contrast=[[2, 0, 1], [4, 1, 3], [2, 3, 3]])
    expected = _unit([0.5 * m + 0.5 * v for m, v in zip(MEM_S[2], _unit(f_s[2]))])
    torch.testing.assert_close(crd.memory_student[2], torch.tensor(expected), atol=1e-6, rtol=0)
    assert last_occurrence(torch.tensor([3, 1, 3, 2, 1])).tolist() == [2, 4, 2, 3, 4]
    assert last_occurrence(torch.tensor([7])).tolist() == [0]


def test_z_set_on_first_batch_then_frozen() -> None:
    crd = _tiny("nce")
    _tiny_call(crd)
    z1 = (crd.z_student.clone(), crd.z_teacher.clone())
    mem_s, mem_t = crd.memory_student.tolist(), crd.memory_teacher.tolist()
    f_s2, f_t2 = [[1.0, 2.0], [-1.0, 0.5]], [[2.0, 1.0], [0.3, -1.0]]
    loss2 = _tiny_call(crd, f_s=f_s2, f_t=f_t2)
    assert torch.equal(crd.z_student, z1[0]) and torch.equal(crd.z_teacher, z1[1])
    expected = (_py_nce(_py_scores(_v(f_s2), mem_t, CONTRAST), z1[0].item(), M)
                + _py_nce(_py_scores(_v(f_t2), mem_s, CONTRAST), z1[1].item(), M))
    assert loss2.item() == pytest.approx(expected, rel=1e-5)


def test_z_momentum_is_a_moving_average() -> None:
    crd = _tiny("nce", z_momentum=0.9)
    _tiny_call(crd)
    z1 = crd.z_student.item()
    mem_t = crd.memory_teacher.tolist()
    f_s2 = [[1.0, 2.0], [-1.0, 0.5]]
    _tiny_call(crd, f_s=f_s2)
    z_batch = _py_z(_py_scores(_v(f_s2), mem_t, CONTRAST), M)
    assert crd.z_student.item() == pytest.approx(0.9 * z1 + 0.1 * z_batch, rel=1e-5)


def test_queue_mode_hand_computed_and_fifo() -> None:
    crd = CRDLoss(2, 2, 10, feat_dim=2, negatives="queue", queue_size=3)
    queue_s, queue_t = [[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], [[0.8, -0.6], [-1.0, 0.0], [0.0, -1.0]]
    with torch.no_grad():
        for head in (crd.embed_student, crd.embed_teacher):
            head.linear.weight.copy_(torch.eye(2))
            head.linear.bias.zero_()
        crd.memory_student.copy_(torch.tensor(queue_s))
        crd.memory_teacher.copy_(torch.tensor(queue_t))
    loss = crd(torch.tensor(F_S), torch.tensor(F_T), torch.tensor([7, 9]))
    v_s, v_t = _v(F_S), _v(F_T)
    s_s = [[_dot(v_s[b], v_t[b])] + [_dot(v_s[b], q) for q in queue_t] for b in range(2)]
    s_t = [[_dot(v_t[b], v_s[b])] + [_dot(v_t[b], q) for q in queue_s] for b in range(2)]
    expected = _py_nce(s_s, _py_z(s_s, 10), 10) + _py_nce(s_t, _py_z(s_t, 10), 10)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    torch.testing.assert_close(crd.memory_student, torch.tensor([v_s[0], v_s[1], queue_s[2]]))
    assert int(crd.queue_ptr) == 2
    crd(torch.tensor([[0.0, 1.0], [1.0, 1.0]]), torch.tensor(F_T), torch.tensor([0, 1]))
    torch.testing.assert_close(crd.memory_student, torch.tensor([_unit([1.0, 1.0]), v_s[1], [0.0, 1.0]]))
    assert int(crd.queue_ptr) == 1


# ------------------------------------------------------------------ per_sample paths vs a plain reference
def _reference_loss(crd: CRDLoss, f_s, f_t, index, contrast, mem_s, mem_t, objective: str) -> torch.Tensor:
    """Plain RepDistiller-style gather + bmm on the given memories; updates mem_s/mem_t in place after scoring."""
    v_s, v_t = crd.embed_student(f_s.flatten(1)), crd.embed_teacher(f_t.flatten(1))
    b, k1 = contrast.shape
    w_t = mem_t[contrast.reshape(-1)].view(b, k1, -1)
    w_s = mem_s[contrast.reshape(-1)].view(b, k1, -1)
    out_s = torch.bmm(w_t, v_s.unsqueeze(2)).squeeze(2)
    out_t = torch.bmm(w_s, v_t.unsqueeze(2)).squeeze(2)
    if objective == "infonce":
        zeros = torch.zeros(b, dtype=torch.long)
        loss = F.cross_entropy(out_s / T, zeros) + F.cross_entropy(out_t / T, zeros)
    else:
        loss = 0.0
        for out in (torch.exp(out_s / T), torch.exp(out_t / T)):
            z = out.mean().detach() * mem_s.shape[0]
            p = out / z
            noise = (k1 - 1) / mem_s.shape[0]
            log_d1 = torch.log(p[:, 0] / (p[:, 0] + noise + EPS))
            log_d0 = torch.log(noise / (p[:, 1:] + noise + EPS))
            loss = loss - (log_d1.sum() + log_d0.sum()) / b
    with torch.no_grad():
        for mem, v in ((mem_s, v_s), (mem_t, v_t)):
            rows = mem[index] * crd.momentum + v * (1 - crd.momentum)
            mem.index_copy_(0, index, F.normalize(rows, dim=1))
    return loss


def _random_batch(m: int, k: int, b: int = 8, seed: int = 3):
    g = torch.Generator().manual_seed(seed)
    f_s = torch.randn(b, 24, generator=g)
    f_t = torch.randn(b, 40, 1, 1, generator=g)
    index = torch.randperm(m, generator=g)[:b]
    contrast = torch.cat([index[:, None], torch.randint(m, (b, k), generator=g)], dim=1)
    return f_s, f_t, index, contrast


@pytest.mark.parametrize("objective", ["nce", "infonce"])
def test_per_sample_dense_and_gather_paths_equal_plain_reference(objective: str) -> None:
    m, k = 300, 50
    f_s, f_t, index, contrast = _random_batch(m, k)
    ref = CRDLoss(24, 40, m, feat_dim=16, num_negatives=k, objective=objective, seed=1)
    mem_s, mem_t = ref.memory_student.clone(), ref.memory_teacher.clone()
    f_s_ref = f_s.clone().requires_grad_()
    loss_ref = _reference_loss(ref, f_s_ref, f_t, index, contrast, mem_s, mem_t, objective)
    loss_ref.backward()
    for ratio in (1e9, 0.0):  # dense (B, M) scores, then the (B, K+1, D) gather
        crd = CRDLoss(24, 40, m, feat_dim=16, num_negatives=k, objective=objective, seed=1, dense_scores_ratio=ratio)
        f_s_run = f_s.clone().requires_grad_()
        loss = crd(f_s_run, f_t, index, contrast)
        loss.backward()
        torch.testing.assert_close(loss, loss_ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(f_s_run.grad, f_s_ref.grad, atol=1e-5, rtol=1e-4)
        for p, p_ref in zip(crd.parameters(), ref.parameters()):
            torch.testing.assert_close(p.grad, p_ref.grad, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(crd.memory_student, mem_s, atol=1e-6, rtol=0)
        torch.testing.assert_close(crd.memory_teacher, mem_t, atol=1e-6, rtol=0)


def test_drawn_negatives_are_uniform_and_reproducible() -> None:
    crd = CRDLoss(24, 40, 300, feat_dim=16, num_negatives=50, seed=5)
    f_s, f_t, index, _ = _random_batch(300, 50)
    g = torch.Generator().set_state(crd.get_extra_state()["generator_state"])
    negatives = torch.randint(300, (8, 50), generator=g)
    loss = crd(f_s, f_t, index)
    expected = CRDLoss(24, 40, 300, feat_dim=16, num_negatives=50, seed=5)
    loss_given = expected(f_s, f_t, index, torch.cat([index[:, None], negatives], dim=1))
    torch.testing.assert_close(loss, loss_given)


@pytest.mark.parametrize("objective", ["nce", "infonce"])
def test_shared_mode_equals_per_sample_with_the_same_shared_set(objective: str) -> None:
    m, k = 300, 50
    f_s, f_t, index, _ = _random_batch(m, k)
    shared = CRDLoss(24, 40, m, feat_dim=16, num_negatives=k, objective=objective, negatives="shared", seed=2)
    g = torch.Generator().set_state(shared.get_extra_state()["generator_state"])
    negs = torch.randint(m, (k,), generator=g)
    contrast = torch.cat([index[:, None], negs.expand(len(index), k)], dim=1)
    per_sample = CRDLoss(24, 40, m, feat_dim=16, num_negatives=k, objective=objective, seed=2)
    losses = [shared(f_s, f_t, index), per_sample(f_s, f_t, index, contrast)]
    torch.testing.assert_close(losses[0], losses[1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(shared.memory_student, per_sample.memory_student)
    shared_given = CRDLoss(24, 40, m, feat_dim=16, num_negatives=k, objective=objective, negatives="shared", seed=2)
    torch.testing.assert_close(shared_given(f_s, f_t, index, contrast), losses[1], atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------ gradients, state, precision
@pytest.mark.parametrize("negatives", ["per_sample", "shared", "queue"])
def test_gradients_reach_heads_not_memory(negatives: str) -> None:
    f_s, f_t, index, _ = _random_batch(300, 50)
    crd = CRDLoss(24, 40, 300, feat_dim=16, num_negatives=50, negatives=negatives)
    f_s.requires_grad_()
    crd(f_s, f_t, index).backward()
    for name, buf in crd.named_buffers():
        assert not buf.requires_grad and buf.grad is None, name
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in crd.parameters())
    assert f_s.grad is not None and f_s.grad.abs().sum() > 0


@pytest.mark.parametrize("negatives", ["per_sample", "shared", "queue"])
def test_state_dict_round_trip_restores_bank_z_and_generator(negatives: str) -> None:
    kwargs = dict(feat_dim=16, num_negatives=50, negatives=negatives)
    crd = CRDLoss(24, 40, 300, seed=0, **kwargs)
    for seed in (1, 2):
        f_s, f_t, index, _ = _random_batch(300, 50, seed=seed)
        crd(f_s, f_t, index)
    buffer = io.BytesIO()
    torch.save(crd.state_dict(), buffer)
    buffer.seek(0)
    restored = CRDLoss(24, 40, 300, seed=123, **kwargs)
    restored.load_state_dict(torch.load(buffer, weights_only=True))
    for name, t in crd.state_dict().items():
        if torch.is_tensor(t):
            assert torch.equal(t, restored.state_dict()[name]), name
    f_s, f_t, index, _ = _random_batch(300, 50, seed=3)
    torch.testing.assert_close(restored(f_s, f_t, index), crd(f_s, f_t, index), atol=0, rtol=0)
    assert torch.equal(restored.memory_student, crd.memory_student)
    assert torch.equal(restored.get_extra_state()["generator_state"], crd.get_extra_state()["generator_state"])


def test_bank_is_seeded_uniform_and_persistent() -> None:
    a, b = (CRDLoss(8, 8, 400, feat_dim=12, num_negatives=10, seed=7) for _ in range(2))
    bound = 1 / math.sqrt(12 / 3)
    assert torch.equal(a.memory_student, b.memory_student) and torch.equal(a.embed_teacher.linear.weight,
                                                                           b.embed_teacher.linear.weight)
    assert a.memory_student.abs().max() <= bound and a.memory_student.abs().max() > 0.9 * bound
    assert not torch.equal(a.memory_student, a.memory_teacher)
    assert {"memory_student", "memory_teacher", "z_student", "z_teacher", "z_initialised", "_extra_state"} <= set(
        a.state_dict())


@pytest.mark.parametrize("negatives", ["per_sample", "shared", "queue"])
def test_bf16_autocast_gives_float32_finite_loss(negatives: str) -> None:
    f_s, f_t, index, _ = _random_batch(300, 50)
    f_s, f_t = f_s.bfloat16(), f_t.bfloat16()
    crd = CRDLoss(24, 40, 300, feat_dim=16, num_negatives=50, negatives=negatives)
    twin = copy.deepcopy(crd)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = crd(f_s, f_t, index)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert crd.memory_student.dtype == torch.float32
    torch.testing.assert_close(loss, twin(f_s.float(), f_t.float(), index))


# ------------------------------------------------------------------ bad input
def _good():
    return torch.randn(4, 6), torch.randn(4, 5), torch.tensor([0, 1, 2, 3])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(objective="kl"), "objective"),
        (dict(negatives="all"), "negatives"),
        (dict(num_negatives=20), "num_negatives"),
        (dict(num_negatives=0), "num_negatives"),
        (dict(temperature=0.0), "temperature"),
        (dict(momentum=1.5), "momentum"),
        (dict(z_momentum=1.0), "z_momentum"),
        (dict(queue_size=8), "queue_size"),
        (dict(negatives="queue", queue_size=0), "queue_size"),
        (dict(feat_dim=0), "feat_dim"),
    ],
)
def test_bad_constructor_arguments(kwargs: dict, match: str) -> None:
    args = dict(student_dim=6, teacher_dim=5, num_samples=20, feat_dim=4, num_negatives=3)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        CRDLoss(**args)


def test_bad_forward_inputs() -> None:
    crd = CRDLoss(6, 5, 20, feat_dim=4, num_negatives=3)
    f_s, f_t, index = _good()
    contrast = torch.cat([index[:, None], torch.zeros(4, 3, dtype=torch.long)], dim=1)
    cases = [
        ((torch.randn(4, 7), f_t, index, None), "f_student"),
        ((f_s, torch.randn(4, 2, 2), index, None), "f_teacher"),
        ((f_s, torch.randn(3, 5), index, None), "f_teacher"),
        ((torch.randn(6), f_t, index, None), "f_student"),
        ((f_s, f_t, index.int(), None), "index"),
        ((f_s, f_t, index[:3], None), "index"),
        ((f_s, f_t, index[:, None], None), "index"),
        ((f_s, f_t, torch.tensor([0, 1, 2, 20]), None), "index"),
        ((f_s, f_t, torch.tensor([0, -1, 2, 3]), None), "index"),
        ((f_s, f_t, index, contrast[:, :3]), "contrast_index"),
        ((f_s, f_t, index, contrast.float()), "contrast_index"),
        ((f_s, f_t, index, contrast + 17), "contrast_index"),
        ((f_s, f_t, index, contrast.flip(0)), "contrast_index"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            crd(*args)
    queue = CRDLoss(6, 5, 20, feat_dim=4, num_negatives=3, negatives="queue")
    with pytest.raises(ValueError, match="contrast_index"):
        queue(f_s, f_t, index, contrast)
    shared = CRDLoss(6, 5, 20, feat_dim=4, num_negatives=3, negatives="shared")
    uneven = contrast.clone()
    uneven[1, 2] = 5
    with pytest.raises(ValueError, match="contrast_index"):
        shared(f_s, f_t, index, uneven)


def test_distributed_helpers_are_identities_in_one_process() -> None:
    t = torch.arange(6).view(3, 2)
    assert not is_distributed() and world_size() == 1 and rank() == 0
    assert all_gather_cat(t) is t
    crd = CRDLoss(6, 5, 20, feat_dim=4, num_negatives=3)
    hooks = [len(p._backward_hooks or {}) for p in crd.parameters()]
    install_gradient_averaging(crd)  # idempotent: no second hook
    assert [len(p._backward_hooks or {}) for p in crd.parameters()] == hooks == [1] * len(hooks)


def test_fused_nce_gradient_matches_autograd() -> None:
    from crossmodal.distill.crd_loss import nce_loss

    g = torch.Generator().manual_seed(0)
    pos = torch.rand(4, generator=g, dtype=torch.float64).mul_(0.2).requires_grad_()
    neg = torch.rand(4, 6, generator=g, dtype=torch.float64).mul_(0.2).requires_grad_()
    z = torch.tensor(30.0, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda a, b: nce_loss(a, b, z, 0.07, 10), (pos, neg))


def test_eval_mode_leaves_memory_and_z_untouched() -> None:
    crd = _tiny("nce").eval()
    before = {k: v.clone() for k, v in crd.state_dict().items() if torch.is_tensor(v)}
    loss = _tiny_call(crd)
    assert torch.isfinite(loss)
    for k, v in crd.state_dict().items():
        if torch.is_tensor(v):
            assert torch.equal(v, before[k]), k
    crd.train()
    assert _tiny_call(crd).item() == pytest.approx(loss.item(), rel=1e-6)  # eval used the batch estimate of Z
    assert bool(crd.z_initialised)
