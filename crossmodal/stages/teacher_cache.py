"""The frozen teacher computed once: its outputs on V fixed paired views of every unlabeled frame, on disk.

With teacher.cache_views V > 0 the transfer reads the teacher's tapped maps (only the stages the run's distillers
use) and its logits (only when a distiller reads them) from memory-mapped .npy files instead of running the
teacher on every batch, and the student trains on those same views. The files sit in teacher.cache_dir under a
folder keyed by the teacher's weights, the unlabeled data's content, the views and the input settings, so every
method, seed, trial and control of a run, and later runs, share them. They are built once under a lock, each
process writing its shard of the frames; each array is written under a temporary name and renamed when whole.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from crossmodal.atomic import write_text_atomic
from crossmodal.config import Config
from crossmodal.data.content import content_fingerprint
from crossmodal.data.dataset import PairedDataset
from crossmodal.data.files import DataFiles
from crossmodal.data.loaders import input_spec
from crossmodal.diskspace import check_free_space, nearest_existing, size_text
from crossmodal.distill import DISTILLERS, Distiller, config_key
from crossmodal.errors import UserError
from crossmodal.modalities import PairTransform, encoding_channels
from crossmodal.seeds import seed_for
from crossmodal.stages.context import RunContext
from crossmodal.stages.teacher import cache_lock

LOGITS = "logits"
_FINGERPRINTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def array_name(stage: int) -> str:
    """The name of stage `stage`'s array in a cache folder (the logits' is LOGITS)."""
    return f"stage{stage}"


@dataclass
class TeacherViews:
    """A cache folder's arrays, read-only: (V, N, C, h, w) per stored stage, and the logits if stored."""

    folder: Path
    views: int
    view_seed: int
    num_stages: int
    arrays: dict[str, np.ndarray]

    def outputs(self, index: torch.Tensor, view: torch.Tensor,
                device: torch.device) -> tuple[list[torch.Tensor | None], torch.Tensor | None]:
        """The teacher's maps (None for a stage not stored) and logits for the batch's frames and views."""
        i, v = index.cpu().numpy(), view.cpu().numpy()

        def read(name: str) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(self.arrays[name][v, i])).to(device, non_blocking=True)

        maps = [read(array_name(k)) if array_name(k) in self.arrays else None for k in range(self.num_stages)]
        return maps, read(LOGITS) if LOGITS in self.arrays else None


def teacher_fingerprint(teacher: nn.Module) -> str:
    """A hash of the teacher's weights and buffers and its module tree (input resizing included), memoised."""
    known = _FINGERPRINTS.get(teacher)
    if known is not None:
        return known
    h = hashlib.sha256()
    for name, module in teacher.named_modules():
        h.update(f"{name}:{type(module).__qualname__}:{getattr(module, 'size', '')};".encode())
    for name, tensor in teacher.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    _FINGERPRINTS[teacher] = h.hexdigest()[:16]
    return _FINGERPRINTS[teacher]


def views_key(ctx: RunContext, cfg: Config) -> str:
    """The cache folder's key: what the stored outputs depend on, for the context's teacher and `cfg`'s views."""
    d, t = cfg.data, cfg.teacher
    key = {"teacher": teacher_fingerprint(ctx.teacher), "data": content_fingerprint(ctx.data.unlabeled.path),
           "views": t.cache_views, "view_seed": seed_for(ctx.cfg.seed, "teacher_views"), "dtype": t.cache_dtype,
           "input": [d.source, d.source_encoding, list(d.source_mean), list(d.source_std)],
           "hflip": d.hflip, "scale_jitter": d.scale_jitter,
           "precision": ctx.accelerator.mixed_precision}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def needed_arrays(distillers: list[Distiller]) -> set[str]:
    """The names of the arrays the given distillers read: their teacher stages, and the logits if one reads them."""
    names = {array_name(k) for d in distillers for k in d.teacher_stages()}
    return names | ({LOGITS} if any(d.needs_teacher_logits for d in distillers) else set())


def run_distillers(ctx: RunContext, student_channels: list[int]) -> list[Distiller]:
    """One distiller of every method the context's teacher serves (the run's methods, or a control's), with the run's
    options. What they read is built into the cache at once, so a later method finds its stages there.
    """
    cfg = ctx.cfg
    methods = {m for m in (cfg.controls.random_teacher if ctx.control else cfg.methods) if m != "none"}
    return [DISTILLERS[m](student_channels, ctx.teacher.out_channels, ctx.data.unlabeled.num_samples,
                          getattr(cfg.transfer, config_key(m)), seed=cfg.seed) for m in sorted(methods)]


def teacher_views(ctx: RunContext, cfg: Config, distiller: Distiller) -> TeacherViews:
    """The cached teacher outputs `distiller` reads, built first if missing (with what the run's others read).

    `cfg` is the cell's config; the views are seeded by the run's seed, so every cell shares them.
    """
    folder = Path(cfg.teacher.cache_dir) / f"views-{views_key(ctx, cfg)}"
    own = needed_arrays([distiller])
    with cache_lock(ctx, folder):  # every process decides inside the lock, so they agree on building
        if not all((folder / f"{n}.npy").is_file() for n in own):
            names = own | needed_arrays(run_distillers(ctx, distiller.student_channels))
            build_views(ctx, cfg, folder, sorted(n for n in names if not (folder / f"{n}.npy").is_file()))
    arrays = {n: np.load(folder / f"{n}.npy", mmap_mode="r") for n in own}
    return TeacherViews(folder, cfg.teacher.cache_views, seed_for(ctx.cfg.seed, "teacher_views"),
                        len(ctx.teacher.out_channels), arrays)


def view_loader(ctx: RunContext, cfg: Config, rows: list[int]) -> DataLoader:
    """The source frames `rows` of the unlabeled pairs, in order, augmented as the views are (set_epoch(v))."""
    d, info = cfg.data, ctx.data.unlabeled
    transform = PairTransform({d.source: input_spec(cfg, "source")}, (info.height, info.width), train=True,
                              hflip=d.hflip, scale_jitter=d.scale_jitter,
                              seed=seed_for(ctx.cfg.seed, "teacher_views"))
    dataset = PairedDataset(info.path, [d.source], transform=transform)
    return DataLoader(dataset, batch_size=cfg.transfer.batch_size, sampler=rows, num_workers=d.num_workers)


def build_views(ctx: RunContext, cfg: Config, folder: Path, names: list[str]) -> None:
    """Compute and store the arrays `names` for every view and frame; each process computes a shard of the frames.

    The main process makes the temporary files, every process writes its rows, and the main process renames them.
    """
    accelerator, views = ctx.accelerator, cfg.teacher.cache_views
    n, rank, world = ctx.data.unlabeled.num_samples, accelerator.process_index, accelerator.num_processes
    rows = list(range(rank * n // world, (rank + 1) * n // world))
    loader = view_loader(ctx, cfg, rows)
    dtype = np.dtype(cfg.teacher.cache_dtype)
    sample = loader.dataset[0][cfg.data.source][None].to(accelerator.device)
    shapes = output_shapes(ctx.teacher, sample, names)
    temp = {name: folder / f".{name}.npy.tmp" for name in names}
    per_frame = frame_bytes(shapes, dtype)
    check_free_space(folder, per_frame * views * n, "teacher cache folder",
                     f"{views} views x {n} frames x {size_text(per_frame)}")
    try:
        if ctx.is_main:
            folder.mkdir(parents=True, exist_ok=True)
            for name in names:
                np.lib.format.open_memmap(temp[name], mode="w+", dtype=dtype, shape=(views, n, *shapes[name])).flush()
        accelerator.wait_for_everyone()
        ctx.log.info("teacher cache: computing %s for %d views x %d frames in %s", ", ".join(names), views, n, folder)
        write_shard(ctx, cfg, loader, {name: np.load(temp[name], mmap_mode="r+") for name in names}, folder)
        accelerator.wait_for_everyone()
        if ctx.is_main:
            for name in names:
                os.replace(temp[name], folder / f"{name}.npy")
            meta = folder / "meta.json"  # what the folder holds: the arrays of earlier builds and these
            stored = json.loads(meta.read_text())["arrays"] if meta.is_file() else {}
            write_text_atomic(meta, json.dumps(
                {"views": views, "frames": n, "dtype": dtype.name, "unlabeled": str(ctx.data.unlabeled.path),
                 "arrays": {**stored, **{name: [views, n, *shapes[name]] for name in names}}}, indent=1))
    finally:
        if ctx.is_main:
            for path in temp.values():
                path.unlink(missing_ok=True)
    accelerator.wait_for_everyone()


def write_shard(ctx: RunContext, cfg: Config, loader: DataLoader, arrays: dict[str, np.ndarray],
                folder: Path) -> None:
    """Run the teacher over this process's frames for every view and write its outputs into `arrays`."""
    accelerator, teacher, need_logits = ctx.accelerator, ctx.teacher, LOGITS in arrays
    for v in range(cfg.teacher.cache_views):
        loader.dataset.transform.set_epoch(v)
        for batch in loader:
            with torch.no_grad(), accelerator.autocast():
                maps, logits = teacher.features_and_logits(batch[cfg.data.source].to(accelerator.device), need_logits)
            outputs = named_outputs(maps, logits)
            for name, array in arrays.items():
                store(array, v, batch["index"].numpy(), outputs[name], name, folder)
    for array in arrays.values():
        array.flush()


def cache_plan(cfg: Config, data: DataFiles, teacher: nn.Module, distillers: list[Distiller]) -> list[str]:
    """Lines for --dry-run: the arrays teacher.cache_views stores for these distillers, their size, the disk's room."""
    info, views = data.unlabeled, cfg.teacher.cache_views
    channels = encoding_channels(cfg.data.source_encoding, info.shapes[cfg.data.source])
    device = next((p.device for p in teacher.parameters()), torch.device("cpu"))
    frame = torch.zeros(1, channels, info.height, info.width, device=device)
    shapes = output_shapes(teacher, frame, sorted(needed_arrays(distillers), key=_stages_first))
    dtype = np.dtype(cfg.teacher.cache_dtype)
    lines = []
    for name, shape in shapes.items():
        per = frame_bytes({name: shape}, dtype)
        lines.append(f"- `{name}.npy`: {views} views x {info.num_samples} frames x {'x'.join(map(str, shape))} "
                     f"{cfg.teacher.cache_dtype} = {size_text(per * views * info.num_samples)} "
                     f"({size_text(per)} per frame and view)")
    total = frame_bytes(shapes, dtype) * views * info.num_samples
    free = shutil.disk_usage(nearest_existing(cfg.teacher.cache_dir)).free
    lines.append(f"- in all {size_text(total)} in {cfg.teacher.cache_dir} ({size_text(free)} free on its disk), "
                 f"computed once (unless already there) and read by every transfer")
    return lines


def _stages_first(name: str) -> tuple[int, int]:
    """Sort key: the stages in order, the logits last."""
    return (1, 0) if name == LOGITS else (0, int(name.removeprefix("stage")))


def named_outputs(maps: list[torch.Tensor], logits: torch.Tensor | None) -> dict[str, torch.Tensor | None]:
    """The teacher's outputs under their array names."""
    return {array_name(k): m for k, m in enumerate(maps)} | {LOGITS: logits}


def output_shapes(teacher: nn.Module, frame: torch.Tensor, names: list[str]) -> dict[str, tuple[int, ...]]:
    """The per-frame shape of each array in `names`, from the teacher's outputs on one frame (1, C, H, W)."""
    with torch.no_grad():
        outputs = named_outputs(*teacher.features_and_logits(frame, LOGITS in names))
    return {name: tuple(outputs[name].shape[1:]) for name in names}


def frame_bytes(shapes: dict[str, tuple[int, ...]], dtype: np.dtype) -> int:
    """The bytes one frame and view of these arrays take."""
    return sum(int(np.prod(shape)) for shape in shapes.values()) * dtype.itemsize


def store(array: np.ndarray, view: int, rows: np.ndarray, values: torch.Tensor, name: str, folder: Path) -> None:
    """Write one batch of an output into the view's rows, refusing values the storage type cannot hold."""
    values = values.detach().float().cpu()
    largest = float(values.abs().amax()) if values.numel() else 0.0  # NaN or inf if any value is
    if not math.isfinite(largest):
        raise UserError(f"teacher cache {folder}: the teacher's {name} are not finite (NaN or inf) on frames "
                        f"{rows[:5].tolist()} of view {view}: the teacher is broken or its input is")
    if largest > float(np.finfo(array.dtype).max):
        raise UserError(f"teacher cache {folder}: the teacher's {name} do not fit in {array.dtype} (values up to "
                        f"{largest:.3g}); set teacher.cache_dtype: float32")
    array[view, rows] = values.numpy().astype(array.dtype)
