"""Measured latency of whole models in a runtime, timed in turns."""

import numpy as np

import keras

from dais_keras.runtime.runner import DEFAULT_RUNTIME
from dais_keras.runtime.runner import compile_runner
from dais_keras.utils.timing import time_ms


def measure_latency(models, runtime=DEFAULT_RUNTIME, runs=200, rounds=7, warmup_s=0.3,
                    num_threads=1):
    """Measured batch-1 latency of one or several models, in milliseconds.

    The models are timed in turns: every round creates a fresh interpreter
    (session) per model, warms it up for `warmup_s` seconds and takes the
    median of `runs` invocations, so that a slow phase of a shared machine,
    or an unlucky memory layout, hits all of them alike. Each model's figure
    is the median of its round medians.

    Args:
        models: A Keras model or a list of them.
        runtime: `"tflite"` or `"onnxruntime"`.
        runs: Invocations per round.
        rounds: Rounds.
        warmup_s: Warm-up seconds per round and model.
        num_threads: CPU threads of the runtime.

    Returns:
        A float, or a list of floats for a list of models.

    Example:

    >>> ms = dais_keras.latency.measure_latency(model, "tflite")
    """
    single = isinstance(models, keras.Model)
    models = [models] if single else list(models)
    factories = [compile_runner(m, runtime, num_threads) for m in models]
    medians = [[] for _ in models]
    for _ in range(int(rounds)):
        for k, make in enumerate(factories):
            medians[k].append(time_ms(make(), runs=runs, warmup=5, warmup_s=warmup_s))
    result = [float(np.median(m)) for m in medians]
    return result[0] if single else result
