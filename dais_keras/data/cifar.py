"""CIFAR-10 for training, searching and evaluating pruned models.

`cifar10(split, ...)` returns a batched `tf.data.Dataset` of `(images, labels)`;
`cifar10_numpy(split, ...)` returns the same examples as numpy arrays.
Images are **raw pixels**: `uint8` values 0-255 in NHWC from `cifar10_numpy`,
the same values cast to `float32` (no scaling) from `cifar10`. Every model of
this library normalises inside itself. Labels are `int32` class ids in the
standard order of `CLASS_NAMES`.

Also here: `cifar10_exact_subset` / `cifar10_original_labels` (the exact-pixel
subset shipped in the shared data and the original test labels),
`split_indices` (the stratified weight/search split of any labels) and
`cifar10_augmentation` (pad-4 random crop and horizontal flip).

Splits:

* `"test"`: the 10,000 test images.
* `"train"`: the 50,000 training images, or, when `search_fraction` is given,
  only the weight part of the weight/search split (see `split_indices`).
* `"weight"` / `"search"`: the two disjoint parts of the training set used by
  the bi-level search (`search_fraction` defaults to 0.2 for these). The split
  is stratified per class and a pure function of `(source, search_fraction,
  seed)`.

Where the data comes from (`cifar10_source` says which was used):

1. the `data_dir` argument, if given (nothing else is searched then);
2. otherwise the directory in the `DAIS_DATA_DIR` environment variable, then the
   project's shared data directory `<repository>/../shared/data`, then
   `tensorflow_datasets` (`cifar10`, downloads; only if `download=True`).

In a data directory, the first of these is used (original pixels before the
lossy JPEG copy unless `variant="jpeg"`):

* `cifar-10-batches-py/` or `cifar-10-python.tar.gz` (python pickles),
* `cifar-10-batches-bin/` or `cifar-10-binary.tar.gz` (binary records),
* `cifar10-jpeg/cifar10-jpg.tar.gz` (`train|test/<class>/NNNN.jpg`, JPEG q~75).

The first two give the original pixels (`source.name == "cifar10-original"`);
the JPEG archive gives lossy pixels (`"cifar10-jpeg"`), and accuracy measured on
it is not the accuracy on CIFAR-10: always report `cifar10_source().name`.

Order of the examples (before any shuffling): the original files' order for
the pickles/binary records (data_batch_1..5, then test_batch). In the JPEG
archive, file `<class>/NNNN.jpg` is the NNNN-th image of that class in the
original order; its test split is put back into the original test order when
the original test labels are available (`cifar10-exact-subset/test_first1017.npz`
next to `cifar10-jpeg/`, as in the shared data), so test image `i` is the same
picture in every variant. Otherwise, and always for its training split, JPEG
examples are interleaved by class (image 0 of every class, then image 1, ...),
so any prefix (`limit=`) is class-balanced. `CifarSource.test_order` records it.

Decoded arrays are cached as uncompressed `.npz` files, keyed by the source
files' path, size and modification time, in `cache_dir`, `$DAIS_CACHE_DIR` or
`~/.cache/dais_keras`. Cache files are written atomically (temporary file, then
`os.replace`), so a crash or a corrupt archive never leaves a partial file.

Errors: missing data raises `DataNotFoundError` (a `FileNotFoundError`) whose
message lists every place searched and the files expected there; an unreadable
archive raises `CorruptDataError` (a `ValueError`) naming the file; bad
arguments raise `ValueError` naming the argument and its valid values.
"""

import dataclasses
import hashlib
import io
import json
import os
import pickle
import re
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
NUM_CLASSES = 10
IMAGE_SHAPE = (32, 32, 3)
SPLITS = ("train", "weight", "search", "test")
VARIANTS = ("original", "jpeg")
DEFAULT_SEARCH_FRACTION = 0.2
DATA_DIR_ENV = "DAIS_DATA_DIR"
CACHE_DIR_ENV = "DAIS_CACHE_DIR"

# Bump when the layout or content of cache files changes.
_CACHE_VERSION = 2
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_TEST_BATCH = "test_batch"
_RECORD_BYTES = 1 + 32 * 32 * 3
_JPEG_MEMBER = re.compile(r"^(?:\./)?(train|test)/([^/]+)/(\d+)\.jpe?g$")
_EXACT_TEST_FILE = Path("cifar10-exact-subset") / "test_first1017.npz"
_EXACT_TRAIN_FILE = Path("cifar10-exact-subset") / "train_batch1_first1102.npz"

# (format, relative path, kind) in order of preference inside a data dir.
_LAYOUTS = (
    ("python", "cifar-10-batches-py", "dir"),
    ("python", "cifar-10-python.tar.gz", "tar"),
    ("binary", "cifar-10-batches-bin", "dir"),
    ("binary", "cifar-10-binary.tar.gz", "tar"),
    ("jpeg", "cifar10-jpeg/cifar10-jpg.tar.gz", "tar"),
    ("jpeg", "cifar10-jpg.tar.gz", "tar"),
)
_FORMAT_FILES = {
    "python": _TRAIN_BATCHES + (_TEST_BATCH,),
    "binary": tuple(f"{n}.bin" for n in _TRAIN_BATCHES + (_TEST_BATCH,)),
}

_EXPECTED_LAYOUT = """\
  cifar-10-batches-py/   data_batch_1 .. data_batch_5, test_batch (python pickles)
  cifar-10-python.tar.gz (the same, as downloaded from
                          https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz)
  cifar-10-batches-bin/  data_batch_1.bin .. data_batch_5.bin, test_batch.bin
  cifar-10-binary.tar.gz (the same, as downloaded from
                          https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz)
  cifar10-jpeg/cifar10-jpg.tar.gz  (train|test/<class>/NNNN.jpg, lossy JPEG copy)"""


class DataNotFoundError(FileNotFoundError):
    """No copy of the requested data was found in any searched place."""


class CorruptDataError(ValueError):
    """A data file exists but cannot be read as what it claims to be."""


@dataclasses.dataclass(frozen=True)
class CifarSource:
    """Where CIFAR-10 examples come from.

    Attributes:
        name: `"cifar10-original"` (exact pixels) or `"cifar10-jpeg"` (lossy
            JPEG re-encoding). Use it to name the evaluation set.
        format: `"python"`, `"binary"`, `"jpeg"` or `"tfds"`.
        path: The file or directory read (`None` for tfds).
        origin: How it was found: `"data_dir argument"`, `"DAIS_DATA_DIR"`,
            `"shared data dir"` or `"tensorflow_datasets"`.
        test_order: `"original"` (the order of the original test_batch),
            `"interleaved"` (JPEG without the original labels) or `"tfds"`.
    """

    name: str
    format: str
    path: str = None
    origin: str = ""
    test_order: str = "original"

    @property
    def lossy(self):
        """Whether pixels differ from the original CIFAR-10 pixels."""
        return self.format == "jpeg"


# --------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------


def cifar10(
    split="train",
    batch_size=128,
    augment=None,
    *,
    shuffle=None,
    search_fraction=None,
    seed=0,
    limit=None,
    drop_remainder=False,
    data_dir=None,
    cache_dir=None,
    variant=None,
    download=True,
):
    """Returns CIFAR-10 as a batched `tf.data.Dataset` of `(images, labels)`.

    Images are `float32` raw pixel values in [0, 255], shape
    `(batch, 32, 32, 3)`; labels are `int32` class ids, shape `(batch,)`.

    Args:
        split: One of `"train"`, `"weight"`, `"search"`, `"test"` (see the
            module docstring).
        batch_size: Positive integer.
        augment: Whether to apply the standard CIFAR augmentation
            (`cifar10_augmentation`: pad 4, random 32x32 crop, random
            horizontal flip). Defaults to `True` for `"train"` and `"weight"`,
            `False` for `"search"` and `"test"`.
        shuffle: Whether to shuffle (reshuffled every epoch, seeded by
            `seed`). Defaults to `True` except for `"test"`.
        search_fraction: Fraction of the training set held out as the search
            split, in (0, 1). `None` means the whole training set for
            `"train"` and `DEFAULT_SEARCH_FRACTION` (0.2) for `"weight"` and
            `"search"`. Ignored (but validated) for `"test"`.
        seed: Integer seed of the weight/search split, of the shuffling and of
            the augmentation.
        limit: If set, keep only the first `limit` examples of the split,
            taken after the seeded shuffle when `shuffle` is on (so a fixed,
            random subset), else in the documented order.
        drop_remainder: Whether to drop the last, smaller batch.
        data_dir: Directory (or archive) to read; see the module docstring.
        cache_dir: Where decoded arrays are cached.
        variant: `None` (any), `"original"` or `"jpeg"`.
        download: Whether to fall back to `tensorflow_datasets` (which
            downloads) when no local copy is found.

    Returns:
        A `tf.data.Dataset` yielding `(images, labels)` batches.

    Raises:
        ValueError: On an unknown split, a bad batch size, search fraction,
            seed, limit or variant.
        DataNotFoundError: If no copy of CIFAR-10 can be found.
        CorruptDataError: If the copy found cannot be read.

    Example:

    ```python
    train = dais_keras.data.cifar10("weight", batch_size=128)
    search = dais_keras.data.cifar10("search", batch_size=128)
    test = dais_keras.data.cifar10("test", batch_size=500)
    images, labels = next(iter(test))  # (500, 32, 32, 3) float32 in [0, 255]
    name = dais_keras.data.cifar10_source().name  # "cifar10-original"/"-jpeg"
    ```
    """
    import tensorflow as tf

    _check_split(split)
    batch_size = _check_positive_int("batch_size", batch_size)
    if shuffle is None:
        shuffle = split != "test"
    if augment is None:
        augment = split in ("train", "weight")
    x, y = cifar10_numpy(
        split,
        search_fraction=search_fraction,
        seed=seed,
        limit=limit,
        shuffle=shuffle,
        data_dir=data_dir,
        cache_dir=cache_dir,
        variant=variant,
        download=download,
    )
    if augment:
        # Per example: RandomCrop draws one window per call.
        augment_fn = cifar10_augmentation(seed=seed)
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle:
            ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(
            lambda image, label: (augment_fn(tf.cast(image, "float32")), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    else:
        # Shuffle indices and gather whole batches: faster than slicing.
        images, labels = tf.constant(x), tf.constant(y)
        ds = tf.data.Dataset.range(len(x))
        if shuffle:
            ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        ds = ds.map(
            lambda idx: (
                tf.cast(tf.gather(images, idx), "float32"),
                tf.gather(labels, idx),
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return ds.prefetch(tf.data.AUTOTUNE)


def cifar10_numpy(
    split="train",
    *,
    search_fraction=None,
    seed=0,
    limit=None,
    shuffle=False,
    data_dir=None,
    cache_dir=None,
    variant=None,
    download=True,
):
    """Returns CIFAR-10 examples as numpy arrays.

    Same splits, sources and arguments as `cifar10`, without batching or
    augmentation. Works without TensorFlow for the pickle and binary formats
    (the JPEG archive needs TensorFlow or Pillow to decode, once).

    Args:
        split: One of `"train"`, `"weight"`, `"search"`, `"test"`.
        search_fraction: See `cifar10`.
        seed: Integer seed of the weight/search split and of `shuffle`.
        limit: If set, keep the first `limit` examples (after `shuffle`).
        shuffle: Whether to return the examples in a seeded random order
            instead of the documented order.
        data_dir: See `cifar10`.
        cache_dir: See `cifar10`.
        variant: `None`, `"original"` or `"jpeg"`.
        download: See `cifar10`.

    Returns:
        `(x, y)`: `x` uint8 of shape `(n, 32, 32, 3)` (raw pixels, NHWC) and `y`
        int32 of shape `(n,)`.

    Raises:
        ValueError, DataNotFoundError, CorruptDataError: See `cifar10`.

    Example:

    ```python
    x, y = dais_keras.data.cifar10_numpy("test")
    assert x.shape == (10000, 32, 32, 3) and x.dtype == "uint8"
    ```
    """
    _check_split(split)
    seed = _check_seed(seed)
    if limit is not None:
        limit = _check_positive_int("limit", limit)
    if search_fraction is not None:
        search_fraction = _check_fraction(search_fraction)
    source, searched = _resolve(data_dir, variant, download)
    part = "test" if split == "test" else "train"
    x, y = _load_part(source, searched, cache_dir, part)
    if split != "test":
        if split != "train" and search_fraction is None:
            search_fraction = DEFAULT_SEARCH_FRACTION
        if search_fraction is not None:
            weight_idx, search_idx = split_indices(y, search_fraction, seed)
            keep = search_idx if split == "search" else weight_idx
            x, y = x[keep], y[keep]
    if shuffle:
        order = np.random.default_rng([seed, 1]).permutation(len(y))
        x, y = x[order], y[order]
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x, y


def cifar10_source(data_dir=None, variant=None, download=True):
    """Says which copy of CIFAR-10 `cifar10`/`cifar10_numpy` would read.

    Nothing is decoded or downloaded.

    Args:
        data_dir: See `cifar10`.
        variant: `None`, `"original"` or `"jpeg"`.
        download: Whether the tfds fallback counts as a source.

    Returns:
        A `CifarSource`; `source.name` is `"cifar10-original"` or
        `"cifar10-jpeg"`.

    Raises:
        DataNotFoundError: If no copy is found (and tfds is not available).

    Example:

    ```python
    src = dais_keras.data.cifar10_source()
    print(f"top-1 on {src.name} test set")
    ```
    """
    source, searched = _resolve(data_dir, variant, download)
    if source.format == "tfds":
        if not _tfds_installed():
            raise DataNotFoundError(
                _not_found_message(
                    searched + ["tensorflow_datasets: not installed"],
                    variant,
                )
            )
    return source


def cifar10_exact_subset(data_dir=None, split="test"):
    """Returns the exact-pixel CIFAR-10 subset shipped with the project.

    `split="test"` gives the first 1,017 images of the original test set
    (`cifar10-exact-subset/test_first1017.npz`), `split="train"` the first
    1,102 images of the original `data_batch_1`
    (`cifar10-exact-subset/train_batch1_first1102.npz`). Searched in
    `data_dir`, else `$DAIS_DATA_DIR`, then the shared data directory.

    Args:
        data_dir: Directory holding `cifar10-exact-subset/`.
        split: `"test"` or `"train"`.

    Returns:
        `(x, y)`: uint8 `(n, 32, 32, 3)` raw pixels and int32 labels.

    Raises:
        ValueError: If `split` is not `"test"` or `"train"`.
        DataNotFoundError: If the file is not found.
        CorruptDataError: If it cannot be read.

    Example:

    ```python
    x, y = dais_keras.data.cifar10_exact_subset()
    assert x.shape == (1017, 32, 32, 3)
    ```
    """
    data = _read_exact_subset(data_dir, split)
    return data["x"], data["y"]


def cifar10_original_labels(data_dir=None, split="test"):
    """Returns all 10,000 original labels of the test set (or of data_batch_1).

    They come with the exact subset (`y_all` in its `.npz`); label `i` is that of
    image `i` of the original `test_batch` (`split="test"`) or `data_batch_1`
    (`split="train"`), i.e. of test image `i` of every source whose
    `test_order` is `"original"`.

    Args:
        data_dir: See `cifar10_exact_subset`.
        split: `"test"` or `"train"`.

    Returns:
        int32 array of shape `(10000,)`.

    Raises:
        See `cifar10_exact_subset`.

    Example:

    ```python
    y_all = dais_keras.data.cifar10_original_labels()
    x, y = dais_keras.data.cifar10_exact_subset()
    assert (y_all[: len(y)] == y).all()
    ```
    """
    return _read_exact_subset(data_dir, split)["y_all"]


def split_indices(labels, search_fraction=DEFAULT_SEARCH_FRACTION, seed=0):
    """Splits example indices into a weight part and a search part.

    Stratified: in every class, `round(search_fraction * n_class)` examples,
    drawn with `numpy.random.default_rng(seed)`, go to the search part. The
    result depends only on `labels`, `search_fraction` and `seed`.

    Args:
        labels: 1-D array of integer class ids.
        search_fraction: Fraction in (0, 1) held out for the search part.
        seed: Integer seed.

    Returns:
        `(weight_indices, search_indices)`: sorted, disjoint int64 arrays that
        together cover `range(len(labels))`.

    Raises:
        ValueError: If `search_fraction` is not in (0, 1) or leaves a part
            empty.

    Example:

    ```python
    w, s = split_indices(np.repeat(np.arange(10), 5), 0.2, seed=0)
    assert len(w) == 40 and len(s) == 10
    ```
    """
    search_fraction = _check_fraction(search_fraction)
    seed = _check_seed(seed)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    search = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_search = int(round(search_fraction * len(idx)))
        search.append(idx[rng.permutation(len(idx))[:n_search]])
    search = np.sort(np.concatenate(search)) if search else np.zeros(0, int)
    is_search = np.zeros(len(labels), bool)
    is_search[search] = True
    weight = np.flatnonzero(~is_search)
    if len(search) == 0 or len(weight) == 0:
        raise ValueError(
            f"search_fraction={search_fraction} leaves the "
            f"{'search' if len(search) == 0 else 'weight'} part empty for "
            f"{len(labels)} examples; choose a value in (0, 1) such that every "
            "part gets at least one example per class."
        )
    return weight.astype(np.int64), search.astype(np.int64)


def cifar10_augmentation(seed=None):
    """Returns the standard CIFAR training augmentation for one image.

    Zero-pads 4 pixels on each side, crops a random 32x32 window
    (`keras.layers.RandomCrop`) and flips horizontally with probability 1/2
    (`keras.layers.RandomFlip`). The padding is a `tf.pad`: unlike
    `keras.layers.ZeroPadding2D`, it also runs inside `tf.data` when Keras uses
    the JAX or torch backend. Pixel values are not rescaled.

    Args:
        seed: Optional integer seed of the random layers.

    Returns:
        A function mapping one float image `(32, 32, 3)` to an augmented
        `(32, 32, 3)` image; usable in `tf.data.Dataset.map` (apply it per
        example: `RandomCrop` draws one window per call).

    Example:

    ```python
    augment = cifar10_augmentation(seed=1)
    ds = ds.map(lambda x, y: (augment(tf.cast(x, "float32")), y))
    ```
    """
    import keras
    import tensorflow as tf

    height, width, _ = IMAGE_SHAPE
    pipeline = keras.layers.Pipeline(
        [
            keras.layers.RandomCrop(height, width, seed=seed),
            keras.layers.RandomFlip(
                "horizontal", seed=None if seed is None else seed + 1
            ),
        ],
        name="cifar10_augmentation",
    )

    def augment(image):
        padded = tf.pad(image, [[4, 4], [4, 4], [0, 0]])
        return pipeline(padded, training=True)

    return augment


# --------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(
            f"Unknown split={split!r}. Expected one of {', '.join(SPLITS)}: "
            "'train' (all training images, or the weight part when "
            "search_fraction is given), 'weight'/'search' (the two parts of "
            "the weight/search split), 'test'."
        )


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(
            f"{name} must be a positive integer, got {value!r} "
            f"({type(value).__name__})."
        )
    if value < 1:
        raise ValueError(f"{name} must be a positive integer (>= 1), got {value}.")
    return int(value)


def _check_fraction(value):
    ok_type = isinstance(value, (int, float, np.integer, np.floating))
    if isinstance(value, bool) or not ok_type or not 0.0 < float(value) < 1.0:
        raise ValueError(
            f"search_fraction must be a number strictly between 0 and 1 "
            f"(e.g. 0.2 for an 80/20 weight/search split), got {value!r}."
        )
    return float(value)


def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(
            f"seed must be a non-negative integer, got {seed!r}; the "
            "weight/search split must be reproducible."
        )
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}.")
    return int(seed)


def _check_variant(variant):
    if variant is not None and variant not in VARIANTS:
        raise ValueError(
            f"Unknown variant={variant!r}. Expected None (any), 'original' "
            "(exact pixels: pickles, binary records or tfds) or 'jpeg' (the "
            "lossy JPEG copy)."
        )


# --------------------------------------------------------------------------
# Finding the data
# --------------------------------------------------------------------------


def _shared_data_dir():
    """`<repository>/../shared/data`, the project's shared data directory."""
    repository = Path(__file__).resolve().parent.parent
    return repository.parent / "shared" / "data"


def _search_dirs(data_dir):
    """Candidate data directories as `(origin, path or None)`."""
    if data_dir is not None:
        return [("data_dir argument", Path(data_dir).expanduser())]
    env = os.environ.get(DATA_DIR_ENV)
    return [
        (DATA_DIR_ENV, Path(env).expanduser() if env else None),
        ("shared data dir", _shared_data_dir()),
    ]


def _find_in(path, variant):
    """Returns `(format, path)` of the first usable layout in `path`."""
    if path.is_file():
        for fmt, rel, kind in _LAYOUTS:
            if kind == "tar" and path.name == Path(rel).name:
                return (fmt, path) if variant in (None, _variant(fmt)) else None
        return None
    if path.is_dir():
        for fmt in ("python", "binary"):  # `path` itself is a batches dir
            if (path / _FORMAT_FILES[fmt][0]).is_file():
                if variant in (None, "original"):
                    return fmt, path
        for fmt, rel, kind in _LAYOUTS:
            if variant not in (None, _variant(fmt)):
                continue
            candidate = path / rel
            if candidate.is_dir() if kind == "dir" else candidate.is_file():
                return fmt, candidate
    return None


def _variant(fmt):
    return "jpeg" if fmt == "jpeg" else "original"


def _resolve(data_dir, variant, download):
    """Returns `(CifarSource, lines describing each place searched)`."""
    _check_variant(variant)
    searched = []
    for origin, path in _search_dirs(data_dir):
        if path is None:
            searched.append(f"${DATA_DIR_ENV}: not set")
            continue
        found = _find_in(path, variant)
        label = f"{origin}: {path}"
        if found is None:
            state = "does not exist" if not path.exists() else "none of the files below"
            searched.append(f"{label} ({state})")
            continue
        fmt, found_path = found
        source = CifarSource(
            name="cifar10-jpeg" if fmt == "jpeg" else "cifar10-original",
            format=fmt,
            path=str(found_path),
            origin=origin,
            test_order=_test_order(fmt, found_path),
        )
        return source, searched
    if data_dir is None and download and variant in (None, "original"):
        source = CifarSource(
            name="cifar10-original",
            format="tfds",
            origin="tensorflow_datasets",
            test_order="tfds",
        )
        return source, searched
    if data_dir is not None:
        searched.append("(no other place is searched when data_dir is given)")
    elif not download:
        searched.append("tensorflow_datasets: skipped (download=False)")
    else:
        searched.append("tensorflow_datasets: skipped (variant='jpeg')")
    raise DataNotFoundError(_not_found_message(searched, variant))


def _tfds_installed():
    import importlib.util

    try:
        return importlib.util.find_spec("tensorflow_datasets") is not None
    except ValueError:  # Imported, without a spec (e.g. a stand-in module).
        return True


def _not_found_message(searched, variant):
    wanted = "" if variant is None else f" (variant={variant!r})"
    places = "\n".join(f"  {i}. {line}" for i, line in enumerate(searched, 1))
    return (
        f"No CIFAR-10 data found{wanted}. Searched, in order:\n{places}\n"
        f"Expected in a data directory, any one of:\n{_EXPECTED_LAYOUT}\n"
        "To fix it: put one of these in a directory and pass data_dir=<dir>, "
        f"or set the environment variable {DATA_DIR_ENV}=<dir>; or, with "
        "internet access, install tensorflow-datasets and call with "
        "download=True (the default) and no data_dir."
    )


def _test_order(fmt, path):
    if fmt == "tfds":
        return "tfds"
    if fmt != "jpeg":
        return "original"
    return "original" if _jpeg_labels_file(Path(path)) else "interleaved"


def _jpeg_labels_file(tar_path):
    """The exact-subset file giving original test labels next to a JPEG tar."""
    root = tar_path.parent
    if root.name == "cifar10-jpeg":
        root = root.parent
    candidate = root / _EXACT_TEST_FILE
    return candidate if candidate.is_file() else None


def _read_exact_subset(data_dir, split):
    if split not in ("test", "train"):
        raise ValueError(
            f"Unknown split={split!r} for the exact subset; expected 'test' "
            "(first 1,017 test images) or 'train' (first 1,102 of data_batch_1)."
        )
    rel = _EXACT_TEST_FILE if split == "test" else _EXACT_TRAIN_FILE
    searched = []
    for origin, path in _search_dirs(data_dir):
        if path is None:
            searched.append(f"${DATA_DIR_ENV}: not set")
            continue
        candidate = path / rel
        if candidate.is_file():
            return _read_npz(candidate, ("x", "y", "y_all"))
        searched.append(f"{origin}: {candidate} (missing)")
    places = "\n".join(f"  {i}. {line}" for i, line in enumerate(searched, 1))
    raise DataNotFoundError(
        f"CIFAR-10 exact subset {rel.as_posix()} not found. Searched, in "
        f"order:\n{places}\nExpected a .npz with keys x (uint8 NHWC), y and "
        f"y_all. To fix it: pass data_dir=<dir holding {rel.parent}/> or set "
        f"{DATA_DIR_ENV}=<dir>."
    )


def _read_npz(path, keys):
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {k: data[k] for k in keys}
    except (OSError, ValueError, KeyError, zlib.error, zipfile.BadZipFile) as e:
        raise CorruptDataError(
            f"Could not read {path}: {type(e).__name__}: {e}. Expected a .npz "
            f"with keys {', '.join(keys)}; replace the file with a good copy."
        ) from e
    out["x"] = out["x"].astype(np.uint8, copy=False)
    out["y"] = out["y"].astype(np.int32)
    out["y_all"] = out["y_all"].astype(np.int32)
    return out


# --------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------


def _cache_root(cache_dir):
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "dais_keras"


def _source_key(source):
    """A hash of the source files' identity (path, size, mtime)."""
    parts = [f"v{_CACHE_VERSION}", source.format]
    if source.path is not None:
        path = Path(source.path).resolve()
        files = [path]
        if path.is_dir():
            files = [path / name for name in _FORMAT_FILES[source.format]]
        for f in files:
            try:
                st = f.stat()
            except OSError:
                parts.append(f"{f}:missing")  # reported by the decoder
                continue
            parts.append(f"{f}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def cache_path(source, cache_dir=None):
    """Returns the cache file used for `source` (it may not exist yet).

    Args:
        source: A `CifarSource` (see `cifar10_source`).
        cache_dir: See `cifar10`.

    Returns:
        A `pathlib.Path`.
    """
    name = f"cifar10-{source.format}-{_source_key(source)}.npz"
    return _cache_root(cache_dir) / name


def _read_cache(path, part):
    """Returns the cached `(x, y)` of `part`, or `None` (missing or damaged)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            x, y = data[f"x_{part}"], data[f"y_{part}"]
    except Exception:  # A missing or damaged cache file is rebuilt.
        return None
    if x.dtype != np.uint8 or x.shape[1:] != IMAGE_SHAPE or y.shape != x.shape[:1]:
        return None
    return x, y


def _write_cache(path, arrays, source):
    """Writes `arrays` to `path` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"source": dataclasses.asdict(source), "version": _CACHE_VERSION})
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=np.array(meta), **arrays)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a cache may be shared.
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _load_part(source, searched, cache_dir, part):
    """Returns `(x, y)` of `part` ("train" or "test") of `source`, via the cache.

    On a miss, both parts are decoded and cached together.
    """
    path = cache_path(source, cache_dir)
    cached = _read_cache(path, part)
    if cached is None:
        arrays = _decode(source, searched)
        _write_cache(path, arrays, source)
        cached = arrays[f"x_{part}"], arrays[f"y_{part}"]
    x, y = cached
    if source.format == "jpeg" and part == "test":
        x, y = _order_jpeg_test(x, y, source)
    return x, y


# --------------------------------------------------------------------------
# Decoders: each returns {"x_train", "y_train", "x_test", "y_test"}, images
# uint8 NHWC, labels int32, in the order documented in the module docstring
# (except the JPEG test split: class-major, reordered by `_order_jpeg_test`).
# --------------------------------------------------------------------------


def _decode(source, searched):
    if source.format == "tfds":
        try:
            return _DECODERS["tfds"](source)
        except Exception as e:  # No internet, tfds missing or broken, ...
            reason = f"tensorflow_datasets 'cifar10': failed: {type(e).__name__}: {e}"
            message = _not_found_message(searched + [reason], None)
            raise DataNotFoundError(message) from e
    return _DECODERS[source.format](source)


def _corrupt(path, what, error=None):
    detail = f": {type(error).__name__}: {error}" if error is not None else ""
    return CorruptDataError(
        f"Could not read CIFAR-10 from {path}: {what}{detail}. The data looks "
        "truncated, corrupt or not in the CIFAR-10 layout; replace it with a "
        "fresh copy (see the dais_keras.data module docstring for the "
        "expected layouts)."
    )


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
            raise _corrupt(path, f"missing {', '.join(missing)}")
        return {n: (path / n).read_bytes() for n in wanted}
    found = {}
    try:
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                name = Path(member.name).name
                if member.isfile() and name in wanted:
                    found[name] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise _corrupt(path, "not a readable tar archive", e) from e
    missing = [n for n in wanted if n not in found]
    if missing:
        raise _corrupt(path, f"the archive lacks {', '.join(missing)}")
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
    n = len(labels)
    if images.shape != (n, 3 * 32 * 32) or np.any((labels < 0) | (labels > 9)):
        raise _corrupt(
            path,
            f"{name} holds images of shape {images.shape} and {n} labels in "
            f"[{labels.min() if n else '-'}, {labels.max() if n else '-'}]; "
            f"expected ({n}, 3072) and labels in [0, 9]",
        )
    x = images.reshape(n, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x, dtype=np.uint8), labels.astype(np.int32)


def _decode_python(source):
    names = _FORMAT_FILES["python"]
    raw = _read_members(source.path, names)
    parts = {}
    for name in names:
        try:
            batch = _BatchUnpickler(io.BytesIO(raw[name]), encoding="bytes").load()
            images = np.asarray(batch[b"data"], dtype=np.uint8)
            labels = np.asarray(batch[b"labels"], dtype=np.int64)
        except Exception as e:
            raise _corrupt(
                f"{source.path} ({name})",
                "not a CIFAR-10 python batch (a pickled dict with b'data' and "
                "b'labels')",
                e,
            ) from e
        parts[name] = _check_batch(source.path, name, images, labels)
    return _assemble(parts, names)


def _decode_binary(source):
    names = _FORMAT_FILES["binary"]
    raw = _read_members(source.path, names)
    parts = {}
    for name in names:
        data = raw[name]
        if len(data) == 0 or len(data) % _RECORD_BYTES:
            raise _corrupt(
                f"{source.path} ({name})",
                f"size {len(data)} bytes is not a positive multiple of the "
                f"{_RECORD_BYTES}-byte record (1 label byte + 3072 pixel bytes)",
            )
        records = np.frombuffer(data, np.uint8).reshape(-1, _RECORD_BYTES)
        labels = records[:, 0].astype(np.int64)
        parts[name] = _check_batch(source.path, name, records[:, 1:], labels)
    return _assemble(parts, names)


def _assemble(parts, names):
    train = [parts[n] for n in names[:-1]]
    x_test, y_test = parts[names[-1]]
    return {
        "x_train": np.concatenate([x for x, _ in train]),
        "y_train": np.concatenate([y for _, y in train]),
        "x_test": x_test,
        "y_test": y_test,
    }


def _decode_jpeg(source):
    path = source.path
    blobs = {"train": [], "test": []}
    try:
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                match = _JPEG_MEMBER.match(member.name)
                if match is None:
                    continue
                split, cls, number = match.groups()
                if cls not in CLASS_NAMES:
                    raise _corrupt(
                        path,
                        f"member {member.name} is in an unknown class folder "
                        f"{cls!r}; expected one of {', '.join(CLASS_NAMES)}",
                    )
                data = tar.extractfile(member).read()
                label = CLASS_NAMES.index(cls)
                blobs[split].append((label, int(number), member.name, data))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise _corrupt(path, "not a readable tar.gz archive", e) from e
    arrays = {}
    for split in ("train", "test"):
        items = sorted(blobs[split])  # class-major, then file number
        if not items:
            raise _corrupt(
                path, f"no {split}/<class>/NNNN.jpg members (expected layout "
                "train|test/<class>/NNNN.jpg)"
            )
        images = _decode_jpegs([it[3] for it in items], [it[2] for it in items], path)
        labels = np.array([it[0] for it in items], np.int32)
        if split == "train":
            images, labels = _interleave(images, labels)
        arrays[f"x_{split}"], arrays[f"y_{split}"] = images, labels
    return arrays


def _decode_jpegs(blobs, names, path):
    """Decodes JPEG bytes to uint8 `(n, 32, 32, 3)` arrays.

    TensorFlow (`dct_method="INTEGER_ACCURATE"`) is used when installed, else
    Pillow; the two give identical pixels (libjpeg's accurate integer IDCT and
    fancy upsampling).
    """
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return _decode_jpegs_pil(blobs, names, path)
    return _decode_jpegs_tf(blobs, names, path)


def _decode_jpegs_tf(blobs, names, path):
    import tensorflow as tf

    def decode_one(data):
        image = tf.io.decode_jpeg(data, channels=3, dct_method="INTEGER_ACCURATE")
        return tf.ensure_shape(image, IMAGE_SHAPE)

    def decode_batch(batch):
        return tf.map_fn(
            decode_one, batch, fn_output_signature=tf.TensorSpec(IMAGE_SHAPE, tf.uint8)
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
            raise _corrupt(
                f"{path} ({name})",
                f"not a {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} RGB JPEG ({reason})",
            ) from None
    raise _corrupt(path, "JPEG decoding failed")  # pragma: no cover


def _decode_jpegs_pil(blobs, names, path):
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError(
            "Decoding the CIFAR-10 JPEG archive needs TensorFlow or Pillow; "
            "install one (`pip install tensorflow` or `pip install pillow`), "
            "or use the cifar-10-python.tar.gz archive."
        ) from e
    out = np.empty((len(blobs),) + IMAGE_SHAPE, np.uint8)
    for i, (data, name) in enumerate(zip(blobs, names)):
        try:
            with Image.open(io.BytesIO(data)) as im:
                image = np.asarray(im.convert("RGB"))
        except Exception as e:
            raise _corrupt(f"{path} ({name})", "not a JPEG", e) from e
        if image.shape != IMAGE_SHAPE:
            raise _corrupt(
                f"{path} ({name})",
                f"image of shape {image.shape}, expected {IMAGE_SHAPE}",
            )
        out[i] = image
    return out


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


_DECODERS = {
    "python": _decode_python,
    "binary": _decode_binary,
    "jpeg": _decode_jpeg,
    "tfds": _decode_tfds,
}


# --------------------------------------------------------------------------
# JPEG ordering
# --------------------------------------------------------------------------


def _rank_within_class(labels):
    """`rank[i]` = number of earlier examples with the same label."""
    rank = np.empty(len(labels), np.int64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(len(idx))
    return rank


def _interleave(x, y):
    """Reorders examples as image 0 of every class, then image 1, ..."""
    order = np.lexsort((y, _rank_within_class(y)))
    return x[order], y[order]


def _order_jpeg_test(x_test, y_test, source):
    """Puts the class-major JPEG test split into the documented order."""
    if source.test_order == "original":
        labels_file = _jpeg_labels_file(Path(source.path))
        y_all = _read_npz(labels_file, ("x", "y", "y_all"))["y_all"]
        order = _original_order(y_test, y_all)
        if order is None:
            raise CorruptDataError(
                f"The JPEG archive {source.path} has test class counts "
                f"{np.bincount(y_test, minlength=NUM_CLASSES).tolist()} but the "
                f"original test labels in {labels_file} have "
                f"{np.bincount(y_all, minlength=NUM_CLASSES).tolist()}; they "
                "must describe the same test set. Replace the incomplete file, "
                f"or move {labels_file.name} out of that data directory."
            )
        return x_test[order], y_test[order]
    return _interleave(x_test, y_test)


def _original_order(labels, original_labels):
    """Permutation putting rank-within-class ordered examples in original order.

    Returns `None` if the class counts differ (then the original order cannot
    be rebuilt).
    """
    labels = np.asarray(labels, np.int64)
    original_labels = np.asarray(original_labels, np.int64)
    if len(labels) != len(original_labels) or not np.array_equal(
        np.bincount(labels, minlength=NUM_CLASSES),
        np.bincount(original_labels, minlength=NUM_CLASSES),
    ):
        return None
    big = len(labels) + 1
    have = labels * big + _rank_within_class(labels)
    want = original_labels * big + _rank_within_class(original_labels)
    sorter = np.argsort(have)
    return sorter[np.searchsorted(have[sorter], want)]
