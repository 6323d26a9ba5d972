"""The command-line frame crossmodal-export and crossmodal-predict share: the parser and the student options."""
from __future__ import annotations

import argparse


def command_parser(prog: str, description: str, epilog: str) -> argparse.ArgumentParser:
    """A parser that prints `description` and the examples in `epilog` as written."""
    return argparse.ArgumentParser(prog=prog, description=description, epilog=epilog,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def add_student_options(parser: argparse.ArgumentParser, *, required: bool, run: str, method: str, seed: str) -> None:
    """--run, --method and --seed: which fine-tuned student of which run; each with its help text."""
    parser.add_argument("--run", required=required, help=run)
    parser.add_argument("--method", required=required, help=method)
    parser.add_argument("--seed", type=int, default=None, help=seed)
