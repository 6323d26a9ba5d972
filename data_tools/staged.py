"""The output skeleton every converter writes through: staged files, the frame loop, per-row datasets, commit.

A converter names its output files once (StagedOutput). Each is written under a hidden staging name beside it
(data_tools.common.staging_path): the paired modalities frame by frame through crossmodal.data.h5writer's
PairedWriter, then the per-row datasets that are not modalities (frame names, timestamps, poses) together with the
channel statistics of data_tools.frame_checks. When the block ends without an error, every staged file is renamed
onto its output in the order given (data_tools.common.commit); on any error or Ctrl-C the staged files are removed
and nothing is left beside the outputs.

    with StagedOutput(out, overwrite=overwrite) as staged:
        staged.write(frames, n, specs, class_names=None, source=command, attrs=attrs, desc="tum")
        staged.add_rows(rows)  # e.g. {"frame_name": (names, "rgb timestamp of each row")}
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from crossmodal.data.h5writer import PairedWriter, write_paired
from crossmodal.diskspace import writing_h5
from data_tools.common import commit, progress, staging_path
from data_tools.frame_checks import ModalityWatch, finish_all

# A per-row dataset: its array and its attributes (a plain string is the attribute 'description').
RowDataset = tuple[np.ndarray, "str | Mapping[str, Any]"]


class StagedOutput:
    """Output files written under hidden staging names, renamed into place together when all went well."""

    def __init__(self, outputs: Path | Sequence[Path], *, overwrite: bool) -> None:
        self.outputs = [Path(outputs)] if isinstance(outputs, (str, Path)) else [Path(p) for p in outputs]
        self.overwrite = overwrite
        self._staged = {out: staging_path(out) for out in self.outputs}
        self._scratch: list[Path] = []

    def __enter__(self) -> StagedOutput:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                for out in self.outputs:
                    commit(self._staged[out], out, self.overwrite)
        finally:
            for path in [*self._staged.values(), *self._scratch]:
                path.unlink(missing_ok=True)

    def path(self, out: Path | None = None) -> Path:
        """The staging name of `out` (default: the first output)."""
        return self._staged[self.outputs[0] if out is None else Path(out)]

    def scratch(self, out: Path | None = None) -> Path:
        """One more fresh hidden name beside `out` for an intermediate file; it is removed on exit."""
        path = staging_path(self.outputs[0] if out is None else Path(out))
        self._scratch.append(path)
        return path

    def writer(self, num_samples: int, specs: Mapping[str, tuple[tuple[int, ...], Any]], *,
               class_names: Sequence[str] | None, source: str, attrs: Mapping[str, Any] | None = None,
               modality_attrs: Mapping[str, Mapping[str, Any]] | None = None, out: Path | None = None
               ) -> PairedWriter:
        """A PairedWriter on the staging name of `out`; the converter writes its rows and closes it."""
        return PairedWriter(self.path(out), num_samples, specs, class_names=class_names, source=source, attrs=attrs,
                            modality_attrs=modality_attrs, overwrite=True)

    def write(self, frames: Iterable[Mapping[str, np.ndarray]], num_samples: int,
              specs: Mapping[str, tuple[tuple[int, ...], Any]], *, class_names: Sequence[str] | None, source: str,
              attrs: Mapping[str, Any] | None = None, modality_attrs: Mapping[str, Mapping[str, Any]] | None = None,
              desc: str | None = None, watches: Sequence[ModalityWatch] = (), out: Path | None = None) -> None:
        """Write the frames in row order into the staged file of `out`.

        A progress bar named `desc` is shown unless it is None. Each watch sees its modality of every frame
        before the frame is written."""
        with self.writer(num_samples, specs, class_names=class_names, source=source, attrs=attrs,
                         modality_attrs=modality_attrs, out=out) as writer:
            rows = enumerate(frames)
            for row, frame in (progress(rows, num_samples, desc) if desc is not None else rows):
                for w in watches:
                    w.add(row, frame[w.name])
                writer.write(row, frame)

    def write_arrays(self, data: Mapping[str, np.ndarray], *, class_names: Sequence[str] | None, source: str,
                     attrs: Mapping[str, Any] | None = None,
                     modality_attrs: Mapping[str, Mapping[str, Any]] | None = None, out: Path | None = None) -> None:
        """Write whole in-memory arrays, one per modality, into the staged file of `out` (write_paired)."""
        write_paired(self.path(out), data, class_names=class_names, source=source, attrs=attrs,
                     modality_attrs=modality_attrs, overwrite=True)

    def add_rows(self, rows: Mapping[str, RowDataset], *, watches: Sequence[ModalityWatch] = (),
                 names: Sequence[str] | None = None, out: Path | None = None) -> list[str]:
        """Add per-row datasets to the finished staged file of `out`, then store the watches' statistics.

        The datasets are created in the given order, each followed by its attributes. The watches are finished
        over the row names `names` (data_tools.frame_checks.finish_all); the lines to print are returned."""
        with writing_h5(self.path(out), "r+") as f:
            for key, (arr, attrs) in rows.items():
                ds = f.create_dataset(key, data=arr)
                for name, value in ({"description": attrs} if isinstance(attrs, str) else attrs).items():
                    ds.attrs[name] = value
            return finish_all(watches, list(names) if names is not None else [], f) if watches else []
