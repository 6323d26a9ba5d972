"""BatchNorm statistics after short stages: the staleness rule and the re-estimation."""
import pytest
import torch
import torchvision
from torch import nn

from crossmodal.models.batchnorm import recalibrate_batchnorm, should_recalibrate, stale_batchnorm


def test_staleness_follows_the_momentum():
    slow = nn.Sequential(nn.Conv2d(1, 4, 1), nn.BatchNorm2d(4, momentum=0.01))
    fast = nn.Sequential(nn.Conv2d(1, 4, 1), nn.BatchNorm2d(4, momentum=0.1))
    assert stale_batchnorm(slow, 300) and not stale_batchnorm(slow, 500)  # 0.99^300 = 0.049, 0.99^500 = 0.0066
    assert stale_batchnorm(fast, 40) and not stale_batchnorm(fast, 50)  # 0.9^40 = 0.015, 0.9^50 = 0.0052
    assert not should_recalibrate("never", slow, 1) and should_recalibrate("always", fast, 10 ** 6)
    assert should_recalibrate("auto", slow, 300) and not should_recalibrate("auto", nn.Conv2d(1, 1, 1), 0)


def test_recalibration_gives_the_plain_average_over_the_frames():
    bn = nn.BatchNorm2d(3, momentum=0.01)
    model = nn.Sequential(nn.Identity(), bn, nn.Dropout(0.5)).train()
    data = [torch.randn(4, 3, 5, 5) * 2 + 3 for _ in range(3)]
    assert recalibrate_batchnorm(model, data) == 12
    frames = torch.cat(data)
    assert torch.allclose(bn.running_mean, frames.mean(dim=(0, 2, 3)), atol=1e-5)
    per_batch_var = torch.stack([d.var(dim=(0, 2, 3), unbiased=True) for d in data]).mean(0)
    assert torch.allclose(bn.running_var, per_batch_var, atol=1e-4)
    assert bn.momentum == 0.01 and model.training  # settings restored


@pytest.mark.slow
def test_short_mobilenet_training_predicts_like_train_mode_only_after_recalibration():
    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small(num_classes=3)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x = torch.randn(8, 3, 64, 64) * 3 + 1
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    for _ in range(20):  # a short stage: 0.99^20 of the initial statistics remain
        loss = nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert should_recalibrate("auto", net, 20)
    with torch.no_grad():
        net.train()
        train_mode = net(x)
        # dropout aside, eval mode should now match train mode on the same frames
        net.eval()
        stale = (net(x) - train_mode).abs().mean()
        recalibrate_batchnorm(net, [x])
        fresh = (net(x) - train_mode).abs().mean()
    assert fresh < 0.5 * stale
