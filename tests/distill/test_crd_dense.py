"""Dense CRD: symmetric InfoNCE over sampled locations, checked against values computed by hand."""
import math

import torch
import torch.nn.functional as F

from crossmodal.distill.crd_dense import DenseCRDConfig
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
