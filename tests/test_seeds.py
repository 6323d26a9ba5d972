"""crossmodal/seeds.py is the one table of seed streams: its offsets are the ones runs have always used (so
earlier runs keep their numbers), an unknown stream is refused by name, the label-subset permutation is fixed, and
no library module adds its own offset to a seed."""
import re

import numpy as np
import pytest

from conftest import REPO
from crossmodal.seeds import STREAMS, label_subset_order, seed_for


def test_offsets_are_the_historical_ones():
    assert seed_for(5, "student_init") == seed_for(5, "teacher") == seed_for(5, "transfer_data") == 5
    assert seed_for(5, "distiller_init") == 6 and seed_for(5, "finetune") == 7 and seed_for(5, "probe") == 8
    assert seed_for(5, "probe", 2) == 10  # the per-stage linear probes: one seed per stage
    assert set(STREAMS) >= {"global", "distiller_sampling", "bn_recalibrate", "evaluation"}


def test_an_unknown_stream_is_refused_by_name():
    with pytest.raises(KeyError, match="'finetuning'.*finetune"):
        seed_for(0, "finetuning")


def test_label_subsets_are_one_fixed_permutation_per_seed():
    a, b = label_subset_order(0, 150), label_subset_order(0, 150)
    assert np.array_equal(a, b) and sorted(a.tolist()) == list(range(150))
    assert not np.array_equal(a, label_subset_order(1, 150))
    # the value runs made before the table drew
    legacy = np.random.default_rng(np.random.SeedSequence([3, 7919])).permutation(40)
    assert np.array_equal(label_subset_order(3, 40), legacy)


def test_no_library_module_offsets_a_seed_itself():
    offender = re.compile(r"seed\s*\+\s*\d|\b7919\b")  # (per-epoch and per-sample derivations are fine)
    hits = [f"{p.relative_to(REPO)}:{i}" for p in (REPO / "crossmodal").rglob("*.py") if p.name != "seeds.py"
            for i, line in enumerate(p.read_text().splitlines(), 1) if offender.search(line)]
    assert not hits, f"seed offsets outside crossmodal/seeds.py: {hits}"
