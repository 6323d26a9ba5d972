"""Named seed streams: which seed every random draw of a run uses, in one table.

A stream's seed is the run's (or cell's) `seed` plus the stream's fixed offset, so each stage draws from its own
generator and changing one stage (say, the fine-tuning schedule) does not move another's draws. Streams that share
an offset seed different generators (weights vs data order), so they do not repeat each other's numbers. The
offsets are those the project has always used: runs made before this table keep their numbers.
"""
from __future__ import annotations

import numpy as np

STREAMS: dict[str, int] = {
    "global": 0,              # torch/numpy/random at start-up (accelerate.set_seed) and the seedable sampler
    "teacher": 0,             # the teacher's initial weights (trained or random control) and its data order
    "student_init": 0,        # the student backbone's initial weights: the same for every method of a seed
    "distiller_init": 1,      # the distiller's own modules (embeddings, critics, regressors)
    "distiller_sampling": 0,  # what a distiller draws while training (CRD negatives, dense locations)
    "transfer_data": 0,       # transfer data order and paired augmentation
    "finetune": 2,            # the segmentation head's initial weights and the fine-tuning data order
    "probe": 3,               # frozen-probe heads and their minibatch order (+ stage for per-stage probes)
    "bn_recalibrate": 0,      # batch order of BatchNorm recalibration after a stage
    "teacher_views": 5,       # the fixed paired views whose teacher outputs teacher.cache_views stores (run seed)
    "evaluation": 0,          # evaluation loaders (no shuffling or augmentation: the seed changes nothing)
    "deploy_calibration": 6,  # the frames an int8 export calibrates on (crossmodal-export; the student's seed)
}
LABEL_SUBSET_KEY = 7919  # with a cell's seed: the permutation behind downstream.label_counts' nested subsets


def seed_for(seed: int, stream: str, index: int = 0) -> int:
    """The seed of `stream` in a run (or cell) with seed `seed`; `index` numbers several draws of one stream."""
    try:
        return seed + STREAMS[stream] + index
    except KeyError:
        raise KeyError(f"unknown seed stream {stream!r}; the streams are {', '.join(STREAMS)}") from None


def label_subset_order(seed: int, num: int) -> np.ndarray:
    """The permutation of `num` training frames whose prefixes are the label-efficiency subsets of a run."""
    return np.random.default_rng(np.random.SeedSequence([seed, LABEL_SUBSET_KEY])).permutation(num)
