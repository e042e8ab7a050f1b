"""Baseline channel pruning under the same budget and surgery as DAIS.

Every baseline answers the same question as the DAIS search: which channels
of each prunable group (`dais_keras.channel_groups`) to keep so that the
pruned model's exact MACs lie in the band `[(1 - band) F, F]`, with
`F = budget * MACs(unpruned)` and `band = 0.05` by default. Each returns the
plain Keras model that `dais_keras.surgery.prune` builds from its choice, so
accuracy differences between methods come from the choice alone.

Methods (`available()`; add your own with `register_method`):

* `"uniform"`: one width multiplier `r` for every prunable group, found by
  bisection on the exact MACs (the largest `r` whose widths fit under `F`;
  each group keeps `round(r * size)` channels, snapped to `round_to`). A
  group keeps its **first** channels (index order): this baseline measures
  the architecture alone, not a channel criterion.
* `"l1-layer"`: the widths of `"uniform"`; within each group the channels
  with the largest L1 norm of the weights that write them (Li et al., 2017,
  "Pruning Filters for Efficient ConvNets").
* `"l1-global"`: all channels ranked together by their L1 norm divided by
  the mean L1 norm of their group (so layers of different fan-in and groups
  written by several layers compare fairly), per MAC saved; the lowest are
  dropped greedily.
* `"random"`: seeded uniform random scores, dropped greedily in random
  order without regard to MACs (per-group widths then shrink at random,
  around the uniform width). Same seed, same model: same channels.
* `"cpmc"`: a CPMC-style criterion (Yan et al., "Channel Pruning via
  Multi-Criteria based on Weight Dependency"): the weights that write a
  channel and the weights of the next layers that read it both matter, and
  so does its cost. Score of channel `c`:
  `||W_write(c)||_2 * ||W_read(c)||_2`, normalised by its group's mean,
  ranked per MAC saved and dropped greedily like `"l1-global"`.

Weights of a channel. `W_write(c)` are all kernel weights that compute
channel `c` of the group: the output slices `[..., c]` of every producer
(Conv*, Dense, SeparableConv pointwise kernels, ConvTranspose) plus the
per-channel filters of depthwise convolutions that carry the group. A
group written by several layers (a residual stage) concatenates them: the
norm is over all of them (`sum |w|` for L1). `W_read(c)` are the input
slices of every layer that reads the channel (`kernel[..., c, :]` of a
conv, `kernel[c, :]` of a dense layer, all positions of a Dense after
Flatten, a depthwise filter). Norms per layer type live in a registry
(`register_weight_norms`).

Meeting the budget. Greedy methods start from the full model and drop, per
step, the cheapest candidates: per group, the lowest-scored channels (or,
with `round_to`, the block down to the next allowed width), ranked by
mean score per MAC saved (`cost.channel_macs`, recomputed as widths
change). Width-based methods start from their widths. Then, while the exact
MACs are below `(1 - band) F`, the best candidate (highest score per MAC;
for the uniform widths, the group with the smallest width fraction) is
regrown if it stays under `F`; when single steps cannot land in the band
(coarse `round_to` steps), pairs of groups are swapped (one grows, one
shrinks) and, for models with few width combinations, all of them are
tried. Groups never go below `min_width` (default one channel), frozen
groups are never touched, and with `round_to` every pruned group's width is
a multiple of it (or its full width). When that makes the band unreachable,
the report says so and by how much.

A property of the per-MAC criteria worth knowing: normalised scores have a
mean of 1 in every group, while a channel's MACs differ by 10-30x between
groups (a residual stream read by many convolutions at full resolution is
the most expensive), so `"l1-global"` and `"cpmc"` empty the expensive
groups first: on the pretrained CIFAR ResNet-20 at 30 % they keep 1 of the
16 channels of the stage-1 residual stream (3 at 50 %), and on an untrained
CIFAR VGG-16 1 channel of the second conv of the first three blocks. Pass
`min_width` (e.g. 0.25) or `round_to` to bound that.

This is the same repair rule as `dais_keras.budget.repair` (which works on
the indicator variables of a search model); `select_widths` here works on
plain scores.
"""

import dataclasses
import itertools
import math
import types

import numpy as np

from dais_keras.cost import budget as budget_lib
from dais_keras.cost.macs import count_macs
from dais_keras.cost.macs import count_params
from dais_keras.groups.graph import channel_groups

import keras

DEFAULT_BAND = budget_lib.DEFAULT_BAND


# ----------------------------------------------------------- weight norms

_WEIGHT_NORMS = {}


def register_weight_norms(layer_class):
    """Registers how to read per-channel weight norms of a layer type.

    The decorated function receives `(layer, p)` and returns
    `(out_power, in_power)`: numpy arrays of `sum |w|**p` over the weights
    that write each output channel (length `C_out`) and over the weights
    that read each input channel (length `C_in`), or `None` for either.
    Subclasses inherit the rule of their closest registered base class.

    Args:
        layer_class: A `keras.layers.Layer` subclass.

    Returns:
        A decorator.

    Example:

    ```python
    @dais_keras.baselines.register_weight_norms(MyConv)
    def _my_conv(layer, p):
        k = np.abs(keras.ops.convert_to_numpy(layer.kernel)) ** p
        return k.sum(axis=(0, 1, 2)), k.sum(axis=(0, 1, 3))
    ```
    """

    def decorator(fn):
        _WEIGHT_NORMS[layer_class] = fn
        return fn

    return decorator


def _weight_norm_rule(layer):
    for cls in type(layer).__mro__:
        if cls in _WEIGHT_NORMS:
            return _WEIGHT_NORMS[cls]
    return None


def _abs_power(variable, p):
    return np.abs(keras.ops.convert_to_numpy(variable).astype(np.float64)) ** p


@register_weight_norms(keras.layers.Conv1D)
@register_weight_norms(keras.layers.Conv2D)
@register_weight_norms(keras.layers.Conv3D)
def _conv_norms(layer, p):
    k = _abs_power(layer.kernel, p)  # (*spatial, C_in / groups, C_out)
    k = k.reshape(-1, k.shape[-2], k.shape[-1]).sum(axis=0)  # (per_in, C_out)
    out_power = k.sum(axis=0)
    groups = layer.groups
    per_in, c_out = k.shape
    per_out = c_out // groups
    # Input channel g * per_in + j reads k[j, outputs of group g].
    in_power = k.reshape(per_in, groups, per_out).sum(axis=2).T.reshape(-1)
    return out_power, in_power


@register_weight_norms(keras.layers.Conv1DTranspose)
@register_weight_norms(keras.layers.Conv2DTranspose)
@register_weight_norms(keras.layers.Conv3DTranspose)
def _conv_transpose_norms(layer, p):
    k = _abs_power(layer.kernel, p)  # (*spatial, C_out, C_in)
    k = k.reshape(-1, k.shape[-2], k.shape[-1]).sum(axis=0)
    return k.sum(axis=1), k.sum(axis=0)


@register_weight_norms(keras.layers.DepthwiseConv1D)
@register_weight_norms(keras.layers.DepthwiseConv2D)
def _depthwise_norms(layer, p):
    k = _abs_power(layer.kernel, p)  # (*spatial, C, depth_multiplier)
    k = k.reshape(-1, k.shape[-2], k.shape[-1]).sum(axis=0)  # (C, dm)
    # Output channel c * dm + j is written by k[c, j] and reads channel c.
    return k.reshape(-1), k.sum(axis=1)


@register_weight_norms(keras.layers.SeparableConv1D)
@register_weight_norms(keras.layers.SeparableConv2D)
def _separable_norms(layer, p):
    dw = _abs_power(layer.depthwise_kernel, p)  # (*spatial, C_in, dm)
    pw = _abs_power(layer.pointwise_kernel, p)  # (*1, C_in * dm, C_out)
    dw = dw.reshape(-1, dw.shape[-2], dw.shape[-1]).sum(axis=0)
    pw = pw.reshape(-1, pw.shape[-2], pw.shape[-1]).sum(axis=0)
    c_in, dm = dw.shape
    in_power = dw.sum(axis=1) + pw.sum(axis=1).reshape(c_in, dm).sum(axis=1)
    return pw.sum(axis=0), in_power


@register_weight_norms(keras.layers.Dense)
def _dense_norms(layer, p):
    k = _abs_power(layer.kernel, p)  # (C_in, C_out)
    return k.sum(axis=0), k.sum(axis=1)


def channel_weight_norms(graph, p=1):
    """Per-channel norms of the weights that write and read each channel.

    Args:
        graph: A `ChannelGraph` (`dais_keras.channel_groups(model)`).
        p: The norm: 1 (sum of absolute values) or 2 (Euclidean).

    Returns:
        `(write, read)`: dicts mapping each prunable group id to a float
        array over its channels: the p-norm of all kernel weights that
        compute the channel, and of all kernel weights that read it (see
        the module docstring). Each shared layer counts once.

    Raises:
        ValueError: If `p` is not 1 or 2.

    Example:

    >>> write, read = channel_weight_norms(dais_keras.channel_groups(model))
    """
    if p not in (1, 2):
        raise ValueError(f"`p` must be 1 or 2; received {p!r}.")
    prunable = {g.id: g for g in graph.prunable}
    write = {gid: np.zeros(g.size) for gid, g in prunable.items()}
    read = {gid: np.zeros(g.size) for gid, g in prunable.items()}
    seen = set()
    for call in graph.calls:
        layer = call.layer
        rule = _weight_norm_rule(layer)
        if rule is None or id(layer) in seen or not call.inputs:
            continue
        seen.add(id(layer))
        out_power, in_power = rule(layer, p)
        for tensor, power, target in (
            (call.outputs[0], out_power, write),
            (call.inputs[0], in_power, read),
        ):
            if power is None:
                continue
            gids, local = graph.tensor_channels(tensor)
            if gids.size != power.size:  # e.g. channels_first: frozen anyway
                continue
            for gid in np.unique(gids).tolist():
                if gid in target:
                    sel = gids == gid
                    np.add.at(target[gid], local[sel], power[sel])
    root = (lambda a: a) if p == 1 else np.sqrt
    return (
        {gid: root(a) for gid, a in write.items()},
        {gid: root(a) for gid, a in read.items()},
    )


def normalise_per_group(scores):
    """Divides each group's scores by their mean (all ones if the mean is 0).

    Args:
        scores: Dict group id -> non-negative float array.

    Returns:
        A new dict of the same arrays, each with mean 1.
    """
    out = {}
    for gid, s in scores.items():
        mean = float(np.mean(s)) if s.size else 0.0
        out[gid] = s / mean if mean > 0 else np.ones_like(s)
    return out


# ------------------------------------------------------------ the problem


@dataclasses.dataclass
class Plan:
    """What a method decides before the budget is enforced.

    Attributes:
        scores: Flat float array over the prunable channels (the cost
            model's `m` order): higher means more worth keeping. Within a
            group, channels are kept in decreasing score order (ties: lower
            index first).
        widths: Optional int array, one width per prunable group, to start
            from (width methods); `None` starts from the full model and
            drops greedily.
        per_mac: Whether greedy steps rank candidates by mean score per MAC
            saved (`True`) or by mean score alone.
        regrow: How to pick the group to regrow when below the band:
            `"score"` (best mean score per MAC, or per channel when
            `per_mac=False`) or `"uniform"` (the smallest width fraction).
    """

    scores: np.ndarray
    widths: np.ndarray = None
    per_mac: bool = True
    regrow: str = "score"


class Problem:
    """The pruning problem a method sees: the graph, its cost model, sizes.

    Attributes:
        model: The Keras model.
        graph: Its `ChannelGraph`.
        groups: The prunable `ChannelGroup`s, in the cost model's order.
        cost: `dais_keras.cost.CostModel` over the prunable channels.
        sizes: Int array: channels per prunable group.
        offsets: Start of each group in the flat vector (plus the end).
        allowed: Per group, the sorted widths it may take (`min_width`,
            `round_to`).
        target: `F`, the largest allowed MACs.
        lower: `(1 - band) F`.
        rng: A seeded `numpy.random.Generator`.
    """

    def __init__(self, model, budget, band, round_to, min_width, seed, frozen_layers):
        self.model = model
        self.graph = channel_groups(model, frozen_layers=frozen_layers)
        self.groups = self.graph.prunable
        self.cost = self.graph.cost_model()
        self.sizes = np.array([g.size for g in self.groups], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(np.int64)
        self.num_channels = int(self.offsets[-1])
        if isinstance(min_width, float):
            mins = np.ceil(min_width * self.sizes)
        else:
            mins = np.full(len(self.sizes), min_width)
        self.min_widths = np.clip(mins, 1, self.sizes).astype(np.int64)
        self.allowed = [
            allowed_widths(int(s), int(w), round_to) for s, w in zip(self.sizes, self.min_widths)
        ]
        self.budget = budget
        self.band = band
        self.round_to = round_to
        self.target = budget * self.cost.total
        self.lower = (1.0 - band) * self.target
        self.rng = np.random.default_rng(seed)
        self._norms = {}

    def weight_norms(self, p=1):
        """`(write, read)` per-group norms (cached); see `channel_weight_norms`."""
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
        down); `r` is found by bisection on the exact MACs, which do not
        decrease with `r`.
        """

        def widths_at(r):
            out = []
            for g, options in enumerate(self.allowed):
                goal = r * self.sizes[g]
                out.append(int(options[np.argmin(np.abs(options - goal) + 1e-9 * options)]))
            return np.array(out, dtype=np.int64)

        low, high = 0.0, 1.0
        if self.macs(widths_at(high), None) <= self.target:
            return widths_at(high)
        for _ in range(60):
            mid = 0.5 * (low + high)
            if self.macs(widths_at(mid), None) <= self.target:
                low = mid
            else:
                high = mid
        return widths_at(low)

    def mask(self, widths, order):
        """Flat 0/1 mask keeping the first `widths[g]` channels of `order[g]`."""
        m = np.zeros(self.num_channels)
        for g, w in enumerate(widths):
            if order is None:
                m[self.offsets[g] : self.offsets[g] + w] = 1.0
            else:
                m[order[g][:w]] = 1.0
        return m

    def macs(self, widths, order):
        """Exact MACs of the model with these widths."""
        return self.cost.exact(self.mask(widths, order))


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


# ----------------------------------------------------- budget enforcement


#: Below the band after regrowing, pairs of groups are swapped (one grows,
#: one shrinks) among the best-ranked `SWAP_GROUPS` of each, by up to
#: `SWAP_STEPS` allowed widths; then, if the model has at most
#: `EXHAUSTIVE_LIMIT` width combinations, all of them are tried.
SWAP_GROUPS = 16
SWAP_STEPS = 3
EXHAUSTIVE_LIMIT = 20000


@dataclasses.dataclass
class Selection:
    """The result of `select_widths`.

    Attributes:
        widths: Int array, the kept width of each prunable group.
        order: Per group, its flat channel indices, best first (a group
            keeps the first `widths[g]`).
        macs: Exact MACs of that choice.
        exhausted: When no choice in the band was found and every
            combination of allowed widths was tried: how many (so the band
            is provably unreachable); else `None`.
    """

    widths: np.ndarray
    order: list
    macs: float
    exhausted: int = None


def _next_below(options, width):
    below = options[options < width]
    return int(below[-1]) if below.size else None


def select_widths(problem, plan, chunk=0.25):
    """Per-group widths meeting the budget band, from a method's `Plan`.

    Greedy drop while the exact MACs exceed `F`, then regrow while they are
    below `(1 - band) F` (see the module docstring). To stay fast on models
    with thousands of channels, each drop step removes the best-ranked
    candidates (with their first-order MACs frozen) until they save about
    `chunk` of the remaining excess, then re-evaluates exactly; the last
    steps remove one candidate at a time, taking the best-ranked one that
    does not fall below the band. If regrowing cannot reach the band (its
    steps are coarse: `round_to`, small groups), pairs of groups are
    swapped (`SWAP_GROUPS`, `SWAP_STEPS`) and, for models with few width
    combinations (`EXHAUSTIVE_LIMIT`), all combinations are tried.

    Args:
        problem: A `Problem`.
        plan: A `Plan`.
        chunk: Share of the excess MACs removed per re-evaluation, in (0, 1].

    Returns:
        A `Selection`.
    """
    p = problem
    scores = np.asarray(plan.scores, dtype=np.float64)
    if scores.shape != (p.num_channels,):
        raise ValueError(
            f"A method returned {scores.shape} scores; expected ({p.num_channels},), one "
            "per prunable channel."
        )
    order = [
        p.offsets[g] + np.argsort(-scores[p.offsets[g] : p.offsets[g + 1]], kind="stable")
        for g in range(len(p.sizes))
    ]
    if plan.widths is None:
        widths = np.array([a[-1] for a in p.allowed], dtype=np.int64)
    else:
        widths = np.asarray(plan.widths, dtype=np.int64).copy()
    current = p.macs(widths, order)

    while current > p.target:
        marginal = p.cost.channel_macs(p.mask(widths, order))
        candidates = []  # (rank value, group, new width, estimated saving)
        for g, options in enumerate(p.allowed):
            below = options[options < widths[g]][::-1]
            prev, running = int(widths[g]), -np.inf
            for new in below.tolist():
                removed = order[g][new:prev]
                saved = float(marginal[removed].sum())
                if saved <= 0:
                    break
                value = float(scores[removed].sum())
                rank = value / saved if plan.per_mac else value / removed.size
                running = max(running, rank)  # keep in-group order monotone
                candidates.append((running, g, new, saved))
                prev = new
        if not candidates:
            break
        candidates.sort(key=lambda c: (c[0], c[1], -c[2]))
        excess = current - p.target
        if candidates[0][3] >= chunk * excess:
            # One step at a time: take the best-ranked next step that does
            # not fall below the band (the best one if they all do).
            steps = [c for c in candidates if c[2] == _next_below(p.allowed[c[1]], widths[c[1]])]
            chosen = None
            for _, g, new, _ in steps:
                trial = widths.copy()
                trial[g] = new
                value = p.macs(trial, order)
                if value >= p.lower:
                    chosen = (trial, value)
                    break
            if chosen is None:
                trial = widths.copy()
                trial[steps[0][1]] = steps[0][2]
                chosen = (trial, p.macs(trial, order))
            widths, current = chosen
            continue
        removed_estimate = 0.0
        for rank, g, new, saved in candidates:
            widths[g] = min(widths[g], new)
            removed_estimate += saved
            if removed_estimate >= chunk * excess:
                break
        current = p.macs(widths, order)

    blocked = set()
    while current < p.lower:
        grown = False
        for g, new in _grow_steps(p, plan, scores, widths, order):
            if g in blocked:
                continue
            trial = widths.copy()
            trial[g] = new
            value = p.macs(trial, order)
            if value <= p.target:
                widths, current, grown = trial, value, True
                break
            blocked.add(g)
        if not grown:
            break
    checked = None
    if current < p.lower:
        widths, current = _swap_into_band(p, plan, scores, widths, order, current)
    if current < p.lower:
        found = _search_all(p, widths, order)
        if found is not None and found[0] is not None:
            widths, current = found
        elif found is not None:
            checked = found[1]
    return Selection(widths, order, current, checked)


def _grow_steps(p, plan, scores, widths, order):
    """Single regrow steps `(group, new width)`, best first."""
    marginal = p.cost.channel_macs(p.mask(widths, order))
    steps = []
    for g, options in enumerate(p.allowed):
        above = options[options > widths[g]]
        if not above.size:
            continue
        new = int(above[0])
        added = order[g][widths[g] : new]
        if plan.regrow == "uniform":
            rank = -widths[g] / p.sizes[g]
        elif plan.per_mac:
            rank = float(scores[added].sum()) / max(float(marginal[added].sum()), 1e-12)
        else:
            rank = float(scores[added].mean())
        steps.append((rank, -g, g, new))
    steps.sort(reverse=True)
    return [(g, new) for _, _, g, new in steps]


def _drop_steps(p, plan, scores, widths, order):
    """Single drop steps `(group, new width)`, cheapest to lose first."""
    marginal = p.cost.channel_macs(p.mask(widths, order))
    steps = []
    for g, options in enumerate(p.allowed):
        new = _next_below(options, widths[g])
        if new is None:
            continue
        removed = order[g][new : widths[g]]
        if plan.regrow == "uniform":
            rank = -widths[g] / p.sizes[g]
        elif plan.per_mac:
            rank = float(scores[removed].sum()) / max(float(marginal[removed].sum()), 1e-12)
        else:
            rank = float(scores[removed].mean())
        steps.append((rank, g, g, new))
    steps.sort()
    return [(g, new) for _, _, g, new in steps]


def _swap_into_band(p, plan, scores, widths, order, current):
    """Below the band after regrowing: grow one group by up to
    `SWAP_STEPS` allowed widths while shrinking another by up to as many,
    best-ranked groups first (the first `SWAP_GROUPS` of each list). Takes
    the first pair that lands in the band, else the pair that gets closest
    from below, and repeats. Returns `(widths, macs)`."""
    for _ in range(50):
        if current >= p.lower:
            break
        grows = [g for g, _ in _grow_steps(p, plan, scores, widths, order)][:SWAP_GROUPS]
        drops = [h for h, _ in _drop_steps(p, plan, scores, widths, order)][:SWAP_GROUPS]
        best = None
        for g in grows:
            ups = p.allowed[g][p.allowed[g] > widths[g]][:SWAP_STEPS]
            for h in drops:
                if h == g:
                    continue
                downs = p.allowed[h][p.allowed[h] < widths[h]][::-1][:SWAP_STEPS]
                for up in ups.tolist():
                    for down in downs.tolist():
                        trial = widths.copy()
                        trial[g], trial[h] = up, down
                        value = p.macs(trial, order)
                        if value > p.target or value <= current:
                            continue
                        if value >= p.lower:
                            return trial, value
                        if best is None or value > best[1]:
                            best = (trial, value)
        if best is None:
            break
        widths, current = best
    return widths, current


def _search_all(p, widths, order):
    """Every combination of allowed widths, when there are at most
    `EXHAUSTIVE_LIMIT`: the in-band one closest to `widths` (fewest allowed
    steps away; then most MACs). Returns `(widths, macs)` or `None` when
    there are too many combinations, and `(None, count)` when none is in
    the band."""
    count = 1
    for options in p.allowed:
        count *= len(options)
        if count > EXHAUSTIVE_LIMIT:
            return None
    position = [int(np.searchsorted(o, w)) for o, w in zip(p.allowed, widths)]
    best = None
    for combo in itertools.product(*[range(len(o)) for o in p.allowed]):
        trial = np.array([p.allowed[g][i] for g, i in enumerate(combo)], dtype=np.int64)
        value = p.macs(trial, order)
        if not p.lower <= value <= p.target:
            continue
        key = (sum(abs(i - j) for i, j in zip(combo, position)), -value)
        if best is None or key < best[0]:
            best = (key, trial, value)
    if best is None:
        return None, count
    return best[1], best[2]


# -------------------------------------------------------------- methods


@dataclasses.dataclass(frozen=True)
class Method:
    """A registered baseline.

    Attributes:
        name: Registry key, e.g. `"l1-global"`.
        description: One line for listings and `--help`.
        plan: `plan(problem) -> Plan`.
    """

    name: str
    description: str
    plan: object


_METHODS = {}

#: Read-only mapping of method names to `Method`s.
METHODS = types.MappingProxyType(_METHODS)


def register_method(name, description):
    """Registers a baseline method; use as a decorator of `plan(problem)`.

    Args:
        name: The method's name (lower case, e.g. `"taylor"`).
        description: One line saying what it ranks and how.

    Returns:
        A decorator that registers and returns the function.

    Raises:
        ValueError: If `name` is already registered.

    Example:

    ```python
    @dais_keras.baselines.register_method("l2-global", "global L2 norm per MAC")
    def _l2_global(problem):
        write, _ = problem.weight_norms(p=2)
        return dais_keras.baselines.Plan(
            scores=problem.flat(dais_keras.baselines.normalise_per_group(write)))
    ```
    """

    def decorator(fn):
        if name in _METHODS and _METHODS[name].plan is not fn:
            raise ValueError(
                f"The baseline '{name}' is already registered; choose another name "
                f"(registered: {available()})."
            )
        _METHODS[name] = Method(name, description, fn)
        return fn

    return decorator


def available():
    """Names of the registered baseline methods.

    Returns:
        A list, e.g. `["uniform", "l1-layer", "l1-global", "random", "cpmc"]`.
    """
    return list(_METHODS)


def get(name):
    """The `Method` registered under `name`.

    Raises:
        ValueError: If there is none; the message lists the valid names.
    """
    if name not in _METHODS:
        raise ValueError(f"Unknown baseline `method` {name!r}; valid methods: {available()}.")
    return _METHODS[name]


@register_method("uniform", "one width multiplier for all groups (bisection), first channels kept")
def _uniform(problem):
    return Plan(scores=problem.index_scores(), widths=problem.uniform_widths(), regrow="uniform")


@register_method("l1-layer", "uniform widths, channels with the largest L1 filter norm kept")
def _l1_layer(problem):
    write, _ = problem.weight_norms(p=1)
    return Plan(scores=problem.flat(write), widths=problem.uniform_widths(), regrow="uniform")


@register_method("l1-global", "global greedy on L1 filter norm (normalised per group) per MAC")
def _l1_global(problem):
    write, _ = problem.weight_norms(p=1)
    return Plan(scores=problem.flat(normalise_per_group(write)))


@register_method("random", "seeded random channels dropped until the budget is met")
def _random(problem):
    return Plan(scores=problem.rng.random(problem.num_channels), per_mac=False)


@register_method("cpmc", "global greedy on ||filter||_2 x ||next-layer weights||_2 per MAC")
def _cpmc(problem):
    write, read = problem.weight_norms(p=2)
    read = {gid: r if r.any() else np.ones_like(r) for gid, r in read.items()}
    return Plan(scores=problem.flat(normalise_per_group({g: write[g] * read[g] for g in write})))


# --------------------------------------------------------------- report


@dataclasses.dataclass
class BaselineReport:
    """What a baseline chose and whether it met the budget.

    Attributes:
        method: The method's name.
        budget: Target as a fraction of the unpruned MACs.
        band: The accepted interval is `[(1 - band) F, F]`.
        round_to: Width alignment (or `None`).
        min_width: Minimum kept channels per group (int or fraction).
        seed: The seed (used by `"random"`).
        total_macs: MACs of the unpruned model.
        target_macs: `F = budget * total_macs`.
        lower_macs: `(1 - band) F`.
        macs: Exact MACs of the pruned model (`count_macs`).
        params_before: Parameters of the unpruned model.
        params_after: Parameters of the pruned model (`None` before surgery).
        groups: Per prunable group: `id`, `name`, `size`, `kept` (width).
        keep: Group id -> sorted kept channel indices (the surgery input).
        feasible: Whether `macs` lies in the band.
        message: Why not, and by how much (empty when feasible).
    """

    method: str
    budget: float
    band: float
    round_to: int
    min_width: object
    seed: int
    total_macs: int
    target_macs: float
    lower_macs: float
    macs: int
    params_before: int
    params_after: int
    groups: list
    keep: dict
    feasible: bool
    message: str = ""

    @property
    def ratio(self):
        """`macs / total_macs`."""
        return self.macs / self.total_macs if self.total_macs else 1.0

    def as_dict(self):
        """A JSON-serialisable dict (keys of `keep` become strings)."""
        out = dataclasses.asdict(self)
        out["keep"] = {str(k): v for k, v in self.keep.items()}
        out["ratio"] = self.ratio
        return out

    def summary(self):
        """A few lines for people."""
        lines = [
            f"{self.method}: budget {self.budget:.1%} of {self.total_macs:,} MACs "
            f"(band [{self.lower_macs / self.total_macs:.1%}, {self.budget:.1%}]"
            + (f", round_to={self.round_to}" if self.round_to else "")
            + ")",
            f"  pruned: {self.macs:,} MACs ({self.ratio:.2%})"
            + (
                f", {self.params_after:,} / {self.params_before:,} params"
                if self.params_after is not None
                else ""
            ),
        ]
        if not self.feasible:
            lines.append(f"  WARNING: {self.message}")
        return "\n".join(lines)

    def __str__(self):
        lines = [self.summary(), ""]
        width = max([len(g["name"]) for g in self.groups] + [5])
        lines.append(f"  {'group':<{width}}  {'size':>6}  {'kept':>6}")
        for g in self.groups:
            lines.append(f"  {g['name']:<{width}}  {g['size']:>6}  {g['kept']:>6}")
        return "\n".join(lines)


# ------------------------------------------------------------------ API


def _check_budget(budget):
    if (
        isinstance(budget, bool)
        or not isinstance(budget, (int, float, np.floating))
        or not math.isfinite(budget)
        or not 0 < budget < 1
    ):
        raise ValueError(
            "`budget` must be a number in (0, 1): the pruned model's MACs as a fraction "
            f"of the unpruned model's (e.g. 0.5); received {budget!r}."
        )
    return float(budget)


def _check_band(band):
    if isinstance(band, bool) or not isinstance(band, (int, float)) or not 0 < band < 1:
        raise ValueError(f"`band` must be a number in (0, 1) (e.g. 0.05); received {band!r}.")
    return float(band)


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be an integer >= 0; received {seed!r}.")
    return int(seed)


def select(model, method, budget, seed=0, round_to=None, band=DEFAULT_BAND, min_width=1,
           frozen_layers=None):
    """Chooses the channels a baseline keeps, without building the model.

    Args: as for `prune`.

    Returns:
        `(keep, report)`: `keep` maps each pruned group id to its sorted
        kept channel indices (the argument of `dais_keras.surgery.prune`);
        `report` is a `BaselineReport` with `params_after=None`.

    Raises:
        ValueError: As for `prune`.
    """
    spec = get(method)
    budget = _check_budget(budget)
    band = _check_band(band)
    seed = _check_seed(seed)
    round_to = budget_lib.check_round_to(round_to)
    min_width = budget_lib.check_min_width(min_width)
    problem = Problem(model, budget, band, round_to, min_width, seed, frozen_layers)
    plan = spec.plan(problem)
    if plan.regrow not in ("score", "uniform"):
        raise ValueError(
            f"Method '{method}' returned regrow={plan.regrow!r}; expected 'score' or 'uniform'."
        )
    selection = select_widths(problem, plan)
    widths, order, macs = selection.widths, selection.order, selection.macs
    keep = {}
    groups = []
    for g, group in enumerate(problem.groups):
        w = int(widths[g])
        groups.append({"id": group.id, "name": group.name, "size": group.size, "kept": w})
        if w < group.size:
            keep[group.id] = sorted((order[g][:w] - problem.offsets[g]).tolist())
    feasible = problem.lower <= macs <= problem.target
    target = problem.target
    message = ""
    if macs > target:
        message = (
            f"the minimum widths (min_width={min_width!r}"
            + (f", round_to={round_to}" if round_to else "")
            + f") keep {macs:,.0f} MACs, {macs / target - 1:.1%} above the target of "
            f"{target:,.0f}; lower `min_width`"
            + (" or `round_to`" if round_to else "")
            + " or raise `budget`."
        )
    elif macs < problem.lower:
        shortfall = (
            f"{macs:,.0f} MACs, {1 - macs / target:.1%} below the target of {target:,.0f} "
            f"(shortfall {target - macs:,.0f} MACs; the band allows {band:.1%})"
        )
        if selection.exhausted:
            reason = (
                f"none of the {selection.exhausted:,} combinations of allowed widths lies in "
                f"the band; the closest below gives {shortfall}"
            )
        else:
            reason = f"the search found no widths in the band; the closest gives {shortfall}"
        cause = f"round_to={round_to} cannot reach the band: " if round_to else ""
        fix = (
            "use a smaller `round_to` or a wider `band`."
            if round_to
            else "use a wider `band` or a smaller `min_width`."
        )
        message = f"{cause}{reason}; {fix}"
    report = BaselineReport(
        method=method,
        budget=budget,
        band=band,
        round_to=round_to,
        min_width=min_width,
        seed=seed,
        total_macs=int(problem.cost.total),
        target_macs=float(target),
        lower_macs=float(problem.lower),
        macs=int(round(macs)),
        params_before=count_params(model),
        params_after=None,
        groups=groups,
        keep=keep,
        feasible=bool(feasible),
        message=message,
    )
    return keep, report


def prune(model, method, budget, seed=0, round_to=None, band=DEFAULT_BAND, min_width=1,
          frozen_layers=None, name=None):
    """Prunes `model` to `budget` with a baseline method and exact surgery.

    Args:
        model: A functional (or built Sequential) Keras model.
        method: One of `available()`: `"uniform"`, `"l1-layer"`,
            `"l1-global"`, `"random"`, `"cpmc"`.
        budget: Target MACs as a fraction of the unpruned model's, in (0, 1).
        seed: Integer seed (the `"random"` method).
        round_to: Align every pruned group's width to a multiple of this
            (e.g. 8); groups keep their full width when smaller.
        band: The pruned MACs must lie in `[(1 - band) F, F]`.
        min_width: Minimum kept channels per group: an int, or a float in
            (0, 1] as a fraction of each group.
        frozen_layers: Names of layers whose channels must not be pruned.
        name: Name of the pruned model (default: the model's).

    Returns:
        `(pruned_model, report)`: the plain Keras model built by
        `dais_keras.surgery.prune(model, report.keep)` and a
        `BaselineReport` (`report.feasible` says whether the band was met,
        `report.message` why not).

    Raises:
        ValueError: For an unknown `method`, or a `budget`, `band`, `seed`,
            `round_to` or `min_width` out of range.

    Example:

    ```python
    model = dais_keras.models.pretrained("resnet20")
    pruned, report = dais_keras.baselines.prune(model, "l1-global", 0.5, round_to=8)
    print(report)
    ```
    """
    from dais_keras import surgery

    keep, report = select(
        model, method, budget, seed=seed, round_to=round_to, band=band,
        min_width=min_width, frozen_layers=frozen_layers,
    )
    pruned = surgery.prune(model, keep, frozen_layers=frozen_layers, name=name)
    macs = count_macs(pruned)
    if macs != report.macs:
        raise RuntimeError(
            f"Internal error: the cost model predicted {report.macs:,} MACs for the "
            f"'{method}' selection but the pruned model has {macs:,}. Please report "
            "this with the model's summary."
        )
    report.params_after = count_params(pruned)
    return pruned, report
