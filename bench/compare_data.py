"""The training images of bench/compare.py: the validation split, the
weight/search split, and the batches every method trains on.

Indices count the 50,000 CIFAR-10 training images in the documented order
(`dais_keras.data.cifar10_numpy("train")`). With `val_images = n > 0`:

1. `n` images are held out for validation (`holdout_indices`): stratified
   per class (each class gives its share of `n`, the remainder going to the
   classes with the largest fractional shares), drawn with
   `numpy.random.default_rng(val_seed)`. The split depends on the labels,
   `n` and `val_seed` only: the same for every method and every run seed.
2. The other images are split into the weight and search parts (80/20,
   stratified, seeded by the run's seed: `dais_keras.data.split_indices`),
   each shuffled with `default_rng([seed, 1])` and cut to `train_images`,
   as `cifar10_numpy("weight"/"search", shuffle=True, limit=...)` does.
3. Every training, search and fine-tune step reads only the weight and
   search parts; the held-out images are evaluated at the end of every
   epoch (`ValidationAccuracy`) and never trained on.

With `val_images = 0` nothing is held out and step 2 gives exactly the images
and order of the runs made before the option.
"""

import dataclasses
import hashlib

import numpy as np

import keras

from dais_keras import data
from dais_keras.data.split import split_indices
from dais_keras.finetune.accuracy import accuracy
from dais_keras.utils.checks import check_int

SEARCH_FRACTION = 0.2


def holdout_indices(labels, n, seed):
    """`n` indices of `labels`, stratified per class, seeded.

    Class `c` with `n_c` of the `N` examples gives `floor(n * n_c / N)`
    examples, plus one for the classes with the largest remainders until
    `n` are chosen (ties: lower class first); within a class they are drawn
    with `numpy.random.default_rng(seed)`, classes in increasing order.

    Args:
        labels: 1-D int array of class ids.
        n: How many to hold out, `1 <= n < len(labels)`.
        seed: Non-negative int.

    Returns:
        The sorted int64 indices.

    Raises:
        ValueError: For `n` or `seed` out of range, or an `n` that would
            hold out every example of a class.
    """
    labels = np.asarray(labels)
    n = check_int("val_images", n, low=1, high=len(labels) - 1)
    seed = check_int("val_seed", seed, low=0)
    classes, counts = np.unique(labels, return_counts=True)
    exact = n * counts / counts.sum()
    quota = np.floor(exact).astype(np.int64)
    extra = np.argsort(-(exact - quota), kind="stable")[: n - int(quota.sum())]
    quota[extra] += 1
    if np.any(quota >= counts):
        c = int(classes[np.argmax(quota >= counts)])
        raise ValueError(
            f"`val_images`={n} would hold out every training image of class {c}; use fewer "
            f"(at most {len(labels) - len(classes)})."
        )
    rng = np.random.default_rng(seed)
    chosen = [np.flatnonzero(labels == c)[rng.permutation(k)[:q]]
              for c, k, q in zip(classes, counts, quota)]
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def indices_sha256(indices):
    """sha256 of the sorted indices written as decimal numbers joined by
    commas (e.g. `"3,17,42"`)."""
    text = ",".join(str(int(i)) for i in np.sort(np.asarray(indices)))
    return hashlib.sha256(text.encode()).hexdigest()


def training_indices(labels, protocol):
    """The index parts of the training images (see the module docstring).

    Args:
        labels: Labels of all training images, in the documented order.
        protocol: `compare.Protocol` (`seed`, `train_images`, `val_images`,
            `val_seed`).

    Returns:
        `{"val", "weight", "search"}`: int64 arrays of indices into
        `labels`, `"val"` sorted (empty without a validation split),
        `"weight"` and `"search"` in training order.
    """
    labels = np.asarray(labels)
    held = (holdout_indices(labels, protocol.val_images, protocol.val_seed)
            if protocol.val_images else np.zeros(0, np.int64))
    rest = np.setdiff1d(np.arange(len(labels), dtype=np.int64), held)
    weight, search = split_indices(labels[rest], SEARCH_FRACTION, protocol.seed)
    n = protocol.train_images
    n_search = None if n is None else int(round(n * SEARCH_FRACTION))
    parts = {"val": held}
    for name, part, limit in (("weight", rest[weight], None if n is None else n - n_search),
                              ("search", rest[search], n_search)):
        part = part[np.random.default_rng([protocol.seed, 1]).permutation(len(part))]
        parts[name] = part[:limit]
    return parts


def split_record(labels, indices, protocol, source):
    """What the run JSON records of the validation split (`None` without):
    its size, seed, the sha256 of its sorted indices (`indices_sha256`) and
    images per class."""
    held = indices["val"]
    if not len(held):
        return None
    classes, counts = np.unique(np.asarray(labels)[held], return_counts=True)
    return {
        "val_images": int(len(held)),
        "val_seed": int(protocol.val_seed),
        "val_sha256": indices_sha256(held),
        "val_per_class": {str(int(c)): int(k) for c, k in zip(classes, counts)},
        "indices": "of the 50,000 training images in the documented order "
                   "(dais_keras.data.cifar10_numpy('train'))",
        "data": source,
        "train_images": int(len(indices["weight"]) + len(indices["search"])),
    }


@dataclasses.dataclass
class TrainingData:
    """What `training_data` returns.

    Attributes:
        sets: `"weight"`, `"search"` and `"train"` (the two together) as
            batches.
        val: `(x, y)` of the held-out images, or `None`.
        indices: `training_indices`' dict plus `"train"`.
        record: `split_record` (`None` without a validation split).
    """

    sets: dict
    val: tuple
    indices: dict
    record: dict


def training_data(protocol, fmt, arrays=None, source=None):
    """The batches every method trains on and the held-out images.

    Args:
        protocol: `compare.Protocol`.
        fmt: `"tf"` (a seeded `tf.data` pipeline) or `"pydataset"`.
        arrays: `(x, y)` of all training images (default: CIFAR-10's,
            `dais_keras.data.cifar10_numpy("train")`).
        source: The data's name for the record (default: CIFAR-10's
            source, or `"arrays"` for given arrays).

    Returns:
        A `TrainingData`.
    """
    if arrays is None:
        x, y = data.cifar10_numpy("train")
        source = source or data.cifar10_source().name
    else:
        x, y = arrays
        source = source or "arrays"
    indices = training_indices(y, protocol)
    indices["train"] = np.concatenate([indices["weight"], indices["search"]])
    if fmt == "tf":
        from dais_keras.data.tfdata import tf_dataset as build
    else:
        build = data.ImagePyDataset
    sets = {
        split: build(x[indices[split]], y[indices[split]], protocol.batch_size,
                     augment=split != "search", shuffle=True, seed=protocol.seed,
                     drop_remainder=True)
        for split in ("weight", "search", "train")
    }
    val = (x[indices["val"]], y[indices["val"]]) if len(indices["val"]) else None
    return TrainingData(sets, val, indices, split_record(y, indices, protocol, source))


class ValidationAccuracy(keras.callbacks.Callback):
    """Top-1 accuracy on the held-out images at the end of every epoch.

    The model evaluated is the one being trained: a `DAISModel` evaluates
    its soft masks (the search's epochs), a `Distiller` its student.

    Args:
        val: `(x, y)` of the held-out images.
        stage: What the epochs are (`"search"` or `"finetune"`), recorded
            beside each accuracy.
        batch_size: Evaluation batch size.

    Attributes:
        accuracies: One top-1 accuracy per epoch ended, in order.
    """

    def __init__(self, val, stage, batch_size=500):
        super().__init__()
        self.val = val
        self.stage = stage
        self.batch_size = batch_size
        self.accuracies = []

    def on_epoch_end(self, epoch, logs=None):
        self.accuracies.append(accuracy(self.model, self.val, batch_size=self.batch_size))
