"""Runners: a model converted once for a runtime, run again and again at
batch 1 (for timing).

The runtimes are registered by name (`"tflite"`: LiteRT with XNNPack, its
default CPU path; `"onnxruntime"`: ONNX Runtime's CPU execution provider);
each knows how to convert a model and how to name itself with its version.
"""

import dataclasses

import numpy as np

import keras

from dais_keras.runtime import convert
from dais_keras.runtime import interpreters

DEFAULT_RUNTIME = "tflite"


@dataclasses.dataclass(frozen=True)
class Runtime:
    """A runtime runners can use.

    Attributes:
        compile: `compile(batch_one_model, num_threads) -> make`, where
            `make()` returns a fresh runner (a callable of no argument).
        identify: `identify() -> str`, name and version of the runtime.
    """

    compile: object
    identify: object


def _compile_tflite(model, num_threads):
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "Timing in TFLite converts the model with TensorFlow; this process "
            f"uses the '{keras.backend.backend()}' backend. Build the latency "
            "table with KERAS_BACKEND=tensorflow (it is cached), then load it."
        )
    content = convert.tflite_bytes(model)

    def make():
        interpreter, _ = interpreters.litert_interpreter(content, num_threads)
        rng = np.random.default_rng(0)
        for d in interpreter.get_input_details():
            interpreter.set_tensor(d["index"], rng.random(d["shape"]).astype(d["dtype"]))
        return interpreter.invoke

    return make


def _compile_onnx(model, num_threads):
    content = convert.onnx_bytes(model, batch_size=1)

    def make():
        session, _ = interpreters.onnx_session(content, num_threads=num_threads)
        rng = np.random.default_rng(0)
        feeds = {
            i.name: rng.random([d if isinstance(d, int) else 1 for d in i.shape]).astype("float32")
            for i in session.get_inputs()
        }
        return lambda: session.run(None, feeds)

    return make


def _tflite_id():
    return "tflite-xnnpack/" + interpreters.interpreter_class()[1]


def _onnx_id():
    import onnxruntime

    return "onnxruntime-cpu/" + onnxruntime.__version__


_RUNTIMES = {
    "tflite": Runtime(_compile_tflite, _tflite_id),
    "onnxruntime": Runtime(_compile_onnx, _onnx_id),
}
RUNTIMES = tuple(_RUNTIMES)


def check_runtime(runtime):
    """Returns `runtime` if it is a known runtime's name, else raises
    `ValueError` listing them."""
    if runtime not in _RUNTIMES:
        raise ValueError(f"`runtime` must be one of {RUNTIMES}; received {runtime!r}.")
    return runtime


def runtime_id(runtime):
    """Name and version of a runtime, e.g. `'tflite-xnnpack/ai_edge_litert 2.3.0'`."""
    return _RUNTIMES[check_runtime(runtime)].identify()


def compile_runner(model, runtime=DEFAULT_RUNTIME, num_threads=1):
    """Converts `model` for `runtime`; returns a factory of runners.

    Args:
        model: A Keras model (its batch dimension is fixed to 1).
        runtime: `"tflite"` (LiteRT with XNNPack, its default CPU path) or
            `"onnxruntime"` (CPU execution provider).
        num_threads: CPU threads of the runtime.

    Returns:
        A function that creates a fresh interpreter (session) and returns a
        callable running it once on a fixed batch-1 input.
    """
    check_runtime(runtime)
    return _RUNTIMES[runtime].compile(_batch_one(model), num_threads)


def runner(model, runtime=DEFAULT_RUNTIME, num_threads=1):
    """A callable that runs `model` once at batch 1 in `runtime`
    (see `compile_runner`)."""
    return compile_runner(model, runtime, num_threads)()


def _batch_one(model):
    if all(t.shape[0] == 1 for t in model.inputs):
        return model
    inputs = [keras.Input(batch_shape=(1,) + tuple(t.shape[1:]), dtype=t.dtype) for t in model.inputs]
    outputs = model(inputs if len(inputs) > 1 else inputs[0])
    return keras.Model(inputs, outputs, name=model.name)
