"""The budget guarantee: never above the target.

The band search (`dais_keras.select.band`) never leaves the cost above the
target when some allowed choice fits under it. When none does, one of three
things is to blame, and `over_budget` says which and by how much:

* frozen groups: channels that are never pruned already cost more than the
  target (every prunable group emptied);
* minimum widths: every group at `min_width` costs more;
* `round_to`: the smallest aligned widths cost more.

By default that is a `ValueError`; with `best_effort=True` the smallest
model is kept, with a `warnings.warn` and the message in the report.
`check_reachable` asks the same question before any work is done (e.g.
before a search), and `below_band` says why a result stays under the band.
"""

import warnings

import numpy as np

from dais_keras.cost.budget import parse_budget


def format_cost(value, cost):
    """`value` in the unit of `cost`: `"1,234 MACs"` or `"3.250 ms"`."""
    if getattr(cost, "kind", "macs") == "latency":
        return f"{value:.3f} ms"
    return f"{value:,.0f} MACs"


def floors(problem, cost, min_width, round_to):
    """The smallest costs each constraint allows.

    Args:
        problem: A `dais_keras.select.problem.PruningProblem`.
        cost: Its cost model (MACs or latency), over the same channels.
        min_width: Minimum kept channels per group (int or fraction).
        round_to: Width alignment, or `None`.

    Returns:
        `(frozen, minimum, smallest)`: the cost with every prunable group
        emptied (what the frozen groups cost alone), with every group at
        its minimum width, and at its smallest allowed width (`round_to`
        too).
    """
    smallest = [options[0] for options in problem.width_options(min_width, round_to)]
    return tuple(
        float(cost.exact(problem.mask(widths)))
        for widths in (np.zeros_like(problem.sizes), problem.min_widths(min_width), smallest)
    )


def unreachable_message(problem, cost, target, reached, min_width, round_to):
    """Why no allowed widths cost at most `target`, and by how much.

    Args:
        problem, cost, min_width, round_to: As for `floors`.
        target: The largest allowed cost.
        reached: The cost of what was kept instead.

    Returns:
        The message: the cause (frozen groups, `min_width` or `round_to`),
        the smallest cost each allows, and what to change.
    """
    frozen, minimum, smallest = floors(problem, cost, min_width, round_to)
    total = float(cost.total)

    def share(value):
        return f"{format_cost(value, cost)} ({value / total:.1%})"

    if frozen > target:
        cause = f"the frozen groups alone cost {share(frozen)}"
        fix = (
            "unfreeze layers (`frozen_layers`; `dais_keras.channel_groups(model)` says why "
            "each group is frozen) or raise `budget`"
        )
    elif minimum > target:
        cause = f"the minimum widths (min_width={min_width!r}) keep {share(minimum)}"
        fix = "lower `min_width` or raise `budget`"
    elif smallest > target:
        cause = f"round_to={round_to} keeps at least {share(smallest)}"
        fix = "use a smaller `round_to` or raise `budget`"
    else:
        cause = "the search found no widths under it"
        fix = "raise `budget`"
    steps = f"frozen groups alone {share(frozen)}; with min_width={min_width!r}, {share(minimum)}"
    if round_to:
        steps += f"; with round_to={round_to}, {share(smallest)}"
    return (
        f"The budget cannot be met: the target is {format_cost(target, cost)} "
        f"({target / total:.1%} of the unpruned {format_cost(total, cost)}), but {cause}. "
        f"The smallest model found costs {format_cost(reached, cost)}, "
        f"{reached / target - 1:.1%} above the target (the smallest each constraint "
        f"allows: {steps}). To fix: {fix}; or pass best_effort=True to keep the smallest "
        "model with a warning."
    )


def over_budget(problem, cost, target, reached, min_width, round_to, best_effort):
    """Raises, or warns under `best_effort`, that `reached` exceeds `target`.

    Args: as for `unreachable_message`, and `best_effort`: warn instead.

    Returns:
        The message (under `best_effort`).

    Raises:
        ValueError: Unless `best_effort`.
    """
    message = unreachable_message(problem, cost, target, reached, min_width, round_to)
    if not best_effort:
        raise ValueError(message)
    warnings.warn(message, UserWarning, stacklevel=3)
    return message


def check_reachable(problem, budget, min_width=1, round_to=None, cost=None, best_effort=False):
    """Checks, before any search, that some allowed widths meet `budget`.

    Args:
        problem: A `dais_keras.select.problem.PruningProblem` (e.g. a
            `DAISModel`'s `search_structure()`).
        budget: As for `dais_keras.cost.budget.parse_budget`.
        min_width: Minimum kept channels per group (int or fraction).
        round_to: Width alignment, or `None`.
        cost: The cost of a latency budget (default: the problem's MACs).
        best_effort: Warn instead of raising.

    Returns:
        `""` when the budget can be met, else (under `best_effort`) the
        message.

    Raises:
        ValueError: When it cannot be met (unless `best_effort`), saying
            which of frozen groups, `min_width` or `round_to` is the cause.
    """
    cost = problem.cost if cost is None else cost
    target = parse_budget(budget).target(cost.total)
    smallest = floors(problem, cost, min_width, round_to)[-1]
    if smallest <= target:
        return ""
    return over_budget(problem, cost, target, smallest, min_width, round_to, best_effort)


def below_band(value, target, band, round_to, exhausted, cost):
    """Why a cost `value` stays below the band `[(1 - band) target, target]`.

    Args:
        value: The cost kept.
        target: The largest allowed cost.
        band: The accepted shortfall.
        round_to: Width alignment, or `None`.
        exhausted: How many width combinations were all tried, or `None`.
        cost: The cost model (for the unit).

    Returns:
        The message, with the shortfall and what to change.
    """
    shortfall = (
        f"{format_cost(value, cost)}, {1 - value / target:.1%} below the target of "
        f"{format_cost(target, cost)} (shortfall {format_cost(target - value, cost)}; "
        f"the band allows {band:.1%})"
    )
    if exhausted:
        reason = (
            f"none of the {exhausted:,} combinations of allowed widths lies in the band; "
            f"the closest below gives {shortfall}"
        )
    else:
        reason = f"the search found no widths in the band; the closest gives {shortfall}"
    if round_to:
        return (
            f"round_to={round_to} cannot reach the band: {reason}; use a smaller `round_to` "
            "or a wider `band`."
        )
    return f"{reason}; use a wider `band` or a smaller `min_width`."
