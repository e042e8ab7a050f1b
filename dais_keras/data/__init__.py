"""CIFAR-10 for training, searching and evaluating pruned models.

`cifar10(split, ...)` returns batches of `(images, labels)` for `fit`: a
`tf.data.Dataset` (`format="tf"`, the default) or, without TensorFlow, a
`keras.utils.PyDataset` (`format="pydataset"`: an `ImagePyDataset`, numpy
batches for every backend); `cifar10_numpy(split, ...)` returns the same
examples as numpy arrays.
Images are **raw pixels**: `uint8` values 0-255 in NHWC from `cifar10_numpy`,
the same values cast to `float32` (no scaling) from `cifar10`. Every model of
this library normalises inside itself. Labels are `int32` class ids in the
standard order of `CLASS_NAMES`. Splits: `"train"`, `"weight"`, `"search"`,
`"test"` (see `dais_keras.data.cifar`).

Also here: `cifar10_exact_subset` / `cifar10_original_labels` (the exact-pixel
subset shipped in the shared data and the original test labels),
`split_indices` (the stratified weight/search split of any labels),
`cifar10_augmentation` (pad-4 random crop and horizontal flip of one image, in
`tf.data`) and `random_crop_flip` (the same for a numpy batch),
`ImagePyDataset` (any image arrays as a shuffled, augmented `PyDataset`),
`DeviceImageDataset` (the same batches, made on the backend's device from
images kept there) and `endless_batches` (a dataset as an endless stream,
e.g. for the search).

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
files' path, size and modification time, in `cache_dir`, else
`<cache root>/data` where the root is `$DAIS_KERAS_CACHE` (`CACHE_DIR_ENV`),
else `$DAIS_CACHE_DIR` (the older name), else `~/.cache/dais_keras`. Cache
files are written atomically (temporary file, then `os.replace`), so a crash
or a corrupt archive never leaves a partial file.

TensorFlow is imported only by `cifar10(format="tf")` (the `tf.data`
pipeline), the tfds fallback, and JPEG decoding when TensorFlow is already
imported: `cifar10(format="pydataset")` and `cifar10_numpy` on the pickles,
the binary records or a cached copy, and the JPEG archive with Pillow
installed, run without it. Keras is imported by `ImagePyDataset` and
`endless_batches` (loaded on first use), not by `import dais_keras.data`.

Errors: missing data raises `DataNotFoundError` (a `FileNotFoundError`) whose
message lists every place searched and the files expected there; an unreadable
archive raises `CorruptDataError` (a `ValueError`) naming the file; bad
arguments raise `ValueError` naming the argument and its valid values.

Modules: `cifar` (the splits as datasets and arrays), `tfdata`, `pydataset`
and `device` (arrays as a `tf.data.Dataset` / `PyDataset` / device-side
`PyDataset`), `source` (finding the
data), `formats` (what it looks like on disk), `decode` and `jpeg` (decoding),
`order` (the JPEG copy's order), `cache`, `exact` (the exact subset), `split`
(the weight/search split), `augment`, `errors`.
"""

from dais_keras.data.augment import cifar10_augmentation
from dais_keras.data.augment import random_crop_flip
from dais_keras.data.cache import CACHE_DIR_ENV
from dais_keras.data.cache import cache_path
from dais_keras.data.cifar import DATASET_FORMATS
from dais_keras.data.cifar import SPLITS
from dais_keras.data.cifar import cifar10
from dais_keras.data.cifar import cifar10_numpy
from dais_keras.data.errors import CorruptDataError
from dais_keras.data.errors import DataNotFoundError
from dais_keras.data.exact import cifar10_exact_subset
from dais_keras.data.exact import cifar10_original_labels
from dais_keras.data.formats import CLASS_NAMES
from dais_keras.data.formats import IMAGE_SHAPE
from dais_keras.data.formats import NUM_CLASSES
from dais_keras.data.formats import VARIANTS
from dais_keras.data.source import DATA_DIR_ENV
from dais_keras.data.source import CifarSource
from dais_keras.data.source import cifar10_source
from dais_keras.data.split import DEFAULT_SEARCH_FRACTION
from dais_keras.data.split import split_indices

__all__ = [
    "CACHE_DIR_ENV",
    "CLASS_NAMES",
    "DATASET_FORMATS",
    "DATA_DIR_ENV",
    "DEFAULT_SEARCH_FRACTION",
    "IMAGE_SHAPE",
    "NUM_CLASSES",
    "SPLITS",
    "VARIANTS",
    "CifarSource",
    "CorruptDataError",
    "DataNotFoundError",
    "DeviceImageDataset",
    "ImagePyDataset",
    "cache_path",
    "cifar10",
    "cifar10_augmentation",
    "cifar10_exact_subset",
    "cifar10_numpy",
    "cifar10_original_labels",
    "cifar10_source",
    "endless_batches",
    "random_crop_flip",
    "split_indices",
]

# Defined on a `keras.utils.PyDataset`: imported (with Keras) on first use.
_KERAS_EXPORTS = {
    "DeviceImageDataset": "dais_keras.data.device",
    "ImagePyDataset": "dais_keras.data.pydataset",
    "endless_batches": "dais_keras.data.pydataset",
}


def __getattr__(name):
    if name not in _KERAS_EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_KERAS_EXPORTS[name]), name)
    globals()[name] = value
    return value
