"""CIFAR-10 splits as batches for `fit` (`cifar10`: a `tf.data.Dataset` or a
`keras.utils.PyDataset`) or as numpy arrays (`cifar10_numpy`).

Splits:

* `"test"`: the 10,000 test images.
* `"train"`: the 50,000 training images, or, when `search_fraction` is given,
  only the weight part of the weight/search split (see `split_indices`).
* `"weight"` / `"search"`: the two disjoint parts of the training set used by
  the bi-level search (`search_fraction` defaults to 0.2 for these). The split
  is stratified per class and a pure function of `(source, search_fraction,
  seed)`.

Where the data comes from, its order and its cache: see the `dais_keras.data`
package docstring.
"""

import numpy as np

from dais_keras.data import cache
from dais_keras.data import order
from dais_keras.data import source as sources
from dais_keras.data.decode import decode
from dais_keras.data.split import DEFAULT_SEARCH_FRACTION
from dais_keras.data.split import check_search_fraction
from dais_keras.data.split import check_split_seed
from dais_keras.data.split import split_indices
from dais_keras.utils import checks

SPLITS = ("train", "weight", "search", "test")

_FORMAT_HINT = (
    "'tf' returns a tf.data.Dataset (needs TensorFlow); 'pydataset' a "
    "keras.utils.PyDataset (numpy batches, every backend, no TensorFlow)."
)
_SPLIT_HINT = (
    "The splits: 'train' (all training images, or the weight part when "
    "search_fraction is given), 'weight'/'search' (the two parts of the "
    "weight/search split), 'test' (the test set)."
)


def cifar10(
    split="train", batch_size=128, augment=None, *, format="tf", shuffle=None,
    search_fraction=None, seed=0, limit=None, drop_remainder=False, repeat=False, workers=None,
    use_multiprocessing=None, max_queue_size=None, data_dir=None, cache_dir=None,
    variant=None, download=True,
):
    """Returns CIFAR-10 as batches of `(images, labels)` for `fit`.

    Images are `float32` raw pixel values in [0, 255], shape
    `(batch, 32, 32, 3)`; labels are `int32` class ids, shape `(batch,)`.
    Two formats hold the same batches (as with
    `keras.utils.image_dataset_from_directory`'s `format`):

    * `"tf"`: a `tf.data.Dataset` (imports TensorFlow). Usable by every
      backend where TensorFlow is installed.
    * `"pydataset"`: a `keras.utils.PyDataset` (`ImagePyDataset`): numpy
      batches, shuffled and augmented in numpy, no TensorFlow. Usable by every
      backend, also where TensorFlow is not installed (e.g. JAX or torch on a
      GPU machine). Its batches are reproducible: a pure function of the
      arguments and of the pass over the data (see `ImagePyDataset`).

    The augmentation has the same distribution in both (zero padding of 4,
    a 32x32 crop at one of the 81 offsets, uniformly, and a horizontal flip
    with probability 1/2), but not the same random draws.

    Args:
        split: One of `"train"`, `"weight"`, `"search"`, `"test"` (see the
            module docstring).
        batch_size: Positive integer.
        augment: Whether to apply the standard CIFAR augmentation
            (`cifar10_augmentation` / `random_crop_flip`: pad 4, random 32x32
            crop, random horizontal flip). Defaults to `True` for `"train"`
            and `"weight"`, `False` for `"search"` and `"test"`.
        format: `"tf"` (a `tf.data.Dataset`, the default) or `"pydataset"`
            (a `keras.utils.PyDataset`).
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
        repeat: Whether the batches go on forever, pass after pass
            (reshuffled and re-augmented at every pass): `Dataset.repeat()`
            for `"tf"`, `ImagePyDataset(repeat=True)` for `"pydataset"`.
            `fit` then needs `steps_per_epoch`.
        workers: `format="pydataset"` only: number of threads (or processes)
            `fit` fetches batches with; `None` means Keras' default (1).
        use_multiprocessing: `format="pydataset"` only: whether `workers`
            are processes; `None` means `False`.
        max_queue_size: `format="pydataset"` only: batches `fit` keeps ready;
            `None` means Keras' default (10).
        data_dir: Directory (or archive) to read; see the `dais_keras.data`
            docstring.
        cache_dir: Where decoded arrays are cached.
        variant: `None` (any), `"original"` or `"jpeg"`.
        download: Whether to fall back to `tensorflow_datasets` (which
            downloads) when no local copy is found.

    Returns:
        A `tf.data.Dataset` (`format="tf"`) or an `ImagePyDataset`
        (`format="pydataset"`) yielding `(images, labels)` batches.

    Raises:
        ValueError: On an unknown split or format, a bad batch size, search
            fraction, seed, limit or variant, or `workers`,
            `use_multiprocessing` or `max_queue_size` with `format="tf"`.
        DataNotFoundError: If no copy of CIFAR-10 can be found.
        CorruptDataError: If the copy found cannot be read.

    Example:

    ```python
    train = dais_keras.data.cifar10("weight", batch_size=128)
    search = dais_keras.data.cifar10("search", batch_size=128)
    test = dais_keras.data.cifar10("test", batch_size=500)
    images, labels = next(iter(test))  # (500, 32, 32, 3) float32 in [0, 255]
    name = dais_keras.data.cifar10_source().name  # "cifar10-original"/"-jpeg"

    # Without TensorFlow (e.g. KERAS_BACKEND=jax or torch):
    train = dais_keras.data.cifar10("weight", format="pydataset", workers=2)
    model.fit(train, epochs=10, shuffle=False)
    ```
    """
    _check_split(split)
    checks.explain(checks.check_choice, "format", format, DATASET_FORMATS,
                   hint=_FORMAT_HINT)
    batch_size = checks.check_int("batch_size", batch_size, low=1)
    pydataset_options = {
        name: value
        for name, value in (
            ("workers", workers),
            ("use_multiprocessing", use_multiprocessing),
            ("max_queue_size", max_queue_size),
        )
        if value is not None
    }
    if pydataset_options and format != "pydataset":
        raise ValueError(
            f"{', '.join(f'`{name}`' for name in pydataset_options)}: options "
            f"of format='pydataset' only; received format={format!r}. A "
            "tf.data.Dataset fetches in parallel by itself: drop them, or pass "
            "format='pydataset'."
        )
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
    return _FORMATS[format](
        x, y, batch_size, augment=augment, shuffle=shuffle, seed=seed,
        drop_remainder=drop_remainder, repeat=bool(repeat), **pydataset_options,
    )


def cifar10_numpy(
    split="train", *, search_fraction=None, seed=0, limit=None, shuffle=False,
    data_dir=None, cache_dir=None, variant=None, download=True,
):
    """Returns CIFAR-10 examples as numpy arrays.

    Same splits, sources and arguments as `cifar10`, without batching or
    augmentation. Does not import TensorFlow for the pickle and binary
    formats, nor for a cached copy; the JPEG archive is decoded (once) by
    TensorFlow when it is already imported, else by Pillow when installed.

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
    seed = check_split_seed(seed)
    if limit is not None:
        limit = checks.check_int("limit", limit, low=1)
    if search_fraction is not None:
        search_fraction = check_search_fraction(search_fraction)
    source, searched = sources.resolve(data_dir, variant, download)
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
        permutation = np.random.default_rng([seed, 1]).permutation(len(y))
        x, y = x[permutation], y[permutation]
    if limit is not None:
        x, y = x[:limit], y[:limit]
    return x, y


def _tf_dataset(x, y, batch_size, repeat=False, **options):
    from dais_keras.data.tfdata import tf_dataset

    dataset = tf_dataset(x, y, batch_size, **options)
    return dataset.repeat() if repeat else dataset


def _pydataset(x, y, batch_size, **options):
    from dais_keras.data.pydataset import ImagePyDataset

    return ImagePyDataset(x, y, batch_size, **options)


# `cifar10`'s formats: name -> builder(x, y, batch_size, **options).
_FORMATS = {"tf": _tf_dataset, "pydataset": _pydataset}
DATASET_FORMATS = tuple(_FORMATS)


def _check_split(split):
    checks.explain(checks.check_choice, "split", split, SPLITS, hint=_SPLIT_HINT)


def _load_part(source, searched, cache_dir, part):
    """Returns `(x, y)` of `part` ("train" or "test") of `source`, via the cache.

    On a miss, both parts are decoded and cached together.
    """
    path = cache.cache_path(source, cache_dir)
    cached = cache.read_cache(path, part)
    if cached is None:
        arrays = decode(source, searched)
        cache.write_cache(path, arrays, source)
        cached = arrays[f"x_{part}"], arrays[f"y_{part}"]
    x, y = cached
    if source.format == "jpeg" and part == "test":
        x, y = order.order_jpeg_test(x, y, source)
    return x, y
