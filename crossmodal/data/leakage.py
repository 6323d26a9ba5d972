"""No leakage between the splits of a run, checked at start-up before any training.

The same file, or the same frame, in a split the models learn from or are chosen on and one they are measured on
is refused. The same frame means identical content in every modality both files hold, labels aside. The result
says which pairs were compared, so the report states what was checked instead of asserting it. h5py and numpy
only.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import h5py

from crossmodal.data.checks import describe_row
from crossmodal.data.content import FrameHashes, file_hashes
from crossmodal.data.h5format import PairedInfo
from crossmodal.errors import ConfigError

# The pairs of splits that must share no frame. Not checked: unlabeled with train or teacher (the labeled frames are
# often also unlabeled pairs) and teacher with train (data.teacher is often data.train itself). The teacher's split
# is checked against val and test: a teacher that learned on them inflates the teacher reference, and the students
# learn from it.
CHECKED_PAIRS = (("unlabeled", "val"), ("unlabeled", "test"), ("train", "val"), ("train", "test"), ("val", "test"),
                 ("teacher", "val"), ("teacher", "test"))
NOT_COMPARED = ("label",)  # the same frame labeled differently is still the same frame


@dataclass(frozen=True)
class PairCheck:
    """One checked pair and the modalities compared; () when the files share none besides labels."""

    first: str
    second: str
    modalities: tuple[str, ...]


@dataclass(frozen=True)
class LeakageCheck:
    """What the start-up check compared; every compared pair shares no frame (a shared one is refused)."""

    pairs: tuple[PairCheck, ...]

    def statement(self, split: str) -> str:
        """What was established about `split` against the other splits, in words for the report."""
        mine = [p for p in self.pairs if split in (p.first, p.second)]
        compared = [p.second if p.first == split else p.first for p in mine if p.modalities]
        blind = [p.second if p.first == split else p.first for p in mine if not p.modalities]
        mods = list(dict.fromkeys(m for p in mine for m in p.modalities))
        parts = []
        if compared:
            parts.append(f"no frame shared with {_words(compared)} (every frame's content compared: "
                         f"{', '.join(mods)}; frames holding one value throughout left out)")
        if blind:
            parts.append(f"not compared with {_words(blind)} (no modality in common besides labels)")
        return "; ".join(parts) or "not compared with another split"


def _words(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _same_file(a: str, pa: Path, b: str, pb: Path) -> None:
    """ConfigError when two splits name one file (the same resolved path, or the same inode)."""
    if pa.resolve() == pb.resolve() or os.path.samefile(pa, pb):
        both = str(pa) if str(pa) == str(pb) else f"{pa} and {pb}"
        raise ConfigError(f"data.{a} and data.{b} are the same file ({both}): every frame of one would be in the "
                          f"other; name a file of its own for each (the splits of a run must not share frames)")


def _rows(path: Path, rows: tuple[int, int], other: Path) -> tuple[str, str]:
    """How the two rows are named to the user ('sample i', with the frame name where the file records one)."""
    out = []
    for p, row in zip((path, other), rows):
        with h5py.File(p, "r") as f:
            out.append(describe_row(f, row))
    return out[0], out[1]


def _keys(hashes: FrameHashes, mods: tuple[str, ...]) -> list[bytes | None]:
    """Per row, the digests of `mods` as one key; None for frames of one value throughout.

    A frame holding one value throughout in all of `mods`, such as an all-zero or saturated frame, can occur in two
    recordings without being the same frame.
    """
    digests, constant = hashes.columns(mods)
    return [None if constant[r].all() else digests[r].tobytes() for r in range(len(digests))]


def _compare(a: str, ia: PairedInfo, ha: FrameHashes, b: str, ib: PairedInfo, hb: FrameHashes,
             mods: tuple[str, ...]) -> None:
    """ConfigError naming both splits, their files and the first shared frame, when the two share any."""
    seen: dict[bytes, int] = {}
    for row, key in enumerate(_keys(hb, mods)):
        if key is not None:
            seen.setdefault(key, row)
    shared = [(row, seen[key]) for row, key in enumerate(_keys(ha, mods)) if key is not None and key in seen]
    if not shared:
        return
    first, second = _rows(ia.path, shared[0], ib.path)
    raise ConfigError(f"data.{a} ({ia.path}) and data.{b} ({ib.path}) share {len(shared)} frame(s): {first} of "
                      f"data.{a} is {second} of data.{b} ({', '.join(mods)} identical); the splits of a run must not "
                      f"share frames: rebuild them from separate frames (frames holding one value throughout are "
                      f"not compared)")


def check_leakage(infos: Mapping[str, PairedInfo | None]) -> LeakageCheck:
    """Compare every pair of CHECKED_PAIRS that the run reads; ConfigError on the first leak.

    This runs before any training and reads only the stored per-frame digests. Files written without them get them
    computed once, and cached.
    """
    hashes: dict[str, FrameHashes] = {}

    def of(split: str) -> FrameHashes:
        if split not in hashes:
            hashes[split] = file_hashes(infos[split])
        return hashes[split]

    pairs = []
    for a, b in CHECKED_PAIRS:
        ia, ib = infos.get(a), infos.get(b)
        if ia is None or ib is None:
            continue
        _same_file(a, Path(ia.path), b, Path(ib.path))
        mods = tuple(m for m in ia.modalities if m in ib.modalities and m not in NOT_COMPARED)
        if mods:
            _compare(a, ia, of(a), b, ib, of(b), mods)
        pairs.append(PairCheck(a, b, mods))
    return LeakageCheck(tuple(pairs))
