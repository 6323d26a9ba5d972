"""Command line: python -m data_tools.synthetic (and crossmodal-synthetic) writes the five split files."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from crossmodal.diskspace import check_conversion_space
from data_tools.common import check_outputs, int_at_least, parse_size, tool_main, tool_parser
from data_tools.staged import StagedOutput
from data_tools.synthetic.generate import SPLITS, generate_split, worker_pool
from data_tools.synthetic.raycast import intrinsics
from data_tools.synthetic.scene import class_table

PROG = "python -m data_tools.synthetic"


def _size(text: str) -> tuple[int, int]:
    """HEIGHTxWIDTH with both sides >= 16 (the rooms need some pixels)."""
    return parse_size(text, minimum=16, example="120x160")


_positive = int_at_least(1)


def _parser() -> argparse.ArgumentParser:
    """The command line (every option with an example)."""
    p = tool_parser(
        PROG, "Render procedural indoor RGB-D rooms with NYU-40 labels into five paired HDF5 files "
              "(unlabeled.h5: rgb+depth pairs; teacher.h5, train.h5, val.h5, test.h5: rgb, depth, label; "
              "every split from its own random stream, so no frame is in two).",
        "example: python -m data_tools.synthetic --out data/synthetic --num 2000 --size 120x160 --seed 0 "
        "--workers 2", wrap=False)
    p.add_argument("--out", required=True, help="output folder (created), e.g. data/synthetic")
    p.add_argument("--num", type=_positive, default=2000, help="unlabeled paired frames (default 2000), e.g. 2000")
    p.add_argument("--size", type=_size, default=(120, 160), help="HEIGHTxWIDTH (default 120x160), e.g. 96x128")
    p.add_argument("--seed", type=int_at_least(0), default=0,
                   help="random seed (default 0); same seed = identical files")
    p.add_argument("--num-teacher", type=_positive, default=2400,
                   help="labeled frames for the RGB teacher (default 2400)")
    p.add_argument("--num-train", type=_positive, default=150, help="small labeled fine-tuning split (default 150)")
    p.add_argument("--num-test", type=_positive, default=300, help="labeled test frames (default 300)")
    p.add_argument("--num-val", type=_positive, default=150,
                   help="labeled validation frames, where every choice of a study is made (default 150)")
    p.add_argument("--rare-objects", action="store_true",
                   help="add six rare object classes (desk, refrigerator, television, toilet, lamp, bathtub), each "
                        "in a few percent of rooms: a long tail that a small labeled split barely covers")
    p.add_argument("--workers", type=_positive, default=2,
                   help="processes (default 2; 1 = inline); the output does not depend on it")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    return p


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    """Generate the five synthetic split files; bad input raises (tool_main reports it in one line, exit 2)."""
    out = Path(args.out)
    height, width = args.size
    paths = {split: out / f"{split}.h5" for split in SPLITS}
    check_outputs(paths.values(), args.overwrite)  # none exists unless --overwrite; the folder is writable
    counts = {"unlabeled": args.num, "teacher": args.num_teacher, "train": args.num_train, "test": args.num_test,
              "val": args.num_val}
    # room for all five files before any frame is rendered: rgb (3 bytes), depth (4) and label (1) per pixel
    check_conversion_space(out, sum(counts.values()), height * width * 8, "output folder")
    fx, fy, cx, cy = intrinsics(height, width)
    class_names, nyu40_ids = class_table(args.rare_objects)
    tag = " rare_objects" if args.rare_objects else ""
    pool = worker_pool(args.workers) if args.workers > 1 else None
    try:
        for split, num in counts.items():
            data = generate_split(num, height, width, args.seed, SPLITS[split], args.workers, desc=split, pool=pool,
                                  rare_objects=args.rare_objects)
            if split == "unlabeled":
                data = {"rgb": data["rgb"], "depth": data["depth"]}
            with StagedOutput(paths[split], overwrite=args.overwrite) as staged:
                staged.write_arrays(data, class_names=class_names,
                                    source=f"data_tools.synthetic seed={args.seed} size={height}x{width} "
                                           f"split={split}{tag}",
                                    attrs={"intrinsics": np.array([fx, fy, cx, cy]),
                                           "nyu40_ids": np.array(nyu40_ids, np.int64), "seed": int(args.seed),
                                           "split": split, "rare_objects": int(args.rare_objects)})
            print(f"wrote {paths[split]} ({num} frames, {height}x{width})", file=sys.stderr)
    finally:
        if pool is not None:
            pool.terminate()
    return 0


main = tool_main(PROG, _parser, _run)  # main(argv=None) -> exit code; the console script

