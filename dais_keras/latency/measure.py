"""Measured latency of whole models in a runtime, timed in turns."""

import keras

from dais_keras.runtime.runner import DEFAULT_RUNTIME
from dais_keras.runtime.runner import check_runtime
from dais_keras.runtime.runner import compile_runner
from dais_keras.utils.checks import check_int
from dais_keras.utils.checks import check_number
from dais_keras.utils.timing import time_in_turns


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
    if not single and not (isinstance(models, (list, tuple)) and models and all(
            isinstance(m, keras.Model) for m in models)):
        raise ValueError(
            "`models` must be a Keras model or a non-empty list of them; "
            f"received {models!r}.")
    models = [models] if single else list(models)
    check_runtime(runtime)
    runs = check_int("runs", runs, low=1)
    rounds = check_int("rounds", rounds, low=1)
    warmup_s = check_number("warmup_s", warmup_s, low=0.0)
    num_threads = check_int("num_threads", num_threads, low=1)
    factories = [compile_runner(m, runtime, num_threads) for m in models]
    result = time_in_turns(factories, rounds, runs=runs, warmup=5, warmup_s=warmup_s)
    return result[0] if single else result
