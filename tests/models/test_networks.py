"""Every network family through the one feature contract: students, teachers, weights files and the errors."""
import pytest
import torch
import torchvision
import user_nets
from torch import nn

from crossmodal.errors import NetworkError
from crossmodal.models import FeatureNet, OwnHeadNet, Segmenter, build_backbone, build_teacher
from crossmodal.models.weights import adapt_input_conv, load_strict, read_state_dict

STUDENTS = ["resnet_narrow", "timm:mobilenetv3_small_050", "timm:resnet18", "torchvision:resnet18",
            "torchvision:mobilenet_v3_small", "torchvision:efficientnet_b0",
            pytest.param("torchvision:regnet_x_400mf", marks=pytest.mark.slow)]


@pytest.mark.parametrize("arch", STUDENTS)
def test_every_family_gives_the_feature_contract(arch):
    net = build_backbone(arch, 2)
    assert isinstance(net, FeatureNet) and net.in_channels == 2
    feats = net(torch.randn(2, 2, 64, 96))
    assert [f.shape[1] for f in feats] == net.out_channels
    assert [64 // f.shape[2] for f in feats] == net.strides
    assert net.strides == sorted(net.strides) and len(feats) >= 3


def test_python_student_is_tapped_and_its_unused_head_frozen(tmp_path, monkeypatch):
    mod = user_nets.install(tmp_path, monkeypatch)
    net = build_backbone(f"python:{mod}:tiny_seg", 1, features=["stem", "stage1", "stage2"], num_classes=5)
    assert net.out_channels == [8, 16, 24] and net.strides == [2, 4, 8]
    assert not any(p.requires_grad for p in net.model.head.parameters())  # never used by the taps
    calls = []
    net.model.head.register_forward_hook(lambda *a: calls.append(1))
    net(torch.randn(1, 1, 32, 32))
    assert not calls  # the forward stops after the deepest tap


def test_torchvision_classifier_fc_is_not_run_nor_trained():
    net = build_backbone("torchvision:resnet18", 3)
    assert not any(p.requires_grad for p in net.model.fc.parameters())
    assert all(p.requires_grad for p in net.model.layer4.parameters())


@pytest.mark.parametrize("arch, own_head", [("resnet_narrow", False), ("timm:mobilenetv3_small_050", False),
                                            pytest.param("torchvision:resnet18", False, marks=pytest.mark.slow),
                                            pytest.param("torchvision:lraspp_mobilenet_v3_large", True,
                                                         marks=pytest.mark.slow),
                                            pytest.param("torchvision:deeplabv3_mobilenet_v3_large", True,
                                                         marks=pytest.mark.slow)])
def test_every_family_as_teacher(arch, own_head):
    teacher = build_teacher(arch, 3, 5, head_channels=16).eval()
    assert isinstance(teacher, OwnHeadNet if own_head else Segmenter)
    x = torch.randn(2, 3, 48, 64)
    feats, logits = teacher.features_and_logits(x, True)
    assert logits.shape == (2, 5, 48, 64) and torch.equal(teacher(x), logits)
    assert [f.shape[1] for f in feats] == teacher.out_channels
    only, none = teacher.features_and_logits(x, False)
    assert none is None and all(torch.equal(a, b) for a, b in zip(only, feats))


def test_python_teacher_logits_are_upsampled_and_class_count_checked(tmp_path, monkeypatch):
    mod = user_nets.install(tmp_path, monkeypatch)
    teacher = build_teacher(f"python:{mod}:tiny_seg", 3, 4, features=["stage1", "stage2"])
    assert teacher(torch.randn(1, 3, 40, 56)).shape == (1, 4, 40, 56)
    assert teacher.strides == [4, 8] and teacher.checkpoint_module() is teacher.model
    with pytest.raises(NetworkError, match="not a submodule.*nearest: stage2"):
        build_teacher(f"python:{mod}:tiny_seg", 3, 4, features=["stage1", "stage3"])
    with pytest.raises(NetworkError, match="teacher.net.features' must name the stages"):
        build_teacher(f"python:{mod}:tiny_seg", 3, 4)


@pytest.mark.slow
def test_torchvision_segmentation_model_with_aux_head_is_built_to_fit_the_checkpoint():
    keys = set(torchvision.models.get_model("deeplabv3_mobilenet_v3_large", weights=None, weights_backbone=None,
                                            num_classes=3, aux_loss=True).state_dict())
    teacher = build_teacher("torchvision:deeplabv3_mobilenet_v3_large", 3, 3, state_keys=keys)
    assert set(teacher.checkpoint_module().state_dict()) == keys


def test_in_channel_adaptation_matches_timm():
    from timm.models._manipulate import adapt_input_conv as timm_adapt

    w = torch.randn(8, 3, 3, 3)
    for channels in (1, 2, 3, 4, 7):
        assert torch.allclose(adapt_input_conv(channels, w), timm_adapt(channels, w.clone()), atol=1e-6), channels


def test_torchvision_pretrained_file_loads_with_adapted_stem(tmp_path):
    tv = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in tv.state_dict().items()}}, path)
    net = build_backbone("torchvision:resnet18", 2, pretrained=str(path))
    assert torch.allclose(net.model.conv1.weight, adapt_input_conv(2, tv.conv1.weight))
    assert torch.equal(net.model.layer3[0].conv1.weight, tv.layer3[0].conv1.weight)
    mobile = tmp_path / "mobilenet.pth"
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), mobile)
    with pytest.raises(NetworkError, match="does not fit torchvision:resnet18.*missing keys"):
        build_backbone("torchvision:resnet18", 2, pretrained=str(mobile))


def test_timm_pretrained_file_goes_through_timm_with_in_chans(tmp_path):
    import timm

    src = timm.create_model("mobilenetv3_small_050")
    path = tmp_path / "mnv3.pth"
    torch.save(src.state_dict(), path)
    net = build_backbone("timm:mobilenetv3_small_050", 1, pretrained=str(path))
    assert torch.allclose(net.model.conv_stem.weight, src.conv_stem.weight.sum(1, keepdim=True), atol=1e-6)
    assert torch.equal(net.model.blocks[2][0].conv_pw.weight, src.blocks[2][0].conv_pw.weight)
    with pytest.raises(NetworkError, match="weights file not found.*huggingface.co/timm/mobilenetv3_small_050"):
        build_backbone("timm:mobilenetv3_small_050", 1, pretrained=str(tmp_path / "missing.safetensors"))


def test_state_dict_files_are_unwrapped_stripped_and_loaded_strictly(tmp_path, monkeypatch):
    mod = user_nets.install(tmp_path, monkeypatch)
    model = build_teacher(f"python:{mod}:tiny_seg", 3, 4, features=["stage2"])
    state = model.checkpoint_module().state_dict()
    for i, blob in enumerate([state, {"model": state}, {"state_dict": {f"module.{k}": v for k, v in state.items()}},
                              {"model": {f"_orig_mod.{k}": v for k, v in state.items()}, "epoch": 3}]):
        torch.save(blob, tmp_path / f"w{i}.pt")
        loaded = read_state_dict(tmp_path / f"w{i}.pt", "teacher.checkpoint")
        assert set(loaded) == set(state)
        load_strict(model.checkpoint_module(), loaded, tmp_path / f"w{i}.pt", "teacher.checkpoint", "the teacher")
    partial = {k: v for k, v in state.items() if not k.startswith("head.")}
    partial["extra.weight"] = torch.zeros(1)
    with pytest.raises(NetworkError, match=r"2 missing keys \(first: head.weight, head.bias\); 1 unexpected keys"):
        load_strict(model.checkpoint_module(), partial, "f.pt", "teacher.checkpoint", "the teacher")
    torch.save(nn.Linear(2, 2), tmp_path / "pickled.pt")  # a whole pickled module is not loaded (it runs code)
    with pytest.raises(NetworkError, match="cannot be read as a state dict.*whole pickled models are not loaded"):
        read_state_dict(tmp_path / "pickled.pt", "teacher.checkpoint")


@pytest.mark.parametrize("arch, features, message", [
    ("timm:mobilenetv3_smal_050", (), "timm has no model 'mobilenetv3_smal_050'; nearest: timm:mobilenetv3_small_050"),
    ("torchvision:resnet81", (), "torchvision has no model 'resnet81'; nearest: torchvision:resnet18"),
    ("torchvision:deeplabv3_resnet50", (), "segmentation model with its own head, usable as a teacher only"),
    ("torchvision:resnet18", ("layer2", "layer5"), "'layer5', which is not a submodule of torchvision:resnet18"),
    ("python:no_such_module_here:f", (),
     "module 'no_such_module_here' cannot be imported: put its folder on PYTHONPATH"),
    ("timm:hf-hub:timm/resnet18.a1_in1k", (), "would load from the Hugging Face hub"),
    ("timm:resnet18.a1_in1k", (), "names pretrained weights (tag 'a1_in1k'), which are not in the caches"),
    ("timm:resnet18.a1_in1k", (), "download the weights of timm:resnet18.a1_in1k: model.safetensors from "
                                  "https://huggingface.co/timm/resnet18.a1_in1k"),
])
def test_network_errors_are_clear(arch, features, message, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))  # empty caches: nothing found, nothing downloaded
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(NetworkError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_backbone(arch, 2, features=features)


def test_python_factory_errors(tmp_path, monkeypatch):
    mod = user_nets.install(tmp_path, monkeypatch)
    with pytest.raises(NetworkError, match="returned a str; it must return a torch.nn.Module"):
        build_backbone(f"python:{mod}:not_a_module", 2, features=["x"])
    with pytest.raises(NetworkError, match="must accept the keyword arguments num_classes= and in_channels="):
        build_backbone(f"python:{mod}:wrong_signature", 2, features=["x"])
    with pytest.raises(NetworkError, match="has no 'tiny_sge'; nearest: tiny_seg"):
        build_backbone(f"python:{mod}:tiny_sge", 2, features=["x"])


def test_logits_of_the_wrong_class_count_are_refused(tmp_path, monkeypatch):
    mod = user_nets.install(tmp_path, monkeypatch)
    (tmp_path / "fixed_nets.py").write_text(
        f"from {mod} import TinySeg\n\ndef four_classes(num_classes, in_channels):\n"
        f"    return TinySeg(4, in_channels)\n")
    with pytest.raises(NetworkError, match=r"logits of shape \(1, 4, 64, 64\).*C = 6 classes"):
        build_teacher("python:fixed_nets:four_classes", 3, 6, features=["stage2"])


def test_taps_follow_a_replaced_module():
    """SyncBatchNorm conversion replaces BatchNorm modules; a tap on one is re-hooked on its replacement."""
    net = build_backbone("torchvision:mobilenet_v3_small", 2, features=["features.0.1", "features.3"]).eval()
    before = net(torch.randn(1, 2, 32, 32))
    old = net.model.features[0][1]
    net.model.features[0][1] = nn.BatchNorm2d(old.num_features).eval()
    net.model.features[0][1].load_state_dict(old.state_dict())
    after = net(torch.randn(1, 2, 32, 32))
    assert [f.shape for f in after] == [f.shape for f in before]
