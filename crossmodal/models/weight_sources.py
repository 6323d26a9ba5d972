"""Pretrained weights the user already has on disk: a path, or the file in the standard caches.

The caches are the Hugging Face hub cache and TORCH_HOME, searched without network. Nothing is downloaded unless the
config sets allow_download.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from crossmodal.errors import NetworkError

CACHE = "cache"  # pretrained: cache -> the published weights, from the standard caches
DOWNLOAD = "download"  # resolve_pretrained's answer when the family's library is to fetch the weights itself
RESNETS = ("resnet18", "resnet34", "resnet50")  # built-in ARCHS with torchvision's layout (and files)
HF_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm loads from a hub repo, in its order
SAFE_TWINS = {"pytorch_model.bin": "model.safetensors", "open_clip_pytorch_model.bin": "open_clip_model.safetensors"}


@dataclass(frozen=True)
class Published:
    """Where a network's published weights live: a Hugging Face repo (its candidate files) and/or a URL."""

    hf_repo: str = ""
    hf_revision: str | None = None
    hf_files: tuple[str, ...] = ()
    url: str = ""

    @property
    def url_file(self) -> str:
        """The file name torch.hub gives the URL's download in TORCH_HOME/hub/checkpoints."""
        return os.path.basename(urlparse(self.url).path) if self.url else ""


def hf_hub_cache() -> Path:
    """The Hugging Face hub cache folder, from HF_HUB_CACHE / HF_HOME as they are now (as huggingface_hub does)."""
    env = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if env:
        return Path(env).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def torch_checkpoints() -> Path:
    """TORCH_HOME/hub/checkpoints: where torchvision (and timm's URL downloads) keep weight files."""
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def _timm_published(name: str) -> Published | None:
    """timm's pretrained_cfg for `name` (its tag, or the default one): hub repo and URL."""
    import timm

    try:
        cfg = timm.models.get_pretrained_cfg(name)  # a bare name gets its default tag's weights
    except Exception:  # noqa: BLE001 - an unknown tag: no published weights
        return None
    if cfg is None or not (cfg.hf_hub_id or cfg.url):
        return None
    repo, _, revision = (cfg.hf_hub_id or "").partition("@")
    return Published(repo, revision or None, _hf_files(cfg.hf_hub_filename) if repo else (), cfg.url or "")


def _hf_files(filename: str | None) -> tuple[str, ...]:
    """The files timm tries in a hub repo for `filename`: its safetensors twin first (timm's rule)."""
    if not filename:
        return HF_FILES
    safe = SAFE_TWINS.get(filename) or (filename[:-4] + ".safetensors" if filename.endswith(".bin") else "")
    return (safe, filename) if safe else (filename,)


def _timm_tags(name: str) -> str:
    """The published tags of `name`'s architecture, for messages."""
    import timm

    arch = name.split(".")[0]
    tags = timm.list_pretrained(f"{arch}.*")
    return f" (published: {', '.join('timm:' + t for t in tags[:8])})" if tags else f" (timm:{arch} has none)"


def _torchvision_published(name: str) -> Published | None:
    """torchvision's DEFAULT weights of `name`: their URL."""
    import torchvision

    try:
        return Published(url=torchvision.models.get_model_weights(name).DEFAULT.url)
    except (ValueError, AttributeError, KeyError):
        return None


def published(family: str, name: str) -> Published | None:
    """Where the published weights of `family`:`name` are, or None when it has none.

    None for your own code, a narrow built-in, or an architecture without trained weights.
    """
    if family == "timm":
        return _timm_published(name)
    if family == "torchvision" or (family == "builtin" and name in RESNETS):
        return _torchvision_published(name)
    return None


def _in_hf_cache(src: Published) -> Path | None:
    """The first of the repo's candidate files in the hub cache (huggingface_hub's offline lookup)."""
    from huggingface_hub import try_to_load_from_cache

    for file in src.hf_files:
        found = try_to_load_from_cache(src.hf_repo, file, cache_dir=str(hf_hub_cache()), revision=src.hf_revision)
        if isinstance(found, str) and Path(found).is_file():  # not None nor "known not to exist"
            return Path(found)
    return None


def find_cached(family: str, name: str) -> Path | None:
    """The published weights of `family`:`name` if a cache already holds them, without network.

    The Hugging Face hub cache for timm is searched first, then TORCH_HOME/hub/checkpoints for torchvision, built-in
    resnets and timm's URL weights.
    """
    src = published(family, name)
    return None if src is None else _in_caches(src)


def _in_caches(src: Published) -> Path | None:
    """find_cached for weights already looked up."""
    found = _in_hf_cache(src) if src.hf_repo else None
    if found is None and src.url_file and (torch_checkpoints() / src.url_file).is_file():
        found = torch_checkpoints() / src.url_file
    return found


def _label(family: str, name: str) -> str:
    """The network as a config names it (built-ins bare)."""
    return name if family == "builtin" else f"{family}:{name}"


def _looked_in(src: Published) -> str:
    """The cache files find_cached looks for, for messages."""
    folder = hf_hub_cache() / f"models--{src.hf_repo.replace('/', '--')}" / "snapshots" / "*"
    places = [f"{folder}/{' or '.join(src.hf_files)}"] if src.hf_repo else []
    return " and ".join(places + ([str(torch_checkpoints() / src.url_file)] if src.url else []))


def where_to_get(family: str, name: str) -> str:
    """Which file to download from where, and where to put it so `pretrained: cache` finds it (for messages)."""
    src = published(family, name)
    if src is None:
        return ("Save a state dict of this network with torch.save(model.state_dict(), path) and name that path "
                "in the config")
    places = []
    if src.hf_repo:
        folder = (hf_hub_cache() / f"models--{src.hf_repo.replace('/', '--')}" / "snapshots"
                  / (src.hf_revision or "main"))
        places.append(f"{src.hf_files[0]} from https://huggingface.co/{src.hf_repo} into {folder}/")
    if src.url:
        places.append(f"{src.url} into {torch_checkpoints()}/")
    owner = f"torchvision:{name}" if family == "builtin" else _label(family, name)  # built-ins: torchvision's files
    return (f"On a machine with internet access, download the weights of {owner}: " + ", or ".join(places)
            + " (or anywhere, and name its path in the config)")


def resolve_pretrained(family: str, name: str, pretrained: str, allow_download: bool, key: str) -> str:
    """The weights to load for network config `key`.

    That is '' for random initialisation, a local file, or DOWNLOAD when allowed and not on disk. A timm name with a
    tag, such as timm:resnet18.a1_in1k, and no pretrained means its cached weights.
    """
    tagged = family == "timm" and "." in name and not pretrained
    if pretrained and pretrained != CACHE:
        if not Path(pretrained).is_file():
            raise NetworkError(f"config key '{key}.pretrained': weights file not found: {pretrained}. "
                               f"{where_to_get(family, name)}")
        return pretrained
    if not pretrained and not tagged:
        return ""
    if family == "python" or (family == "builtin" and name not in RESNETS):
        raise NetworkError(f"config key '{key}.pretrained' is cache, but {_label(family, name)} has no published "
                           f"weights to find in a cache; name a weights file there instead")
    src = published(family, name)
    found = None if src is None else _in_caches(src)
    if found is not None:
        return str(found)
    if allow_download and src is not None:
        return DOWNLOAD
    what = (f"'{key}.arch': timm:{name} names pretrained weights (tag '{name.split('.', 1)[1]}'), which"
            if tagged else f"'{key}.pretrained' is cache, but the weights of {_label(family, name)}")
    if src is None:
        raise NetworkError(f"config key {what} are not published; name a weights file in {key}.pretrained"
                           + (_timm_tags(name) if family == "timm" else ""))
    bare = f", or name the bare architecture timm:{name.split('.')[0]} for random weights" if tagged else ""
    raise NetworkError(f"config key {what} are not in the caches (looked for {_looked_in(src)}),"
                       f" and nothing is downloaded unless {key}.allow_download is true. "
                       f"{where_to_get(family, name)}{bare}")


def fetch(family: str, name: str, key: str) -> str:
    """Download the published weights of a torchvision-layout network; returns the file.

    They go into TORCH_HOME/hub/checkpoints, hash checked, as torchvision does. Only with allow_download.
    """
    import torch

    src = published(family, name)
    if src is None or not src.url:
        raise NetworkError(f"config key '{key}.allow_download': {_label(family, name)} has no published weights "
                           f"to fetch")
    dst = torch_checkpoints() / src.url_file
    dst.parent.mkdir(parents=True, exist_ok=True)
    match = torch.hub.HASH_REGEX.search(src.url_file)
    torch.hub.download_url_to_file(src.url, str(dst), match.group(1) if match else None, progress=True)
    return str(dst)


def local_weights(family: str, name: str, pretrained: str, allow_download: bool, key: str) -> str:
    """resolve_pretrained for families that read the file themselves: torchvision, built-in.

    A download, when allowed, lands in the cache and its path is returned.
    """
    source = resolve_pretrained(family, name, pretrained, allow_download, key)
    return fetch(family, name, key) if source == DOWNLOAD else source
