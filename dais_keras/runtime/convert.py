"""Converting a Keras model for a runtime: TFLite (LiteRT) and ONNX.

TFLite files are written by Keras' own `model.export(format="litert")`, with
the converter options (`optimizations`, `representative_dataset`,
`target_spec`, ...) from `tflite_options`; `tflite_bytes` converts the
frozen inference function in memory (for timing). ONNX goes through a frozen
graph and tf2onnx on the TensorFlow backend (see `write_onnx`) and through
Keras' `model.export(format="onnx")` on JAX.

A TFLite conversion that fails raises `TFLiteConversionError`: one line that
names the TensorFlow ops without a TFLite kernel and the layers they come
from, instead of the converter's MLIR dump.
"""

import contextlib
import pathlib
import re
import tempfile

import keras

QUANTIZE_MODES = (None, "dynamic", "int8")


class TFLiteConversionError(ValueError):
    """The TFLite converter refused the model.

    Attributes:
        ops: The TensorFlow ops that have no TFLite kernel (may be empty).
        layers: The layers those ops come from, where they could be told.
        converter_message: The converter's full message.
    """

    def __init__(self, message, ops=(), layers=(), converter_message=""):
        super().__init__(message)
        self.ops = tuple(ops)
        self.layers = tuple(layers)
        self.converter_message = converter_message


def single_io_shape(model):
    """`(input shape, input dtype)` of a model with one input and one output.

    Raises:
        ValueError: If the model has no inputs, or several inputs or outputs.
    """
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


def input_signature(model, batch_size):
    """The `input_signature` of `model.export` for a batch size (`None`:
    the model's own, dynamic batch)."""
    if batch_size is None:
        return None
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(
            "Expected `batch_size` to be None (dynamic batch) or a positive "
            f"int. Received: batch_size={batch_size!r}"
        )
    shape, dtype = single_io_shape(model)
    name = model.inputs[0].name
    spec = keras.InputSpec(shape=(batch_size,) + shape[1:], dtype=dtype, name=name)
    if isinstance(model, keras.Sequential) or not hasattr(model, "_inputs_struct"):
        return [spec]
    return [keras.tree.map_structure(lambda _: spec, model._inputs_struct)]


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


# ---------------------------------------------------------------- TFLite


def tflite_options(quantize=None, calibration=None, integer_io=False, allow_flex_ops=False):
    """The TFLite converter options of a quantization mode.

    Args:
        quantize: `None` (float32), `"dynamic"` or `"int8"`.
        calibration: For `"int8"`: an array of calibration inputs, fed one
            example at a time.
        integer_io: For `"int8"`: int8 file inputs and outputs.
        allow_flex_ops: Also allow TensorFlow ("Flex") ops.

    Returns:
        A dict of keyword arguments for `model.export(format="litert")`.
    """
    import tensorflow as tf

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
    return options


def write_tflite(model, path, batch_size=None, verbose=False, **options):
    """Writes `model` as a TFLite file with Keras' LiteRT exporter.

    Args:
        model: A Keras model (TensorFlow backend).
        path: The file to write.
        batch_size: `None` keeps the batch dynamic; an int fixes it.
        verbose: Print the converter's messages.
        **options: Converter options (see `tflite_options`).

    Raises:
        TFLiteConversionError: If the converter refuses the model; for a
            model with layers quantized by Keras (`model.quantize`), the
            message names them and says how to export an int8 file instead.
    """
    try:
        with _converter_errors(model):
            model.export(
                str(path), format="litert", input_signature=input_signature(model, batch_size),
                verbose=verbose, **options,
            )
    except TFLiteConversionError as e:
        quantized = keras_quantized_layers(model)
        if not quantized:
            raise
        raise TFLiteConversionError(
            _keras_quantized_message(model, quantized, e), e.ops, e.layers, e.converter_message,
        ) from None


def keras_quantized_layers(model):
    """`(name, class name, mode)` of the layers of `model` whose weights
    Keras quantized (`model.quantize("int8")` and the like)."""
    flatten = getattr(model, "_flatten_layers", None)
    layers = flatten(include_self=False, recursive=True) if flatten else []
    return [
        (layer.name, type(layer).__name__, layer.quantization_mode)
        for layer in layers if getattr(layer, "quantization_mode", None)
    ]


def _keras_quantized_message(model, quantized, error):
    """Why a model quantized by Keras did not convert, and what to do."""
    names = ", ".join(f"'{name}' ({kind}, {mode})" for name, kind, mode in quantized[:5])
    more = f" and {len(quantized) - 5} more" if len(quantized) > 5 else ""
    reason = str(error).split(" failed: ", 1)[-1]
    return (
        f"TFLite conversion of model '{model.name}' failed: layer(s) {names}{more} hold "
        "weights quantized by Keras (`model.quantize`), which the LiteRT converter does "
        f"not take ({reason}). Export the float model and let the converter quantize "
        "it: dais_keras.export.tflite(float_model, path, quantize='int8', "
        "representative_data=x_train[:500]) (or quantize='dynamic', which needs no "
        "data); the Keras-quantized model itself exports with dais_keras.export.onnx."
    )


def tflite_bytes(model, batch_size=None):
    """The float TFLite flatbuffer of `model`'s frozen inference function.

    Raises:
        TFLiteConversionError: If the converter refuses the model.
    """
    import tensorflow as tf

    with _converter_errors(model):
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [frozen_function(model, batch_size)]
        )
        return converter.convert()


@contextlib.contextmanager
def _converter_errors(model):
    """Turns the converter's `ConverterError` into a `TFLiteConversionError`."""
    try:
        yield
    except Exception as e:
        if type(e).__name__ != "ConverterError":
            raise
        raise conversion_error(model, str(e)) from None


_UNSUPPORTED_OP = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_SELECT_OPS = re.compile(r"TF Select ops: ([\w, ]+)")
_LOCATION = re.compile(r'fused\["(\w+):", "([^"@]+)@')


def conversion_error(model, text):
    """The `TFLiteConversionError` of a converter message `text`: one line
    naming the ops without a TFLite kernel and their layers."""
    ops = list(dict.fromkeys(_UNSUPPORTED_OP.findall(text)))
    if not ops:
        found = _SELECT_OPS.search(text)
        ops = [o.strip() for o in found.group(1).split(",")] if found else []
    layers = _layers_of(model, text, ops)
    name = getattr(model, "name", "?")
    if ops:
        where = f" (layer {', '.join(repr(n) for n in layers)})" if layers else ""
        verb = "has" if len(ops) == 1 else "have"
        message = (
            f"TFLite conversion of model '{name}' failed: TensorFlow op "
            f"{', '.join(ops)}{where} {verb} no TFLite builtin kernel. Replace "
            "the layer with ops LiteRT supports, or export with "
            "allow_flex_ops=True (the file then needs LiteRT's Flex delegate)."
        )
    else:
        errors = [line.split("error:", 1)[1].strip() for line in text.splitlines() if "error:" in line]
        first = re.sub(r"^loc\(.*\)\s*:\s*", "", errors[0]) if errors else text.strip()
        message = f"TFLite conversion of model '{name}' failed: {first.splitlines()[0]}"
    return TFLiteConversionError(message, ops, layers, text)


def _layers_of(model, text, ops):
    """Names of the model's layers in the converter's op locations."""
    names = set()
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is not None:
        names = {layer.name for layer in flatten(include_self=False, recursive=True)}
    found = []
    for op, scope in _LOCATION.findall(text):
        if op not in ops:
            continue
        for part in reversed(scope.split("/")[:-1]):
            base = re.sub(r"_\d+$", "", part)
            match = part if part in names else base if base in names else None
            if match:
                found.append(match)
                break
    return list(dict.fromkeys(found))


# ------------------------------------------------------------------ ONNX


def write_onnx(model, path, opset=None, batch_size=None, verbose=False):
    """Writes `model` as an ONNX file.

    On the TensorFlow backend the model is traced, frozen and converted with
    tf2onnx: Keras' `model.export(format="onnx")` passes the traced function
    to `tf2onnx.convert.from_function`, which turns captured constants (e.g.
    the `mean`/`variance` of a `Normalization(mean=..., variance=...)` layer,
    as in the CIFAR ResNets' first layer) into extra graph inputs that ONNX
    Runtime then demands; freezing first makes them constants. On JAX,
    Keras' exporter (jax2onnx) is used.

    Args:
        model: A Keras model with one input and one output.
        path: The file to write.
        opset: ONNX opset version, or `None` for the converter's default.
        batch_size: `None` keeps the batch dynamic; an int fixes it.
        verbose: Print the converter's messages (JAX).
    """
    if keras.backend.backend() != "tensorflow":
        model.export(
            str(path), format="onnx", input_signature=input_signature(model, batch_size),
            opset_version=opset, verbose=verbose,
        )
        return
    import tf2onnx

    single_io_shape(model)
    frozen = frozen_function(model, batch_size)
    tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(),
        input_names=[t.name for t in frozen.inputs],
        output_names=[t.name for t in frozen.outputs],
        opset=opset,
        output_path=str(path),
    )


def onnx_bytes(model, batch_size=1):
    """The ONNX model of `model` (see `write_onnx`), as bytes."""
    with tempfile.TemporaryDirectory(prefix="dais_onnx_") as tmp:
        path = pathlib.Path(tmp) / "model.onnx"
        write_onnx(model, path, batch_size=batch_size)
        return path.read_bytes()
