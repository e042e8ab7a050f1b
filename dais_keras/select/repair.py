"""Binarisation with a budget guarantee.

After the search, a channel is kept iff its indicator's `alpha > 0`. That
architecture should already lie near the target (the search's budget band
steers it there); `repair` then makes the guarantee exact:

* every group keeps at least its minimum width (never empty);
* with `round_to`, every pruned group's width becomes a multiple of it;
* the band search (`dais_keras.select.band`, the same one the baselines
  use) then fits the exact cost into the band `[(1 - band) F, F]`: while
  it exceeds the target `F`, it drops the cheapest choice: the channels
  (or the `round_to` block) with the lowest alpha per unit of cost saved;
  while it is below `(1 - band) F`, it regrows the channels (or block)
  with the highest mean alpha that still fit under `F`, then swaps pairs
  of groups where single steps cannot land in the band;
* with `fill=True`, it then keeps regrowing the highest-alpha channels (or
  block) while they still fit under `F`, so that the pruned model uses the
  budget as far as the allowed widths let it (an architecture already in
  the band is otherwise left alone);
* under a latency budget, every group then widens as far as it costs
  (almost) nothing: a runtime's channel blocks make the measured latency
  flat between block edges.

The guarantee: the result is never above the target. When no allowed
widths meet it (frozen groups, minimum widths or `round_to` cost more),
`repair` raises a `ValueError` that says which and by how much, before it
changes anything; with `best_effort=True` it keeps the smallest model
instead, warns (`warnings.warn`) and says so in the report (`met=False`).

The result is written back into `alpha` (removed channels negative, kept
ones positive, order kept) and the indicators are switched to hard mode, so
`dais_keras.surgery.apply(model)` builds exactly the repaired architecture.
When `round_to` makes the band unreachable from below, the report says
so and by how much.

The cost is the exact MACs for a MACs budget (`budget=0.5`), or the
latency predicted by a measured table (`dais_keras.latency.LatencyModel`)
for a latency budget (`budget={"latency": 0.5}` or `{"latency_ms": 3.0}`).
"""

import numpy as np

import keras

from dais_keras.cost.budget import DEFAULT_BAND
from dais_keras.cost.budget import BudgetReport
from dais_keras.cost.budget import check_band
from dais_keras.cost.budget import check_min_width
from dais_keras.cost.budget import check_round_to
from dais_keras.cost.budget import parse_budget
from dais_keras.select import guarantee
from dais_keras.select.band import BandSearch
from dais_keras.select.problem import PruningProblem
from dais_keras.select.problem import budget_cost
from dais_keras.select.problem import nearest_width


def _structure_of(model, structure):
    if structure is not None:
        return structure
    cached = getattr(model, "search_structure", None)
    if callable(cached):  # a DAISModel caches its structure
        return cached()
    return PruningProblem(model)


def repair(model, budget, band=DEFAULT_BAND, round_to=None, min_width=1, structure=None,
           cost=None, best_effort=False, fill=False):
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
        structure: A precomputed `dais_keras.select.problem.PruningProblem`
            of `model` (its `search_structure()`).
        cost: The `dais_keras.latency.LatencyModel` of a latency budget
            (default for MACs budgets: the exact MACs).
        best_effort: When no allowed widths meet the budget, keep the
            smallest model with a warning (and `met=False` in the report)
            instead of raising.
        fill: Regrow the highest-alpha channels while they fit under the
            target, also when the cost is already in the band (`False`:
            an in-band architecture is left as the search chose it).

    Returns:
        A `BudgetReport`.

    Raises:
        ValueError: For arguments out of range, a latency budget without a
            latency model, or (unless `best_effort`) a budget that frozen
            groups, `min_width` or `round_to` make impossible; the message
            names the cause and by how much.

    Example:

    >>> report = dais_keras.budget.repair(search_model, 0.5, round_to=8)
    >>> print(report)
    >>> pruned = dais_keras.surgery.apply(search_model)
    """
    from dais_keras.indicators.state import binarize

    spec = parse_budget(budget)
    band = check_band(band)
    round_to = check_round_to(round_to)
    min_width = check_min_width(min_width)
    structure = _structure_of(model, structure)
    cost = budget_cost(spec, structure, cost)
    layers = structure.layers
    sizes = structure.sizes
    offsets = structure.offsets
    flat = np.concatenate(
        [keras.ops.convert_to_numpy(l.alpha).astype(np.float64) for l in layers]
    )
    allowed = structure.width_options(min_width, round_to)
    before = flat > 0
    widths_before = [int(before[s:e].sum()) for s, e in zip(offsets[:-1], offsets[1:])]
    total = cost.total
    target = spec.target(total)
    lower = (1.0 - band) * target
    search = BandSearch(
        cost, allowed, structure.order(flat), flat, target, lower,
        drop_rank="per_mac", step_rank="mean",
    )
    # Start from `alpha > 0`, each group snapped to its nearest allowed width.
    selection = search.run([nearest_width(a, w) for a, w in zip(allowed, widths_before)],
                           fill=bool(fill))
    widths, current = selection.widths, selection.macs
    after = search.mask(widths) > 0
    message = ""
    if current > target:
        message = guarantee.over_budget(
            structure, cost, target, current, min_width, round_to, best_effort
        )
    elif current < lower:
        message = guarantee.below_band(current, target, band, round_to, selection.exhausted, cost)
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
    macs_cost = structure.cost
    return BudgetReport(
        budget=spec.to_config(),
        band=float(band),
        total_macs=int(macs_cost.total),
        target_macs=None if spec.is_latency else float(target),
        lower_macs=None if spec.is_latency else float(lower),
        macs_before=int(round(macs_cost.exact(before))),
        macs_after=int(round(macs_cost.exact(after))),
        channels_dropped=int(flip_off.sum()),
        channels_regrown=int(flip_on.sum()),
        groups=groups,
        feasible=bool(lower <= current <= target),
        message=message,
        round_to=round_to,
        latency=latency,
        met=bool(current <= target),
        best_effort=bool(best_effort),
    )
