"""dais-keras: automatic channel pruning for Keras 3 with DAIS.

DAIS (Differentiable Annealing Indicator Search) relaxes binary channel indicators
to `sigmoid(alpha / T)`, learns them jointly with the weights by bi-level
optimisation, anneals `T` so the indicators become binary, and keeps the expected
MACs (or the latency measured on this machine, `dais_keras.latency`) inside a
budget. Model surgery then rebuilds a smaller plain Keras model that
computes exactly what the binarised indicator model computed.

The package follows the pipeline, one folder per stage (lowest first):

    utils/        functional-graph traversal, atomic files, paths, checks
    cost/         MACs / params, the differentiable cost model, budgets
    groups/       channel groups of a functional model, per-layer handlers
    indicators/   the ChannelIndicator layer and its controls
    surgery/      rebuild a model with fewer channels
    runtime/      TFLite / ONNX conversion, interpreters, runners
    latency/      measured latency tables and the latency cost model
    select/       the pruning problem, band search, baselines, repair
    search/       the DAIS search model, objective, steps, callback
    finetune/     distillation, the fine-tune recipe, accuracy
    deploy/       TFLite / ONNX export, the model zoo
    data/, models/  CIFAR-10 and CIFAR models
    experiments/  configs, the run driver, the demo
    api/          `prune`: the whole pipeline in one call (run_pipeline, pruners)
    cli.py        the `dais` command

Names are loaded on first use, so `import dais_keras` stays cheap.
"""

import importlib

from dais_keras import _compat, _registration

__version__ = "0.1.0"

# Public name -> "module" (a submodule) or "module:attribute".
_EXPORTS = {
    # Cost.
    "count_macs": "dais_keras.cost.macs:count_macs",
    "count_params": "dais_keras.cost.macs:count_params",
    "macs_table": "dais_keras.cost.macs:macs_table",
    "BudgetReport": "dais_keras.cost.budget:BudgetReport",
    # Channel groups.
    "ChannelGraph": "dais_keras.groups.graph:ChannelGraph",
    "ChannelGroup": "dais_keras.groups.graph:ChannelGroup",
    "channel_groups": "dais_keras.groups.graph:channel_groups",
    "register_handler": "dais_keras.groups.handlers:register_handler",
    # Indicators and the search.
    "ChannelIndicator": "dais_keras.indicators.layer:ChannelIndicator",
    "attach_indicators": "dais_keras.search.attach:attach_indicators",
    "binarize": "dais_keras.indicators.state:binarize",
    "indicator_layers": "dais_keras.indicators.state:indicator_layers",
    "set_temperature": "dais_keras.indicators.state:set_temperature",
    "DAISModel": "dais_keras.search.model:DAISModel",
    "DAISCallback": "dais_keras.search.callback:DAISCallback",
    # Latency.
    "LatencyTable": "dais_keras.latency.table:LatencyTable",
    "build_latency_table": "dais_keras.latency.table:build_latency_table",
    "latency_model": "dais_keras.latency.model:latency_model",
    "measure_latency": "dais_keras.latency.measure:measure_latency",
    # Fine-tuning.
    "recalibrate_batchnorm": "dais_keras.finetune.batchnorm:recalibrate_batchnorm",
    # One call.
    "PruneReport": "dais_keras.api:PruneReport",
    "prune": "dais_keras.api:prune",
    # Submodules and the names they had before the package layout.
    "api": "dais_keras.api",
    "cli": "dais_keras.cli",
    "cost": "dais_keras.cost",
    "data": "dais_keras.data",
    "indicators": "dais_keras.indicators",
    "latency": "dais_keras.latency",
    "search": "dais_keras.search",
    "models": "dais_keras.models",
    "runtime": "dais_keras.runtime",
    "surgery": "dais_keras.surgery",
    "testing": "dais_keras.testing",
    **{name: f"dais_keras.{name}" for name in _compat.OLD_MODULES},
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name):
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'dais_keras' has no attribute '{name}'")
    module_name, _, attribute = target.partition(":")
    value = importlib.import_module(module_name)
    if attribute:
        value = getattr(value, attribute)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


# `keras.saving.load_model` must find the library's classes (a saved search
# model, an unpruned CIFAR ResNet) after a bare `import dais_keras`.
_registration.register_soon()
