"""Export to TFLite (LiteRT) and ONNX, with a parity check of the written file.

Both exporters are built on Keras' own `model.export()` (formats `"litert"`
and `"onnx"`); quantized TFLite files pass the converter options
(`optimizations`, `representative_dataset`, `target_spec`) through it to
`tf.lite.TFLiteConverter`. After writing, each exporter runs the file in its
runtime (the LiteRT interpreter, or ONNX Runtime) next to the Keras model on a
batch of inputs, and at batch size 1, and returns an `ExportResult` with the
size and the errors. A file that fails the check stays on disk, and an
`ExportParityError` says so.

The check criteria:

- float TFLite and ONNX: `max_rel_error <= rtol` (default `1e-4`), where the
  relative error is the largest absolute difference divided by the largest
  absolute reference output;
- dynamic-range TFLite: errors and top-1 agreement are reported; pass
  `min_top1_agreement` to enforce one;
- int8 TFLite: top-1 agreement `>= min_top1_agreement` (default `0.98`) on
  `sample`, or when no sample is given, on the representative data.

Without a `sample`, float and dynamic checks use 8 random inputs: uniform
pixels in [0, 255] for image models (rank-4 inputs, as the library's models
take raw pixels), standard normal values otherwise.
"""

import dataclasses
import importlib
import os
import pathlib

import numpy as np

import keras

QUANTIZE_MODES = (None, "dynamic", "int8")
DEFAULT_RTOL = 1e-4
DEFAULT_INT8_TOP1 = 0.98
_RANDOM_SAMPLE_SIZE = 8
_MAX_CHECK_FROM_CALIBRATION = 256


class ExportParityError(RuntimeError):
    """The exported file was written but its outputs differ from Keras'.

    Attributes:
        result: The `ExportResult` of the failed check.
    """

    def __init__(self, message, result):
        super().__init__(message)
        self.result = result


@dataclasses.dataclass
class ExportResult:
    """What an exporter wrote and how closely the file matches Keras.

    Attributes:
        path: Path of the written file.
        format: `"tflite"` or `"onnx"`.
        quantize: `None`, `"dynamic"` or `"int8"`.
        size_bytes: File size in bytes.
        runtime: The runtime that ran the file in the check, e.g.
            `"ai_edge_litert 2.3.0"`, or `None` when not checked.
        num_samples: Number of inputs compared.
        batch_sizes: Batch sizes the file was run at.
        max_abs_error: Largest absolute difference of outputs.
        max_rel_error: `max_abs_error / max(|reference|)`.
        top1_agreement: Share of inputs whose arg-max output is the same as
            Keras' (`None` for outputs with a single unit).
        criterion: The pass criterion applied, in words.
        passed: Whether the check passed (`None` when not checked).
    """

    path: str
    format: str
    quantize: object = None
    size_bytes: int = 0
    runtime: object = None
    num_samples: int = 0
    batch_sizes: tuple = ()
    max_abs_error: object = None
    max_rel_error: object = None
    top1_agreement: object = None
    criterion: object = None
    passed: object = None

    def to_dict(self):
        """Returns the result as a JSON-serialisable dict."""
        out = dataclasses.asdict(self)
        out["batch_sizes"] = list(self.batch_sizes)
        return out

    def __str__(self):
        kind = self.format + (f" ({self.quantize})" if self.quantize else "")
        text = f"{kind} {self.path}: {self.size_bytes:,} bytes"
        if self.passed is None:
            return text + ", not checked"
        top1 = (
            "n/a" if self.top1_agreement is None else f"{self.top1_agreement:.2%}"
        )
        return (
            f"{text}, max abs error {self.max_abs_error:.3g}, max rel error "
            f"{self.max_rel_error:.3g}, top-1 agreement {top1} on "
            f"{self.num_samples} inputs (batch sizes "
            f"{', '.join(map(str, self.batch_sizes))}; {self.runtime}); "
            f"{self.criterion}: {'passed' if self.passed else 'FAILED'}"
        )


def _require(modules, extra, purpose, install=None):
    """Imports `modules`, or raises an ImportError naming the extra."""
    imported, missing = [], []
    for name in modules:
        try:
            imported.append(importlib.import_module(name))
        except ImportError:
            missing.append(name)
    if missing:
        default = f'pip install "dais-keras[{extra}]"'
        raise ImportError(
            f"{purpose} needs the optional package(s) {', '.join(modules)}, "
            f"but {', '.join(missing)} could not be imported. Install them "
            f"with: {install or default}"
        )
    return imported


def _as_model(model):
    if isinstance(model, (str, os.PathLike)):
        return keras.saving.load_model(model, compile=False, safe_mode=True)
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Expected `model` to be a keras.Model or the path of a .keras "
            f"file. Received: model={model!r} of type {type(model).__name__}"
        )
    return model


def _input_shape(model):
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise ValueError(
            f"Model '{model.name}' has no defined inputs. Build it from a "
            "keras.Input (or call it once on data) before exporting."
        )
    if len(inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"Model '{model.name}' has {len(inputs)} inputs and "
            f"{len(model.outputs)} outputs; the exporters' parity check and "
            "int8 calibration handle one input and one output. Pass "
            "check=False (and no int8) to export it without them."
        )
    return tuple(inputs[0].shape), inputs[0].dtype


def _input_signature(model, batch_size):
    if batch_size is None:
        return None
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(
            "Expected `batch_size` to be None (dynamic batch) or a positive "
            f"int. Received: batch_size={batch_size!r}"
        )
    shape, dtype = _input_shape(model)
    name = model.inputs[0].name
    spec = keras.InputSpec(shape=(batch_size,) + shape[1:], dtype=dtype, name=name)
    if isinstance(model, keras.Sequential) or not hasattr(model, "_inputs_struct"):
        return [spec]
    return [keras.tree.map_structure(lambda _: spec, model._inputs_struct)]


def _random_sample(model, seed=0):
    shape, _ = _input_shape(model)
    if any(d is None for d in shape[1:]):
        raise ValueError(
            f"Model '{model.name}' has input shape {shape} with unknown "
            "dimensions; pass `sample=` to check it."
        )
    rng = np.random.default_rng(seed)
    full = (_RANDOM_SAMPLE_SIZE,) + shape[1:]
    if len(shape) == 4:
        return rng.uniform(0.0, 255.0, full).astype("float32")
    return rng.standard_normal(full).astype("float32")


def _examples(data, model, argument):
    """Materialises data (array, dataset, iterable of arrays or (x, y))."""
    shape, _ = _input_shape(model)
    rank = len(shape)
    if callable(data) and not hasattr(data, "shape"):
        data = data()
    if hasattr(data, "as_numpy_iterator"):
        data = data.as_numpy_iterator()
    if isinstance(data, (np.ndarray,)) or hasattr(data, "shape"):
        items = [np.asarray(data)]
    else:
        items = data
    parts = []
    for item in items:
        if isinstance(item, dict):
            raise ValueError(
                f"`{argument}` yields dicts; pass arrays or (x, y) tuples."
            )
        if isinstance(item, (tuple, list)) and len(item) in (1, 2, 3):
            first = np.asarray(item[0])
            if first.ndim in (rank, rank - 1):
                item = first
        item = np.asarray(item, dtype="float32")
        if item.ndim == rank - 1:
            item = item[None]
        if item.ndim != rank or tuple(item.shape[1:]) != tuple(
            d if d is not None else item.shape[i + 1]
            for i, d in enumerate(shape[1:])
        ):
            raise ValueError(
                f"`{argument}` has an element of shape {item.shape}, which does "
                f"not fit the model input shape {shape}. Pass an array of "
                "shape (N,) + input shape, or batches / (x, y) tuples of it."
            )
        parts.append(item)
    if not parts or sum(len(p) for p in parts) == 0:
        raise ValueError(f"`{argument}` is empty; pass at least one example.")
    return np.concatenate(parts, axis=0)


def _check_criteria(rtol, min_top1_agreement):
    if rtol is not None and (isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or rtol < 0):
        raise ValueError(f"Expected `rtol` to be None or a number >= 0. Received: rtol={rtol!r}")
    if min_top1_agreement is not None and (
        isinstance(min_top1_agreement, bool)
        or not isinstance(min_top1_agreement, (int, float))
        or not 0 <= min_top1_agreement <= 1
    ):
        raise ValueError(
            "Expected `min_top1_agreement` to be None or a fraction in [0, 1]. "
            f"Received: min_top1_agreement={min_top1_agreement!r}"
        )


def _keras_outputs(model, x, batch_size=64):
    outs = [
        np.asarray(keras.ops.convert_to_numpy(model(x[i : i + batch_size], training=False)))
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(outs, axis=0).astype("float64")


def _compare(result, reference, outputs, rtol, min_top1):
    """Fills in the errors of `result` and raises if the criterion fails.

    Errors cover every row; top-1 agreement covers the first
    `result.num_samples` rows (the distinct inputs, without the batch-1
    re-run appended by `_run_batches`).
    """
    diff = np.abs(outputs - reference)
    scale = float(np.max(np.abs(reference)))
    result.max_abs_error = float(np.max(diff)) if diff.size else 0.0
    result.max_rel_error = result.max_abs_error / scale if scale > 0 else result.max_abs_error
    if reference.ndim >= 2 and reference.shape[-1] > 1:
        result.top1_agreement = float(
            np.mean(
                np.argmax(outputs[: result.num_samples], -1)
                == np.argmax(reference[: result.num_samples], -1)
            )
        )
    finite = bool(np.all(np.isfinite(outputs)))
    passed = finite
    texts = []
    if rtol is not None:
        texts.append(f"max rel error <= {rtol:g}")
        passed = passed and result.max_rel_error <= rtol
    if min_top1 is not None:
        texts.append(f"top-1 agreement >= {min_top1:.2%}")
        if result.top1_agreement is None:
            raise ValueError(
                "`min_top1_agreement` needs a model with more than one output "
                f"unit; output shape is {reference.shape}."
            )
        passed = passed and result.top1_agreement >= min_top1
    texts.append("finite outputs")
    result.criterion = " and ".join(texts)
    result.passed = bool(passed)
    if not result.passed:
        raise ExportParityError(
            f"The {result.format} file was written to '{result.path}' but "
            f"failed the parity check against Keras: {result}. The file is "
            "left in place for inspection; do not ship it. Check the model "
            "for ops the converter handles differently, or relax the "
            "criterion (`rtol=` / `min_top1_agreement=`) or pass check=False "
            "if this difference is acceptable.",
            result,
        )
    return result


def _run_batches(run, x, fixed_batch):
    """Runs `run` on x: whole batch and batch-1 if dynamic, chunks if fixed."""
    if fixed_batch is None:
        full = run(x)
        single = run(x[:1])
        return np.concatenate([full, single], 0), np.concatenate([np.arange(len(x)), [0]]), (len(x), 1)
    outs = []
    for i in range(0, len(x), fixed_batch):
        chunk = x[i : i + fixed_batch]
        n = len(chunk)
        if n < fixed_batch:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], fixed_batch - n, 0)])
        outs.append(run(chunk)[:n])
    return np.concatenate(outs, 0), np.arange(len(x)), (fixed_batch,)


# ---------------------------------------------------------------- TFLite


def interpreter_class():
    """`(Interpreter class, runtime name)`: `ai_edge_litert`'s when
    installed, else `tf.lite.Interpreter`."""
    try:
        from ai_edge_litert import interpreter as litert

        return litert.Interpreter, "ai_edge_litert " + _version("ai_edge_litert", "ai-edge-litert")
    except ImportError:
        import tensorflow as tf

        return tf.lite.Interpreter, "tf.lite " + tf.__version__


def litert_interpreter(path, num_threads=None):
    """Returns a LiteRT interpreter for a `.tflite` file and its runtime name.

    Uses `ai_edge_litert.interpreter.Interpreter` when installed, else
    `tf.lite.Interpreter`.

    Args:
        path: Path of the `.tflite` file.
        num_threads: Number of CPU threads, or `None` for the runtime default.

    Returns:
        A tuple `(interpreter, runtime_name)`.
    """
    cls, runtime = interpreter_class()
    interpreter = cls(model_path=str(path), num_threads=num_threads)
    interpreter.allocate_tensors()
    return interpreter, runtime


def _version(module, dist):
    try:
        from importlib import metadata

        return metadata.version(dist)
    except Exception:
        return getattr(importlib.import_module(module), "__version__", "?")


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


def tflite(
    model,
    path,
    quantize=None,
    representative_data=None,
    check=True,
    *,
    sample=None,
    rtol=None,
    min_top1_agreement=None,
    batch_size=None,
    integer_io=False,
    allow_flex_ops=False,
    verbose=False,
):
    """Exports a Keras model to a TFLite (LiteRT) file and checks it.

    Args:
        model: A `keras.Model` (TensorFlow backend), or the path of a
            `.keras` file (loaded with `safe_mode=True`).
        path: Output path, ending in `.tflite`.
        quantize: `None` (float32), `"dynamic"` (dynamic-range: int8
            weights, float activations) or `"int8"` (full-integer: int8
            weights and activations, calibrated on `representative_data`).
        representative_data: Calibration inputs for `quantize="int8"`
            (required then, ignored otherwise): an array of shape
            `(N,) + input_shape`, a `tf.data.Dataset`, or an iterable (or a
            function returning one) of batches or `(x, y)` tuples. Every
            example is used; a few hundred are plenty.
        check: Whether to run the written file against Keras and raise on a
            mismatch.
        sample: Inputs for the check, shape `(N,) + input_shape`. Defaults
            to the first 256 representative examples for int8, else to 8
            random inputs (pixels in [0, 255] for image models).
        rtol: Largest accepted relative error. Defaults to `1e-4` for float
            files and to no bound for quantized ones.
        min_top1_agreement: Smallest accepted top-1 agreement. Defaults to
            `0.98` for int8 and to no bound otherwise.
        batch_size: `None` keeps the batch dimension dynamic; an int fixes
            it (some accelerators need static shapes).
        integer_io: For `quantize="int8"`, make the file's input and output
            int8 too (for integer-only devices). Defaults to float32 I/O
            with (de)quantization inside the file.
        allow_flex_ops: Allow TensorFlow ops that LiteRT has no builtin for
            ("Flex" ops; the file then needs the Flex delegate). Defaults to
            builtins only, so the file runs on any LiteRT runtime.
        verbose: Print the converter's messages.

    Returns:
        An `ExportResult`.

    Raises:
        ValueError: On a bad argument, a missing `representative_data` for
            int8, or a backend other than TensorFlow.
        ExportParityError: If the written file fails the check.

    Example:

    ```python
    result = dais_keras.export.tflite(model, "model.tflite")
    result = dais_keras.export.tflite(
        model, "model_int8.tflite", quantize="int8",
        representative_data=x_train[:500], sample=x_test)
    print(result.top1_agreement)
    ```
    """
    if quantize not in QUANTIZE_MODES:
        raise ValueError(
            f"Unknown quantize={quantize!r}; expected one of None, 'dynamic', "
            "'int8'."
        )
    path = pathlib.Path(path)
    if path.suffix != ".tflite":
        raise ValueError(
            f"Expected `path` to end in '.tflite'. Received: path='{path}'"
        )
    if integer_io and quantize != "int8":
        raise ValueError("`integer_io=True` needs quantize='int8'.")
    _check_criteria(rtol, min_top1_agreement)
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "TFLite export needs the TensorFlow backend; the current Keras "
            f"backend is '{keras.backend.backend()}'. Save the model to a "
            ".keras file and export it from a process with "
            "KERAS_BACKEND=tensorflow (e.g. `dais export model.keras "
            "--format tflite --out model.tflite`)."
        )
    import tensorflow as tf

    model = _as_model(model)
    calibration = None
    if quantize == "int8":
        if representative_data is None:
            raise ValueError(
                "quantize='int8' needs `representative_data`: a few hundred "
                "typical inputs (e.g. training images) to calibrate the "
                "activation ranges. Pass representative_data=x_train[:500], "
                "or use quantize='dynamic', which needs none."
            )
        calibration = _examples(representative_data, model, "representative_data")

    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    options = {}
    if quantize is not None:
        options["optimizations"] = [tf.lite.Optimize.DEFAULT]
    if quantize == "int8":
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]

        def representative_dataset():
            for i in range(len(calibration)):
                yield [calibration[i : i + 1]]

        options["representative_dataset"] = representative_dataset
        if integer_io:
            options["inference_input_type"] = tf.int8
            options["inference_output_type"] = tf.int8
    if allow_flex_ops:
        ops = ops + [tf.lite.OpsSet.SELECT_TF_OPS]
    options["target_spec"] = {"supported_ops": ops}

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.tflite")
    try:
        model.export(
            str(tmp),
            format="litert",
            input_signature=_input_signature(model, batch_size),
            verbose=verbose,
            **options,
        )
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()

    result = ExportResult(
        path=str(path), format="tflite", quantize=quantize,
        size_bytes=path.stat().st_size,
    )
    if not check:
        return result
    if sample is None:
        if calibration is not None:
            sample = calibration[:_MAX_CHECK_FROM_CALIBRATION]
        else:
            sample = _random_sample(model)
    else:
        sample = _examples(sample, model, "sample")
    interpreter, result.runtime = litert_interpreter(path)
    outputs, index, result.batch_sizes = _run_batches(
        lambda x: run_tflite(interpreter, x), sample, batch_size
    )
    result.num_samples = len(sample)
    reference = _keras_outputs(model, sample)[index]
    if rtol is None and quantize is None:
        rtol = DEFAULT_RTOL
    if min_top1_agreement is None and quantize == "int8":
        min_top1_agreement = DEFAULT_INT8_TOP1
    return _compare(result, reference, outputs, rtol, min_top1_agreement)


# ------------------------------------------------------------------ ONNX


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
    (ort,) = _require(["onnxruntime"], "onnx", "Running an ONNX file")
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


def frozen_function(model, batch_size=None):
    """TensorFlow backend: the inference function of `model`, traced and
    frozen (its variables turned into constants).

    Converters need frozen weights: tf2onnx would make captured constants
    extra graph inputs, and the TFLite converter would keep the weights as
    variables, which XNNPack cannot pack (about 4x slower).

    Args:
        model: A functional Keras model (TensorFlow backend).
        batch_size: Fixed batch size, or `None` for a dynamic one.

    Returns:
        A frozen `tf.ConcreteFunction` of the model's inputs.
    """
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    specs = []
    for t in model.inputs:
        shape = tuple(t.shape)
        if batch_size is not None:
            shape = (batch_size,) + shape[1:]
        name = (t.name or "input").replace(":", "_")
        specs.append(tf.TensorSpec(shape, t.dtype or "float32", name=name))

    @tf.function(input_signature=specs, autograph=False)
    def serve(*x):
        return model(list(x) if len(x) > 1 else x[0], training=False)

    return convert_variables_to_constants_v2(serve.get_concrete_function())


def _onnx_from_frozen_graph(model, path, opset, batch_size):
    """TensorFlow backend: trace, freeze, convert with tf2onnx.

    Keras 3's `model.export(format="onnx")` passes the traced function to
    `tf2onnx.convert.from_function`, which turns captured constants (e.g.
    the `mean`/`variance` of a `Normalization(mean=..., variance=...)` layer,
    as in the CIFAR ResNets' first layer) into extra graph inputs that ONNX
    Runtime then demands. Freezing first makes them constants.
    """
    import tf2onnx

    _input_shape(model)  # one input, one output
    frozen = frozen_function(model, batch_size)
    tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(),
        input_names=[t.name for t in frozen.inputs],
        output_names=[t.name for t in frozen.outputs],
        opset=opset,
        output_path=str(path),
    )


def onnx(
    model,
    path,
    opset=None,
    check=True,
    *,
    sample=None,
    rtol=DEFAULT_RTOL,
    batch_size=None,
    verbose=False,
):
    """Exports a Keras model to an ONNX file and checks it with ONNX Runtime.

    On the TensorFlow backend the model is traced, frozen and converted
    with tf2onnx (see `_onnx_from_frozen_graph` for why not through
    `model.export`); on JAX, Keras' `model.export(format="onnx")` (jax2onnx)
    is used. The file is validated with `onnx.checker`, then ONNX Runtime's
    outputs are compared with Keras'.

    Args:
        model: A `keras.Model`, or the path of a `.keras` file (loaded with
            `safe_mode=True`).
        path: Output path, ending in `.onnx`.
        opset: ONNX opset version, or `None` for the converter's default.
        check: Whether to run the written file and raise on a mismatch.
        sample: Inputs for the check, shape `(N,) + input_shape`. Defaults to
            8 random inputs (pixels in [0, 255] for image models).
        rtol: Largest accepted relative error (relative to the largest
            absolute reference output).
        batch_size: `None` keeps the batch dimension dynamic; an int fixes it.
        verbose: Print the converter's messages.

    Returns:
        An `ExportResult`.

    Raises:
        ImportError: If the `onnx` extra (tf2onnx, onnx, onnxruntime) is
            missing; the message says what to install.
        ExportParityError: If the written file fails the check.

    Example:

    ```python
    result = dais_keras.export.onnx(model, "model.onnx")
    print(result.max_rel_error)
    ```
    """
    path = pathlib.Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"Expected `path` to end in '.onnx'. Received: path='{path}'")
    if opset is not None and (not isinstance(opset, int) or opset < 1):
        raise ValueError(f"Expected `opset` to be None or a positive int. Received: opset={opset!r}")
    _check_criteria(rtol, None)
    backend = keras.backend.backend()
    converter = {"tensorflow": ["tf2onnx"], "jax": ["jax2onnx"]}.get(backend, [])
    install = None
    if backend != "tensorflow":  # The `onnx` extra covers the TensorFlow path.
        install = f"pip install {' '.join(converter + ['onnx', 'onnxruntime'])}"
    _require(converter + ["onnx"], "onnx", f"ONNX export ({backend} backend)", install)
    if check:
        _require(["onnxruntime"], "onnx", "Checking the ONNX file")
    import onnx as onnx_lib

    model = _as_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}.onnx")
    try:
        if backend == "tensorflow":
            _onnx_from_frozen_graph(model, tmp, opset, batch_size)
        else:
            model.export(
                str(tmp),
                format="onnx",
                input_signature=_input_signature(model, batch_size),
                opset_version=opset,
                verbose=verbose,
            )
        onnx_lib.checker.check_model(str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()

    result = ExportResult(path=str(path), format="onnx", size_bytes=path.stat().st_size)
    if not check:
        return result
    sample = _random_sample(model) if sample is None else _examples(sample, model, "sample")
    session, result.runtime = onnx_session(path)
    outputs, index, result.batch_sizes = _run_batches(
        lambda x: run_onnx(session, x), sample, batch_size
    )
    result.num_samples = len(sample)
    reference = _keras_outputs(model, sample)[index]
    return _compare(result, reference, outputs, rtol, None)


def export(model, path, format=None, **kwargs):
    """Exports to the format named by `format` or by the suffix of `path`.

    Args:
        model: A `keras.Model` or the path of a `.keras` file.
        path: Output path (`.tflite` or `.onnx`).
        format: `"tflite"` (alias `"litert"`) or `"onnx"`; inferred from the
            suffix of `path` when `None`.
        **kwargs: Passed to `tflite()` or `onnx()`.

    Returns:
        An `ExportResult`.
    """
    fmt = format or {".tflite": "tflite", ".onnx": "onnx"}.get(pathlib.Path(path).suffix)
    fmt = {"litert": "tflite"}.get(fmt, fmt)
    if fmt == "tflite":
        return tflite(model, path, **kwargs)
    if fmt == "onnx":
        return onnx(model, path, **kwargs)
    raise ValueError(
        f"Unknown export format {format!r} for path '{path}'; expected "
        "format='tflite' or 'onnx', or a path ending in .tflite or .onnx."
    )
