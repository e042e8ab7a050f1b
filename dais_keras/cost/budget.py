"""Binarisation with a budget guarantee.

After the search, a channel is kept iff its indicator's `alpha > 0`. That
architecture should already lie near the target (the search's budget band
steers it there); `repair` then makes the guarantee exact:

* every group keeps at least its minimum width (never empty);
* with `round_to`, every pruned group's width becomes a multiple of it;
* while the exact cost exceeds the target `F`, it drops the cheapest
  choice: the channels (or the `round_to` block) with the lowest alpha per
  unit of cost saved;
* while they are below `(1 - band) F`, it regrows the channels (or block)
  with the highest alpha that still fit under `F`;
* under a latency budget, every group then widens as far as it costs
  (almost) nothing: a runtime's channel blocks make the measured latency
  flat between block edges.

The result is written back into `alpha` (removed channels negative, kept
ones positive, order kept) and the indicators are switched to hard mode, so
`dais_keras.surgery.apply(model)` builds exactly the repaired architecture.
When minimum widths or `round_to` make the band unreachable, the report
says so and by how much.

The cost is the exact MACs for a MACs budget (`budget=0.5`), or the
latency predicted by a measured table (`dais_keras.latency.LatencyModel`)
for a latency budget (`budget={"latency": 0.5}` or `{"latency_ms": 3.0}`).
"""

import dataclasses
import math

import numpy as np

import keras

DEFAULT_BAND = 0.05
BUDGET_KINDS = ("macs", "latency", "latency_ms")


@dataclasses.dataclass(frozen=True)
class Budget:
    """A parsed budget (see `parse_budget`).

    Attributes:
        kind: `"macs"` or `"latency"` (fractions of the unpruned model's
            MACs or measured latency), or `"latency_ms"` (milliseconds).
        value: The fraction, or the milliseconds.
    """

    kind: str
    value: float

    @property
    def is_latency(self):
        return self.kind != "macs"

    def target(self, total):
        """The target in the cost's unit, given the unpruned model's cost."""
        if self.kind == "latency_ms":
            if self.value >= total:
                raise ValueError(
                    f"`budget={{'latency_ms': {self.value:g}}}` is not below the "
                    f"unpruned model's predicted latency ({total:.3f} ms): there "
                    "is nothing to prune. Lower it, or use {'latency': fraction}."
                )
            return float(self.value)
        return float(self.value) * float(total)

    def label(self):
        """Short text for model and run names: `50`, `lat50`, `lat3ms`."""
        if self.kind == "latency_ms":
            return f"lat{self.value:g}ms"
        return ("lat" if self.kind == "latency" else "") + f"{round(self.value * 100):g}"

    def to_config(self):
        """`budget` as the user wrote it: a float for MACs, else a dict."""
        return self.value if self.kind == "macs" else {self.kind: self.value}

    def __str__(self):
        if self.kind == "macs":
            return f"{self.value:.1%} of the MACs"
        if self.kind == "latency":
            return f"{self.value:.1%} of the latency"
        return f"{self.value:g} ms latency"


def parse_budget(budget, argument="budget"):
    """Parses a budget: `0.5` (MACs fraction), `{"macs": 0.5}`,
    `{"latency": 0.5}` (fraction of the unpruned latency) or
    `{"latency_ms": 3.0}`.

    Returns:
        A `Budget`.

    Raises:
        ValueError: For anything else, saying what was expected.
    """
    if isinstance(budget, Budget):
        return budget
    hint = (
        f"`{argument}` must be a MACs fraction in (0, 1) such as 0.5, or a dict "
        "with one key: {'macs': fraction}, {'latency': fraction} or "
        "{'latency_ms': milliseconds}"
    )
    if isinstance(budget, dict):
        if len(budget) != 1 or next(iter(budget)) not in BUDGET_KINDS:
            raise ValueError(f"{hint}; received {budget!r}.")
        kind, value = next(iter(budget.items()))
    else:
        kind, value = "macs", budget
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{hint}; received {budget!r}.")
    value = float(value)
    if kind == "latency_ms":
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{hint}; received {budget!r} (milliseconds must be > 0).")
    elif not (math.isfinite(value) and 0.0 < value < 1.0):
        raise ValueError(
            f"{hint}; received {budget!r} (a fraction must lie strictly between 0 "
            "and 1, e.g. 0.5 keeps half)."
        )
    return Budget(kind, value)


def check_min_width(min_width):
    """Validates `min_width`: an int >= 1 or a float fraction in (0, 1]."""
    if isinstance(min_width, bool):
        pass
    elif isinstance(min_width, (int, np.integer)) and min_width >= 1:
        return int(min_width)
    elif isinstance(min_width, float) and 0.0 < min_width <= 1.0:
        return float(min_width)
    raise ValueError(
        "`min_width` must be an int >= 1 (channels per group) or a float in "
        f"(0, 1] (fraction of each group); received {min_width!r}."
    )


def check_round_to(round_to):
    """Validates `round_to`: `None` or an int >= 1."""
    if round_to is None:
        return None
    if isinstance(round_to, (int, np.integer)) and not isinstance(round_to, bool) and round_to >= 1:
        return int(round_to)
    raise ValueError(
        f"`round_to` must be None or an integer >= 1 (e.g. 8); received {round_to!r}."
    )


@dataclasses.dataclass
class BudgetReport:
    """What `repair` did.

    The MACs figures are always given; a latency budget adds the predicted
    latencies (`latency`), and then the band and `feasible` refer to them.

    Attributes:
        budget: The budget as given (a MACs fraction, or a dict such as
            `{"latency": 0.5}`).
        band: The accepted interval is `[(1 - band) F, F]`.
        total_macs: MACs of the unpruned model.
        target_macs: `F = budget * total_macs` (`None` for latency budgets).
        lower_macs: `(1 - band) * F` (`None` for latency budgets).
        macs_before: Exact MACs of the `alpha > 0` architecture.
        macs_after: Exact MACs after the repair.
        channels_dropped: Channels with `alpha > 0` that the repair removed.
        channels_regrown: Channels with `alpha <= 0` that the repair kept.
        groups: Per group: `name`, `size`, `before`, `after` widths.
        feasible: Whether the repaired cost lies in the band.
        message: Why not, and by how much (empty when feasible).
        round_to: The width alignment used (or `None`).
        latency: For latency budgets, the predicted latencies in ms:
            `total_ms`, `target_ms`, `lower_ms`, `before_ms`, `after_ms`,
            and the table's `runtime`.
    """

    budget: object
    band: float
    total_macs: int
    target_macs: object
    lower_macs: object
    macs_before: int
    macs_after: int
    channels_dropped: int
    channels_regrown: int
    groups: list
    feasible: bool
    message: str = ""
    round_to: int = None
    latency: dict = None

    @property
    def channels_changed(self):
        """Channels whose keep/remove decision the repair changed."""
        return self.channels_dropped + self.channels_regrown

    @property
    def ratio_before(self):
        return self.macs_before / self.total_macs

    @property
    def ratio_after(self):
        return self.macs_after / self.total_macs

    def as_dict(self):
        out = dataclasses.asdict(self)
        out["channels_changed"] = self.channels_changed
        return out

    def summary(self):
        """A few lines for people."""
        changed = (
            f"{self.channels_changed} channels changed "
            f"({self.channels_dropped} dropped, {self.channels_regrown} regrown)"
        )
        if self.latency:
            lat = self.latency
            total = lat["total_ms"]
            lines = [
                f"DAIS binarisation: budget {parse_budget(self.budget)} "
                f"({lat['target_ms']:.3f} of {total:.3f} ms predicted, {lat['runtime']}; "
                f"band [{lat['lower_ms']:.3f}, {lat['target_ms']:.3f}] ms)",
                f"  alpha > 0 architecture: {lat['before_ms']:.3f} ms "
                f"({lat['before_ms'] / total:.1%}), {self.macs_before:,} MACs "
                f"({self.ratio_before:.1%})",
                f"  after repair:           {lat['after_ms']:.3f} ms "
                f"({lat['after_ms'] / total:.1%}), {self.macs_after:,} MACs "
                f"({self.ratio_after:.1%}); {changed}",
            ]
        else:
            lines = [
                f"DAIS binarisation: budget {self.budget:.1%} of {self.total_macs:,} MACs "
                f"(band [{self.lower_macs / self.total_macs:.1%}, {self.budget:.1%}])",
                f"  alpha > 0 architecture: {self.macs_before:,} MACs "
                f"({self.ratio_before:.1%}, {self.macs_before / self.target_macs:.3f} x target)",
                f"  after repair:           {self.macs_after:,} MACs "
                f"({self.ratio_after:.1%}); {changed}",
            ]
        if not self.feasible:
            lines.append(f"  WARNING: {self.message}")
        return "\n".join(lines)

    def __str__(self):
        lines = [self.summary(), ""]
        width = max([len(g["name"]) for g in self.groups] + [5])
        lines.append(f"  {'group':<{width}}  {'size':>6}  {'alpha>0':>7}  {'kept':>6}")
        for g in self.groups:
            lines.append(
                f"  {g['name']:<{width}}  {g['size']:>6}  {g['before']:>7}  {g['after']:>6}"
            )
        return "\n".join(lines)


def _allowed_widths(size, min_width, round_to):
    """Sorted allowed widths of a group of `size` channels."""
    if round_to is None or round_to <= 1:
        return np.arange(min_width, size + 1)
    widths = set(range(round_to, size + 1, round_to))
    widths.add(size)
    widths = sorted(w for w in widths if w >= min_width)
    if not widths:
        widths = [size]
    return np.array(widths)


def _local_search(widths, current, allowed, macs, mask_of, alpha, lower, target,
                  max_rounds=50):
    """Moves one or two groups by one allowed step at a time, towards the
    band `[lower, target]` (least violation first, then the most alpha
    kept), until it is reached or no move helps. For coarse `round_to`,
    where single greedy steps jump over the band."""

    def violation(value):
        return max(0.0, value - target) + max(0.0, lower - value)

    def neighbours(w):
        moves = []
        for g, options in enumerate(allowed):
            idx = int(np.searchsorted(options, w[g]))
            for j in (idx - 1, idx + 1):
                if 0 <= j < len(options):
                    moves.append((g, int(options[j])))
        yield from ([m] for m in moves)
        for a in range(len(moves)):
            for b in range(a + 1, len(moves)):
                if moves[a][0] != moves[b][0]:
                    yield [moves[a], moves[b]]

    best_v = violation(current)
    for _ in range(max_rounds):
        best = None
        for change in neighbours(widths):
            trial = widths.copy()
            for g, w in change:
                trial[g] = w
            value = macs(trial)
            v = violation(value)
            if v > best_v or (best is not None and v > best[0]):
                continue
            score = float(alpha[mask_of(trial)].sum())
            if best is None or (v, -score) < (best[0], -best[1]):
                best = (v, score, trial, value)
        if best is None or best[0] >= best_v:
            break
        best_v, _, widths, current = best
        if best_v == 0.0:
            break
    return widths, current


def _free_regrow(widths, current, allowed, value_of, target, total, tol=1e-3):
    """Widens every group as far as it costs (almost) nothing.

    A measured latency is flat inside a runtime's channel block (e.g. 33 to
    64 output channels may cost the same): channels there are free. Each
    group grows to its widest allowed width that adds at most `tol * total`
    and stays within the target."""
    widths = widths.copy()
    for g in range(len(widths)):
        options = allowed[g][allowed[g] > widths[g]]
        for w in options[::-1]:
            trial = widths.copy()
            trial[g] = int(w)
            value = value_of(trial)
            if value <= target and value <= current + tol * total:
                widths, current = trial, value
                break
    return widths, current


def _structure_of(model, structure):
    if structure is not None:
        return structure
    from dais_keras.search.model import DAISModel
    from dais_keras.search.model import SearchStructure

    if isinstance(model, DAISModel):
        return model.search_structure()
    return SearchStructure(model)


def _format(value, cost):
    if getattr(cost, "kind", "macs") == "latency":
        return f"{value:.3f} ms"
    return f"{value:,.0f} MACs"


def repair(model, budget, band=DEFAULT_BAND, round_to=None, min_width=1, structure=None,
           cost=None):
    """Binarises `model`'s indicators so that its exact cost meets `budget`.

    Keeps a channel iff `alpha > 0`, then repairs exactly (see the module
    docstring), writes the choice into `alpha` and switches the indicators
    to hard mode.

    Args:
        model: A model with channel indicators (a `DAISModel`).
        budget: Target MACs as a fraction of the unpruned model's, in (0, 1),
            or a latency budget `{"latency": fraction}` /
            `{"latency_ms": ms}` (see `parse_budget`), which needs `cost`.
        band: Accepted shortfall: the cost must lie in `[(1 - band) F, F]`.
        round_to: Align every pruned group's width to a multiple of this.
        min_width: Minimum kept channels per group (int), or a fraction of
            each group (float in (0, 1]).
        structure: A precomputed `dais_keras.search.SearchStructure`.
        cost: The `dais_keras.latency.LatencyModel` of a latency budget
            (default for MACs budgets: the exact MACs).

    Returns:
        A `BudgetReport`.

    Raises:
        ValueError: For arguments out of range, or a latency budget without
            a latency model.

    Example:

    >>> report = dais_keras.budget.repair(search_model, 0.5, round_to=8)
    >>> print(report)
    >>> pruned = dais_keras.surgery.apply(search_model)
    """
    from dais_keras.indicators.attach import binarize

    spec = parse_budget(budget)
    if isinstance(band, bool) or not isinstance(band, (int, float)) or not 0 < band < 1:
        raise ValueError(f"`band` must be a number in (0, 1); received {band!r}.")
    round_to = check_round_to(round_to)
    min_width = check_min_width(min_width)
    structure = _structure_of(model, structure)
    macs_cost = structure.cost
    if spec.is_latency:
        if getattr(cost, "kind", None) != "latency":
            raise ValueError(
                f"A latency budget ({spec.to_config()!r}) needs `cost=`, the "
                "model's `dais_keras.latency.LatencyModel` (from "
                f"`dais_keras.latency.latency_model(model)`); received {cost!r}."
            )
    else:
        cost = macs_cost if cost is None else cost
    if getattr(cost, "num_channels", structure.num_channels) != structure.num_channels:
        raise ValueError(
            f"`cost` covers {cost.num_channels} channels but the model's indicators "
            f"have {structure.num_channels}; build it from this model."
        )
    layers = structure.layers
    sizes = structure.sizes
    alphas = [keras.ops.convert_to_numpy(l.alpha).astype(np.float64) for l in layers]
    flat = np.concatenate(alphas)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    # Channels of each group, best (highest alpha) first.
    order = [np.argsort(-a, kind="stable") + offsets[g] for g, a in enumerate(alphas)]
    min_widths = structure.min_widths(min_width)
    allowed = [_allowed_widths(int(s), int(w), round_to) for s, w in zip(sizes, min_widths)]
    before = flat > 0
    widths_before = np.array([int(before[offsets[g]:offsets[g + 1]].sum()) for g in range(len(sizes))])

    def mask_of(widths):
        mask = np.zeros(flat.size, dtype=bool)
        for g, w in enumerate(widths):
            mask[order[g][:w]] = True
        return mask

    def value_of(widths):
        return cost.exact(mask_of(widths))

    total = cost.total
    target = spec.target(total)
    lower = (1.0 - band) * target
    # Snap every group to its nearest allowed width (min width, round_to).
    widths = []
    for g, w in enumerate(widths_before):
        options = allowed[g]
        widths.append(int(options[np.argmin(np.abs(options - w) + 1e-6 * options)]))
    widths = np.array(widths)
    current = value_of(widths)
    # Drop while above the target.
    while current > target:
        marginal = cost.marginal(mask_of(widths))
        best, best_score = None, None
        for g in range(len(sizes)):
            idx = int(np.searchsorted(allowed[g], widths[g]))
            if idx == 0:
                continue
            new_w = int(allowed[g][idx - 1])
            removed = order[g][new_w:widths[g]]
            saved = float(marginal[removed].sum())
            # A measured latency is not monotonic in the width (a runtime's
            # vector blocks): look further down for a width that saves.
            j = idx - 1
            while saved <= 0 and j > 0 and idx - j < 16:
                j -= 1
                new_w = int(allowed[g][j])
                removed = order[g][new_w:widths[g]]
                trial = widths.copy()
                trial[g] = new_w
                saved = current - value_of(trial)
            if saved <= 0:
                continue
            score = float(flat[removed].sum()) / saved
            if best_score is None or score < best_score:
                best, best_score = (g, new_w), score
        if best is None:
            break
        widths[best[0]] = best[1]
        current = value_of(widths)
    # Regrow while below the band, never above the target.
    blocked = set()
    while current < lower:
        candidates = []
        for g in range(len(sizes)):
            if g in blocked:
                continue
            idx = np.searchsorted(allowed[g], widths[g])
            if idx + 1 >= len(allowed[g]):
                continue
            new_w = int(allowed[g][idx + 1])
            added = order[g][widths[g]:new_w]
            candidates.append((float(flat[added].mean()), -new_w, g, new_w))
        if not candidates:
            break
        candidates.sort(reverse=True)
        grown = False
        for _, _, g, new_w in candidates:
            trial = widths.copy()
            trial[g] = new_w
            value = value_of(trial)
            if value <= target:
                widths, current, grown = trial, value, True
                break
            blocked.add(g)
        if not grown:
            break
    if not lower <= current <= target:
        # One swap (a group one step wider, another one step narrower) can
        # land in the band where single steps cannot (coarse `round_to`).
        widths, current = _local_search(
            widths, current, allowed, value_of, mask_of, flat, lower, target
        )
    if getattr(cost, "kind", "macs") == "latency" and current <= target:
        widths, current = _free_regrow(widths, current, allowed, value_of, target, total)
    after = mask_of(widths)
    feasible = lower <= current <= target
    message = ""
    if current > target:
        message = (
            f"the minimum widths (min_width={min_width!r}"
            + (f", round_to={round_to}" if round_to else "")
            + f") keep {_format(current, cost)}, {current / target - 1:.1%} above the "
            f"target of {_format(target, cost)}; lower `min_width` or raise `budget`."
        )
    elif current < lower:
        message = (
            f"round_to={round_to} cannot reach the band: the closest widths give "
            f"{_format(current, cost)}, {1 - current / target:.1%} below the target "
            f"(the band allows {band:.1%}); use a smaller `round_to` or a wider `band`."
            if round_to
            else f"the architecture stays {1 - current / target:.1%} below the target."
        )
    # Write the choice back into alpha, keeping the order information.
    new_flat = flat.copy()
    flip_on = after & ~before
    flip_off = ~after & before
    new_flat[flip_on] = 1e-3 * np.exp(np.minimum(flat[flip_on], 0.0))
    new_flat[flip_off] = -1e-3 * np.exp(-np.maximum(flat[flip_off], 0.0))
    for g, layer in enumerate(layers):
        layer.alpha.assign(new_flat[offsets[g]:offsets[g + 1]].astype("float32"))
    binarize(model, hard=True)
    groups = [
        {
            "name": structure.names[g],
            "size": int(sizes[g]),
            "before": int(widths_before[g]),
            "after": int(widths[g]),
        }
        for g in range(len(sizes))
    ]
    latency = None
    if spec.is_latency:
        latency = {
            "total_ms": float(total),
            "target_ms": float(target),
            "lower_ms": float(lower),
            "before_ms": float(cost.exact(before)),
            "after_ms": float(current),
            "runtime": cost.table.runtime,
        }
    macs_total = macs_cost.total
    return BudgetReport(
        budget=spec.to_config(),
        band=float(band),
        total_macs=int(macs_total),
        target_macs=None if spec.is_latency else float(target),
        lower_macs=None if spec.is_latency else float(lower),
        macs_before=int(round(macs_cost.exact(before))),
        macs_after=int(round(macs_cost.exact(after))),
        channels_dropped=int(flip_off.sum()),
        channels_regrown=int(flip_on.sum()),
        groups=groups,
        feasible=bool(feasible),
        message=message,
        round_to=round_to,
        latency=latency,
    )
