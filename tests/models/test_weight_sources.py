"""Weights the user already has on disk, found without network.

Paths with ~ and $VARS, the Hugging Face hub cache and TORCH_HOME; downloads only with allow_download, through stubs:
these tests never reach the network.
"""
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
import timm
import timm.models._builder
import timm.models._hub
import torch
import torchvision
from safetensors.torch import save_file

from crossmodal.config import load_config
from crossmodal.errors import ConfigError, NetworkError
from crossmodal.models import build_backbone, build_teacher
from crossmodal.models.weight_sources import find_cached

TIMM = "resnet10t.c3_in1k"  # a small timm model with a tag
TV_FILE = "resnet18-f37072fd.pth"  # torchvision's resnet18 file name in TORCH_HOME/hub/checkpoints
PROBE = "layer1.0.conv1.weight"


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty HF hub and TORCH_HOME caches in tmp_path; every way to the network is stubbed to fail (and counted)."""
    hf, torch_home = tmp_path / "hf-hub", tmp_path / "torch-home"
    for var, value in (("HF_HUB_CACHE", hf), ("HF_HOME", tmp_path / "hf-home"), ("TORCH_HOME", torch_home)):
        monkeypatch.setenv(var, str(value))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hf))  # read when the package was imported
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(torch.hub, "_hub_dir", None)  # get_dir() follows TORCH_HOME
    reached = []

    def network(*args, **kwargs):
        reached.append(args)
        raise AssertionError(f"a test reached for the network: {args}")

    monkeypatch.setattr(timm.models._hub, "hf_hub_download", network)
    monkeypatch.setattr(timm.models._builder, "load_state_dict_from_url", network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", network)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", network)
    yield SimpleNamespace(hf=hf, checkpoints=torch_home / "hub" / "checkpoints", tmp=tmp_path)
    assert not reached


def timm_weights(path) -> dict[str, torch.Tensor]:
    """Random resnet10t weights with a recognisable tensor, saved at `path` (safetensors, or torch.save)."""
    state = {k: v.clone().contiguous() for k, v in timm.create_model("resnet10t").state_dict().items()}
    state[PROBE] = torch.full_like(state[PROBE], 0.123)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path)) if path.suffix == ".safetensors" else torch.save(state, path)
    return state


def hf_snapshot(hf, repo: str, revision: str = "abc") -> object:
    """The folder huggingface_hub would have downloaded `repo` into (refs/main naming the revision)."""
    folder = hf / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(revision)
    return folder / "snapshots" / revision


def tv_weights(path) -> dict[str, torch.Tensor]:
    """A random torchvision resnet18 state dict with a recognisable tensor, saved at `path`."""
    state = torchvision.models.resnet18().state_dict()
    state[PROBE] = torch.full_like(state[PROBE], 0.321)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return state


def probe(net: torch.nn.Module) -> torch.Tensor:
    return net.model.state_dict()[PROBE]


def test_a_tagged_timm_name_loads_its_weights_from_the_hf_cache(caches):
    state = timm_weights(hf_snapshot(caches.hf, f"timm/{TIMM}") / "model.safetensors")
    assert find_cached("timm", TIMM) == caches.hf / f"models--timm--{TIMM}" / "snapshots" / "abc" / "model.safetensors"
    assert torch.equal(probe(build_backbone(f"timm:{TIMM}", 3)), state[PROBE])
    assert torch.equal(probe(build_backbone("timm:resnet10t", 3, pretrained="cache")), state[PROBE])  # default tag
    assert torch.equal(probe(build_backbone(f"timm:{TIMM}", 3, pretrained="cache", features=["layer1", "layer2"])),
                       state[PROBE])


def test_timm_finds_the_url_file_in_torch_home(caches):
    url_file = timm.models.get_pretrained_cfg(TIMM).url.rsplit("/", 1)[1]
    state = timm_weights(caches.checkpoints / url_file)
    assert torch.equal(probe(build_backbone(f"timm:{TIMM}", 1)), state[PROBE])  # a depth student: 1 channel


def test_an_empty_cache_is_refused_naming_the_file_and_where_to_put_it(caches):
    folder = caches.hf / f"models--timm--{TIMM}"
    for kwargs, blamed in (({}, "'student.arch'"), ({"pretrained": "cache"}, "'student.pretrained' is cache")):
        with pytest.raises(NetworkError) as err:
            build_backbone(f"timm:{TIMM}", 3, **kwargs)
        text = str(err.value)
        assert blamed in text and "model.safetensors" in text and f"https://huggingface.co/timm/{TIMM}" in text
        assert str(folder / "snapshots" / "main") in text and str(caches.checkpoints) in text
        assert "student.allow_download" in text
    with pytest.raises(NetworkError, match="resnet18-f37072fd.pth.*allow_download"):
        build_teacher("torchvision:resnet18", 3, 4, pretrained="cache")


def test_cache_without_published_weights_is_refused(caches):
    with pytest.raises(NetworkError, match="student.pretrained' is cache, but resnet_narrow has no published"):
        build_backbone("resnet_narrow", 3, pretrained="cache")


def test_torchvision_and_builtin_resnets_load_the_torch_home_file(caches):
    state = tv_weights(caches.checkpoints / TV_FILE)
    assert torch.equal(probe(build_backbone("torchvision:resnet18", 3, pretrained="cache")), state[PROBE])
    assert torch.equal(build_backbone("resnet18", 3, pretrained="cache").state_dict()[PROBE], state[PROBE])
    teacher = build_teacher("torchvision:resnet18", 3, 4, pretrained="cache", head_channels=8)
    assert torch.equal(teacher.backbone.model.state_dict()[PROBE], state[PROBE])


def test_a_missing_path_names_the_key_the_path_and_the_download(caches):
    missing = caches.tmp / "nowhere" / TV_FILE
    with pytest.raises(NetworkError) as err:
        build_backbone("torchvision:resnet18", 3, pretrained=str(missing), key="teacher.net")
    assert "'teacher.net.pretrained'" in str(err.value) and str(missing) in str(err.value)
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in str(err.value)


def test_timm_downloads_only_with_allow_download(caches, monkeypatch):
    local = caches.tmp / "fetched" / "model.safetensors"
    state = timm_weights(local)
    fetched = []

    def hf_hub_download(repo_id, filename, **kwargs):
        fetched.append((repo_id, filename))
        return str(local)

    monkeypatch.setattr(timm.models._hub, "hf_hub_download", hf_hub_download)
    with pytest.raises(NetworkError, match="allow_download"):
        build_backbone(f"timm:{TIMM}", 3)
    assert not fetched
    net = build_backbone(f"timm:{TIMM}", 3, allow_download=True)
    assert fetched == [(f"timm/{TIMM}", "model.safetensors")] and torch.equal(probe(net), state[PROBE])
    build_backbone("timm:resnet10t", 3, allow_download=True)  # no weights asked for: nothing fetched
    assert len(fetched) == 1


def test_torchvision_downloads_into_torch_home_only_with_allow_download(caches, monkeypatch):
    fetched = []

    def download_url_to_file(url, dst, hash_prefix=None, progress=True):
        fetched.append((url, dst, hash_prefix))
        tv_weights(Path(dst))

    monkeypatch.setattr(torch.hub, "download_url_to_file", download_url_to_file)
    with pytest.raises(NetworkError, match="teacher.net.allow_download"):
        build_teacher("torchvision:resnet18", 3, 4, pretrained="cache")
    assert not fetched
    net = build_backbone("torchvision:resnet18", 3, pretrained="cache", allow_download=True)
    assert fetched == [("https://download.pytorch.org/models/resnet18-f37072fd.pth",
                        str(caches.checkpoints / TV_FILE), "f37072fd")]
    assert torch.equal(probe(net), torch.full_like(probe(net), 0.321))
    build_backbone("torchvision:resnet18", 3, pretrained="cache", allow_download=True)  # now cached
    assert len(fetched) == 1


def test_pretrained_true_asks_for_a_path_cache_or_allow_download():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["student.pretrained=true"])
    assert "student.pretrained" in str(err.value) and "'cache'" in str(err.value)
    assert "allow_download" in str(err.value)


def test_paths_expand_home_and_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("MYW", str(tmp_path / "weights"))
    cfg = load_config(None, ["student.pretrained=~/w.pth", "teacher.net.pretrained=$MYW/t.pth"])
    assert cfg.student.pretrained == str(tmp_path / "w.pth")
    assert cfg.teacher.net.pretrained == str(tmp_path / "weights" / "t.pth")
    assert load_config(None, ["student.pretrained=cache"]).student.pretrained == "cache"
    monkeypatch.delenv("MYW")
    with pytest.raises(ConfigError, match=r"'student.pretrained'.*MYW.*not set"):
        load_config(None, ["student.pretrained=${MYW}/w.pth"])
