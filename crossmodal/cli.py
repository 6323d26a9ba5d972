"""The command line of run_transfer.py, and the config it runs.

Free of torch: a wrong config or a wrong --resume folder is refused in well under a second, before the heavy
imports of a run.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from crossmodal.atomic import write_text_atomic
from crossmodal.config import Config, ConfigError, load_config, teacher_head
from crossmodal.diskspace import check_output_dir

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"
# what a run folder records of its data: each split's file and content fingerprint (--resume compares them)
DATA_RECORD = "data_fingerprint.json"
# the run folder --reuse-cells named when the run started: --resume keeps taking over its cells
REUSE_RECORD = "reuse_cells.txt"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line of run_transfer.py."""
    p = argparse.ArgumentParser(
        description="Distil a frozen source-sensor teacher (RGB) into a target-sensor student (depth) with CRD, "
                    "then judge it on downstream segmentation. With no arguments it runs configs/default.yaml on "
                    "the embedded procedural RGB-D data.",
        epilog="example: accelerate launch run_transfer.py --config configs/smoke.yaml transfer.epochs=2 seed=1")
    p.add_argument("--config", default=None, help=f"YAML experiment file (default: {DEFAULT_CONFIG.name})")
    p.add_argument("--resume", type=Path, default=None, metavar="RUN_DIR",
                   help="continue the run in RUN_DIR (e.g. runs/default) from its last checkpoints, with the config "
                        "saved there; finished (method, seed) cells are reused")
    p.add_argument("--reuse-cells", type=Path, default=None, metavar="RUN_DIR",
                   help="a new run that reuses every finished (method, seed) cell of the earlier run in RUN_DIR whose "
                        "own settings are unchanged (e.g. after changing one method's options, only that method's "
                        "cells run again); the cells and their checkpoints are copied into the new run folder")
    p.add_argument("--join", type=Path, default=None, metavar="RUN_DIR",
                   help="help the run in progress in RUN_DIR from a second process on the same machine: run the "
                        "cells no other process has finished or is running, in that run folder with its saved "
                        "config (its `threads` too), and exit once none is left; the run itself writes the report")
    p.add_argument("--dry-run", action="store_true",
                   help="build the data checks, both networks and the distillers, print the networks' table (each "
                        "tapped module, its channels and stride, parameter counts), and exit 0 without training")
    p.add_argument("overrides", nargs="*", help="config overrides as key.sub=value, e.g. finetune.epochs=10")
    args = p.parse_args(argv)
    if args.join is not None:  # a joined process reads the run folder as a resumed run does
        if args.resume is not None or args.reuse_cells is not None or args.dry_run:
            p.error("--join takes a run folder alone: give no --resume, --reuse-cells or --dry-run with it")
        args.resume = args.join
    return args


def run_flag(args: argparse.Namespace) -> str:
    """'--join' or '--resume': the option that named the run folder being continued, for messages."""
    return "--join" if getattr(args, "join", None) is not None else "--resume"


def run_config(args: argparse.Namespace) -> Config:
    """The config of this invocation: a file plus overrides, or the saved config of the run being resumed."""
    if args.resume is None:
        return load_config(args.config or DEFAULT_CONFIG, args.overrides)
    where = f"{run_flag(args)} {args.resume}"
    if args.config or args.overrides:
        raise ConfigError(f"{run_flag(args)} continues a run with the config saved in it; drop --config and the "
                          f"overrides (or start a new run without {run_flag(args)})")
    saved = args.resume / "config.yaml"
    if not saved.is_file():
        raise ConfigError(f"{where}: no {saved} there; name a run folder written by run_transfer.py "
                          f"(e.g. runs/default)")
    cfg = load_config(saved)
    if (Path(cfg.output_dir) / cfg.name).resolve() != args.resume.resolve():
        raise ConfigError(f"{where}: its config.yaml writes to {Path(cfg.output_dir) / cfg.name}; "
                          f"run from the folder the run was started in")
    return cfg


def check_reuse(args: argparse.Namespace, cfg: Config) -> Path | None:
    """Return the run folder whose finished cells this run takes over, checked; None when there is none.

    That is the folder --reuse-cells names, or, with --resume, the one the run was started with (its
    reuse_cells.txt), so that a resumed run still takes over the cells that folder finishes meanwhile. It must be
    written by run_transfer.py (it has cells/) and not this run's own folder (a new run moves that aside).
    ConfigError otherwise, and for --reuse-cells given with --resume.
    """
    reuse = args.reuse_cells
    if args.resume is not None:
        if reuse is not None:
            raise ConfigError("--reuse-cells starts a new run from another run's cells; --resume already reuses the "
                              "finished cells of its own run, and of the folder it was started with: give one of "
                              "the two")
        return _recorded_reuse(args.resume, run_flag(args))
    if reuse is None:
        return None
    if not (reuse / "cells").is_dir():
        raise ConfigError(f"--reuse-cells {reuse}: no {reuse / 'cells'} folder there; name a run folder written by "
                          f"run_transfer.py (e.g. runs/study_synthetic)")
    if reuse.resolve() == (Path(cfg.output_dir) / cfg.name).resolve():
        raise ConfigError(f"--reuse-cells {reuse} is the folder this run writes (output_dir/name), which a new run "
                          f"moves aside first; give the new run another name (e.g. name={cfg.name}_2) or resume "
                          f"it with --resume")
    return reuse


def _recorded_reuse(run_dir: Path, flag: str) -> Path | None:
    """The --reuse-cells folder the run in `run_dir` was started with (its reuse_cells.txt), checked; else None."""
    record = run_dir / REUSE_RECORD
    if not record.is_file():
        return None
    reuse = Path(record.read_text(encoding="utf-8").strip())
    if not (reuse / "cells").is_dir():
        raise ConfigError(f"{flag} {run_dir}: the run was started with --reuse-cells {reuse} ({record}), and "
                          f"{reuse / 'cells'} is gone; put that run folder back, or delete {record} to resume "
                          f"without it (the cells not yet taken over from it then run here)")
    return reuse


def check_outputs(cfg: Config) -> None:
    """Check that the folders a run writes can be written, on a disk with room; UserError otherwise.

    These are the run folder, and the teacher cache when the teacher is trained. The check comes before any data
    or training.
    """
    check_output_dir(Path(cfg.output_dir) / cfg.name, "run folder (output_dir/name)")
    if teacher_head(cfg) == "train":
        check_output_dir(cfg.teacher.cache_dir, "teacher cache folder (teacher.cache_dir)")


def data_record(data: Any) -> dict[str, dict[str, str]]:
    """Return each split's file and content fingerprint of a run's data (crossmodal.data.files.DataFiles)."""
    return {split: {"path": str(getattr(data, split).path), "fingerprint": fp}
            for split, fp in sorted(data.fingerprints.items())}


def save_run_records(run_dir: Path, data: Any, reuse: Path | None, is_main: bool) -> None:
    """Write what --resume reads besides the config (main process).

    That is runs/<name>/data_fingerprint.json, to tell changed data, and reuse_cells.txt when the run takes over
    another run's cells (check_reuse).
    """
    if not is_main:
        return
    write_text_atomic(run_dir / DATA_RECORD, json.dumps(data_record(data), indent=1, sort_keys=True) + "\n")
    if reuse is not None:
        write_text_atomic(run_dir / REUSE_RECORD, f"{reuse}\n")


def check_resume_data(args: argparse.Namespace, data: Any) -> None:
    """Check, with --resume, that the run's data are the data it started on.

    Each split must have the same content fingerprint, wherever the files lie; otherwise a ConfigError names the
    changed file, before any work.
    """
    if args.resume is None:
        return
    where, record = f"{run_flag(args)} {args.resume}", args.resume / DATA_RECORD
    try:
        saved = json.loads(record.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where}: no {record} there: the run was started by an earlier version that "
                          f"did not record its data's content, so unchanged data cannot be told from changed data; "
                          f"start a new run instead (without --resume)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ConfigError(f"{where}: {record} cannot be read ({err}); start a new run "
                          f"instead") from None
    if not isinstance(saved, dict) or not all(isinstance(v, dict) for v in saved.values()):
        raise ConfigError(f"{where}: {record} is not a record of the run's data; start a new run "
                          f"instead")
    now = data_record(data)
    for split in sorted(set(saved) | set(now)):
        old, new = saved.get(split, {}), now.get(split, {})
        if old.get("fingerprint") != new.get("fingerprint"):
            raise ConfigError(f"{where}: data.{split} ({new.get('path') or old.get('path')}) is not the "
                              f"data the run started on (content fingerprint {new.get('fingerprint')} now, "
                              f"{old.get('fingerprint')} in {record}); resuming would mix results from both: start a "
                              f"new run instead (without --resume)")
