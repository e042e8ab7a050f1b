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

import math

import numpy as np

import keras

from dais_keras.cost.budget import DEFAULT_BAND
from dais_keras.cost.budget import BudgetReport
from dais_keras.cost.budget import check_min_width
from dais_keras.cost.budget import check_round_to
from dais_keras.cost.budget import parse_budget
from dais_keras.select.problem import SearchStructure

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
    cached = getattr(model, "search_structure", None)
    if callable(cached):  # a DAISModel caches its structure
        return cached()
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
    from dais_keras.indicators.state import binarize

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
