"""Every distiller between networks of different channel counts, stage counts and strides (any two families)."""
import pytest
import torch

from crossmodal.config import Config
from crossmodal.config.distillers import fill_num_classes
from crossmodal.distill import DISTILLERS, config_key
from crossmodal.distill.stages import match_size, stage_pairs

# (channels, strides) of a timm MobileNetV3 (5 stages to stride 32) and of the built-in narrow ResNet (3 to 8)
MOBILE = ([16, 8, 16, 24, 288], [2, 4, 8, 16, 32])
NARROW = ([16, 32, 64], [2, 4, 8])


def _maps(spec, batch=4, size=(64, 96)):
    return [torch.randn(batch, c, size[0] // s, size[1] // s, requires_grad=True) for c, s in zip(*spec)]


@pytest.mark.parametrize("student, teacher", [(MOBILE, NARROW), (NARROW, MOBILE)],
                         ids=["finer-teacher", "coarser-teacher"])
@pytest.mark.parametrize("method", sorted(DISTILLERS))
def test_distillers_cope_with_different_networks(method, student, teacher):
    cfg = Config()
    fill_num_classes(cfg.transfer, 5)
    cfg.transfer.crd.num_negatives = cfg.transfer.crd_kd.crd.num_negatives = 8
    torch.manual_seed(0)
    d = DISTILLERS[method](student[0], teacher[0], 32, getattr(cfg.transfer, config_key(method)), seed=0)
    s_feats, t_feats = _maps(student), [t.detach() for t in _maps(teacher)]
    logits = torch.randn(4, 5, 64, 96) if d.needs_teacher_logits else None
    loss = d(s_feats, t_feats, torch.arange(4), logits)
    assert torch.isfinite(loss)
    loss.backward()
    assert s_feats[-1].grad is not None or any(f.grad is not None for f in s_feats)


def test_teacher_maps_are_resampled_to_the_student_grid():
    s = torch.randn(2, 3, 6, 8)
    finer, coarser = torch.randn(2, 5, 12, 16), torch.randn(2, 5, 3, 4)
    assert match_size(s, finer)[1].shape[-2:] == (6, 8)
    assert torch.allclose(match_size(s, finer)[1], torch.nn.functional.avg_pool2d(finer, 2))
    assert match_size(s, coarser)[1].shape[-2:] == (6, 8)
    assert match_size(s, coarser)[0] is s


def test_every_stage_pairs_the_deepest_when_counts_differ():
    assert stage_pairs([], 3, 3, "k") == [0, 1, 2]
    assert stage_pairs([], 5, 3, "k") == [-3, -2, -1]
