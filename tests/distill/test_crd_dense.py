"""Dense CRD: symmetric InfoNCE over sampled locations, checked against values computed by hand."""
import math

import pytest
import torch
import torch.nn.functional as F

from crossmodal.config.distillers import DenseCRDConfig
from crossmodal.distill import DISTILLERS
from crossmodal.distill.crd_dense import symmetric_infonce


def test_symmetric_infonce_by_hand():
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    t = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    tau = 0.5
    # logits = s @ t.T / tau = [[1.2, 0], [1.6, 2]]
    # student->teacher rows: -log softmax row0[0] = -log(e^1.2/(e^1.2+e^0)); row1[1] = -log(e^2/(e^1.6+e^2))
    row = (-math.log(math.exp(1.2) / (math.exp(1.2) + 1)) - math.log(math.exp(2) / (math.exp(1.6) + math.exp(2)))) / 2
    # teacher->student columns: col0[0] = -log(e^1.2/(e^1.2+e^1.6)); col1[1] = -log(e^2/(e^0+e^2))
    col = (-math.log(math.exp(1.2) / (math.exp(1.2) + math.exp(1.6))) - math.log(math.exp(2) / (1 + math.exp(2)))) / 2
    assert math.isclose(symmetric_infonce(s, t, tau).item(), row + col, rel_tol=1e-6)


def cross_entropy_form(s: torch.Tensor, t: torch.Tensor, tau: float) -> torch.Tensor:
    scores = F.normalize(s, dim=1) @ F.normalize(t, dim=1).T / tau
    target = torch.arange(s.shape[0])
    return F.cross_entropy(scores, target) + F.cross_entropy(scores.T, target)


@pytest.mark.slow
@pytest.mark.parametrize("tau", [0.01, 0.07, 1.0])  # 0.01 takes the per-row/column shift, the others one shift
def test_symmetric_infonce_matches_two_cross_entropies_with_gradients(tau):
    torch.manual_seed(0)
    s = (torch.randn(48, 16, dtype=torch.float64) * 3).requires_grad_()
    t = torch.randn(48, 16, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: symmetric_infonce(a, b, tau), (s, t))
    fused = symmetric_infonce(s, t, tau)
    grads = torch.autograd.grad(fused, (s, t))
    plain = cross_entropy_form(s, t, tau)
    expected = torch.autograd.grad(plain, (s, t))
    assert torch.allclose(fused, plain, rtol=1e-12, atol=1e-12)
    for got, want in zip(grads, expected):
        assert torch.allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("tau", [0.001, 0.07])
def test_symmetric_infonce_is_finite_in_float32_at_cold_temperatures(tau):
    torch.manual_seed(0)
    s, t = torch.randn(200, 8) * 30, torch.randn(200, 8)  # at tau 0.001 scores span 2000
    fused, plain = symmetric_infonce(s, t, tau), cross_entropy_form(s, t, tau)
    assert torch.isfinite(fused) and torch.allclose(fused, plain, rtol=1e-5)


def test_symmetric_infonce_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"\(N, D\).*\(4, 3\) and \(4, 2\)"):
        symmetric_infonce(torch.randn(4, 3), torch.randn(4, 2), 0.1)


def test_dense_crd_positive_is_the_same_location():
    torch.manual_seed(0)
    cfg = DenseCRDConfig(feat_dim=4, num_locations=6, temperature=0.1)
    d = DISTILLERS["crd_dense"]([3, 5], [3, 5], num_samples=10, cfg=cfg)
    # identical heads on identical maps: matching locations score highest, so the loss is below chance level
    with torch.no_grad():
        d.embed_teacher.weight.copy_(d.embed_student.weight)
        d.embed_teacher.bias.copy_(d.embed_student.bias)
    feat = torch.randn(2, 5, 8, 8)
    loss = d([feat[:, :3], feat], [feat[:, :3], feat], torch.arange(2))
    chance = 2 * math.log(2 * 6)
    assert loss.item() < chance
    shuffled = feat[:, :, torch.randperm(8)]
    assert d([feat[:, :3], feat], [feat[:, :3], shuffled], torch.arange(2)).item() > loss.item()


def test_dense_crd_gradients_reach_both_heads_and_student_not_teacher():
    cfg = DenseCRDConfig(feat_dim=4, num_locations=4)
    d = DISTILLERS["crd_dense"]([6], [8], num_samples=4, cfg=cfg)
    s = torch.randn(2, 6, 5, 7, requires_grad=True)
    t = torch.randn(2, 8, 3, 4)  # a different resolution: points are sampled in normalised coordinates
    d([s], [t], torch.arange(2)).backward()
    assert s.grad is not None and s.grad.abs().sum() > 0
    assert d.embed_student.weight.grad.abs().sum() > 0 and d.embed_teacher.weight.grad.abs().sum() > 0


def test_dense_crd_state_restores_the_sampler():
    cfg = DenseCRDConfig(feat_dim=4, num_locations=4)
    a = DISTILLERS["crd_dense"]([6], [6], num_samples=4, cfg=cfg)
    s, t = torch.randn(2, 6, 5, 5), torch.randn(2, 6, 5, 5)
    a([s], [t], torch.arange(2))
    state = a.state_dict()
    expected = a([s], [t], torch.arange(2))
    b = DISTILLERS["crd_dense"]([6], [6], num_samples=4, cfg=cfg)
    b.load_state_dict(state)
    assert torch.allclose(b([s], [t], torch.arange(2)), expected)
    assert F.mse_loss(a.embed_student.weight, b.embed_student.weight) == 0


def _logits_distiller(num_classes: int = 5, **kw):
    from crossmodal.config.distillers import DenseCRDLogitsConfig
    cfg = DenseCRDLogitsConfig(num_classes=num_classes, feat_dim=8, num_locations=6, hidden=8, **kw)
    return DISTILLERS["crd_dense_logits"]([4, 6], [4, 6], num_samples=10, cfg=cfg)


def test_dense_crd_logits_matches_the_loss_written_out():
    torch.manual_seed(0)
    d = _logits_distiller(temperature=0.2)
    feats = [torch.randn(3, 4, 8, 8), torch.randn(3, 6, 4, 4)]
    logits = torch.randn(3, 5, 16, 16)
    gen_state = d.generator.get_state()
    loss = d(feats, [f.clone() for f in feats], torch.arange(3), logits)
    # by hand: the head at the skip stage's grid (stage 1: 4x4), the logits averaged 4x4 -> that grid, the same points
    d.generator.set_state(gen_state)
    pts = torch.rand(3, 6, 1, 2, generator=d.generator) * 2 - 1
    s_map = d.embed_student(feats, (4, 4))
    t_map = F.avg_pool2d(logits, 4)

    def pick(m):
        return F.grid_sample(m, pts, align_corners=False).squeeze(-1).transpose(1, 2).reshape(-1, m.shape[1])

    expected = cross_entropy_form(pick(s_map), d.embed_teacher(pick(t_map)), 0.2)
    assert torch.allclose(loss, expected, atol=1e-5)


def test_dense_crd_logits_learns_to_find_the_teachers_places_and_needs_logits():
    torch.manual_seed(0)
    d = _logits_distiller(num_classes=3)
    # the teacher's logits are one-hot classes of a 2x2 block pattern the student sees as its two input channels
    classes = torch.randint(0, 3, (4, 1, 8, 8))
    logits = 5 * F.one_hot(classes[:, 0], 3).permute(0, 3, 1, 2).float()
    logits = F.interpolate(logits, scale_factor=2, mode="nearest")
    student = torch.nn.Conv2d(3, 4, 1)
    opt = torch.optim.Adam([*student.parameters(), *d.parameters()], lr=0.01)
    x = F.one_hot(classes[:, 0], 3).permute(0, 3, 1, 2).float()
    losses = []
    for _ in range(40):
        s0 = student(x)
        loss = d([s0, F.avg_pool2d(torch.cat([s0, s0[:, :2]], 1), 2)], [], torch.arange(4), logits)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    with pytest.raises(ValueError, match=r"crd_dense_logits: expected teacher_logits of shape \(B, 3, H, W\)"):
        d([s0, s0[:, :2]], [], torch.arange(4), None)
