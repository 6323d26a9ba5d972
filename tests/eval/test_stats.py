"""eval.stats: the t quantiles and the paired interval against scipy."""
import numpy as np
import pytest
from scipy import stats

from eval.stats import paired_diff, t975


@pytest.mark.parametrize("df", [1, 2, 4, 7, 19, 22, 33, 50, 90, 500])
def test_t_quantile_matches_scipy(df):
    assert t975(df) == pytest.approx(stats.t.ppf(0.975, df), rel=2e-3)


def test_paired_interval_matches_scipy_and_pairs_by_seed():
    rng = np.random.default_rng(0)
    a = {s: float(v) for s, v in zip(range(5), rng.normal(0.45, 0.02, 5))}
    b = {s: a[s] - float(v) for s, v in zip(range(5), rng.normal(0.01, 0.01, 5))}
    b[9] = 0.0  # a seed only one side has is left out
    got = paired_diff(a, b)
    d = np.array([a[s] - b[s] for s in range(5)])
    lo, hi = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
    assert got.seeds == [0, 1, 2, 3, 4] and got.diff == pytest.approx(d.mean())
    assert got.ci95 == pytest.approx((lo, hi), rel=1e-4)
    assert paired_diff({0: 0.5}, {0: 0.4}).ci95 is None
    with pytest.raises(ValueError, match="no seed in common"):
        paired_diff({0: 0.5}, {1: 0.4})
