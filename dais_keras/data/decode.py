"""Decoding a CIFAR-10 source into arrays: one decoder per format.

Every decoder of `DECODERS` takes a `CifarSource` and returns
`{"x_train", "y_train", "x_test", "y_test"}`: images uint8 NHWC, labels int32,
in the original files' order (data_batch_1..5, then test_batch), except the
JPEG copy (see `dais_keras.data.order`). Nothing here imports TensorFlow but
the tfds decoder and, when chosen, the TensorFlow JPEG decoder.
"""

import io
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from dais_keras.data import formats
from dais_keras.data.errors import DataNotFoundError
from dais_keras.data.errors import corrupt
from dais_keras.data.jpeg import decode_jpeg_archive
from dais_keras.data.source import not_found_message


def decode(source, searched):
    """Decodes both splits of `source` with its format's decoder.

    Args:
        source: A `CifarSource`.
        searched: The places searched before it (for the message when the
            tfds fallback fails).

    Returns:
        Dict `{"x_train", "y_train", "x_test", "y_test"}` of numpy arrays.

    Raises:
        CorruptDataError: If the files of `source` cannot be read.
        DataNotFoundError: If the tfds fallback fails (no internet, ...).
    """
    if source.format != "tfds":
        return DECODERS[source.format](source)
    try:
        return DECODERS["tfds"](source)
    except Exception as e:  # No internet, tfds missing or broken, ...
        reason = f"tensorflow_datasets 'cifar10': failed: {type(e).__name__}: {e}"
        raise DataNotFoundError(not_found_message(searched + [reason], None)) from e


def _read_members(path, wanted):
    """Reads the named files from a directory or a tar archive.

    Args:
        path: Directory or `.tar.gz`.
        wanted: Base names to read.

    Returns:
        Dict base name -> bytes.
    """
    path = Path(path)
    if path.is_dir():
        missing = [n for n in wanted if not (path / n).is_file()]
        if missing:
            raise corrupt(path, f"missing {', '.join(missing)}")
        return {n: (path / n).read_bytes() for n in wanted}
    found = {}
    try:
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                name = Path(member.name).name
                if member.isfile() and name in wanted:
                    found[name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise corrupt(path, "not a readable tar archive", e) from e
    missing = [n for n in wanted if n not in found]
    if missing:
        raise corrupt(path, f"the archive lacks {', '.join(missing)}")
    return found


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches, refusing anything but numpy arrays."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def _check_batch(path, name, images, labels):
    """Checks one batch's `(n, 3072)` CHW rows and labels; returns NHWC uint8
    images and int32 labels."""
    n = len(labels)
    if images.shape != (n, 3 * 32 * 32) or np.any((labels < 0) | (labels > 9)):
        raise corrupt(
            path,
            f"{name} holds images of shape {images.shape} and {n} labels in "
            f"[{labels.min() if n else '-'}, {labels.max() if n else '-'}]; "
            f"expected ({n}, 3072) and labels in [0, 9]",
        )
    x = images.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x, dtype=np.uint8), labels.astype(np.int32)


def _decode_batches(source, parse):
    """Decodes the batch files of `source`'s format with `parse(name, bytes)`
    -> `(images, labels)`; returns the dict of both splits."""
    names = formats.FORMAT_FILES[source.format]
    raw = _read_members(source.path, names)
    parts = {}
    for name in names:
        images, labels = parse(name, raw[name])
        parts[name] = _check_batch(source.path, name, images, labels)
    train = [parts[n] for n in names[:-1]]
    x_test, y_test = parts[names[-1]]
    return {
        "x_train": np.concatenate([x for x, _ in train]),
        "y_train": np.concatenate([y for _, y in train]),
        "x_test": x_test,
        "y_test": y_test,
    }


def _decode_python(source):
    def parse(name, data):
        try:
            batch = _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
            images = np.asarray(batch[b"data"], dtype=np.uint8)
            labels = np.asarray(batch[b"labels"], dtype=np.int64)
        except Exception as e:
            raise corrupt(
                f"{source.path} ({name})",
                "not a CIFAR-10 python batch (a pickled dict with b'data' and "
                "b'labels')",
                e,
            ) from e
        return images, labels

    return _decode_batches(source, parse)


def _decode_binary(source):
    size = formats.RECORD_BYTES

    def parse(name, data):
        if len(data) == 0 or len(data) % size:
            raise corrupt(
                f"{source.path} ({name})",
                f"size {len(data)} bytes is not a positive multiple of the "
                f"{size}-byte record (1 label byte + 3072 pixel bytes)",
            )
        records = np.frombuffer(data, np.uint8).reshape(-1, size)
        return records[:, 1:], records[:, 0].astype(np.int64)

    return _decode_batches(source, parse)


def _decode_tfds(source):
    import tensorflow_datasets as tfds

    arrays = {}
    for split in ("train", "test"):
        x, y = tfds.as_numpy(
            tfds.load("cifar10", split=split, as_supervised=True, batch_size=-1)
        )
        arrays[f"x_{split}"] = np.asarray(x, np.uint8)
        arrays[f"y_{split}"] = np.asarray(y, np.int32)
    return arrays


# Decoders by source format.
DECODERS = {
    "python": _decode_python,
    "binary": _decode_binary,
    "jpeg": decode_jpeg_archive,
    "tfds": _decode_tfds,
}
