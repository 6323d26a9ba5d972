"""python -m eval.segmentation --run runs/X --data FILE: test the fine-tuned students of a finished run again.

The protocol itself (evaluate_model, load_finetuned) lives in the library, crossmodal.downstream.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from accelerate import Accelerator

from crossmodal.atomic import write_text_atomic
from crossmodal.config import load_config
from crossmodal.data.h5format import FormatError, read_info
from crossmodal.data.loaders import input_spec
from crossmodal.downstream import evaluate_model, load_finetuned
from crossmodal.errors import UserError
from crossmodal.modalities import check_encoding, encoding_channels


def main(argv: list[str] | None = None) -> int:
    """python -m eval.segmentation --run runs/X --data FILE: test a finished run's fine-tuned students on FILE."""
    p = argparse.ArgumentParser(description="Evaluate the fine-tuned students of a finished run on a labeled paired "
                                "file (docs/data_format.md): mIoU, pixel accuracy, mean accuracy, per-class IoU.",
                                epilog="example: python -m eval.segmentation --run runs/default --data "
                                       "data/synthetic/test.h5")
    p.add_argument("--run", required=True, type=Path, help="a run folder written by run_transfer.py")
    p.add_argument("--data", required=True, type=Path,
                   help="labeled paired HDF5 file holding the run's target modality")
    p.add_argument("--method", action="append", help="method(s) to evaluate (default: every fine-tuned checkpoint)")
    p.add_argument("--out", type=Path, help="JSON file for the metrics (default: <run>/eval_<data stem>.json)")
    args = p.parse_args(argv)
    try:
        if not (args.run / "config.yaml").is_file():
            what = ("does not exist" if not args.run.exists() else "is a file" if not args.run.is_dir()
                    else "has no config.yaml")
            raise UserError(f"--run {args.run} {what}: it is not a run folder; name a folder written by "
                            f"run_transfer.py (runs/<name>, with config.yaml and checkpoints/)")
        cfg = load_config(args.run / "config.yaml")
        test = read_info(args.data)
        for needed in (cfg.data.target, "label"):
            if needed not in test.modalities:
                raise FormatError(f"{args.data} lacks modality '{needed}' (it has {', '.join(test.modalities)})")
        spec = input_spec(cfg, "target")
        check_encoding(spec.encoding, cfg.data.target, test.shapes[cfg.data.target], str(args.data), spec.mean,
                       spec.std)
        ckpts = sorted((args.run / "checkpoints").glob("*_finetuned.pt"))
        if args.method:
            ckpts = [args.run / "checkpoints" / f"{m}_finetuned.pt" for m in args.method]
        missing = [str(c) for c in ckpts if not c.is_file()]
        if not ckpts or missing:
            raise FileNotFoundError(f"no fine-tuned checkpoint {', '.join(missing)} in {args.run / 'checkpoints'} "
                                    f"(run_transfer.py writes <method>_finetuned.pt there)")
        accelerator = Accelerator(cpu=not torch.cuda.is_available())
        channels = encoding_channels(spec.encoding, test.shapes[cfg.data.target])
        results = {}
        for ckpt in ckpts:
            model, names = load_finetuned(ckpt, cfg, channels)
            if tuple(names) != tuple(test.class_names):
                raise FormatError(f"{args.data} has classes {list(test.class_names)}, the run was trained on {names}")
            method = ckpt.name.removesuffix("_finetuned.pt")
            results[method], _, _ = evaluate_model(cfg, model.to(accelerator.device), test, names, cfg.data.target,
                                                   spec, accelerator, f"test[{method}]")
    except (UserError, FileNotFoundError, NotADirectoryError, PermissionError) as err:  # bad input, not bugs
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = args.out or args.run / f"eval_{args.data.stem}.json"
    write_text_atomic(out, json.dumps({"data": str(args.data), "run": str(args.run), "methods": results}, indent=2))
    for method, m in results.items():
        print(f"{method:>12}: mIoU {m['miou']:.4f}  pixel acc {m['pixel_acc']:.4f}  mean acc {m['mean_acc']:.4f}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
