"""Decoding the lossy JPEG copy of CIFAR-10 (`cifar10-jpg.tar.gz`).

The archive holds `train|test/<class>/NNNN.jpg`. Pixels are those of libjpeg's
accurate integer IDCT with fancy upsampling, decoded by TensorFlow or by
Pillow (the two give identical pixels): TensorFlow when it is already
imported (it decodes in parallel), else Pillow when installed (importing
TensorFlow costs more than Pillow's decoding), else TensorFlow.
"""

import importlib.util
import io
import os
import re
import sys
import tarfile
import zlib

import numpy as np

from dais_keras.data import formats
from dais_keras.data.errors import corrupt
from dais_keras.data.order import interleave


def decode_jpeg_archive(source):
    """Decodes the JPEG archive of `source`.

    Args:
        source: A `CifarSource` of format `"jpeg"`.

    Returns:
        Dict with `"x_train"`, `"y_train"`, `"x_test"`, `"y_test"`: uint8 NHWC
        images and int32 labels; the training split interleaved by class, the
        test split class by class (see `order.order_jpeg_test`).

    Raises:
        CorruptDataError: If the archive, a member or its folder is not what
            the layout says.
    """
    path = source.path
    blobs = _read_jpeg_members(path)
    decode = _jpeg_decoder()
    arrays = {}
    for split in ("train", "test"):
        items = sorted(blobs[split])  # class-major, then file number
        if not items:
            raise corrupt(
                path, f"no {split}/<class>/NNNN.jpg members (expected layout "
                "train|test/<class>/NNNN.jpg)"
            )
        images = decode([it[3] for it in items], [it[2] for it in items], path)
        labels = np.array([it[0] for it in items], np.int32)
        if split == "train":
            images, labels = interleave(images, labels)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images, labels
    return arrays


def _read_jpeg_members(path):
    """`{"train": [...], "test": [...]}` of `(label, number, name, bytes)`."""
    blobs = {"train": [], "test": []}
    try:
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                match = formats.JPEG_MEMBER.match(member.name)
                if not member.isfile() or match is None:
                    continue
                split, cls, number = match.groups()
                if cls not in formats.CLASS_NAMES:
                    raise corrupt(
                        path,
                        f"member {member.name} is in an unknown class folder "
                        f"{cls!r}; expected one of {', '.join(formats.CLASS_NAMES)}",
                    )
                data = tar.extractfile(member).read()
                label = formats.CLASS_NAMES.index(cls)
                blobs[split].append((label, int(number), member.name, data))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise corrupt(path, "not a readable tar.gz archive", e) from e
    return blobs


def _jpeg_decoder():
    """The JPEG decoder to use (see the module docstring)."""
    tf_imported = sys.modules.get("tensorflow") is not None
    preference = ("tensorflow", "PIL") if tf_imported else ("PIL", "tensorflow")
    for module in preference:
        if importlib.util.find_spec(module) is not None:
            return _DECODERS[module]
    raise ImportError(
        "Decoding the CIFAR-10 JPEG archive needs TensorFlow or Pillow; "
        "install one (`pip install tensorflow` or `pip install pillow`), "
        "or use the cifar-10-python.tar.gz archive."
    )


def _decode_jpegs_tf(blobs, names, path):
    """Decodes JPEG bytes to uint8 `(n, 32, 32, 3)` with TensorFlow."""
    import tensorflow as tf

    shape = formats.IMAGE_SHAPE

    def decode_one(data):
        image = tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")
        return tf.ensure_shape(image, shape)

    def decode_batch(batch):
        return tf.map_fn(
            decode_one, batch, fn_output_signature=tf.TensorSpec(shape, tf.uint8)
        )

    strings = tf.constant(np.array(blobs, dtype=object))
    ds = tf.data.Dataset.from_tensor_slices(strings).batch(512)
    ds = ds.map(decode_batch, num_parallel_calls=os.cpu_count() or 2)
    try:
        return np.concatenate([b.numpy() for b in ds])
    except (tf.errors.InvalidArgumentError, tf.errors.UnknownError):
        pass
    for data, name in zip(blobs, names):  # Find the bad one (slow path).
        try:
            decode_one(tf.constant(data))
        except (tf.errors.InvalidArgumentError, tf.errors.UnknownError) as e:
            # Keep TensorFlow's reason, drop its op/device decorations.
            reason = re.sub(r"\{\{.*?\}\}|\[Op:.*?\]", "", e.message or "")
            reason = re.sub(r"\s*name:\s*$", "", reason.strip())
            raise corrupt(
                f"{path} ({name})",
                f"not a {shape[0]}x{shape[1]} RGB JPEG ({reason})",
            ) from None
    raise corrupt(path, "JPEG decoding failed")  # pragma: no cover


def _decode_jpegs_pil(blobs, names, path):
    """Decodes JPEG bytes to uint8 `(n, 32, 32, 3)` with Pillow."""
    from PIL import Image

    shape = formats.IMAGE_SHAPE
    out = np.empty((len(blobs),) + shape, np.uint8)
    for i, (data, name) in enumerate(zip(blobs, names)):
        try:
            with Image.open(io.BytesIO(data)) as im:
                image = np.asarray(im.convert("RGB"))
        except Exception as e:
            raise corrupt(f"{path} ({name})", "not a JPEG", e) from e
        if image.shape != shape:
            raise corrupt(
                f"{path} ({name})",
                f"image of shape {image.shape}, expected {shape}",
            )
        out[i] = image
    return out


# JPEG decoders by the module they need.
_DECODERS = {"tensorflow": _decode_jpegs_tf, "PIL": _decode_jpegs_pil}
