"""teacher.cache_views: the frozen teacher's outputs computed once on fixed views, and a transfer reading them.

The cached run must equal the live one where it should (one view, no augmentation), the student must see exactly
the view the teacher's stored outputs were computed on, and the cache must be keyed, shared and checked.
"""
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO
from crossmodal.config import load_config, resolve_config
from crossmodal.errors import ConfigError
from crossmodal.stages import teacher_cache
from crossmodal.stages.context import RunContext

SMOKE = REPO / "configs" / "smoke.yaml"
TINY = ["data.synthetic.num=32", "data.synthetic.num_teacher=16", "data.synthetic.num_train=8",
        "data.synthetic.num_test=8", "data.synthetic.num_val=8", "data.synthetic.size=32x48", "transfer.epochs=1",
        "transfer.batch_size=8", "transfer.warmup_steps=1", "student.bn_recalibrate=never"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    from crossmodal.data.files import ensure_synthetic

    out = tmp_path_factory.mktemp("teacher_cache") / "data"
    ensure_synthetic(load_config(SMOKE, [*TINY, f"data.synthetic.out={out}"]), True)
    return out


def _context(tiny_data: Path, tmp_path: Path, *overrides: str) -> tuple[RunContext, object]:
    """A run context on the tiny data with an untrained (frozen) teacher, and its config."""
    from accelerate import Accelerator

    from crossmodal.data.files import open_data
    from crossmodal.stages.teacher import teacher_network

    cfg = load_config(SMOKE, [*TINY, f"data.synthetic.out={tiny_data}", f"output_dir={tmp_path}",
                              f"teacher.cache_dir={tmp_path / 'cache'}", "methods=[none,crd_dense+kd]", *overrides])
    data = open_data(cfg)
    cfg = resolve_config(cfg, data)
    log = logging.getLogger("test-teacher-cache")
    ctx = RunContext(cfg, data, Accelerator(cpu=True), log, tmp_path / "run")
    return ctx.with_teacher(teacher_network(cfg, data)), cfg


def _transfer(ctx: RunContext, cfg, method: str, name: str) -> tuple[list, dict]:
    from crossmodal.stages.transfer import run_transfer

    ckpt = ctx.checkpoints(cfg, f"transfer-{name}")
    student, distiller, curve = run_transfer(ctx, cfg, method, ckpt)
    return [float(c) for c in np.ravel(curve)], {k: v.clone() for k, v in student.state_dict().items()}


def _fp16_teacher(teacher: torch.nn.Module) -> None:
    """Round the live teacher's outputs to float16 (what a float16 cache stores)."""
    run = teacher.features_and_logits

    def rounded(x, need_logits):
        maps, logits = run(x, need_logits)
        return [m.half().float() for m in maps], None if logits is None else logits.half().float()

    teacher.features_and_logits = rounded


@pytest.mark.parametrize("method", ["crd_dense+kd", "at"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_one_view_without_augmentation_equals_the_live_teacher(tiny_data, tmp_path, method, dtype):
    """float32: the live run to 1e-6; float16: the live run whose teacher outputs are rounded to float16."""
    plain = ["data.hflip=false", "data.scale_jitter=0", f"methods=[none,{method}]"]
    ctx, cfg = _context(tiny_data, tmp_path, *plain)
    if dtype == "float16":
        _fp16_teacher(ctx.teacher)
    live_curve, live_student = _transfer(ctx, cfg, method, "live")
    ctx, cfg = _context(tiny_data, tmp_path, *plain, "teacher.cache_views=1", f"teacher.cache_dtype={dtype}")
    cached_curve, cached_student = _transfer(ctx, cfg, method, "cached")
    assert len(cached_curve) == len(live_curve) > 0
    np.testing.assert_allclose(cached_curve, live_curve, rtol=1e-6, atol=1e-6)
    for key, value in live_student.items():
        if value.is_floating_point():
            torch.testing.assert_close(cached_student[key], value, rtol=1e-4, atol=1e-5)  # after Adam
    stored = sorted(p.name for p in next((tmp_path / "cache").glob("views-*")).iterdir())
    stages = {"crd_dense+kd": ["logits.npy", "stage2.npy"], "at": ["stage0.npy", "stage1.npy", "stage2.npy"]}[method]
    assert stored == sorted([*stages, "meta.json"])  # only what the run's distillers read


def test_float16_storage_rounds_the_maps_and_nothing_else(tiny_data, tmp_path):
    ctx, cfg = _context(tiny_data, tmp_path, "teacher.cache_views=2")
    views = teacher_cache.teacher_views(ctx, cfg, _distiller(ctx, cfg, "crd_dense+kd"))
    maps, logits = views.outputs(torch.tensor([3, 5]), torch.tensor([1, 0]), torch.device("cpu"))
    assert maps[-1].dtype == torch.float16 and logits.dtype == torch.float16 and maps[0] is None
    frames = _views_of(ctx, cfg, [3, 5], [1, 0])
    with torch.no_grad():
        live_maps, live_logits = ctx.teacher.features_and_logits(frames, True)
    torch.testing.assert_close(maps[-1].float(), live_maps[-1].half().float(), rtol=0, atol=1e-6)
    torch.testing.assert_close(logits.float(), live_logits.half().float(), rtol=0, atol=1e-6)


def _distiller(ctx: RunContext, cfg, method: str):
    from crossmodal.stages.transfer import build_distiller, build_student

    return build_distiller(cfg, method, getattr(cfg.transfer, method.replace("+", "_")), build_student(cfg, ctx.data),
                           ctx.teacher, ctx.data)


def _views_of(ctx: RunContext, cfg, rows: list[int], views: list[int]) -> torch.Tensor:
    """The teacher's input for frames `rows` in views `views`, made by the cache's own loader."""
    loader = teacher_cache.view_loader(ctx, cfg, rows)
    frames = []
    for row, view in zip(rows, views):
        loader.dataset.transform.set_epoch(view)
        frames.append(loader.dataset[row][cfg.data.source])
    return torch.stack(frames)


def test_the_student_sees_the_view_the_teacher_was_cached_on(tiny_data, tmp_path):
    """With augmentation on, every frame's student input is the target side of the same crop and flip."""
    from crossmodal.data.dataset import PairedDataset
    from crossmodal.data.loaders import input_spec, make_loader
    from crossmodal.modalities import PairTransform
    from crossmodal.seeds import seed_for

    ctx, cfg = _context(tiny_data, tmp_path, "teacher.cache_views=3", "data.scale_jitter=0.4")
    view_seed = seed_for(cfg.seed, "teacher_views")
    d, info = cfg.data, ctx.data.unlabeled
    loader = make_loader(info, {d.target: input_spec(cfg, "target")}, train=True, batch_size=4, num_workers=0,
                         seed=11, hflip=True, scale_jitter=0.4, views=(3, view_seed))
    both = PairTransform({d.source: input_spec(cfg, "source"), d.target: input_spec(cfg, "target")},
                         (info.height, info.width), train=True, hflip=True, scale_jitter=0.4, seed=view_seed)
    raw = loader.dataset
    stored = PairedDataset(info.path, [d.source, d.target])  # the frames as stored, before any transform
    seen_views = set()
    for epoch in (0, 1):
        raw.transform.set_epoch(epoch)
        for row in range(6):
            sample = raw[row]
            both.set_epoch(sample["view"])
            pair = both({**stored[row], "index": row})
            torch.testing.assert_close(sample[d.target], pair[d.target], rtol=0, atol=0)
            torch.testing.assert_close(_views_of(ctx, cfg, [row], [sample["view"]])[0], pair[d.source], rtol=0, atol=0)
            seen_views.add(sample["view"])
    assert seen_views == {0, 1, 2}  # every view is used, a different one across epochs


def test_the_cache_is_built_once_shared_and_keyed_by_the_teacher(tiny_data, tmp_path, monkeypatch):
    built = []
    real = teacher_cache.build_views
    monkeypatch.setattr(teacher_cache, "build_views", lambda ctx, cfg, folder, names: (built.append(list(names)),
                                                                                        real(ctx, cfg, folder, names)))
    ctx, cfg = _context(tiny_data, tmp_path, "teacher.cache_views=2", "methods=[none,kd,fitnet,crd_dense]",
                        "transfer.fitnet.layer=1")
    for method in ("crd_dense", "kd", "fitnet"):  # the first builds what all three read
        teacher_cache.teacher_views(ctx, cfg, _distiller(ctx, cfg, method))
    assert built == [["logits", "stage1", "stage2"]]  # fitnet's layer 1; crd_dense's deepest stage; kd's logits
    trial = teacher_cache.teacher_views(ctx, cfg, _distiller(ctx, cfg, "at"))  # a stage nobody listed: added
    assert built[1] == ["stage0"] and set(trial.arrays) == {"stage0", "stage1", "stage2"}
    meta = json.loads((trial.folder / "meta.json").read_text())
    assert sorted(meta["arrays"]) == ["logits", "stage0", "stage1", "stage2"]  # every build's arrays are listed
    other = ctx.with_teacher(_retrained(ctx.teacher))
    assert teacher_cache.views_key(other, cfg) != teacher_cache.views_key(ctx, cfg)
    cfg4 = load_config(SMOKE, [*TINY, f"data.synthetic.out={tiny_data}", "teacher.cache_views=4"])
    assert teacher_cache.views_key(ctx, resolve_config(cfg4, ctx.data)) != teacher_cache.views_key(ctx, cfg)
    assert not list((tmp_path / "cache").rglob("*.tmp"))


def _retrained(teacher: torch.nn.Module) -> torch.nn.Module:
    import copy

    other = copy.deepcopy(teacher)
    with torch.no_grad():
        next(other.parameters()).add_(0.01)
    return other


@pytest.mark.parametrize("override, match", [
    ("teacher.cache_views=-1", "teacher.cache_views"),
    ("teacher.cache_views=65", "teacher.cache_views"),
    ("teacher.cache_dtype=bfloat16", "teacher.cache_dtype"),
])
def test_bad_cache_settings_are_refused_when_the_config_is_loaded(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(SMOKE, [override])


def test_maps_too_large_for_float16_are_refused_naming_the_fix(tiny_data, tmp_path):
    ctx, cfg = _context(tiny_data, tmp_path, "teacher.cache_views=1", "methods=[none,crd_dense]")
    run = ctx.teacher.features_and_logits
    ctx.teacher.features_and_logits = lambda x, need: ([m * 1e6 for m in run(x, need)[0]], None)
    from crossmodal.errors import UserError

    with pytest.raises(UserError, match="do not fit in float16.*teacher.cache_dtype: float32"):
        teacher_cache.teacher_views(ctx, cfg, _distiller(ctx, cfg, "crd_dense"))
    assert not list((tmp_path / "cache").rglob("*.npy*"))  # nothing half-written is left


@pytest.mark.slow
def test_two_processes_build_their_shards_and_read_them(smoke_run, tmp_path):
    """`accelerate launch --num_processes 2` (gloo): each process computes its half of the frames into the shared
    arrays, and both transfer from them. Every frame and view holds what the teacher gives for it."""
    import subprocess
    import sys

    from accelerate import Accelerator

    from crossmodal.data.files import open_data
    from crossmodal.stages.teacher import freeze, load_teacher_checkpoint, with_input_size

    run_dir, _, overrides = smoke_run
    shared = [o for o in overrides if not o.startswith(("output_dir=", "teacher.cache_dir="))]
    cache = tmp_path / "cache"
    args = ["--config", "configs/smoke.yaml", *shared, f"output_dir={tmp_path}", f"teacher.cache_dir={cache}",
            f"teacher.checkpoint={run_dir / 'checkpoints' / 'teacher.pt'}", "methods=[none,crd_dense,kd]",
            "teacher.cache_views=2", "finetune.epochs=2", "probe.enabled=false"]
    cmd = [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "run_transfer.py", *args]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    cfg = resolve_config(load_config(SMOKE, [*shared, f"teacher.cache_dir={cache}", "teacher.cache_views=2",
                                             f"teacher.checkpoint={run_dir / 'checkpoints' / 'teacher.pt'}"]),
                         data := open_data(load_config(SMOKE, shared)))
    teacher = freeze(with_input_size(cfg, data, load_teacher_checkpoint(cfg, run_dir / "checkpoints" / "teacher.pt",
                                                                        data)))
    ctx = RunContext(cfg, data, Accelerator(cpu=True), logging.getLogger("test"), tmp_path).with_teacher(teacher)
    folder = cache / f"views-{teacher_cache.views_key(ctx, cfg)}"  # the key two processes made is this process's
    n = data.unlabeled.num_samples
    rows = list(range(n))
    for view in (0, 1):
        with torch.no_grad():
            maps, logits = teacher.features_and_logits(_views_of(ctx, cfg, rows, [view] * n), True)
        stored = np.load(folder / "stage2.npy", mmap_mode="r")[view]
        np.testing.assert_allclose(stored, maps[2].half().numpy(), rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(np.load(folder / "logits.npy", mmap_mode="r")[view], logits.half().numpy(),
                                   rtol=1e-3, atol=1e-3)


def test_the_dry_run_states_what_the_cache_will_hold(tiny_data, tmp_path):
    """--dry-run lists each array the run's distillers need with its size, and the build writes exactly those."""
    import re

    from crossmodal.stages.dry_run import dry_run
    from crossmodal.stages.transfer import build_student

    ctx, cfg = _context(tiny_data, tmp_path, "teacher.cache_views=2", "methods=[none,crd_dense,kd]")
    text = dry_run(cfg, ctx.data, ctx.teacher, build_student(cfg, ctx.data))
    planned = dict(re.findall(r"- `(\w+)\.npy`: 2 views x 32 frames x [\dx]+ float16 = [^(]+\((\d+\.\d) KiB per", text))
    assert set(planned) == {"stage2", "logits"}, text
    views = teacher_cache.teacher_views(ctx, cfg, _distiller(ctx, cfg, "kd"))
    for name in planned:
        array = np.load(views.folder / f"{name}.npy", mmap_mode="r")
        assert f"{array[0, 0].nbytes / 1024:.1f}" == planned[name]
