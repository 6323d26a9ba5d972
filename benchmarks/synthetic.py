"""Speed of the embedded data generator: frames per second and the time for 2,000 frames at 120x160 (target < 60 s).

    python benchmarks/synthetic.py [--num 2000] [--size 120x160] [--workers 2] [--write docs/benchmarks.md]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout's packages, installed or not

from markdown_section import replace_section  # noqa: E402

from crossmodal.runtime import cpu_name  # noqa: E402
from data_tools.common import parse_size  # noqa: E402
from data_tools.synthetic import generate_split, worker_pool  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num", type=int, default=2000)
    p.add_argument("--size", type=parse_size, default=(120, 160))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--write", default="",
                   help="replace (or append) the '## Synthetic data generation' section of this markdown file")
    args = p.parse_args()
    h, w = args.size
    t0 = time.perf_counter()
    pool = worker_pool(args.workers) if args.workers > 1 else None
    try:
        generate_split(args.num, h, w, seed=0, split_id=0, workers=args.workers, pool=pool)
    finally:
        if pool is not None:
            pool.terminate()
    seconds = time.perf_counter() - t0
    text = (f"## Synthetic data generation\n\n`python benchmarks/synthetic.py`: {args.num} frames at {h}x{w} with "
            f"{args.workers} worker processes (pool start-up included, file writing not) on {cpu_name()} "
            f"({os.cpu_count()} logical CPUs): {seconds:.1f} s, {args.num / seconds:.1f} frames/s. Target: 2,000 "
            f"frames at 120x160 in under 60 s.\n")
    print(text)
    if args.write:
        replace_section(args.write, text, "## Synthetic data generation")


if __name__ == "__main__":
    main()
