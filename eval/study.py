"""python -m eval.study: one config over several seeds, each a full run_transfer.py run, then one comparison report.

Resumable at the seed level: a seed whose run folder already holds metrics.json made with the same resolved
config is not run again.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from crossmodal.config import ConfigError, load_config, to_dict
from eval.report import compare_runs

RUN_TRANSFER = Path(__file__).resolve().parent.parent / "run_transfer.py"


def _finished(run_dir: Path, expected: dict) -> bool:
    """True when run_dir holds a finished run of exactly this config (values taken from the data aside)."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return False
    saved = json.loads(path.read_text())["config"]
    ignore = {"num_classes"}

    def strip(tree: object) -> object:
        if isinstance(tree, dict):
            return {k: strip(v) for k, v in tree.items() if k not in ignore}
        return tree

    return strip(saved) == strip(expected)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run one experiment over several seeds and compare them (mean and "
                                "spread per method).",
                                epilog="example: python -m eval.study --config configs/smoke.yaml --seeds 0,1,2 "
                                       "--out runs/smoke-study")
    p.add_argument("--config", required=True, type=Path)
    p.add_argument("--seeds", required=True, type=lambda t: [int(v) for v in t.split(",")],
                   help="comma-separated seeds, e.g. 0,1,2")
    p.add_argument("--out", type=Path, help="comparison folder (default: <output_dir>/<name>-study)")
    p.add_argument("overrides", nargs="*", help="config overrides as key.sub=value, applied to every seed")
    args = p.parse_args(argv)
    runs = []
    try:
        for seed in args.seeds:
            overrides = [*args.overrides, f"seed={seed}"]
            base = load_config(args.config, overrides)
            overrides.append(f"name={base.name}-seed{seed}")
            cfg = load_config(args.config, overrides)
            run_dir = Path(cfg.output_dir) / cfg.name
            runs.append(run_dir)
            if _finished(run_dir, to_dict(cfg)):
                print(f"[study] seed {seed}: finished earlier, reusing {run_dir}", flush=True)
                continue
            print(f"[study] seed {seed}: running {run_dir}", flush=True)
            done = subprocess.run([sys.executable, str(RUN_TRANSFER), "--config", str(args.config), *overrides])
            if done.returncode != 0:
                print(f"error: the run for seed {seed} failed (exit {done.returncode}); see {run_dir / 'log.txt'}",
                      file=sys.stderr)
                return done.returncode
        out = args.out or Path(cfg.output_dir) / f"{base.name}-study"
        compare_runs(runs, out)
    except (ConfigError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"[study] wrote {out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
