"""Frames and splits, and the worker pool that renders them in parallel.

A frame is one rendered room from its own random stream; a split stacks frames 0..num-1. The output does not
depend on the number of workers."""
from __future__ import annotations

import multiprocessing as mp
import sys
from typing import Any

import cv2
import numpy as np

from data_tools.synthetic.raycast import camera_rays, cast, intrinsics
from data_tools.synthetic.room import build_scene
from data_tools.synthetic.sensor import kinect_depth
from data_tools.synthetic.shading import shade

# Each split's frames come from their own random stream default_rng([seed, split id, frame]).
SPLITS: dict[str, int] = {"unlabeled": 0, "teacher": 1, "train": 2, "test": 3, "val": 4}


def generate_frame(rng: np.random.Generator, height: int, width: int,
                   rare_objects: bool = False) -> dict[str, np.ndarray]:
    """One random room rendered as {'rgb': uint8 HxWx3, 'depth': float32 HxW metres, 'label': uint8 HxW}."""
    scene = build_scene(rng, rare_objects)
    k = intrinsics(height, width)
    dirs = camera_rays(height, width) @ scene.cam_rot.T
    hits, glass = cast(scene, dirs, k)
    rgb = shade(scene, scene.cam_pos, dirs, hits, glass, rng)
    depth = kinect_depth(hits.z, hits.normal, dirs, k, rng, no_return=glass)
    classes = np.array([m.cls for m in scene.materials], np.uint8)
    return {"rgb": rgb, "depth": depth, "label": classes[hits.mat]}


def _frame_task(args: tuple[int, int, int, int, int, bool]) -> dict[str, np.ndarray]:
    height, width, seed, split_id, k, rare_objects = args
    return generate_frame(np.random.default_rng([seed, split_id, k]), height, width, rare_objects)


def _init_worker() -> None:
    cv2.setNumThreads(1)


def worker_pool(workers: int) -> Any:
    """A process pool for rendering.

    Spawned, not forked: a fork of a process whose OpenCV or torch thread pools are running can deadlock in the
    child."""
    return mp.get_context("spawn").Pool(workers, initializer=_init_worker)


def generate_split(num: int, height: int, width: int, seed: int, split_id: int, workers: int,
                   *, desc: str | None = None, pool: Any = None, rare_objects: bool = False) -> dict[str, np.ndarray]:
    """Frames 0..num-1 of a split, stacked per modality.

    Frame k comes from default_rng([seed, split_id, k]). With rare_objects the rooms may hold the six rare object
    classes too. `pool`, from worker_pool, is reused when given; otherwise one is made for this call when
    workers > 1.
    """
    if num < 1 or height < 8 or width < 8 or workers < 1 or seed < 0 or split_id < 0:
        raise ValueError(f"generate_split: need num >= 1, height/width >= 8, workers >= 1, seed >= 0 and "
                         f"split_id >= 0; got num={num}, size={height}x{width}, workers={workers}, seed={seed}, "
                         f"split_id={split_id}")
    out = {"rgb": np.empty((num, height, width, 3), np.uint8), "depth": np.empty((num, height, width), np.float32),
           "label": np.empty((num, height, width), np.uint8)}
    tasks = [(height, width, seed, split_id, k, rare_objects) for k in range(num)]
    bar = None
    if desc is not None:
        from tqdm import tqdm
        bar = tqdm(total=num, desc=desc, unit="frame", file=sys.stderr)

    def store(k: int, frame: dict[str, np.ndarray]) -> None:
        for key, arr in frame.items():
            out[key][k] = arr
        if bar is not None:
            bar.update(1)

    try:
        if workers == 1 or num < 8:
            for k, task in enumerate(tasks):
                store(k, _frame_task(task))
        else:
            own = pool is None
            pool = worker_pool(workers) if own else pool
            try:
                chunk = max(1, min(16, num // (workers * 8)))
                for k, frame in enumerate(pool.imap(_frame_task, tasks, chunksize=chunk)):
                    store(k, frame)
            finally:
                if own:
                    pool.terminate()
    finally:
        if bar is not None:
            bar.close()
    return out
