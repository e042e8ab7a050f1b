"""Pruning with a baseline: `select` the channels, `prune` by surgery.

Both validate their arguments once, build the `PruningProblem`, ask the
method for its `Plan`, and meet the budget band with the band search shared
with the DAIS repair (`dais_keras.select.band`), in the budget's cost: the
exact MACs, or for a latency budget the `LatencyModel` passed as `cost`
(the latency predicted from the measured table, as in the repair).
"""

from dais_keras.cost.budget import DEFAULT_BAND
from dais_keras.cost.budget import check_band
from dais_keras.cost.budget import check_min_width
from dais_keras.cost.budget import check_round_to
from dais_keras.cost.budget import parse_budget
from dais_keras.cost.macs import count_macs
from dais_keras.cost.macs import count_params
from dais_keras.select import guarantee
from dais_keras.select.band import select_widths
from dais_keras.select.baselines.methods import get
from dais_keras.select.baselines.report import BaselineReport
from dais_keras.select.problem import PruningProblem
from dais_keras.utils.checks import check_number
from dais_keras.utils.checks import check_seed


def select(model, method, budget, seed=0, round_to=None, band=DEFAULT_BAND, min_width=1,
           frozen_layers=None, best_effort=False, cost=None):
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
    budget = parse_budget(budget)
    band = check_band(band)
    seed = check_seed(seed)
    round_to = check_round_to(round_to)
    min_width = check_min_width(min_width)
    problem = PruningProblem(model, budget, band, round_to, min_width, seed, frozen_layers,
                             cost=cost)
    plan = spec.plan(problem)
    if plan.regrow not in ("score", "uniform"):
        raise ValueError(
            f"Method '{method}' returned regrow={plan.regrow!r}; expected 'score' or 'uniform'."
        )
    check_number("chunk", plan.chunk, low=0, high=1)
    selection = select_widths(problem, plan)
    widths, order, value = selection.widths, selection.order, selection.macs
    macs = problem.macs(widths, order)
    keep = {}
    groups = []
    for g, group in enumerate(problem.groups):
        w = int(widths[g])
        groups.append({"id": group.id, "name": group.name, "size": group.size, "kept": w})
        if w < group.size:
            keep[group.id] = sorted((order[g][:w] - problem.offsets[g]).tolist())
    target, cost = problem.target, problem.cost
    message = ""
    if value > target:
        message = guarantee.over_budget(
            problem, cost, target, value, min_width, round_to, best_effort
        )
    elif value < problem.lower:
        message = guarantee.below_band(value, target, band, round_to, selection.exhausted, cost)
    latency = None
    if budget.is_latency:
        latency = {
            "total_ms": float(cost.total),
            "target_ms": float(target),
            "lower_ms": float(problem.lower),
            "after_ms": float(value),
            "runtime": cost.table.runtime,
        }
    report = BaselineReport(
        method=method,
        budget=budget.to_config(),
        band=band,
        round_to=round_to,
        min_width=min_width,
        seed=seed,
        total_macs=int(problem.total_macs),
        target_macs=None if budget.is_latency else float(target),
        lower_macs=None if budget.is_latency else float(problem.lower),
        macs=int(round(macs)),
        params_before=count_params(model),
        params_after=None,
        groups=groups,
        keep=keep,
        feasible=bool(problem.lower <= value <= target),
        message=message,
        met=bool(value <= target),
        best_effort=bool(best_effort),
        latency=latency,
    )
    return keep, report


def prune(model, method, budget, seed=0, round_to=None, band=DEFAULT_BAND, min_width=1,
          frozen_layers=None, name=None, best_effort=False, cost=None):
    """Prunes `model` to `budget` with a baseline method and exact surgery.

    Args:
        model: A functional (or built Sequential) Keras model.
        method: One of `available()`: `"uniform"`, `"l1-layer"`,
            `"l1-global"`, `"random"`, `"cpmc"`, `"group-norm"`,
            `"group-norm-global"`, `"halp"`.
        budget: Target MACs as a fraction of the unpruned model's, in
            (0, 1), or a latency budget `{"latency": fraction}` /
            `{"latency_ms": ms}` (see `dais_keras.cost.budget.parse_budget`),
            which needs `cost`.
        seed: Integer seed (the `"random"` method).
        round_to: Align every pruned group's width to a multiple of this
            (e.g. 8); groups keep their full width when smaller.
        band: The pruned MACs must lie in `[(1 - band) F, F]`.
        min_width: Minimum kept channels per group: an int, or a float in
            (0, 1] as a fraction of each group.
        frozen_layers: Names of layers whose channels must not be pruned.
        name: Name of the pruned model (default: the model's).
        best_effort: When no allowed widths meet the budget (frozen groups,
            `min_width`, `round_to`), keep the smallest model with a
            warning (`report.met` is then `False`) instead of raising.
        cost: For a latency budget, the model's
            `dais_keras.latency.LatencyModel` (`latency_model(model)`, the
            same cost the DAIS repair takes): the band search meets the
            latency it predicts from the measured table. `None` for a MACs
            budget.

    Returns:
        `(pruned_model, report)`: the plain Keras model built by
        `dais_keras.surgery.prune(model, report.keep)` and a
        `BaselineReport` (`report.feasible` says whether the band was met,
        `report.message` why not). The pruned MACs (the predicted latency,
        `report.latency["after_ms"]`, under a latency budget) are never
        above the budget unless `best_effort` allowed it.

    Raises:
        ValueError: For an unknown `method`; a `budget`, `band`, `seed`,
            `round_to` or `min_width` out of range; a latency budget
            without a latency model, or one built for another model; or (unless
            `best_effort`) a budget that frozen groups, `min_width` or
            `round_to` make impossible, naming the cause and by how much.

    Example:

    ```python
    model = dais_keras.models.pretrained("resnet20")
    pruned, report = dais_keras.baselines.prune(model, "l1-global", 0.5, round_to=8)
    print(report)

    lm = dais_keras.latency.latency_model(model)  # TFLite table, measured once
    faster, report = dais_keras.baselines.prune(model, "halp", {"latency": 0.5}, cost=lm)
    ```
    """
    from dais_keras import surgery

    keep, report = select(
        model, method, budget, seed=seed, round_to=round_to, band=band,
        min_width=min_width, frozen_layers=frozen_layers, best_effort=best_effort, cost=cost,
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
