"""The differentiable cost model: MACs as a function of the channel indicators.

`ChannelGraph.cost_model()` turns every `MacTerm` of a model
(`dais_keras.cost.macs`) into a polynomial in the indicator vector `m`; fed
soft indicators it gives the expected MACs the search penalises, fed 0/1
masks the exact MACs of the pruned model.
"""

import numpy as np


class ChannelCounts:
    """Channel counts of a list of tensors, linear in the indicator vector.

    Entry `k` counts `fixed_k + sum(m[idx_k])` channels: the channels
    outside `m` plus the indicator values of the others. Shared by
    `CostModel` and `dais_keras.latency.LatencyModel`.

    Args:
        index: Per entry, `(fixed_count, np.array of m indices)` (as given
            by `ChannelGraph.slot_index`).
        num_channels: Length of `m`.
    """

    def __init__(self, index, num_channels):
        self.size = len(index)
        self.num_channels = int(num_channels)
        self.fixed = np.array([f for f, _ in index], dtype=np.float64)
        self.term = np.concatenate(
            [np.full(len(ix), k, dtype=np.int64) for k, (_, ix) in enumerate(index)]
            + [np.zeros(0, dtype=np.int64)]
        )
        self.m_index = np.concatenate(
            [np.asarray(ix) for _, ix in index] + [np.zeros(0, dtype=np.int64)]
        ).astype(np.int64)

    def numpy(self, m):
        """Counts for a numpy vector `m` (float64)."""
        m = np.asarray(m, dtype=np.float64)
        return self.fixed + np.bincount(self.term, weights=m[self.m_index], minlength=self.size)

    def tensor(self, m):
        """Differentiable counts for a backend tensor `m` (float32)."""
        from keras import ops

        return ops.convert_to_tensor(self.fixed.astype("float32")) + ops.segment_sum(
            ops.take(m, self.m_index), self.term, num_segments=self.size
        )

    def scatter(self, per_entry):
        """Sums a value per entry back onto the channels it counts."""
        return np.bincount(
            self.m_index, weights=np.asarray(per_entry)[self.term], minlength=self.num_channels
        )

    def scatter_tensor(self, per_entry):
        """`scatter` for a backend tensor (float32)."""
        from keras import ops

        return ops.segment_sum(
            ops.take(per_entry, self.term), self.m_index, num_segments=self.num_channels
        )


class CostModel:
    """MACs of a model as a function of its channel indicators.

    Every MAC term `coef * (C_in / groups) * C_out` becomes a polynomial in
    the indicator values `m` (a flat vector over all prunable channels):
    `C = fixed + sum(m[channels])`. Fed soft indicators it gives the expected
    MACs the search penalises; fed hard 0/1 masks, the exact MACs of the
    pruned model (equal to `count_macs` of the surgery result).

    Built by `ChannelGraph.cost_model()`; not constructed directly.
    `dais_keras.latency.LatencyModel` has the same interface (`total`,
    `exact`, `expected`, `marginal`), so the search and the binarisation
    repair work with either.
    """

    kind = "macs"
    unit = "MACs"

    def __init__(self, sizes, terms, in_index, out_index):
        # sizes: channels per indicator slot, in `m` order.
        self.sizes = [int(s) for s in sizes]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self.num_channels = int(self.offsets[-1])
        self.coef = np.array([t.coef for t in terms], dtype=np.float64)
        self.groups = np.array([t.groups for t in terms], dtype=np.float64)
        self.uses_in = np.array([t.uses_in for t in terms], dtype=bool)
        self.uses_out = np.array([t.uses_out for t in terms], dtype=bool)
        # in_index/out_index: per term, (fixed_count, np.array of m indices).
        self.c_in = ChannelCounts(in_index, self.num_channels)
        self.c_out = ChannelCounts(out_index, self.num_channels)
        self.num_terms = len(terms)
        self.total = int(round(self.exact(np.ones(self.num_channels))))

    def _combine(self, c_in, c_out, xp):
        c_in = xp.where(self.uses_in, c_in / self.groups, 1.0)
        c_out = xp.where(self.uses_out, c_out, 1.0)
        return xp.sum(self.coef * c_in * c_out)

    def exact(self, m):
        """MACs for a numpy vector `m` (0/1 for a pruned model)."""
        return float(self._combine(self.c_in.numpy(m), self.c_out.numpy(m), np))

    def expected(self, m):
        """Differentiable MACs for a backend tensor `m` (float32)."""
        from keras import ops

        # Constants as tensors: numpy arrays do not mix with torch tensors.
        groups, coef = (ops.convert_to_tensor(a.astype("float32")) for a in (self.groups, self.coef))
        c_in = ops.where(self.uses_in, self.c_in.tensor(m) / groups, 1.0)
        c_out = ops.where(self.uses_out, self.c_out.tensor(m), 1.0)
        return ops.sum(coef * c_in * c_out)

    def _channel_factors(self, c_in, c_out, groups, coef, xp):
        """Per term, the MACs one more input channel and one more output
        channel add (numpy, or `keras.ops` with `xp=ops`)."""
        f_in = xp.where(self.uses_in, 1.0 / groups, 0.0) * coef * xp.where(
            self.uses_out, c_out, 1.0
        )
        f_out = xp.where(self.uses_out, 1.0, 0.0) * coef * xp.where(
            self.uses_in, c_in / groups, 1.0
        )
        return f_in, f_out

    def channel_macs(self, m):
        """MACs saved by removing each channel alone, given masks `m`.

        The exact first-order marginal cost of every channel: used by the
        binarisation repair to rank channels by alpha per MAC.
        """
        f_in, f_out = self._channel_factors(
            self.c_in.numpy(m), self.c_out.numpy(m), self.groups, self.coef, np
        )
        return self.c_in.scatter(f_in) + self.c_out.scatter(f_out)

    def marginal(self, m):
        """The cost saved by removing each channel alone (`channel_macs`)."""
        return self.channel_macs(m)

    def marginal_tensor(self, m):
        """`channel_macs` for a backend tensor `m` (float32): `dE/dm`, the
        MACs each channel adds to the masks `m`, to first order (exact where
        a channel enters each term once). The search's band uses it to push
        only the channels whose flip fits the band."""
        from keras import ops

        groups, coef = (ops.convert_to_tensor(a.astype("float32")) for a in (self.groups, self.coef))
        f_in, f_out = self._channel_factors(
            self.c_in.tensor(m), self.c_out.tensor(m), groups, coef, ops
        )
        return self.c_in.scatter_tensor(f_in) + self.c_out.scatter_tensor(f_out)
