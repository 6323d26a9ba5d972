"""Backbones: any input channels, multi-scale outputs, torchvision weights from a local file."""
import pytest
import torch
import torchvision

from crossmodal.errors import NetworkError
from crossmodal.models import Segmenter, build_backbone
from crossmodal.models.backbone import load_pretrained
from crossmodal.models.weights import adapt_input_conv


@pytest.mark.parametrize("arch, strides", [("resnet18", [4, 8, 16, 32]), ("resnet_narrow", [2, 4, 8])])
@pytest.mark.parametrize("channels", [1, 2, 3])
def test_stage_shapes(arch, strides, channels):
    net = build_backbone(arch, channels)
    feats = net(torch.randn(2, channels, 64, 96))
    assert [f.shape[1] for f in feats] == net.out_channels
    assert [64 // f.shape[2] for f in feats] == strides == net.strides


def test_segmenter_output_matches_input_size():
    model = Segmenter(build_backbone("resnet_tiny", 2), num_classes=5, hidden=8)
    assert model(torch.randn(2, 2, 48, 64)).shape == (2, 5, 48, 64)


def test_adapt_input_conv_rules():
    w = torch.arange(2 * 3 * 1 * 1, dtype=torch.float32).reshape(2, 3, 1, 1)
    assert torch.equal(adapt_input_conv(1, w), w.sum(1, keepdim=True))
    two = adapt_input_conv(2, w)
    assert torch.allclose(two, w[:, :2] * 1.5)
    assert torch.equal(adapt_input_conv(3, w), w)


def test_torchvision_state_dict_loads_into_depth_backbone(tmp_path):
    tv = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(tv.state_dict(), path)
    net = build_backbone("resnet18", 1, pretrained=str(path))
    assert torch.allclose(net.conv1.weight, tv.conv1.weight.sum(1, keepdim=True))
    assert torch.equal(net.layer4[1].conv2.weight, tv.layer4[1].conv2.weight)
    tv.eval(), net.eval()
    x = torch.randn(1, 3, 64, 64)
    stem = torch.nn.Sequential(tv.conv1, tv.bn1, tv.relu, tv.maxpool, tv.layer1, tv.layer2, tv.layer3, tv.layer4)
    rgb = build_backbone("resnet18", 3, pretrained=str(path)).eval()
    assert torch.allclose(rgb(x)[-1], stem(x), atol=1e-5)


def test_missing_or_wrong_weights_are_clear_errors(tmp_path):
    with pytest.raises(NetworkError, match="student.pretrained': weights file not found: .*nope.pth.*torchvision"):
        build_backbone("resnet18", 1, pretrained=str(tmp_path / "nope.pth"))
    bad = tmp_path / "narrow.pth"
    torch.save(build_backbone("resnet_narrow", 3).state_dict(), bad)
    with pytest.raises(NetworkError, match="does not fit backbone 'resnet18'"):
        load_pretrained(build_backbone("resnet18", 3), bad)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(NetworkError, match="cannot be read as a state dict"):
        load_pretrained(build_backbone("resnet18", 3), junk)
