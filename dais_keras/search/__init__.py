"""The DAIS search: the search model (bi-level trainer, one step per backend),
its objective, temperature schedules and the `DAISCallback` that drives it.

    attach            attach_indicators: the `DAISModel` of a Keras model
    model             DAISModel: search state in variables, its lifecycle
    objective         temperature, budget band and priors, the search's Adam,
                      the NaN guard (backend-free, `keras.ops`)
    step              the backend's step, chosen once; step_tensorflow,
                      step_jax, step_torch (one module per backend)
    callback          DAISCallback: drives a search inside `fit`
    feed              SearchFeed: the stream of search batches
    target            the cost a budget is in (MACs or latency model)
    record            SearchRecord: per-epoch state and alpha trajectories
    summaries         the search's figures in a fit's keras TensorBoard callback
    schedules, plot   temperature schedules; width and alpha plots
"""

from dais_keras import _compat

__getattr__ = _compat.forward(__name__)
