"""Run bookkeeping: the Accelerator and its trackers, the run folder, the log file, and what produced the numbers.

torch and Accelerate load inside the functions that use them, so `cpu_name` serves torch-free benchmarks and
`check_trackers` serves config checking.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from crossmodal.atomic import write_text_atomic
from crossmodal.config import Config, dump_yaml, to_dict
from crossmodal.diskspace import DiskFullError
from crossmodal.errors import ConfigError, check
from crossmodal.seeds import seed_for

if TYPE_CHECKING:
    from accelerate import Accelerator

TRACKERS = ("tensorboard", "wandb", "mlflow", "aim", "comet_ml")  # `trackers:`, each also the module it needs
_RUN_DIR: list[Path] = []  # the folder of the run started in this process (start_run): its log records a failure


def check_trackers(trackers: list[str]) -> None:
    """Check that each of `trackers` is an Accelerate tracker installed here; ConfigError naming `trackers` if not."""
    for tracker in trackers:
        check(tracker in TRACKERS, "trackers", f"a list of {', '.join(TRACKERS)}", trackers)
        if importlib.util.find_spec(tracker) is None:
            raise ConfigError(f"config key 'trackers' names '{tracker}', which is not installed here "
                              f"(pip install {tracker})")


def make_accelerator(cfg: Config) -> Accelerator:
    """One Accelerator for the whole run; mixed precision and process count come from `accelerate launch`."""
    import torch
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, set_seed

    # several processes launched on a machine without an accelerator: run them on the CPU with gloo
    cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    acc = Accelerator(cpu=cpu, gradient_accumulation_steps=cfg.transfer.grad_accum,
                      # split_batches: batch_size is the global batch, so 1 or N processes follow the same schedule
                      dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True,
                                                                data_seed=seed_for(cfg.seed, "global"),
                                                                split_batches=True),
                      log_with=cfg.trackers or None, project_dir=str(Path(cfg.output_dir) / cfg.name))
    # `accelerate launch` sets OMP_NUM_THREADS=1 unless told otherwise, which halves CPU speed on a 2-core machine
    local_processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    torch.set_num_threads(cfg.threads or max(1, (os.cpu_count() or 1) // local_processes))
    set_seed(seed_for(cfg.seed, "global"))
    return acc  # its trackers start in start_run, once the run folder is ready for them


def flatten(tree: dict, prefix: str = "") -> dict:
    """A nested config as {'transfer.crd.temperature': value, ...} (tracker hyper-parameters, comparing runs)."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def move_aside(run_dir: Path) -> Path:
    """Rename an earlier run's folder to <name>.prev-<YYYYmmdd-HHMMSS>, with -1, -2 ... if that exists.

    A new run then starts from an empty folder, and nothing of the old one (cells, checkpoints, evaluations) mixes in.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = run_dir.with_name(f"{run_dir.name}.prev-{stamp}")
    n = 0
    while target.exists():
        n += 1
        target = run_dir.with_name(f"{run_dir.name}.prev-{stamp}-{n}")
    run_dir.rename(target)
    return target


def check_join(join: Path | None, num_processes: int) -> None:
    """Refuse --join under a multi-process launch: the processes of one launch run each cell together."""
    if join is not None and num_processes > 1:
        raise ConfigError(f"--join {join}: a joined process runs cells alone; start it with `python "
                          f"run_transfer.py --join {join}` (or `accelerate launch --num_processes 1`), not "
                          f"with {num_processes} processes")


def start_run(cfg: Config, accelerator: Accelerator, resume: bool = False,
              log_file: str = "log.txt") -> tuple[Path, logging.Logger]:
    """Create runs/<name>/ and log to runs/<name>/`log_file` from the main process.

    A new run (not `resume`) starts from an empty folder: an earlier run's folder of the same name is moved aside
    whole to runs/<name>.prev-<time>/. A process joined to the run (--join) logs to a file of its own.
    """
    run_dir = Path(cfg.output_dir) / cfg.name
    log = logging.getLogger("crossmodal")
    log.setLevel(logging.INFO)
    log.handlers.clear()
    log.propagate = False
    if accelerator.is_main_process:
        moved = move_aside(run_dir) if not resume and run_dir.exists() else None
        run_dir.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(run_dir / log_file, mode="a" if resume else "w")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        log.info("command: %s%s", " ".join(sys.argv), " (resuming)" if resume else "")
        if moved is not None:
            log.info("the earlier run in %s was moved to %s", run_dir, moved)
            print(f"an earlier run in {run_dir} was moved to {moved}", flush=True)
        log.info("processes: %d, device: %s, mixed precision: %s", accelerator.num_processes,
                 accelerator.device, accelerator.mixed_precision)
    else:
        log.addHandler(logging.NullHandler())
    _RUN_DIR[:] = [run_dir]
    accelerator.wait_for_everyone()
    if cfg.trackers:
        flat = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in flatten(to_dict(cfg)).items()}
        accelerator.init_trackers("trackers", config=flat)
    return run_dir, log


def log_failure(err: BaseException) -> str:
    """Return the one line a run that stops on bad input prints, and log it.

    The line is `error: ...`, on a full disk with how to resume. It is also written to the run's log.txt once the
    run folder exists, so the log says why the run ended.
    """
    line = f"error: {err}"
    if not _RUN_DIR:  # stopped before the run folder was started: nothing to record it in
        return line
    if isinstance(err, DiskFullError):
        line += (f"; the checkpoints written so far are kept: once there is room, continue with "
                 f"`accelerate launch run_transfer.py --resume {_RUN_DIR[0]}`")
    log = logging.getLogger("crossmodal")
    quiet, logging.raiseExceptions = logging.raiseExceptions, False  # a log on a full disk: no second traceback
    try:
        log.error(line)
    finally:
        logging.raiseExceptions = quiet
    return line


def save_config(cfg: Config, run_dir: Path, accelerator: Accelerator) -> None:
    """The resolved config (defaults, file, overrides and values taken from the data) as runs/<name>/config.yaml."""
    if accelerator.is_main_process:
        write_text_atomic(run_dir / "config.yaml", dump_yaml(cfg))


def device_name(accelerator: Accelerator) -> str:
    """What produced the numbers: the GPU model, or the CPU model and thread count."""
    import torch

    dev = accelerator.device
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    return f"{dev.type} ({cpu_name()}, {torch.get_num_threads()} threads)"


def versions() -> dict[str, str]:
    """Return the versions of Python and the libraries that produced the numbers."""
    import accelerate
    import albumentations
    import cv2
    import h5py
    import numpy
    import torch
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": torchvision.__version__,
            "accelerate": accelerate.__version__, "numpy": numpy.__version__, "h5py": h5py.__version__,
            "opencv": cv2.__version__, "albumentations": albumentations.__version__}


def cpu_name() -> str:
    """The CPU model (from /proc/cpuinfo on Linux), for reports and benchmarks."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
