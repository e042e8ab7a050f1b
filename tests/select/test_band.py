"""The band search on synthetic costs: never above the target when some
choice fits, latency steps, free channels, and the restart from the
smallest widths."""

import itertools

import numpy as np
import pytest

from dais_keras.select.band import BandSearch
from dais_keras.select.problem import allowed_widths
from dais_keras.select.problem import nearest_width


class GroupCost:
    """A cost of per-group channel counts `c`: `fn(c)`; `marginal` is the
    finite difference of removing one channel of the group."""

    def __init__(self, sizes, fn, kind="macs"):
        self.sizes = np.asarray(sizes)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)])
        self.num_channels = int(self.offsets[-1])
        self.fn = fn
        self.kind = kind
        self.total = self.exact(np.ones(self.num_channels))

    def counts(self, m):
        return np.array([m[s:e].sum() for s, e in zip(self.offsets[:-1], self.offsets[1:])])

    def exact(self, m):
        return float(self.fn(self.counts(np.asarray(m, dtype=np.float64))))

    def marginal(self, m):
        c = self.counts(np.asarray(m, dtype=np.float64))
        out = np.zeros(self.num_channels)
        for g, (s, e) in enumerate(zip(self.offsets[:-1], self.offsets[1:])):
            fewer = c.copy()
            fewer[g] -= 1
            out[s:e] = self.fn(c) - self.fn(fewer)
        return np.maximum(out, 0.0)


def _search(cost, budget, band=0.05, round_to=None, scores=None):
    allowed = [allowed_widths(int(s), 1, round_to) for s in cost.sizes]
    order = [np.arange(s, e) for s, e in zip(cost.offsets[:-1], cost.offsets[1:])]
    scores = np.ones(cost.num_channels) if scores is None else scores
    target = budget * cost.total
    return BandSearch(cost, allowed, order, scores, target, (1 - band) * target), allowed


def test_one_small_group_ends_under_the_target():
    cost = GroupCost([3], lambda c: 100.0 * c[0])
    search, _ = _search(cost, 0.6)
    selection = search.run([3])
    assert list(selection.widths) == [1] and selection.macs <= 0.6 * cost.total
    assert selection.exhausted == 3  # every width was tried: none in the band


def _chain(c):
    # A conv chain: image (3) -> g0 -> g1 -> g2 -> 4 logits.
    return 27 * c[0] + 9 * c[0] * c[1] + 9 * c[1] * c[2] + 4 * c[2]


@pytest.mark.parametrize("round_to", [None, 2, 4])
def test_never_above_the_target_when_a_choice_fits(round_to):
    rng = np.random.default_rng(0)
    sizes = [4, 8, 6]
    cost = GroupCost(sizes, _chain)
    for budget in (0.2, 0.35, 0.5, 0.65, 0.8):
        for _ in range(3):
            scores = rng.uniform(size=cost.num_channels)
            search, allowed = _search(cost, budget, round_to=round_to, scores=scores)
            start = [int(rng.choice(a)) for a in allowed]
            selection = search.run(start)
            values = [search.value(np.array(w)) for w in itertools.product(*allowed)]
            fits = [v for v in values if v <= search.target]
            in_band = [v for v in fits if v >= search.lower]
            assert selection.macs == pytest.approx(search.value(selection.widths))
            assert selection.macs <= search.target or not fits
            if in_band:
                assert search.lower <= selection.macs <= search.target


def _blocks(c):
    # Latency in blocks of 8 channels: flat inside a block.
    return 1.0 * np.ceil(c[0] / 8) * 8 + 2.0 * np.ceil(c[1] / 8) * 8


def test_latency_steps_drop_to_block_edges_and_widen_for_free():
    cost = GroupCost([12, 16], _blocks, kind="latency")
    search, _ = _search(cost, 0.6, band=0.2)
    # 5 of 12 and 9 of 16: the second group pays for a block of 16.
    selection = search.run([5, 9])
    assert selection.macs == 24.0 <= search.target
    # Both groups then widen to their block's edge: free channels.
    assert list(selection.widths) == [8, 8]


def test_restarts_from_the_smallest_widths_when_no_drop_helps():
    # Not monotonic: every width but the smallest costs the same.
    cost = GroupCost([20], lambda c: 10.0 if c[0] <= 1 else 100.0, kind="latency")
    search, _ = _search(cost, 0.5)
    selection = search.run([20])
    assert list(selection.widths) == [1] and selection.macs == 10.0


def test_allowed_and_nearest_widths():
    np.testing.assert_array_equal(allowed_widths(20, 1, 8), [8, 16, 20])
    assert nearest_width([8, 16, 20], 12) == 8  # ties go down
    assert nearest_width([8, 16, 20], 13) == 16
    assert nearest_width(np.arange(1, 6), 0) == 1
