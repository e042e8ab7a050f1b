"""Pruning with a baseline: `select` the channels, `prune` by surgery.

Both validate their arguments once, build the `PruningProblem`, ask the
method for its `Plan`, and meet the budget band with the band search shared
with the DAIS repair (`dais_keras.select.band`).
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
from dais_keras.utils.checks import check_seed


def select(model, method, budget, seed=0, round_to=None, band=DEFAULT_BAND, min_width=1,
           frozen_layers=None, best_effort=False):
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
    budget = parse_budget(budget, kinds=("macs",)).value
    band = check_band(band)
    seed = check_seed(seed)
    round_to = check_round_to(round_to)
    min_width = check_min_width(min_width)
    problem = PruningProblem(model, budget, band, round_to, min_width, seed, frozen_layers)
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
    target, cost = problem.target, problem.cost
    message = ""
    if macs > target:
        message = guarantee.over_budget(
            problem, cost, target, macs, min_width, round_to, best_effort
        )
    elif macs < problem.lower:
        message = guarantee.below_band(macs, target, band, round_to, selection.exhausted, cost)
    report = BaselineReport(
        method=method,
        budget=budget,
        band=band,
        round_to=round_to,
        min_width=min_width,
        seed=seed,
        total_macs=int(cost.total),
        target_macs=float(target),
        lower_macs=float(problem.lower),
        macs=int(round(macs)),
        params_before=count_params(model),
        params_after=None,
        groups=groups,
        keep=keep,
        feasible=bool(problem.lower <= macs <= target),
        message=message,
        met=bool(macs <= target),
        best_effort=bool(best_effort),
    )
    return keep, report


def prune(model, method, budget, seed=0, round_to=None, band=DEFAULT_BAND, min_width=1,
          frozen_layers=None, name=None, best_effort=False):
    """Prunes `model` to `budget` with a baseline method and exact surgery.

    Args:
        model: A functional (or built Sequential) Keras model.
        method: One of `available()`: `"uniform"`, `"l1-layer"`,
            `"l1-global"`, `"random"`, `"cpmc"`, `"group-norm"`,
            `"group-norm-global"`.
        budget: Target MACs as a fraction of the unpruned model's, in (0, 1).
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

    Returns:
        `(pruned_model, report)`: the plain Keras model built by
        `dais_keras.surgery.prune(model, report.keep)` and a
        `BaselineReport` (`report.feasible` says whether the band was met,
        `report.message` why not). The pruned MACs are never above the
        budget unless `best_effort` allowed it.

    Raises:
        ValueError: For an unknown `method`; a `budget`, `band`, `seed`,
            `round_to` or `min_width` out of range; or (unless
            `best_effort`) a budget that frozen groups, `min_width` or
            `round_to` make impossible, naming the cause and by how much.

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
        min_width=min_width, frozen_layers=frozen_layers, best_effort=best_effort,
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
