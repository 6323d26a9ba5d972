"""The epoch sampler: an order fixed by (seed, epoch), and exact skipping for resumed epochs."""
import torch
from accelerate import Accelerator
from torch.utils.data import DataLoader, TensorDataset

from crossmodal.data.loaders import EpochSampler, set_loader_epoch


def _order(sampler: EpochSampler) -> list[int]:
    return list(iter(sampler))


def test_order_depends_on_seed_and_epoch_only():
    a, b = EpochSampler(50, seed=3), EpochSampler(50, seed=3)
    assert _order(a) == _order(b) and sorted(_order(a)) == list(range(50))
    b.set_epoch(1)
    assert _order(b) != _order(a)
    a.set_epoch(1)
    assert _order(a) == _order(b)
    assert _order(EpochSampler(50, seed=4)) != _order(EpochSampler(50, seed=3))


def test_skip_applies_to_the_next_pass_only():
    s = EpochSampler(20, seed=0)
    full = _order(s)
    s.skip(8)
    assert len(s) == 12 and _order(s) == full[8:]
    assert len(s) == 20 and _order(s) == full


def test_prepared_loader_resumes_mid_epoch_with_the_same_batches():
    ds = TensorDataset(torch.arange(40))
    acc = Accelerator(cpu=True)
    loader = acc.prepare(DataLoader(ds, batch_size=8, sampler=EpochSampler(40, seed=1), drop_last=True))
    set_loader_epoch(loader, 2)
    full = [b[0].tolist() for b in loader]
    set_loader_epoch(loader, 2, skip_batches=3)
    assert [b[0].tolist() for b in loader] == full[3:]
    set_loader_epoch(loader, 2)
    assert [b[0].tolist() for b in loader] == full
