"""The latency model: a model's latency (ms) as a differentiable function of
its channel indicators.

Fewer MACs do not always mean a faster model: at batch 1 a runtime's
kernels pad channels to their vector width, and small layers are dominated
by fixed costs. The latency model reads what each layer really costs on this
machine from a `LatencyTable` (`dais_keras.latency.table`) and makes it a
function of the indicators, so that DAIS can search under a latency budget
(`budget={"latency": 0.5}`):

1. **Interpolation.** A layer's latency at any channel counts is the
   bilinear interpolation of its grid, written with hat functions so that
   it is a differentiable function of the soft channel counts
   `C = fixed + sum(m)` (`LatencyModel.expected`), exactly like the expected
   MACs of `dais_keras.cost.CostModel`.
2. **Calibration.** What the layers do not explain (element-wise ops,
   pooling, the interpreter) is an overhead `a + b * V(m)` in the
   activation volume, fitted to the measured latency of the unpruned model
   and of a model cut to half width (`LatencyModel.calibrate`).

`LatencyModel` has `CostModel`'s interface (`total`, `exact`, `expected`,
`marginal`), so the search's budget band and the binarisation repair use it
unchanged. Layers without a probe (see `register_latency_probe`), grouped
convolutions and `channels_first` layers are charged in proportion to their
MACs, at the median time per MAC of the measured layers.

Example:

```python
table = dais_keras.latency.build_latency_table(model)        # TFLite, cached
cb = dais_keras.DAISCallback(budget={"latency": 0.5}, latency_table=table,
                             search_data=search)
```
"""

import numpy as np

from dais_keras.cost.model import ChannelCounts
from dais_keras.groups.graph import channel_groups
from dais_keras.indicators.layer import ChannelIndicator
from dais_keras.latency import probes as probes_lib
from dais_keras.latency.measure import measure_latency
from dais_keras.latency.table import LatencyTable
from dais_keras.latency.table import build_latency_table
from dais_keras.latency.table import hat
from dais_keras.runtime.runner import DEFAULT_RUNTIME
from dais_keras.surgery.rebuild import prune
from dais_keras.utils.progress import Progress

__all__ = ["LatencyModel", "LatencyTable", "efficient_points", "latency_model"]

# The smallest latency (ms) the calibrated model predicts for any mask.
MIN_MS = 1e-3


class LatencyModel:
    """Latency (ms) of a model as a function of its channel indicators.

    The latency-budget counterpart of `dais_keras.cost.CostModel`, with the
    same interface: `total` (the unpruned model's latency), `exact(m)` for a
    numpy mask vector, `expected(m)` for a backend tensor (differentiable)
    and `marginal(m)` (latency saved by removing each channel alone).

    The prediction is the sum of the table's interpolated layer latencies
    plus an overhead `a + b * V(m)`, where `V(m)` is the activation volume
    (the sum over every layer output of its channels times its spatial
    size, linear in `m`): element-wise ops, padding, pooling and memory
    traffic scale with it. `a` and `b` are fitted by `calibrate` to measured
    whole-model latencies.

    Built by `latency_model`; not constructed directly.
    """

    kind = "latency"
    unit = "ms"
    #: Whether `expected` returns the full table's latency with the
    #: surrogate's gradient (see `expected`); `False` (the default): the
    #: surrogate's value.
    straight_through = False

    def __init__(self, sizes, calls, table, volume):
        # calls: list of (probe, (fixed_in, idx_in), (fixed_out, idx_out)).
        # volume: (constant, per-channel weights) of V(m).
        self.sizes = [int(s) for s in sizes]
        self.num_channels = int(sum(self.sizes))
        self.table = table
        self.num_calls = len(calls)
        self.descriptions = [c[0].description for c in calls]
        self.c_in = ChannelCounts([c[1] for c in calls], self.num_channels)
        self.c_out = ChannelCounts([c[2] for c in calls], self.num_channels)
        self.depthwise = np.array([c[0].depthwise for c in calls], dtype=bool)
        self.volume_const = float(volume[0])
        self.volume_w = np.asarray(volume[1], dtype=np.float64)
        # Group calls by table entry; unmeasurable calls get a synthetic,
        # exactly bilinear entry charged per MAC.
        per_mac = self._ms_per_mac(calls, table)
        self._entries = {}
        for k, (probe, _, _) in enumerate(calls):
            if probe.key in table:
                e = table.entries[probe.key]
                grid_in, grid_out, F = e["c_in"], e["c_out"], np.asarray(e["ms"], np.float64)
            else:
                grid_in = sorted({1, probe.c_in})
                grid_out = [1] if probe.depthwise else sorted({1, probe.c_out})
                F = per_mac * probe.macs_per_unit * np.outer(grid_in, grid_out)
            if probe.key not in self._entries:
                keep_in = efficient_points(F[:, -1])
                keep_out = efficient_points(F[-1, :])
                self._entries[probe.key] = {
                    "grid_in": grid_in, "grid_out": grid_out, "F": F, "calls": [],
                    "soft_in": [grid_in[i] for i in keep_in],
                    "soft_out": [grid_out[j] for j in keep_out],
                    "soft_F": F[np.ix_(keep_in, keep_out)],
                }
            self._entries[probe.key]["calls"].append(k)
        for entry in self._entries.values():
            entry["calls"] = np.array(entry["calls"], dtype=np.int64)
        ones = np.ones(self.num_channels)
        self.layers_ms = self.layers(ones)
        self.overhead = (0.0, 0.0)
        self.calibration = []
        self.total = self.exact(ones)

    @staticmethod
    def _ms_per_mac(calls, table):
        rates = []
        for probe, _, _ in calls:
            if probe.key in table:
                e = table.entries[probe.key]
                units = e["c_in"][-1] * (1 if probe.depthwise else e["c_out"][-1])
                macs = probe.macs_per_unit * units
                if macs > 0:
                    rates.append(e["ms"][-1][-1] / macs)
        return float(np.median(rates)) if rates else 0.0

    # -- pieces -------------------------------------------------------------
    def _counts(self, m, xp):
        if xp is np:
            return self.c_in.numpy(m), self.c_out.numpy(m)
        return self.c_in.tensor(m), self.c_out.tensor(m)

    def _per_entry(self, c_in, c_out, xp, shift_in=0.0, shift_out=0.0, soft=False):
        """Yields `(call indices, latencies)` per table entry."""
        prefix = "soft_" if soft else ""
        for entry in self._entries.values():
            idx = entry["calls"]
            grid_in = entry["soft_in" if soft else "grid_in"]
            grid_out = entry["soft_out" if soft else "grid_out"]
            F = entry[prefix + "F"]
            if xp is np:
                x, y = c_in[idx] - shift_in, c_out[idx] - shift_out
            else:
                x, y = xp.take(c_in, idx), xp.take(c_out, idx)
                F = xp.convert_to_tensor(F.astype("float32"))
            value = xp.sum(xp.matmul(hat(x, grid_in, xp), F) * hat(y, grid_out, xp), axis=1)
            yield idx, value

    def per_call(self, m, shift_in=0.0, shift_out=0.0, soft=False):
        """Table latency (ms) of every layer call for masks `m` (numpy);
        `soft=True` reads the search's surrogate (see `expected`)."""
        c_in, c_out = self._counts(m, np)
        out = np.zeros(self.num_calls)
        for idx, value in self._per_entry(c_in, c_out, np, shift_in, shift_out, soft):
            out[idx] = value
        return out

    def layers(self, m):
        """Sum of the table latencies of the layer calls (ms), numpy `m`."""
        return float(self.per_call(m).sum())

    def volume(self, m):
        """Activation volume `V(m)` (numpy `m`)."""
        return self.volume_const + float(np.dot(self.volume_w, np.asarray(m, np.float64)))

    # -- the CostModel interface ------------------------------------------
    def exact(self, m):
        """Predicted latency (ms) for a numpy mask vector `m`."""
        a, b = self.overhead
        return self.layers(m) + a + b * self.volume(m)

    def expected(self, m):
        """Differentiable predicted latency (ms) for a backend tensor `m`.

        Runtimes compute channels in blocks: a measured latency is a step
        function of the width (flat inside a block, a jump after it), whose
        gradient is zero almost everywhere. The search therefore reads a
        surrogate: the interpolation through the table's *efficient* points
        only (`efficient_points`: the widths that every wider one costs
        clearly more than), equal to the table there and below it in
        between, with a useful slope everywhere. `exact` (and so the
        binarisation repair) reads the full table.

        The surrogate's value lies below the table wherever a width sits
        inside a block: ResNet-20 searches at 50 % of its TFLite latency
        ended at 1.14-1.23 times the target by the table, and the repair
        (lowest `alpha` per millisecond first) cut the rest. With
        `straight_through` the value is the full table's interpolation and
        only the gradient is the surrogate's, so the search meets the band
        by itself; it is off by default because the architectures it found
        were worse: 0.24-0.25 of the MACs against 0.285 at the same
        predicted latency, and 85.28 % validation accuracy against 86.76 %
        (seed 0, with and without the repair's fill; bench/results/
        compare_resnet20_cifar10_lat50_experiments/)."""
        from keras import ops

        c_in, c_out = self._counts(m, ops)

        def layers(soft):
            return sum(ops.sum(v) for _, v in self._per_entry(c_in, c_out, ops, soft=soft))

        total = layers(soft=True)
        if self.straight_through:
            total = total + ops.stop_gradient(layers(soft=False) - total)
        a, b = self.overhead
        volume = self.volume_const + ops.sum(
            ops.convert_to_tensor(self.volume_w.astype("float32")) * m
        )
        return total + float(a) + float(b) * volume

    def marginal(self, m):
        """Latency (ms) saved by removing each channel alone, given `m`:
        the table's finite differences of every call it enters, plus its
        share of the overhead."""
        m = np.asarray(m, dtype=np.float64)
        base = self.per_call(m)
        d_in = base - self.per_call(m, shift_in=1.0)
        d_out = base - self.per_call(m, shift_out=1.0)
        # A depthwise call's output channels are its input channels.
        d_out[self.depthwise] = 0.0
        grad = self.c_in.scatter(d_in) + self.c_out.scatter(d_out)
        grad += self.overhead[1] * self.volume_w
        return np.maximum(grad, 0.0)

    def calibrate(self, points):
        """Fits the overhead `a + b * V(m)` to measured latencies.

        The fit never lets a prediction fall to zero: when the measured
        latencies are below what the table's layers add up to (noise on a
        model of a few microseconds), `a` is raised until the smallest
        prediction any mask can give (every call at its cheapest grid point)
        is `MIN_MS`. A realistic model is far from that bound.

        Args:
            points: List of `(m, measured_ms)`: numpy masks (0/1) and the
                measured latency of the model they describe. One point fits
                a constant; two or more fit `a` and `b >= 0` (least squares).

        Returns:
            `self`.
        """
        if not points:
            raise ValueError("`calibrate` needs at least one (mask, measured_ms) point.")
        v = np.array([self.volume(m) for m, _ in points])
        r = np.array([ms - self.layers(m) for m, ms in points])
        if len(points) == 1 or np.ptp(v) == 0:
            a, b = float(r.mean()), 0.0
        else:
            b, a = np.polyfit(v, r, 1)
            if b < 0:
                a, b = float(r.mean()), 0.0
        a = max(float(a), MIN_MS - self._smallest_layers() - b * self.volume_const)
        self.overhead = (float(a), float(b))
        self.calibration = [
            {"volume": float(vi), "measured_ms": float(ms), "predicted_ms": float(self.exact(m))}
            for (m, ms), vi in zip(points, v)
        ]
        self.total = self.exact(np.ones(self.num_channels))
        return self

    def _smallest_layers(self):
        """A lower bound of `layers(m)` over every mask: each call at the
        cheapest point of its grid (interpolation never goes below it)."""
        return float(sum(len(e["calls"]) * np.min(e["F"]) for e in self._entries.values()))

    def summary(self):
        """A text table: every layer call's latency at full width."""
        full = self.per_call(np.ones(self.num_channels))
        width = max([len(d) for d in self.descriptions] + [10])
        lines = [f"{'layer call':<{width}}  {'ms':>8}", "-" * (width + 10)]
        for d, v in zip(self.descriptions, full):
            lines.append(f"{d:<{width}}  {v:8.4f}")
        a, b = self.overhead
        ones = np.ones(self.num_channels)
        lines.append(f"{'overhead a + b * V':<{width}}  {a + b * self.volume(ones):8.4f}")
        lines.append(f"{'total (predicted)':<{width}}  {self.total:8.4f}")
        return "\n".join(lines)


def efficient_points(values, tol=0.03):
    """Indices of the grid points worth stopping at along one axis.

    A point is efficient when every wider point costs more than
    `1 + tol` times as much (the last point always is): the right end of
    each of a runtime's blocks. Interpolating through them gives a
    monotone surrogate with a slope everywhere.

    Args:
        values: Latencies along the axis, in grid order.
        tol: Relative difference below which two latencies count as equal
            (measurement noise).

    Returns:
        A sorted list of indices.
    """
    values = np.asarray(values, dtype=np.float64)
    keep = [len(values) - 1]
    floor = values[-1]
    for i in range(len(values) - 2, -1, -1):
        if values[i] * (1.0 + tol) < floor:
            keep.append(i)
            floor = values[i]
    return sorted(keep)


def _volume(graph, index_of, num_channels):
    """`(constant, weights)` of the activation volume over the layer calls'
    outputs (channels times spatial size), as a linear function of `m`."""
    const, w = 0.0, np.zeros(num_channels)
    for call in graph.calls:
        if isinstance(call.layer, ChannelIndicator) or not call.outputs:
            continue
        shape = tuple(call.outputs[0].shape)
        if len(shape) < 2 or any(d is None for d in shape[1:]):
            continue
        spatial = float(np.prod(shape[1:-1])) if len(shape) > 2 else 1.0
        fixed, idx = index_of(call.outputs[0])
        const += spatial * fixed
        np.add.at(w, idx, spatial)
    return const, w


def _layout(graph, slots):
    if slots is None:
        layers, indicator = graph.indicator_slots()
        slots = indicator if layers else graph.default_slots()
    return slots


def _calibration_models(model, graph, slots, fraction=0.5, granularity=4):
    """The unpruned plain model and one with every prunable group cut to
    `fraction`, with their masks in the `slots` layout."""
    sizes, slot_of = slots
    m_full = np.ones(int(sum(sizes)))
    m_cut = np.zeros(int(sum(sizes)))
    keep = {}
    for gid, (offset, perm) in slot_of.items():
        size = graph.groups[gid].size
        width = int(round(fraction * size / granularity)) * granularity
        width = int(np.clip(width if width > 0 else round(fraction * size), 1, size))
        mask = np.zeros(size, dtype=bool)
        mask[:width] = True
        keep[gid] = mask
        m_cut[offset + np.asarray(perm)] = mask
    plain = prune(model, {}, name=model.name)
    cut = prune(model, keep, name=model.name + "_cut")
    return [(plain, m_full), (cut, m_cut)]


def latency_model(model, table=None, runtime=DEFAULT_RUNTIME, slots=None, calibrate=True,
                  cache_dir=None, verbose="auto", straight_through=False):
    """The calibrated `LatencyModel` of `model` (plain or `DAISModel`).

    Args:
        model: A functional Keras model, with or without indicators.
        table: A `LatencyTable` (default: `build_latency_table(model,
            runtime)`, measured or read from the cache).
        runtime: The runtime, for the table and the calibration.
        slots: Layout of the mask vector (default: the model's indicators if
            it has any, else the prunable groups in id order).
        calibrate: Measure the unpruned model and a model with every group
            at half width, and fit the overhead to them; or a list of
            `(mask, measured_ms)` to fit it to; `False` leaves it at zero.
        cache_dir: As for `build_latency_table`.
        verbose: As for `build_latency_table`; the calibration (two models
            timed in turns) prints its result when verbose, or in `"auto"`
            mode when it took over 10 seconds.
        straight_through: `LatencyModel.straight_through`: the search reads
            the table's latency (with the surrogate's gradient); `False`
            (default): the surrogate's.

    Returns:
        A `LatencyModel`.

    Raises:
        ValueError: If `table` lacks some of the model's layer configurations.
    """
    graph = channel_groups(model)
    slots = _layout(graph, slots)
    if table is None:
        table = build_latency_table(model, runtime, cache_dir=cache_dir, verbose=verbose)
    sizes, index_of = graph.slot_index(slots)
    call_probes = probes_lib.call_probes(graph, slots=slots)
    missing = [
        p.description for p in probes_lib.distinct(call_probes)
        if p.measurable and p.key not in table
    ]
    if missing:
        raise ValueError(
            f"The latency table {table!r} lacks {len(missing)} layer "
            f"configuration(s) of model '{model.name}' (e.g. {missing[0]}); "
            "build it for this model with "
            "dais_keras.latency.build_latency_table(model, runtime=...)."
        )
    calls = [
        (probe, index_of(call.inputs[0]), index_of(call.outputs[0]))
        for call, probe in call_probes
    ]
    num_channels = int(sum(sizes))
    result = LatencyModel(sizes, calls, table, _volume(graph, index_of, num_channels))
    result.straight_through = bool(straight_through)
    if calibrate is True:
        progress = Progress("latency calibration", 2, verbose)
        pairs = _calibration_models(model, graph, slots)
        measured = measure_latency([p for p, _ in pairs], runtime)
        result.calibrate([(m, ms) for (_, m), ms in zip(pairs, measured)])
        progress.done(", ".join(
            f"{c['measured_ms']:.3f} ms measured / {c['predicted_ms']:.3f} predicted"
            for c in result.calibration
        ))
    elif calibrate:
        result.calibrate(list(calibrate))
    return result
