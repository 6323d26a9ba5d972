"""Test helpers that change a run's data the way a user would: a copy of the session smoke run's data, and a split
converted again at the same path."""
import shutil
from pathlib import Path

import h5py

from crossmodal.data.h5format import read_info
from crossmodal.data.h5writer import write_paired


def copy_smoke_data(smoke_run, dest: Path) -> list[str]:
    """A copy of the session smoke run's data in `dest` (so it can be changed), and the overrides that use it with
    the session's cached teacher."""
    overrides = dict(o.split("=", 1) for o in smoke_run[2])
    shutil.copytree(overrides["data.synthetic.out"], dest)
    return [f"data.synthetic.out={dest}", f"teacher.cache_dir={overrides['teacher.cache_dir']}"]


def rewrite_reversed(path: Path) -> None:
    """The split rewritten at the same path with its frames in reverse order (same size, count and attributes: a
    conversion run again with another frame order)."""
    info = read_info(path)
    with h5py.File(path, "r") as f:
        arrays = {m: f[m][()][::-1].copy() for m in info.modalities}
    write_paired(path, arrays, class_names=info.class_names or None, source=info.attrs["source"], overwrite=True,
                 attrs={k: v for k, v in info.attrs.items() if k != "source"}, modality_attrs=info.modality_attrs)
