"""What a DAIS search aims at: the cost its budget is in, and the target.

The budget enters once, parsed by `DAISCallback.__init__`
(`dais_keras.cost.budget.parse_budget`), and travels on as a `Budget`. A
MACs budget is measured by the exact MACs of the model's indicator structure;
a latency budget by a `dais_keras.latency.LatencyModel`, given or built when
the search starts from a measured table. A budget below the smallest cost
the search can reach is an error before the first step (`check_reachable`).
"""

import os

import numpy as np

from dais_keras.utils import checks


def check_latency_arguments(budget, latency_model, runtime, latency_table):
    """Validates `DAISCallback`'s latency arguments for `budget` (a `Budget`).

    Raises:
        ValueError: Naming the argument, what was expected and what was
            received.
    """
    from dais_keras.latency import model as latency_lib

    if latency_model is not None and getattr(latency_model, "kind", None) != "latency":
        raise ValueError(
            "`latency_model` must be a dais_keras.latency.LatencyModel; "
            f"received {type(latency_model).__name__}."
        )
    if latency_model is not None and not budget.is_latency:
        value = budget.to_config()
        raise ValueError(
            f"`latency_model` is given but the budget ({value!r}) is a MACs "
            f"budget; use budget={{'latency': {value!r}}} to search under latency."
        )
    checks.check_choice("runtime", runtime, latency_lib.RUNTIMES)
    if latency_table is not None and not isinstance(
        latency_table, (str, os.PathLike, latency_lib.LatencyTable)
    ):
        raise ValueError(
            "`latency_table` must be a dais_keras.latency.LatencyTable or "
            f"the path of a saved one; received {type(latency_table).__name__}."
        )


def budget_cost(model, budget, latency_model=None, latency_table=None,
                runtime="tflite", verbose=1):
    """The cost model `budget` is in, for the `DAISModel` `model`.

    Args:
        model: The `DAISModel` to search.
        budget: A `Budget`.
        latency_model: For latency budgets: the model's `LatencyModel`
            (default: built now from `latency_table` and a calibration).
        latency_table: A `LatencyTable` or the path of a saved one (default:
            this machine's cache of `runtime`).
        runtime: `"tflite"` or `"onnxruntime"`.
        verbose: Passed on to `dais_keras.latency.latency_model`.

    Returns:
        The exact MACs (`model.search_structure().cost`) of a MACs budget,
        or the latency model of a latency budget.

    Raises:
        ValueError: When `latency_model` does not cover the model's
            indicator channels.
    """
    structure = model.search_structure()
    if not budget.is_latency:
        return structure.cost
    from dais_keras.latency import model as latency_lib

    if latency_model is None:
        if isinstance(latency_table, (str, os.PathLike)):
            latency_table = latency_lib.LatencyTable.load(latency_table)
        latency_model = latency_lib.latency_model(
            model, table=latency_table, runtime=runtime, verbose=verbose
        )
    if latency_model.num_channels != structure.num_channels:
        raise ValueError(
            f"`latency_model` covers {latency_model.num_channels} channels "
            f"but model '{model.name}' has {structure.num_channels} "
            "indicator channels; build it with "
            "dais_keras.latency.latency_model(search_model)."
        )
    return latency_model


def smallest_cost(model, cost, min_width):
    """The smallest cost a search of `model` can reach: every group at its
    minimum width (the frozen layers, outside every group, kept whole)."""
    structure = model.search_structure()
    widths = structure.min_widths(min_width)
    mask = np.concatenate(
        [np.arange(size) < width for size, width in zip(structure.sizes, widths)]
    )
    return float(cost.exact(mask))


def check_reachable(model, budget, cost, target, min_width):
    """Raises when the smallest reachable cost exceeds the budget's target.

    Args:
        model: The `DAISModel` to search.
        budget: Its `Budget`.
        cost: The cost the budget is in (`budget_cost`).
        target: The budget's target in that cost.
        min_width: The search's minimum width per group.

    Raises:
        ValueError: Naming the budget, the target and the smallest reachable
            cost, and what to change.
    """
    smallest = smallest_cost(model, cost, min_width)
    if smallest <= target:
        return
    total = float(cost.total)
    raise ValueError(
        f"`budget={budget.to_config()!r}` cannot be met: its target is "
        f"{_format(target, cost)} ({target / total:.3g} of {_format(total, cost)}), "
        f"but the smallest reachable is {_format(smallest, cost)} "
        f"({smallest / total:.3g}), with every channel group of model "
        f"'{model.name}' at its minimum width (min_width={min_width!r}) and "
        "the frozen layers kept whole. Raise the budget to at least "
        f"{smallest / total:.3g} of the unpruned cost, lower `min_width`, or "
        "freeze fewer layers."
    )


def _format(value, cost):
    if cost.kind != "macs":
        return f"{value:.4g} ms"
    return f"{value:,.0f} MACs" if value >= 1 else f"{value:.3g} MACs"
