"""Dense CRD: symmetric InfoNCE over sampled locations, checked against values computed by hand."""
import math

import pytest
import torch
import torch.nn.functional as F

from crossmodal.distill.options import DenseCRDConfig
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
