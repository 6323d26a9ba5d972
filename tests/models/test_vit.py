"""timm ViTs as students and teachers at any frame size.

Patch 14 and 16, with and without register tokens; factory kwargs beside `arch`; and the one-line refusal of a network
that cannot run on the frames.

Frames are 96x130: not a multiple of either patch. The project builds ViTs with timm's dynamic_img_pad, which pads the
bottom and right up to the next multiple, so maps are ceil(H/p) x ceil(W/p): 6x9 at patch 16, 7x10 at patch 14. Every
network here is tiny and random, shrunk through kwargs; nothing is downloaded.
"""
import pytest
import torch

from crossmodal.errors import NetworkError
from crossmodal.models import FeatureNet, Segmenter, build_backbone, build_teacher
from crossmodal.models.networks import pretrained_normalisation
from crossmodal.models.vit import ViTFeatures, default_taps, tokens_to_map

FRAME = (96, 130)
TINY = {"depth": 2, "embed_dim": 32, "num_heads": 2}
VITS = [  # arch, patch, prefix tokens (cls + registers), map size at FRAME
    ("timm:vit_tiny_patch16_224", 16, 1, (6, 9)),
    ("timm:vit_small_patch14_reg4_dinov2", 14, 5, (7, 10)),
]


@pytest.mark.parametrize("arch, patch, prefix, grid", VITS)
@pytest.mark.parametrize("features", [[], ["blocks.0", "blocks.1"]])
def test_vit_student_at_a_frame_size_off_the_patch_grid(arch, patch, prefix, grid, features):
    net = build_backbone(arch, 1, features=features, kwargs=TINY, probe_size=FRAME).train()
    assert isinstance(net, ViTFeatures) and isinstance(net, FeatureNet)
    assert net.feature_names == ["blocks.0", "blocks.1"] and net.model.num_prefix_tokens == prefix
    assert net.out_channels == [32, 32] and net.strides == [patch, patch]
    feats = net(torch.randn(2, 1, *FRAME))
    assert [tuple(f.shape) for f in feats] == [(2, 32, *grid)] * 2
    sum(f.square().mean() for f in feats).backward()
    for p in (net.model.patch_embed.proj.weight, net.model.cls_token, net.model.blocks[1].mlp.fc2.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in net.model.head.parameters())  # after the deepest tap: frozen


@pytest.mark.parametrize("arch, patch, prefix, grid", VITS)
def test_maps_are_timms_own_intermediates(arch, patch, prefix, grid):
    """Prefix tokens dropped and patch tokens laid out row by row, exactly as timm's forward_intermediates does."""
    net = build_backbone(arch, 3, kwargs=TINY, probe_size=FRAME).eval()
    x = torch.randn(1, 3, *FRAME)
    with torch.no_grad():
        ours = net(x)
        timms = net.model.forward_intermediates(x, indices=[0, 1], intermediates_only=True, output_fmt="NCHW")
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(ours, timms))


def test_default_taps_are_evenly_spaced_blocks_and_tokens_become_maps():
    net = build_backbone("timm:vit_tiny_patch16_224", 3, kwargs={**TINY, "depth": 12}, probe_size=FRAME)
    assert net.feature_names == ["blocks.2", "blocks.5", "blocks.8", "blocks.11"]
    assert default_taps(net.model, 2) == ["blocks.5", "blocks.11"]
    tokens = torch.arange(2 * (3 + 6) * 4, dtype=torch.float32).reshape(2, 9, 4)  # 3 prefix tokens, a 2x3 grid
    grid = tokens_to_map(tokens, (2, 3), 3)
    assert grid.shape == (2, 4, 2, 3) and torch.equal(grid[:, :, 1, 0], tokens[:, 3 + 3])
    with pytest.raises(NetworkError, match="9 tokens, not 1 prefix tokens"):
        tokens_to_map(tokens, (2, 3), 1)


@pytest.mark.parametrize("arch, patch, prefix, grid", VITS)
def test_vit_teacher_gives_logits_at_the_input_size(arch, patch, prefix, grid):
    teacher = build_teacher(arch, 3, 5, features=["blocks.0", "blocks.1"], head_channels=16, kwargs=TINY,
                            probe_size=FRAME).eval()
    assert isinstance(teacher, Segmenter) and teacher.strides == [patch, patch]
    x = torch.randn(2, 3, *FRAME)
    feats, logits = teacher.features_and_logits(x, True)
    assert logits.shape == (2, 5, *FRAME) and [tuple(f.shape[-2:]) for f in feats] == [grid, grid]


def test_a_fixed_size_vit_is_refused_in_one_line():
    with pytest.raises(NetworkError) as err:
        build_backbone("timm:vit_tiny_patch16_224", 3, kwargs={**TINY, "dynamic_img_size": False}, probe_size=FRAME)
    text = str(err.value)
    assert "\n" not in text and text.startswith("config key 'student.arch': timm:vit_tiny_patch16_224 cannot run on "
                                                "96x130 frames (Input height (96) doesn't match model (224).)")
    assert "it accepts 224x224 inputs only" in text
    net = build_backbone("timm:vit_tiny_patch16_224", 3, kwargs={**TINY, "dynamic_img_size": False},
                         probe_size=(224, 224))  # what the config asked for, at the size it takes
    assert [tuple(f.shape) for f in net(torch.randn(1, 3, 224, 224))] == [(1, 32, 14, 14)] * 2


def test_unknown_kwargs_are_named():
    with pytest.raises(NetworkError, match=r"config key 'teacher.net.kwargs' is \{'depht': 2\}.*unexpected keyword"):
        build_teacher("timm:vit_tiny_patch16_224", 3, 5, kwargs={"depht": 2}, probe_size=FRAME)
    with pytest.raises(NetworkError, match="config key 'student.kwargs'.*in_chans, pretrained and features_only"):
        build_backbone("timm:vit_tiny_patch16_224", 3, kwargs={"in_chans": 2})
    with pytest.raises(NetworkError, match="config key 'student.kwargs'.*built-in networks take no factory"):
        build_backbone("resnet_narrow", 2, kwargs={"width": 3})


def test_kwargs_reach_torchvision():
    net = build_backbone("torchvision:resnet18", 2, kwargs={"zero_init_residual": True}, probe_size=FRAME)
    assert all(torch.count_nonzero(b.bn2.weight) == 0 for b in net.model.layer1)
    assert net.strides == [4, 8, 16, 32]  # measured at 96x130: the map sizes round up, the strides do not
    with pytest.raises(NetworkError, match="config key 'student.kwargs' is .*torchvision:resnet18 does not take"):
        build_backbone("torchvision:resnet18", 2, kwargs={"zero_init_residuals": True})


PYTHON_NETS = '''
from torch import nn


class Wide(nn.Module):
    def __init__(self, in_channels, width):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width, 3, 2, 1)
        self.stage = nn.Conv2d(width, 2 * width, 3, 2, 1)

    def forward(self, x):
        return self.stage(self.stem(x))


class Fixed(nn.Module):
    """Mixes its 32x32 input's stem map through a Linear: it runs at that size only."""

    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 4, 3, 2, 1)
        self.mix = nn.Linear(4 * 16 * 16, 4 * 16 * 16)
        self.out = nn.Conv2d(4, 8, 1)

    def forward(self, x):
        return self.out(self.mix(self.stem(x).flatten(1)).view(-1, 4, 16, 16))


def wide(num_classes, in_channels, width=8):
    return Wide(in_channels, width)


def fixed(num_classes, in_channels):
    return Fixed(in_channels, num_classes)
'''


def test_kwargs_reach_a_python_factory_and_a_fixed_size_net_is_refused(tmp_path, monkeypatch):
    (tmp_path / "vit_test_nets.py").write_text(PYTHON_NETS)
    monkeypatch.syspath_prepend(str(tmp_path))
    net = build_backbone("python:vit_test_nets:wide", 2, features=["stem", "stage"], kwargs={"width": 12},
                         probe_size=FRAME)
    assert net.out_channels == [12, 24] and net.strides == [2, 4]
    with pytest.raises(NetworkError, match="config key 'student.kwargs' is \\{'depth': 3\\}, which "
                                           "python:vit_test_nets:wide does not take"):
        build_backbone("python:vit_test_nets:wide", 2, features=["stem"], kwargs={"depth": 3})
    assert build_backbone("python:vit_test_nets:fixed", 2, features=["out"], probe_size=(32, 32)).strides == [2]
    with pytest.raises(NetworkError) as err:
        build_backbone("python:vit_test_nets:fixed", 2, features=["out"], probe_size=FRAME)
    text = str(err.value)
    assert "\n" not in text and "config key 'student.arch': python:vit_test_nets:fixed cannot run on 96x130 frames " \
                                "(mat1 and mat2 shapes cannot be multiplied" in text


def test_a_safetensors_file_loads_into_a_vit_that_takes_any_size(tmp_path):
    import timm
    from safetensors.torch import save_file

    src = timm.create_model("vit_small_patch14_reg4_dinov2", **TINY, dynamic_img_size=True, dynamic_img_pad=True)
    src.eval()  # the same state dict as a fixed-size one: the position embeddings are interpolated on the fly
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in src.state_dict().items()}, str(path))
    net = build_backbone("timm:vit_small_patch14_reg4_dinov2", 3, pretrained=str(path), kwargs=TINY,
                         probe_size=FRAME).eval()
    assert torch.equal(net.model.pos_embed, src.pos_embed) and torch.equal(net.model.reg_token, src.reg_token)
    assert torch.equal(net.model.blocks[1].attn.qkv.weight, src.blocks[1].attn.qkv.weight)
    x = torch.randn(1, 3, *FRAME)
    with torch.no_grad():
        assert [tuple(f.shape) for f in net(x)] == [(1, 32, 7, 10)] * 2
        want = src.forward_intermediates(x, indices=[0, 1], intermediates_only=True)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(net(x), want))


def test_pretrained_normalisation_comes_from_timms_config():
    imagenet = ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert pretrained_normalisation("timm:vit_small_patch14_reg4_dinov2.lvd142m") == pytest.approx(imagenet)
    assert pretrained_normalisation("timm:vit_tiny_patch16_224") == ([0.5] * 3, [0.5] * 3)
    assert pretrained_normalisation("torchvision:resnet18") is None
    assert pretrained_normalisation("resnet_narrow") is None
