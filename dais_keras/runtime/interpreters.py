"""Interpreters and sessions: running a TFLite file in LiteRT and an ONNX
file in ONNX Runtime (CPU), on float batches."""

import numpy as np

from dais_keras.runtime import extras


def interpreter_class():
    """`(Interpreter class, runtime name)`: `ai_edge_litert`'s when
    installed, else `tf.lite.Interpreter`."""
    try:
        from ai_edge_litert import interpreter as litert

        return litert.Interpreter, "ai_edge_litert " + extras.version(
            "ai_edge_litert", "ai-edge-litert"
        )
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter, "tf.lite " + tf.__version__


def litert_interpreter(path, num_threads=None):
    """Returns a LiteRT interpreter for a `.tflite` file and its runtime name.

    Uses `ai_edge_litert.interpreter.Interpreter` when installed, else
    `tf.lite.Interpreter`.

    Args:
        path: Path of the `.tflite` file, or its content (`bytes`).
        num_threads: Number of CPU threads, or `None` for the runtime default.

    Returns:
        A tuple `(interpreter, runtime_name)`.
    """
    cls, runtime = interpreter_class()
    if isinstance(path, bytes):
        interpreter = cls(model_content=path, num_threads=num_threads)
    else:
        interpreter = cls(model_path=str(path), num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter, runtime


def run_tflite(interpreter, x):
    """Runs a single-input LiteRT interpreter on a float batch `x`.

    Resizes a dynamic batch dimension to `len(x)`, quantizes the input and
    dequantizes the output for integer I/O.

    Args:
        interpreter: A LiteRT / `tf.lite` interpreter.
        x: Input batch (float array).

    Returns:
        The first output, as a float64 array.
    """
    detail = interpreter.get_input_details()[0]
    if tuple(detail["shape"]) != tuple(x.shape):
        interpreter.resize_tensor_input(detail["index"], x.shape)
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
    value = np.asarray(x, dtype="float32")
    if np.issubdtype(detail["dtype"], np.integer):
        scale, zero = detail["quantization"]
        info = np.iinfo(detail["dtype"])
        value = np.clip(np.round(value / scale + zero), info.min, info.max)
    interpreter.set_tensor(detail["index"], value.astype(detail["dtype"]))
    interpreter.invoke()
    out = interpreter.get_output_details()[0]
    y = interpreter.get_tensor(out["index"]).astype("float64")
    if np.issubdtype(out["dtype"], np.integer):
        scale, zero = out["quantization"]
        y = (y - zero) * scale
    return y


def onnx_session(path, num_threads=None):
    """Returns an ONNX Runtime CPU session for `path` and its runtime name.

    Args:
        path: Path of the `.onnx` file, or its content (`bytes`).
        num_threads: Intra-op threads, or `None` for the runtime default.

    Returns:
        A tuple `(session, runtime_name)`.

    Raises:
        ImportError: If onnxruntime is not installed.
    """
    (ort,) = extras.require(["onnxruntime"], "onnx", "Running an ONNX file")
    options = ort.SessionOptions()
    if num_threads is not None:
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        path if isinstance(path, bytes) else str(path),
        sess_options=options,
        providers=["CPUExecutionProvider"],
    )
    return session, f"onnxruntime {ort.__version__}"


def run_onnx(session, x):
    """Runs a single-input ONNX Runtime session on `x`; returns output 0."""
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: np.asarray(x, "float32")})[0]).astype(
        "float64"
    )
