"""What a DAIS search aims at: the cost its budget is in, and the target.

The budget enters once, parsed by `DAISCallback.__init__`
(`dais_keras.cost.budget.parse_budget`), and travels on as a `Budget`. A
MACs budget is measured by the exact MACs of the model's indicator structure;
a latency budget by a `dais_keras.latency.LatencyModel`, given or built when
the search starts from a measured table.
"""

import os

from dais_keras.runtime.runner import check_runtime


def check_latency_arguments(budget, latency_model, runtime, latency_table):
    """Validates `DAISCallback`'s latency arguments for `budget` (a `Budget`).

    Raises:
        ValueError: Naming the argument, what was expected and what was
            received.
    """
    from dais_keras.latency.table import LatencyTable

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
    check_runtime(runtime)
    if latency_table is not None and not isinstance(
        latency_table, (str, os.PathLike, LatencyTable)
    ):
        raise ValueError(
            "`latency_table` must be a dais_keras.latency.LatencyTable or "
            f"the path of a saved one; received {type(latency_table).__name__}."
        )


def table_latency_model(model, latency_table=None, runtime="tflite", verbose=1):
    """The calibrated `LatencyModel` of `model` (plain or `DAISModel`) from
    `latency_table` (a `LatencyTable`, the path of a saved one, or `None`
    for this machine's cache of `runtime`)."""
    from dais_keras.latency.model import latency_model
    from dais_keras.latency.table import LatencyTable

    if isinstance(latency_table, (str, os.PathLike)):
        latency_table = LatencyTable.load(latency_table)
    return latency_model(model, table=latency_table, runtime=runtime, verbose=verbose)


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
    if latency_model is None:
        latency_model = table_latency_model(model, latency_table, runtime, verbose)
    if latency_model.num_channels != structure.num_channels:
        raise ValueError(
            f"`latency_model` covers {latency_model.num_channels} channels "
            f"but model '{model.name}' has {structure.num_channels} "
            "indicator channels; build it with "
            "dais_keras.latency.latency_model(search_model)."
        )
    return latency_model

