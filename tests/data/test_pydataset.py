"""Tests of the TensorFlow-free input path: `random_crop_flip`,
`ImagePyDataset` and `endless_batches`, on tiny synthetic arrays.

The augmentation is checked on "marked" images whose pixels say where they
come from (red = row + 1, green = column + 1), so every augmented image tells
its crop offset and flip: each must be exactly that pad-crop-flip, and the
offsets and flips must be uniform (chi-square on counts), like those of the
`tf.data` pipeline of `cifar10(format="tf")`.
"""

import numpy as np
import pytest

import keras

from dais_keras import data
from dais_keras.data import pydataset as data_pydataset
from dais_keras.data.augment import PADDING

SPAN = 2 * PADDING + 1  # 9 offsets per axis, 81 crops
# chi2.ppf(1 - 1e-4, df): the counts of a correct sampler exceed these once
# in 10,000 seeds (the seeds below are fixed, so the tests are deterministic).
CHI2_161 = 236.4  # 81 offsets x 2 flips
CHI2_80 = 135.8  # 81 offsets


def _marked_images(n):
    rows, cols = np.mgrid[0:32, 0:32]
    image = np.stack([rows + 1, cols + 1, np.full_like(rows, 200)], -1)
    return np.broadcast_to(image.astype(np.uint8), (n, 32, 32, 3)).copy()


def _pad_crop_flip(image, dy, dx, flip):
    crop = np.pad(image, [(PADDING, PADDING), (PADDING, PADDING), (0, 0)])
    crop = crop[dy : dy + 32, dx : dx + 32]
    return crop[:, ::-1] if flip else crop


def _offsets_and_flips(augmented):
    """`(dy, dx, flip)` of augmented marked images, after checking that each
    is exactly the zero-padded crop at `(dy, dx)`, flipped if `flip`."""
    augmented = np.asarray(augmented)
    centre = augmented[:, 16, 16:18].astype(int)  # never in the padding
    flip = centre[:, 1, 1] < centre[:, 0, 1]
    dy = centre[:, 0, 0] - 1 - 16 + PADDING
    # Output column 16 shows crop column 16, or 15 when flipped.
    dx = centre[:, 0, 1] - 1 + PADDING - np.where(flip, 15, 16)
    image = _marked_images(1)[0]
    for got, oy, ox, f in zip(augmented, dy, dx, flip):
        np.testing.assert_array_equal(got, _pad_crop_flip(image, oy, ox, f))
    return dy, dx, flip


def _chi2(counts, expected):
    return float(np.sum((counts - expected) ** 2 / expected))


@pytest.fixture(scope="module")
def numpy_draws():
    """`(dy, dx, flip)` of 8,100 images augmented by an `ImagePyDataset`."""
    n = 100 * SPAN**2
    ds = data.ImagePyDataset(
        _marked_images(n), np.arange(n), batch_size=128, augment=True, seed=0
    )
    images = np.concatenate([ds[i][0] for i in range(len(ds))])
    assert images.dtype == np.float32 and images.shape == (n, 32, 32, 3)
    return _offsets_and_flips(images)


def test_numpy_augmentation_is_uniform_pad_crop_flip(numpy_draws):
    dy, dx, flip = numpy_draws
    n = len(dy)
    cells = np.bincount((dy * SPAN + dx) * 2 + flip, minlength=2 * SPAN**2)
    assert len(cells) == 2 * SPAN**2  # no offset outside [0, 8]
    assert cells.min() > 0
    # Offsets uniform over the 81 crops, flips 1/2, independent of each other.
    assert _chi2(cells, n / len(cells)) < CHI2_161
    assert abs(flip.mean() - 0.5) < 4 * 0.5 / np.sqrt(n)


def test_tf_data_augmentation_has_the_same_distribution(numpy_draws):
    # Today's pipeline, `cifar10(format="tf")`, on the same marked images.
    pytest.importorskip("tensorflow")
    from dais_keras.data.tfdata import tf_dataset

    n = 50 * SPAN**2
    ds = tf_dataset(_marked_images(n), np.arange(n), 512, augment=True, seed=0)
    tf_dy, tf_dx, tf_flip = _offsets_and_flips(
        np.concatenate([np.asarray(x) for x, _ in ds])
    )
    assert abs(tf_flip.mean() - 0.5) < 4 * 0.5 / np.sqrt(n)
    # Homogeneity of the two samples' offset counts (2 x 81 table).
    dy, dx, _ = numpy_draws
    table = np.stack([
        np.bincount(dy * SPAN + dx, minlength=SPAN**2),
        np.bincount(tf_dy * SPAN + tf_dx, minlength=SPAN**2),
    ]).astype(float)
    expected = table.sum(1, keepdims=True) * table.sum(0) / table.sum()
    assert _chi2(table, expected) < CHI2_80


def test_random_crop_flip_is_a_function_of_the_generator():
    x = _marked_images(16)
    a = data.random_crop_flip(x, np.random.default_rng(5))
    b = data.random_crop_flip(x, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, data.random_crop_flip(x, np.random.default_rng(6)))
    # Without padding only the flips remain.
    same = data.random_crop_flip(x, np.random.default_rng(5), padding=0)
    flipped = (same == x[:, :, ::-1]).all(axis=(1, 2, 3))
    assert ((same == x).all(axis=(1, 2, 3)) | flipped).all()
    assert 0 < flipped.sum() < len(x)
    with pytest.raises(ValueError, match="batch of shape"):
        data.random_crop_flip(x[0], np.random.default_rng(0))
    with pytest.raises(ValueError, match="padding"):
        data.random_crop_flip(x, np.random.default_rng(0), padding=-1)


# --------------------------------------------------------------------------
# ImagePyDataset: batches, passes, reproducibility
# --------------------------------------------------------------------------


def _dataset(n=10, batch_size=4, **kwargs):
    x = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 8, 8, 3), np.uint8)
    return data.ImagePyDataset(x, np.arange(n, dtype=np.int32), batch_size, **kwargs)


def _pass(ds):
    return [ds[i] for i in range(len(ds))]


def _same(a, b):
    return all(np.array_equal(u, v) for p, q in zip(a, b) for u, v in zip(p, q))


def test_batches_in_order_without_shuffle():
    ds = _dataset()
    assert isinstance(ds, keras.utils.PyDataset)
    batches = _pass(ds)
    assert [len(y) for _, y in batches] == [4, 4, 2]
    x, y = batches[0]
    assert x.dtype == np.float32 and x.shape == (4, 8, 8, 3) and y.dtype == np.int32
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), np.arange(10))
    np.testing.assert_array_equal(x[:, 0, 0, 0], [0, 1, 2, 3])  # raw values
    assert len(_dataset(drop_remainder=True)) == 2
    ds.on_epoch_end()
    assert _same(_pass(ds), batches)  # nothing random: every pass alike
    with pytest.raises(IndexError, match="3 batches"):
        ds[3]


def test_shuffle_reproducible_per_pass_and_independent_of_fetch_order():
    ds = _dataset(shuffle=True, augment=True, seed=3)
    first = _pass(ds)
    labels = np.concatenate([y for _, y in first])
    assert sorted(labels) == list(range(10)) and list(labels) != list(range(10))
    # Same arguments, same batches, fetched in any order.
    twin = _dataset(shuffle=True, augment=True, seed=3)
    assert _same([twin[i] for i in (2, 0, 1)], [first[i] for i in (2, 0, 1)])
    # The next pass reshuffles and redraws; its twin does the same.
    ds.on_epoch_end()
    twin.on_epoch_end()
    second = _pass(ds)
    assert not _same(second, first) and _same(_pass(twin), second)
    assert ds.epoch == 1
    # Replaying a pass.
    ds.epoch = 0
    assert _same(_pass(ds), first)
    assert not _same(_pass(_dataset(shuffle=True, augment=True, seed=4)), first)


def test_epoch_end_counts_once_per_epoch_begin_once_fit_calls_it():
    ds = _dataset(shuffle=True, seed=0)
    ds.on_epoch_end()
    ds.on_epoch_end()  # used by hand: every on_epoch_end counts
    assert ds.epoch == 2
    ds.on_epoch_begin()
    ds.on_epoch_end()
    assert ds.epoch == 3
    ds[0]
    ds.on_epoch_end()  # fit's extra call before its first epoch
    assert ds.epoch == 3
    ds.epoch = 5  # a new start, as if used by hand
    ds.on_epoch_end()
    assert ds.epoch == 6


class _Recording(data.ImagePyDataset):
    """Records the pass of every batch served."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.passes = []

    def __getitem__(self, index):
        self.passes.append(self.epoch)
        return super().__getitem__(index)


def _fit(*epochs_per_call):
    x = np.random.default_rng(0).normal(size=(12, 4, 4, 3)).astype("float32")
    ds = _Recording(x, np.arange(12) % 2, 4, shuffle=True, augment=True, seed=1)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    calls = []
    for epochs in epochs_per_call:
        ds.passes = []
        model.fit(ds, epochs=epochs, shuffle=False, verbose=0)
        calls.append(ds.passes[-3 * epochs :])  # the batches trained on
    return calls


def test_fit_uses_one_pass_per_epoch_whether_called_once_or_twice():
    # fit looks at a batch or two before its first epoch (to build the model
    # or, on TensorFlow, the dataset's signature), then ends that pass.
    (once,) = _fit(3)
    assert once == [1] * 3 + [2] * 3 + [3] * 3
    assert sum(_fit(1, 2), []) == once


def _adapter_pass(ds, **kwargs):
    """One epoch through Keras' own PyDataset adapter, as `fit` runs it."""
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    adapter = PyDatasetAdapter(ds, shuffle=False)
    adapter.on_epoch_begin()
    batches = list(adapter.get_numpy_iterator())
    adapter.on_epoch_end()
    return batches


@pytest.mark.parametrize("multiprocessing", [False, True], ids=["threads", "processes"])
def test_parallel_workers_give_the_same_batches(multiprocessing):
    kwargs = dict(n=40, batch_size=8, shuffle=True, augment=True, seed=2)
    serial = _dataset(**kwargs)
    parallel = _dataset(**kwargs, workers=2, use_multiprocessing=multiprocessing)
    for _ in range(2):  # two passes: the workers see the new pass
        assert _same(_adapter_pass(parallel), _adapter_pass(serial))
    assert parallel.epoch == serial.epoch == 2


def test_bad_arguments():
    x = np.zeros((4, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="shape"):
        data.ImagePyDataset(x[0], np.zeros(8))
    with pytest.raises(ValueError, match="shape"):
        data.ImagePyDataset(x, np.zeros(3))
    with pytest.raises(ValueError, match="batch_size"):
        data.ImagePyDataset(x, np.zeros(4), 0)
    with pytest.raises(ValueError, match="leaves no batch"):
        data.ImagePyDataset(x, np.zeros(4), 8, drop_remainder=True)
    with pytest.raises(ValueError, match="seed"):
        data.ImagePyDataset(x, np.zeros(4), seed=-1)


# --------------------------------------------------------------------------
# endless_batches: the search feed's stream
# --------------------------------------------------------------------------


def test_endless_batches_of_a_pydataset_resume_exactly():
    ds = _dataset(shuffle=True, augment=True, seed=5)
    stream = data.endless_batches(ds)
    seven = [next(stream) for _ in range(7)]
    reference = _dataset(shuffle=True, augment=True, seed=5)
    expected = []
    for _ in range(3):
        expected += _pass(reference)
        reference.on_epoch_end()
    assert _same(seven, expected[:7])
    resumed = data.endless_batches(_dataset(shuffle=True, augment=True, seed=5), skip=4)
    assert _same([next(resumed) for _ in range(3)], seven[4:])
    ds.epoch = 0  # a restart of the first stream, on the same dataset
    restarted = data.endless_batches(ds, skip=5)
    assert _same([next(restarted) for _ in range(2)], seven[5:])


def test_endless_batches_of_iterables():
    batches = [(np.zeros((2, 3)), np.zeros(2)), (np.ones((2, 3)), np.ones(2))]
    stream = data.endless_batches(batches, skip=1)
    assert [float(next(stream)[1][0]) for _ in range(4)] == [1.0, 0.0, 1.0, 0.0]
    once = data.endless_batches(iter(batches))
    assert len([next(once), next(once)]) == 2
    with pytest.raises(ValueError, match="one-shot generator"):
        next(once)
    with pytest.raises(ValueError, match="skip"):
        data.endless_batches(batches, skip=-1)


def test_pydataset_module_is_loaded_on_first_use():
    assert data.ImagePyDataset is data_pydataset.ImagePyDataset
    assert data.endless_batches is data_pydataset.endless_batches
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        data.nothing


def test_repeat_is_an_endless_stream_of_passes():
    ds = _dataset(shuffle=True, augment=True, seed=3)
    passes = []
    for _ in range(3):  # passes 0, 1, 2
        passes.append(_pass(ds))
        ds.on_epoch_end()
    endless = _dataset(shuffle=True, augment=True, seed=3, repeat=True)
    assert endless.num_batches is None and len(endless) == 3
    # Batch i is batch i % 3 of pass 1 + i // 3 (passes 1, 2, ... as in a
    # first `fit`), whatever the order of the fetches; `fit` moves no pass.
    endless.on_epoch_begin()
    endless.on_epoch_end()
    stream = [endless[i] for i in (5, 4, 3, 2, 1, 0)][::-1]
    assert _same(stream, passes[1] + passes[2]) and endless.epoch == 0
    endless.epoch = 1  # starts from pass 2
    assert _same([endless[i] for i in range(3)], passes[2])
    with pytest.raises(IndexError, match="endless batches"):
        endless[-1]


def test_subset_keeps_the_settings():
    ds = _dataset(shuffle=True, augment=True, seed=3, batch_size=2, workers=2)
    part = ds.subset([7, 1, 4])
    assert type(part) is type(ds) and part.epoch == 0 and len(part) == 2
    settings = ("batch_size", "augment", "shuffle", "seed", "repeat", "workers")
    assert all(getattr(part, k) == getattr(ds, k) for k in settings)
    np.testing.assert_array_equal(part.y, ds.y[[7, 1, 4]])


@pytest.mark.parametrize("settings", [
    dict(augment=True, shuffle=True, seed=5), dict(augment=False, shuffle=False)])
def test_device_dataset_makes_the_same_batches(settings):
    # Gathered, cropped and flipped in keras.ops from the images on the
    # device: the values of the numpy `ImagePyDataset`, exactly.
    x = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    y = np.arange(10, dtype=np.int32)
    numpy_ds = data.ImagePyDataset(x, y, 4, **settings)
    device_ds = data.DeviceImageDataset(x, y, 4, **settings)
    for _ in range(2):  # two passes
        got = [tuple(keras.ops.convert_to_numpy(t) for t in b) for b in _pass(device_ds)]
        assert got[0][0].dtype == np.float32 and _same(got, _pass(numpy_ds))
        numpy_ds.on_epoch_end()
        device_ds.on_epoch_end()
    part = device_ds.subset([1, 2, 3])
    assert type(part) is data.DeviceImageDataset
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(part[0][1]), [1, 2, 3])
