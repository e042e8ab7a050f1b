"""Export to TFLite (LiteRT) and ONNX, with a parity check of the written file.

Both exporters convert with `dais_keras.runtime` (Keras' own
`model.export()` for TFLite, a frozen graph and tf2onnx for ONNX on
TensorFlow); quantized TFLite files pass the converter options
(`optimizations`, `representative_dataset`, `target_spec`) to
`tf.lite.TFLiteConverter`. The file is written beside its destination under
a temporary name, run in its runtime (the LiteRT interpreter, or ONNX
Runtime) next to the Keras model on a batch of inputs and at batch size 1,
and moved into place only if the check passes: a failed export never
replaces a good file. A file that fails is kept as `<name>.failed<suffix>`
(e.g. `model.failed.tflite`) for inspection, and an `ExportParityError`
says where. Each exporter returns an `ExportResult` with the size and the
errors; the criteria are those of `dais_keras.deploy.parity`:

- float TFLite and ONNX: `max_rel_error <= rtol` (default `1e-4`);
- dynamic-range TFLite: errors and top-1 agreement are reported; pass
  `min_top1_agreement` to enforce one;
- int8 TFLite: top-1 agreement `>= min_top1_agreement` (default `0.98`) on
  `sample`, or when no sample is given, on the representative data.

Without a `sample`, float and dynamic checks use 8 random inputs: uniform
pixels in [0, 255] for image models, standard normal values otherwise.
A `.keras` file given as `model` is loaded with safe mode pinned on.
"""

import contextlib
import os
import pathlib
import re
import shutil
import tempfile

import keras

from dais_keras.deploy import parity
from dais_keras.deploy.parity import DEFAULT_INT8_TOP1
from dais_keras.deploy.parity import DEFAULT_RTOL
from dais_keras.deploy.parity import ExportParityError
from dais_keras.deploy.parity import ExportResult
from dais_keras.deploy.parity import keras_outputs as _keras_outputs
from dais_keras.runtime import convert
from dais_keras.runtime import extras
from dais_keras.runtime.convert import QUANTIZE_MODES
from dais_keras.runtime.convert import TFLiteConversionError
from dais_keras.runtime.convert import frozen_function
from dais_keras.runtime.interpreters import interpreter_class
from dais_keras.runtime.interpreters import litert_interpreter
from dais_keras.runtime.interpreters import onnx_session
from dais_keras.runtime.interpreters import run_onnx
from dais_keras.runtime.interpreters import run_tflite
from dais_keras.utils.checks import check_int
from dais_keras.utils.progress import Progress
from dais_keras.utils.saving import load_model_safely

__all__ = [
    "DEFAULT_INT8_TOP1", "DEFAULT_RTOL", "QUANTIZE_MODES", "ExportParityError", "ExportWriteError",
    "ExportResult", "TFLiteConversionError", "export", "frozen_function",
    "interpreter_class", "litert_interpreter", "onnx", "onnx_session", "run_onnx",
    "run_tflite", "tflite",
]

_MAX_CHECK_FROM_CALIBRATION = 256


def _as_model(model):
    if isinstance(model, (str, os.PathLike)):
        return load_model_safely(model)
    if not isinstance(model, keras.Model):
        raise TypeError(
            "Expected `model` to be a keras.Model or the path of a .keras "
            f"file. Received: model={model!r} of type {type(model).__name__}"
        )
    return model


def _check(result, model, sample, run, batch_size, rtol, min_top1):
    """Runs the file (`run(x)`) and Keras on `sample`; fills in `result`."""
    outputs, index, result.batch_sizes = parity.run_batches(run, sample, batch_size)
    result.num_samples = len(sample)
    reference = _keras_outputs(model, sample)[index]
    return parity.compare(result, reference, outputs, rtol, min_top1)


class ExportWriteError(OSError):
    """The export could not write its file (a full disk, a file-size limit,
    no permission). Nothing was written at the destination: a file that was
    there is left as it was, and no partial file is left beside it."""


def _destination(path, suffix):
    """`path` as a `pathlib.Path`, checked before any conversion work.

    Raises:
        TypeError: If `path` is not a str or path-like.
        ValueError: For another suffix than `suffix`, a destination that
            exists and is not a regular file (a directory, a device such as
            `/dev/full`), or a parent that is not a directory.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"Expected `path` to be a str or path-like. Received: path={path!r} "
            f"of type {type(path).__name__}")
    path = pathlib.Path(path)
    if path.suffix != suffix:
        raise ValueError(f"Expected `path` to end in '{suffix}'. Received: path='{path}'")
    if path.exists() and not path.is_file():
        raise ValueError(
            f"`path` '{path}' exists and is not a regular file (a directory or a "
            "device): the export replaces its destination with the new file. "
            "Pass the path of a file to write.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(
                    f"`path` '{path}' lies under '{parent}', which is a file, not "
                    "a directory. Pass a path in a directory.")
            break
    return path


def _with_progress(fmt, verbose, write, check_file):
    """`write` and `check_file` reporting to a `Progress` of the export (a
    line after the conversion and after the check, see
    `dais_keras.utils.progress`); returns `(progress, write, check_file)`."""
    progress = Progress(f"export {fmt}", None, verbose)

    def write_reported(staged):
        write(staged)
        progress.step(1, f"converted, {staged.stat().st_size / 1e6:.2f} MB")

    def check_reported(staged, result):
        check_file(staged, result)
        progress.step(2, f"ran the file and Keras on {result.num_samples} inputs")

    return progress, write_reported, None if check_file is None else check_reported


def _converter_verbose(verbose):
    """Whether the converter prints its messages: at `verbose` 1 or 2."""
    return verbose != "auto" and bool(verbose)


def _write_checked(path, result, write, check_file):
    """Writes the file beside `path`, checks it, and moves it into place
    only if the check passed; a failed file goes to `<stem>.failed<suffix>`.

    Args:
        path: The destination (a `pathlib.Path`).
        result: The `ExportResult` to fill in.
        write: `write(staged_path)` writes the file.
        check_file: `check_file(staged_path, result)` runs the check, or
            `None` to skip it.

    Returns:
        `result`.

    Raises:
        ExportParityError: If the check failed.
    """
    with _write_errors(path, result.format):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        staged = pathlib.Path(tmp) / path.name
        with _write_errors(path, result.format):
            write(staged)
        result.size_bytes = staged.stat().st_size
        if check_file is not None:
            check_file(staged, result)
        if result.passed is False:
            failed = path.with_name(f"{path.stem}.failed{path.suffix}")
            os.replace(staged, failed)
            result.path = str(failed)
            raise parity.parity_error(result, path, replaced_nothing=not path.exists())
        with _write_errors(path, result.format):
            os.replace(staged, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


@contextlib.contextmanager
def _write_errors(path, fmt):
    """Turns a failed write (an `OSError`, or TensorFlow's error when its
    converter could not save its temporary files) into an
    `ExportWriteError` that says where and why."""
    try:
        yield
    except (ExportParityError, TFLiteConversionError):
        raise
    except Exception as e:
        tf_error = type(e).__module__.startswith("tensorflow") and hasattr(e, "error_code")
        if not (isinstance(e, OSError) or tf_error):
            raise
        reason = getattr(e, "strerror", None) or getattr(e, "message", None) or str(e)
        # TensorFlow's message names its op and temporary file first.
        reason = re.sub(r"\s*\[Op:\w+\]$", "", str(reason).strip()).rpartition("; ")[2]
        errno = getattr(e, "errno", None)
        raise ExportWriteError(
            *(() if errno is None else (errno,)),
            f"Could not write the {fmt} file '{path}': {reason} (a full disk, a "
            "file-size limit or no permission, in its directory or in the "
            f"temporary directory '{tempfile.gettempdir()}' that the converter "
            "uses). Nothing was written at the destination. Free space or "
            "export to another directory.",
        ) from e


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
    verbose="auto",
):
    """Exports a Keras model to a TFLite (LiteRT) file and checks it.

    Args:
        model: A `keras.Model` (TensorFlow backend), or the path of a
            `.keras` file (loaded with safe mode pinned on).
        path: Output path, ending in `.tflite`.
        quantize: `None` (float32), `"dynamic"` (dynamic-range: int8
            weights, float activations) or `"int8"` (full-integer: int8
            weights and activations, calibrated on `representative_data`).
        representative_data: Calibration inputs for `quantize="int8"`
            (required then, ignored otherwise): an array of shape
            `(N,) + input_shape`, a `tf.data.Dataset`, or an iterable (or a
            function returning one) of batches or `(x, y)` tuples. Every
            example is used; a few hundred are plenty.
        check: Whether to run the file against Keras before moving it into
            place, and raise on a mismatch.
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
        verbose: `"auto"` (default): a progress line after the conversion
            and the check, and the export's time, once it has taken more
            than 10 seconds; 1 (or `True`): those lines always, and the
            converter's messages; 0 (or `False`): silent.

    Returns:
        An `ExportResult`.

    Raises:
        ValueError: On a bad argument, a missing `representative_data` for
            int8, or a backend other than TensorFlow.
        TFLiteConversionError: If the converter refuses the model (the
            message names the ops without a TFLite kernel and their layers).
        ExportParityError: If the file fails the check (`path` is then
            left as it was).
        ExportWriteError: If the file could not be written (`path` is then
            left as it was, and no partial file is left).

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
    path = _destination(path, ".tflite")
    if integer_io and quantize != "int8":
        raise ValueError("`integer_io=True` needs quantize='int8'.")
    parity.check_criteria(rtol, min_top1_agreement)
    batch_size = None if batch_size is None else check_int("batch_size", batch_size, low=1)
    if keras.backend.backend() != "tensorflow":
        raise ValueError(
            "TFLite export needs the TensorFlow backend; the current Keras "
            f"backend is '{keras.backend.backend()}'. Save the model to a "
            ".keras file and export it from a process with "
            "KERAS_BACKEND=tensorflow (e.g. `dais export model.keras "
            "--format tflite --out model.tflite`)."
        )
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
        calibration = parity.examples(representative_data, model, "representative_data")
    options = convert.tflite_options(quantize, calibration, integer_io, allow_flex_ops)
    if rtol is None and quantize is None:
        rtol = DEFAULT_RTOL
    if min_top1_agreement is None and quantize == "int8":
        min_top1_agreement = DEFAULT_INT8_TOP1
    check_file = None
    if check:
        if sample is not None:
            sample = parity.examples(sample, model, "sample")
        elif calibration is not None:
            sample = calibration[:_MAX_CHECK_FROM_CALIBRATION]
        else:
            sample = parity.random_sample(model)

        def check_file(staged, result):
            interpreter, result.runtime = litert_interpreter(staged)
            _check(result, model, sample, lambda x: run_tflite(interpreter, x),
                   batch_size, rtol, min_top1_agreement)

    progress, write, check_file = _with_progress(
        "tflite", verbose,
        lambda staged: convert.write_tflite(
            model, staged, batch_size, _converter_verbose(verbose), **options),
        check_file,
    )
    result = _write_checked(
        path, ExportResult(path=str(path), format="tflite", quantize=quantize), write, check_file,
    )
    progress.done(f"{path} ({result.size_bytes / 1e6:.2f} MB)")
    return result


def onnx(
    model,
    path,
    opset=None,
    check=True,
    *,
    sample=None,
    rtol=DEFAULT_RTOL,
    batch_size=None,
    verbose="auto",
):
    """Exports a Keras model to an ONNX file and checks it with ONNX Runtime.

    On the TensorFlow backend the model is traced, frozen and converted
    with tf2onnx (see `dais_keras.runtime.convert.write_onnx` for why not
    through `model.export`); on JAX, Keras' `model.export(format="onnx")`
    (jax2onnx) is used. The file is validated with `onnx.checker`, then ONNX
    Runtime's outputs are compared with Keras' before the file is moved
    into place.

    Args:
        model: A `keras.Model`, or the path of a `.keras` file (loaded with
            safe mode pinned on).
        path: Output path, ending in `.onnx`.
        opset: ONNX opset version, or `None` for the converter's default.
        check: Whether to run the file and raise on a mismatch.
        sample: Inputs for the check, shape `(N,) + input_shape`. Defaults to
            8 random inputs (pixels in [0, 255] for image models).
        rtol: Largest accepted relative error (relative to the largest
            absolute reference output).
        batch_size: `None` keeps the batch dimension dynamic; an int fixes it.
        verbose: `"auto"` (default): a progress line after the conversion
            and the check, and the export's time, once it has taken more
            than 10 seconds; 1 (or `True`): those lines always, and the
            converter's messages; 0 (or `False`): silent.

    Returns:
        An `ExportResult`.

    Raises:
        ImportError: If the `onnx` extra (tf2onnx, onnx, onnxruntime) is
            missing; the message says what to install.
        ExportParityError: If the file fails the check (`path` is then
            left as it was).
        ExportWriteError: If the file could not be written (`path` is then
            left as it was, and no partial file is left).

    Example:

    ```python
    result = dais_keras.export.onnx(model, "model.onnx")
    print(result.max_rel_error)
    ```
    """
    path = _destination(path, ".onnx")
    if opset is not None and (isinstance(opset, bool) or not isinstance(opset, int) or opset < 1):
        raise ValueError(f"Expected `opset` to be None or a positive int. Received: opset={opset!r}")
    parity.check_criteria(rtol, None)
    batch_size = None if batch_size is None else check_int("batch_size", batch_size, low=1)
    backend = keras.backend.backend()
    converter = {"tensorflow": ["tf2onnx"], "jax": ["jax2onnx"]}.get(backend, [])
    install = None
    if backend != "tensorflow":  # The `onnx` extra covers the TensorFlow path.
        install = f"pip install {' '.join(converter + ['onnx', 'onnxruntime'])}"
    extras.require(converter + ["onnx"], "onnx", f"ONNX export ({backend} backend)", install)
    if check:
        extras.require(["onnxruntime"], "onnx", "Checking the ONNX file")
    import onnx as onnx_lib

    model = _as_model(model)
    check_file = None
    if check:
        sample = parity.random_sample(model) if sample is None else parity.examples(sample, model, "sample")

        def check_file(staged, result):
            session, result.runtime = onnx_session(staged)
            _check(result, model, sample, lambda x: run_onnx(session, x), batch_size, rtol, None)

    def write(staged):
        convert.write_onnx(model, staged, opset, batch_size, _converter_verbose(verbose))
        onnx_lib.checker.check_model(str(staged))

    progress, write, check_file = _with_progress("onnx", verbose, write, check_file)
    result = _write_checked(path, ExportResult(path=str(path), format="onnx"), write, check_file)
    progress.done(f"{path} ({result.size_bytes / 1e6:.2f} MB)")
    return result


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
