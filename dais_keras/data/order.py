"""The order of the JPEG copy's examples.

In the JPEG archive, file `<class>/NNNN.jpg` is the NNNN-th image of that
class in the original order, so decoding gives the examples class by class.
The test split is put back into the original test order when the original
test labels are known (`exact.cifar10_original_labels`); otherwise, and always
for the training split, examples are interleaved by class (image 0 of every
class, then image 1, ...), so that any prefix is class-balanced.
"""

from pathlib import Path

import numpy as np

from dais_keras.data.errors import CorruptDataError
from dais_keras.data.exact import read_subset_file
from dais_keras.data.formats import NUM_CLASSES
from dais_keras.data.source import jpeg_labels_file


def rank_within_class(labels):
    """`rank[i]` = number of earlier examples with the same label."""
    rank = np.empty(len(labels), np.int64)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(len(idx))
    return rank


def interleave(x, y):
    """Reorders examples as image 0 of every class, then image 1, ..."""
    order = np.lexsort((y, rank_within_class(y)))
    return x[order], y[order]


def order_jpeg_test(x_test, y_test, source):
    """Puts the class-major JPEG test split into the documented order.

    Args:
        x_test, y_test: The decoded test split, class by class.
        source: Its `CifarSource`; `source.test_order` says which order.

    Returns:
        `(x_test, y_test)` in the original test order or interleaved.

    Raises:
        CorruptDataError: If the original labels describe another test set.
    """
    if source.test_order != "original":
        return interleave(x_test, y_test)
    labels_file = jpeg_labels_file(Path(source.path))
    y_all = read_subset_file(labels_file)["y_all"]
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
    have = labels * big + rank_within_class(labels)
    want = original_labels * big + rank_within_class(original_labels)
    sorter = np.argsort(have)
    return sorter[np.searchsorted(have[sorter], want)]
