"""The exact-pixel CIFAR-10 subset shipped with the project, and the original
test labels that come with it.

`cifar10-exact-subset/test_first1017.npz` holds the first 1,017 images of the
original test set, `train_batch1_first1102.npz` the first 1,102 of
`data_batch_1`; each also holds all 10,000 original labels of its batch
(`y_all`), which put the JPEG copy's test split back in the original order.
"""

import zipfile
import zlib

import numpy as np

from dais_keras.data import formats
from dais_keras.data.errors import CorruptDataError
from dais_keras.data.errors import DataNotFoundError
from dais_keras.data.source import DATA_DIR_ENV
from dais_keras.data.source import numbered
from dais_keras.data.source import search_dirs
from dais_keras.utils import checks

_SUBSET_KEYS = ("x", "y", "y_all")
_SPLIT_HINT = (
    "The exact subset has 'test' (first 1,017 test images) and 'train' "
    "(first 1,102 of data_batch_1)."
)


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


def read_subset_file(path):
    """Reads one exact-subset `.npz` into `{"x", "y", "y_all"}` arrays.

    Raises:
        CorruptDataError: If the file cannot be read or lacks a key.
    """
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {k: data[k] for k in _SUBSET_KEYS}
    except (OSError, ValueError, KeyError, zlib.error, zipfile.BadZipFile) as e:
        raise CorruptDataError(
            f"Could not read {path}: {type(e).__name__}: {e}. Expected a .npz "
            f"with keys {', '.join(_SUBSET_KEYS)}; replace the file with a good "
            "copy."
        ) from e
    out["x"] = out["x"].astype(np.uint8, copy=False)
    out["y"] = out["y"].astype(np.int32)
    out["y_all"] = out["y_all"].astype(np.int32)
    return out


def _read_exact_subset(data_dir, split):
    checks.explain(checks.check_choice, "split", split, ("test", "train"), hint=_SPLIT_HINT)
    rel = formats.EXACT_TEST_FILE if split == "test" else formats.EXACT_TRAIN_FILE
    searched = []
    for origin, path in search_dirs(data_dir, searched):
        candidate = path / rel
        if candidate.is_file():
            return read_subset_file(candidate)
        searched.append(f"{origin}: {candidate} (missing)")
    raise DataNotFoundError(
        f"CIFAR-10 exact subset {rel.as_posix()} not found. Searched, in "
        f"order:\n{numbered(searched)}\nExpected a .npz with keys x (uint8 "
        f"NHWC), y and y_all. To fix it: pass data_dir=<dir holding "
        f"{rel.parent}/> or set {DATA_DIR_ENV}=<dir>."
    )
