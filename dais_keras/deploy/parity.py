"""The parity check of an exported file: its outputs against Keras'.

The criteria (see `dais_keras.deploy.export`):

- float TFLite and ONNX: `max_rel_error <= rtol` (default `1e-4`), where the
  relative error is the largest absolute difference divided by the largest
  absolute reference output;
- dynamic-range TFLite: errors and top-1 agreement are reported; pass
  `min_top1_agreement` to enforce one;
- int8 TFLite: top-1 agreement `>= min_top1_agreement` (default `0.98`).

Without a `sample`, checks use 8 random inputs: uniform pixels in [0, 255]
for image models (rank-4 inputs, as the library's models take raw pixels),
standard normal values otherwise.
"""

import dataclasses
import math

import numpy as np

import keras

from dais_keras.runtime.convert import single_io_shape
from dais_keras.utils.checks import as_scalar

DEFAULT_RTOL = 1e-4
DEFAULT_INT8_TOP1 = 0.98
_RANDOM_SAMPLE_SIZE = 8


class ExportParityError(RuntimeError):
    """The exported file's outputs differ from Keras'.

    The file that failed is kept for inspection (its path is
    `error.result.path`); the destination was not replaced.

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
        path: Path of the written file (of the failed file, after a failed
            check).
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


def random_sample(model, seed=0):
    """8 random inputs for `model` (pixels in [0, 255] for image models)."""
    shape, _ = single_io_shape(model)
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


def examples(data, model, argument):
    """Materialises data (array, dataset, iterable of arrays or (x, y)) as
    one float32 array of model inputs."""
    shape, _ = single_io_shape(model)
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
    out = np.concatenate(parts, axis=0)
    if not np.isfinite(out).all():
        index = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
        raise ValueError(
            f"`{argument}` holds a non-finite value ({out[index].item()!r} at "
            f"index {index}): a parity check or an int8 calibration on it "
            "means nothing. Pass finite inputs."
        )
    return out


def check_criteria(rtol, min_top1_agreement):
    """Validates the pass criteria of a check."""
    rtol, min_top1_agreement = as_scalar(rtol), as_scalar(min_top1_agreement)
    if rtol is not None and (isinstance(rtol, bool) or not isinstance(rtol, (int, float))
                             or not math.isfinite(rtol) or rtol < 0):
        raise ValueError(f"Expected `rtol` to be None or a finite number >= 0. Received: rtol={rtol!r}")
    if min_top1_agreement is not None and (
        isinstance(min_top1_agreement, bool)
        or not isinstance(min_top1_agreement, (int, float))
        or not 0 <= min_top1_agreement <= 1  # False for NaN
    ):
        raise ValueError(
            "Expected `min_top1_agreement` to be None or a fraction in [0, 1]. "
            f"Received: min_top1_agreement={min_top1_agreement!r}"
        )


def keras_outputs(model, x, batch_size=64):
    """The Keras model's outputs on `x` (float64).

    Up to `batch_size` examples run in one eager call; more go through the
    model's compiled predict function (traced once: about twice as fast as
    eager batches on a thousand CIFAR images).
    """
    if len(x) > batch_size:
        out = model.predict(x, batch_size=4 * batch_size, verbose=0)
    else:
        out = keras.ops.convert_to_numpy(model(x, training=False))
    return np.asarray(out).astype("float64")


def run_batches(run, x, fixed_batch):
    """Runs `run` on x: whole batch and batch-1 if dynamic, chunks if fixed.

    Returns:
        `(outputs, index of the input row of each output row, batch sizes)`.
    """
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


def compare(result, reference, outputs, rtol, min_top1):
    """Fills in the errors, criterion and verdict of `result`.

    Errors cover every row; top-1 agreement covers the first
    `result.num_samples` rows (the distinct inputs, without the batch-1
    re-run appended by `run_batches`).

    Returns:
        `result`, with `passed` set.
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
    passed = bool(np.all(np.isfinite(outputs)))
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
    return result


def parity_error(result, destination, replaced_nothing):
    """The `ExportParityError` of a failed `result` (its file kept aside)."""
    kept = (
        "nothing was written there" if replaced_nothing
        else "it still holds the previous file"
    )
    return ExportParityError(
        f"The {result.format} file was written to '{result.path}' but "
        f"failed the parity check against Keras: {result}. '{destination}' "
        f"was not replaced ({kept}); the failed file is kept for "
        "inspection, do not ship it. Check the model for ops the converter "
        "handles differently, or relax the criterion (`rtol=` / "
        "`min_top1_agreement=`) or pass check=False if this difference is "
        "acceptable.",
        result,
    )
