"""The pruning problem: a model's prunable channel groups, their cost, and the
widths each group may take.

One `PruningProblem` serves every way of choosing channels: the DAIS search's
penalty and binarisation repair (a model with channel indicators, one slot
per indicator) and the baselines (a plain model, one slot per prunable
group). `SearchStructure` and `Problem` are its older names.

The budget is measured in the exact MACs (`CostModel`), or in the latency
predicted by a measured table (`dais_keras.latency.LatencyModel`, passed as
`cost`): `budget_cost` checks that a latency budget comes with one.
"""

import numpy as np

from dais_keras.cost.budget import DEFAULT_BAND
from dais_keras.cost.budget import parse_budget
from dais_keras.groups.graph import channel_groups


def allowed_widths(size, min_width=1, round_to=None):
    """Sorted widths a group of `size` channels may take.

    Args:
        size: Channels of the group.
        min_width: Smallest width (>= 1).
        round_to: If set, only multiples of it (and `size` itself).

    Returns:
        An int array; never empty (`[size]` when nothing else fits).
    """
    if not round_to or round_to <= 1:
        return np.arange(max(min_width, 1), size + 1, dtype=np.int64)
    widths = {w for w in range(round_to, size + 1, round_to) if w >= min_width}
    widths.add(size)
    return np.array(sorted(widths), dtype=np.int64)


def nearest_width(options, goal):
    """The allowed width (of the sorted array `options`) nearest to `goal`;
    ties go to the smaller one."""
    options = np.asarray(options)
    return int(options[np.argmin(np.abs(options - goal) + 1e-9 * options)])


def budget_cost(spec, structure, cost=None):
    """The cost a budget is measured in, checked against the model.

    Args:
        spec: A parsed `dais_keras.cost.budget.Budget`, or `None` (no
            budget: as for a MACs budget).
        structure: The model's `PruningProblem`.
        cost: The `dais_keras.latency.LatencyModel` of a latency budget;
            for a MACs budget, `None` (the exact MACs, `structure.cost`) or
            a cost model over the same channels.

    Returns:
        The cost model (`total`, `exact`, `marginal`).

    Raises:
        ValueError: For a latency budget without a latency model, or a cost
            built for another model (its channel count differs).
    """
    if spec is not None and spec.is_latency:
        if getattr(cost, "kind", None) != "latency":
            raise ValueError(
                f"A latency budget ({spec.to_config()!r}) needs `cost=`, the "
                "model's `dais_keras.latency.LatencyModel` (from "
                f"`dais_keras.latency.latency_model(model)`); received {cost!r}."
            )
    else:
        cost = structure.macs_cost if cost is None else cost
    if getattr(cost, "num_channels", structure.num_channels) != structure.num_channels:
        raise ValueError(
            f"`cost` covers {cost.num_channels} channels but the model has "
            f"{structure.num_channels} prunable channels (indicators for a model with "
            "them); build it from this model: dais_keras.latency.latency_model(model)."
        )
    return cost


class PruningProblem:
    """What choosing channels needs to know about a model.

    Lays out every prunable channel in one flat vector `m` (the order of the
    cost model): for a model with channel indicators (a `DAISModel`), the
    concatenation of the indicators' masks in `indicator_layers` order; for
    a plain model, its prunable groups in id order.

    Args:
        model: A functional Keras model, with or without indicators.
        budget: Optional budget: a MACs fraction, or a latency budget
            (`{"latency": f}`, `{"latency_ms": ms}`, see `parse_budget`)
            that needs `cost`; sets `target` and `lower` (`None` for the
            search's structure).
        band: The accepted interval is `[(1 - band) F, F]`.
        round_to: Align every pruned group's width to a multiple of this.
        min_width: Minimum kept channels per group (int), or a fraction of
            each group (float in (0, 1]).
        seed: Seed of `rng` (the `"random"` baseline).
        frozen_layers: Names of layers whose channels must not be pruned.
        cost: The cost the budget is measured in: the model's
            `dais_keras.latency.LatencyModel` for a latency budget (default:
            the exact MACs).

    Attributes:
        model: The Keras model.
        graph: Its `ChannelGraph`.
        layers: The `ChannelIndicator` layers, one per slot (empty for a
            plain model).
        groups: The `ChannelGroup` of each slot (`None` where an indicator
            maps to no group).
        names: A readable name per slot (its group's first producer).
        sizes: Int array: channels per slot.
        offsets: Start of each slot in `m` (plus the end).
        num_channels: Length of `m`.
        cost: The budget's cost over `m`: the exact MACs
            (`dais_keras.cost.CostModel`) or the given latency model.
        macs_cost: The exact MACs over `m`, whatever the budget.
        total_macs: MACs of the unpruned model.
        fan_out: Number of consuming layers per slot's group.
        producers: Number of producing layers per slot's group.
        residual_weights: Fan-out share of each group shared by a residual
            stage (more than one producer); 0 for the others.
        allowed: Per slot, the sorted widths it may take (`min_width`,
            `round_to`).
        budget: The parsed `Budget` (`None` without one).
        band, round_to, min_width: As given.
        target: `F`, the budget in the cost's unit (`budget * cost.total`
            for a fraction; `None` without a budget).
        lower: `(1 - band) F` (`None` without a budget).
        rng: A seeded `numpy.random.Generator`.
    """

    def __init__(self, model, budget=None, band=DEFAULT_BAND, round_to=None, min_width=1,
                 seed=0, frozen_layers=None, cost=None):
        self.model = model
        self.graph = graph = channel_groups(model, frozen_layers=frozen_layers)
        self.layers, slots = graph.indicator_slots()
        if not self.layers:
            slots = graph.default_slots()
        sizes, slot_of = slots
        self.sizes = np.array(sizes, dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self.num_channels = int(self.offsets[-1])
        self.cost = self.macs_cost = graph.cost_model(slots)
        self.total_macs = int(self.macs_cost.total)
        by_offset = {int(o): i for i, o in enumerate(self.offsets[:-1])}
        self.groups = [None] * len(self.sizes)
        for gid, (offset, _) in slot_of.items():
            self.groups[by_offset[int(offset)]] = graph.groups[gid]
        self.names = [
            group.name if group is not None else layer.name
            for group, layer in zip(self.groups, self.layers or self.groups)
        ]
        self.fan_out = np.array([_count(g, "consumers") for g in self.groups], dtype=np.float64)
        self.producers = np.array([_count(g, "producers") for g in self.groups], dtype=np.float64)
        weights = np.where(self.producers > 1, self.fan_out, 0.0)
        self.residual_weights = (
            weights / weights.sum() if weights.sum() > 0 else weights
        ).astype("float32")
        self.budget = None if budget is None else parse_budget(budget)
        self.cost = budget_cost(self.budget, self, cost)
        self.band = band
        self.round_to = round_to
        self.min_width = min_width
        self.allowed = self.width_options(min_width, round_to)
        self.target = None if budget is None else self.budget.target(self.cost.total)
        self.lower = None if budget is None else (1.0 - band) * self.target
        self.rng = np.random.default_rng(seed)
        self._norms = {}

    def min_widths(self, min_width=None):
        """Per-slot minimum kept channels for `min_width` (an int number of
        channels or a float fraction of each group; default: the problem's)."""
        min_width = self.min_width if min_width is None else min_width
        if isinstance(min_width, float):
            widths = np.ceil(min_width * self.sizes)
        else:
            widths = np.full(len(self.sizes), int(min_width))
        return np.clip(widths, 1, self.sizes).astype(np.int64)

    def width_options(self, min_width, round_to):
        """Per slot, the sorted widths it may take (see `allowed_widths`)."""
        return [
            allowed_widths(int(s), int(w), round_to)
            for s, w in zip(self.sizes, self.min_widths(min_width))
        ]

    def order(self, scores):
        """Per slot, its flat channel indices, highest score first (ties:
        lower index first). A slot of width `w` keeps the first `w`."""
        scores = np.asarray(scores, dtype=np.float64)
        return [
            start + np.argsort(-scores[start:end], kind="stable")
            for start, end in zip(self.offsets[:-1], self.offsets[1:])
        ]

    def mask(self, widths, order=None):
        """Flat 0/1 mask keeping the first `widths[g]` channels of
        `order[g]` (default: each group's first channels)."""
        m = np.zeros(self.num_channels)
        for g, w in enumerate(widths):
            if order is None:
                m[self.offsets[g] : self.offsets[g] + w] = 1.0
            else:
                m[order[g][:w]] = 1.0
        return m

    def macs(self, widths, order=None):
        """Exact MACs of the model with these widths."""
        return self.macs_cost.exact(self.mask(widths, order))

    def value(self, widths, order=None):
        """The budget's cost (MACs, or predicted ms) of these widths."""
        return self.cost.exact(self.mask(widths, order))

    def weight_norms(self, p=1):
        """`(write, read)` per-group norms (cached); see
        `dais_keras.select.importance.channel_weight_norms`."""
        from dais_keras.select.importance import channel_weight_norms

        if p not in self._norms:
            self._norms[p] = channel_weight_norms(self.graph, p)
        return self._norms[p]

    def flat(self, per_group):
        """Concatenates a dict group id -> array into the flat `m` order."""
        if not self.groups:
            return np.zeros(0)
        return np.concatenate([np.asarray(per_group[g.id], dtype=np.float64) for g in self.groups])

    def index_scores(self):
        """Scores that keep the first channels of every group."""
        return self.flat({g.id: -np.arange(g.size, dtype=np.float64) for g in self.groups})

    def uniform_widths(self):
        """Widths of the largest uniform multiplier that fits under `F`.

        Each group takes the allowed width nearest to `r * size` (ties
        down); `r` is found by bisection on the budget's cost (the exact
        MACs, which do not decrease with `r`, or the predicted latency,
        which may step; the band search then meets the target exactly).
        """

        def widths_at(r):
            return np.array(
                [nearest_width(options, r * size) for options, size in zip(self.allowed, self.sizes)],
                dtype=np.int64,
            )

        low, high = 0.0, 1.0
        if self.value(widths_at(high)) <= self.target:
            return widths_at(high)
        for _ in range(60):
            mid = 0.5 * (low + high)
            if self.value(widths_at(mid)) <= self.target:
                low = mid
            else:
                high = mid
        return widths_at(low)


def _count(group, attribute):
    return 1 if group is None else max(len(getattr(group, attribute)), 1)


#: The names this type had before: the search's structure and the
#: baselines' problem.
SearchStructure = PruningProblem
Problem = PruningProblem
