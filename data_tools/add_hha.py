"""Add an `hha` modality to a paired file, computed from its depth by crossmodal.data.hha.

The new dataset is uint8 (N,H,W,3). It needs the file's root `intrinsics` attribute, [fx, fy, cx, cy] at the stored
resolution. A copy plus the new dataset is written to a hidden staging file next to the output and renamed into
place only when complete, so the input is never left half-modified. Afterwards a config can use `data.target: hha`,
`data.target_encoding: hha`.

    python -m data_tools.add_hha data/nyu/test.h5 --in-place
    python -m data_tools.add_hha data/nyu/test.h5 --out data/nyu_hha/test.h5 --raw-depth raw_depth
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import h5py
import numpy as np

from crossmodal.data.h5format import MODALITY_NAME, RESERVED_MODALITIES, FormatError, PairedInfo, read_info
from crossmodal.data.hha import depth_to_hha
from crossmodal.diskspace import check_free_space, writing_h5
from data_tools.common import tool_main, tool_parser
from data_tools.staged import StagedOutput

PROG = "python -m data_tools.add_hha"

HHA_ATTRS = {"units": "hha-uint8",
             "channels": "R = horizontal disparity 31000/z[cm], G = height above the lowest point [cm], "
                         "B = angle of the normal with gravity [deg] + 38; 0,0,0 = no depth"}


def _intrinsics(info_attrs: dict, path: Path) -> tuple[float, float, float, float]:
    """The root `intrinsics` attribute as four floats; FormatError naming the file when absent or malformed."""
    if "intrinsics" not in info_attrs:
        raise FormatError(f"{path}: no root attribute 'intrinsics' ([fx, fy, cx, cy] in pixels at the stored size); "
                          f"HHA needs the camera intrinsics (data_tools.pairs --intrinsics FX,FY,CX,CY sets it)")
    k = info_attrs["intrinsics"]
    try:
        values = tuple(float(v) for v in k)
    except (TypeError, ValueError):
        values = ()
    if len(values) != 4 or not all(np.isfinite(values)) or values[0] <= 0 or values[1] <= 0:
        raise FormatError(f"{path}: root attribute 'intrinsics' is {k!r}; expected [fx, fy, cx, cy] with fx, fy > 0")
    return values  # type: ignore[return-value]


def _check_request(info: PairedInfo, path: Path, out: Path, depth: str, raw_depth: str | None, name: str,
                   overwrite: bool) -> tuple[float, float, float, float]:
    """Refuse missing or non-metric depth, a bad or taken modality name and an existing output; the intrinsics."""
    for key, what in ((depth, "--depth"), (raw_depth, "--raw-depth")):
        if key is None:
            continue
        if key not in info.modalities:
            raise FormatError(f"{path}: no modality '{key}' ({what}); it has {', '.join(info.modalities)}")
        if len(info.shapes[key]) != 2 or info.dtypes[key] != np.float32:
            raise FormatError(f"{path}: '{key}' is {info.dtypes[key]} {info.shapes[key]}; "
                              f"expected float32 (H, W) metres")
    intrinsics = _intrinsics(info.attrs, path)
    if not MODALITY_NAME.fullmatch(name) or name in (*RESERVED_MODALITIES, "label", depth):
        raise ValueError(f"--name {name!r}: expected a new modality name (a letter, then letters, digits or _)")
    if name in info.modalities and not overwrite:
        raise FileExistsError(f"{path}: already has a modality '{name}' (pass --overwrite to recompute it)")
    if out.resolve() != path.resolve() and out.exists() and not overwrite:
        raise FileExistsError(f"{out} already exists (pass --overwrite to replace it)")
    return intrinsics


def _write_hha(f: h5py.File, info: PairedInfo, depth: str, raw_depth: str | None, name: str,
               intrinsics: tuple[float, float, float, float], pixel_origin: float) -> None:
    """Compute the HHA dataset `name` frame by frame in the open copy and list it among the modalities."""
    h, w = info.shapes[depth]
    if name in f:
        del f[name]
    ds = f.create_dataset(name, shape=(info.num_samples, h, w, 3), dtype=np.uint8, chunks=(1, h, w, 3))
    for key, value in HHA_ATTRS.items():
        ds.attrs[key] = value
    ds.attrs["description"] = (f"crossmodal.data.hha.depth_to_hha of '{depth}'"
                               + (f" (normals from pixels with '{raw_depth}' > 0)" if raw_depth else "")
                               + f", intrinsics {list(intrinsics)}, pixel_origin {pixel_origin:g}")
    for i in range(info.num_samples):
        raw = f[raw_depth][i] if raw_depth else None
        ds[i] = depth_to_hha(f[depth][i], intrinsics, raw, pixel_origin=pixel_origin)
    mods = [m for m in info.modalities if m != name] + [name]
    f.attrs["modalities"] = np.array(mods, dtype=h5py.string_dtype("utf-8"))


def add_hha(path: Path, out: Path, *, depth: str = "depth", raw_depth: str | None = None, name: str = "hha",
            overwrite: bool = False, pixel_origin: float = 0.0) -> Path:
    """Copy `path` to `out` with an extra uint8 HHA dataset `name` computed from `depth`, renamed into place."""
    info = read_info(path)
    intrinsics = _check_request(info, path, out, depth, raw_depth, name, overwrite)
    h, w = info.shapes[depth]
    check_free_space(out, path.stat().st_size + info.num_samples * h * w * 3, "output file",
                     f"a copy of {path} plus {info.num_samples} uint8 HHA frames of {h}x{w}x3, uncompressed")
    out.parent.mkdir(parents=True, exist_ok=True)
    with StagedOutput(out, overwrite=True) as staged:  # the checks above refused what may not be replaced
        shutil.copyfile(path, staged.path())
        with writing_h5(staged.path(), "r+", shown=out) as f:  # a full disk: one line naming `out`, no HDF5 crash
            _write_hha(f, info, depth, raw_depth, name, intrinsics, pixel_origin)
        read_info(staged.path())
    return out


def _parser() -> argparse.ArgumentParser:
    """The command line (every option with an example)."""
    p = tool_parser(PROG, "Add an HHA encoding of a paired file's depth (Gupta et al., ECCV 2014; docs/hha.md).",
                    "example: python -m data_tools.add_hha data/nyu/test.h5 --in-place", wrap=False)
    p.add_argument("file", type=Path, help="paired HDF5 file with float32 depth and a root 'intrinsics' attribute")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="write a new file (the input is left unchanged)")
    where.add_argument("--in-place", action="store_true", help="replace the input file (atomically)")
    p.add_argument("--depth", default="depth", help="depth modality to encode (default depth)")
    p.add_argument("--raw-depth", help="fit normals only where this modality is > 0 (e.g. raw_depth; default: "
                                       "wherever --depth is > 0, which reproduces the MATLAB reference on NYU)")
    p.add_argument("--name", default="hha", help="name of the new modality (default hha)")
    p.add_argument("--pixel-origin", type=float, default=0.0, choices=(0.0, 1.0),
                   help="coordinate of the first pixel centre in the intrinsics: 0 (default, OpenCV) or 1 "
                        "(the MATLAB code's convention)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file or HHA dataset")
    return p


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    """Add HHA to a paired file; bad input raises (tool_main reports it in one line, exit 2)."""
    out = args.file if args.in_place else args.out
    add_hha(args.file, out, depth=args.depth, raw_depth=args.raw_depth, name=args.name, overwrite=args.overwrite,
            pixel_origin=args.pixel_origin)
    print(f"wrote {out} (+ '{args.name}' from '{args.depth}')", file=sys.stderr)
    return 0


main = tool_main(PROG, _parser, _run)  # main(argv=None) -> exit code; the console script


if __name__ == "__main__":
    sys.exit(main())
