"""The data forms of prune / fine-tune / accuracy (`dais_keras.utils.data_forms`):
arrays (one input or a tuple, list or dict of inputs), `tf.data` datasets and
`keras.utils.PyDataset`s, empty data; the search split and steps of
`dais_keras.finetune.inputs`; accuracy on a PyDataset."""

import numpy as np
import pytest

import keras

from dais_keras import data
from dais_keras.finetune import accuracy
from dais_keras.finetune import inputs
from dais_keras.utils import data_forms


def _two_inputs(n=20):
    rng = np.random.default_rng(0)
    return (rng.normal(size=(n, 4, 4, 3)), rng.normal(size=(n, 5))), np.arange(n) % 3


@pytest.mark.parametrize("form", [tuple, list, lambda xs: {"image": xs[0], "extra": xs[1]}])
def test_check_arrays_accepts_one_array_per_input(form):
    x, y = _two_inputs()
    checked, labels = data_forms.check_arrays("train_data", (form(x), y))
    assert type(checked) is type(form(x)) and data_forms.num_examples(checked) == 20
    assert len(labels) == 20


def test_check_arrays_names_the_problem():
    (a, b), y = _two_inputs()
    with pytest.raises(ValueError, match=r"`train_data` has input arrays of \[19, 20\] rows"):
        data_forms.check_arrays("train_data", ((a, b[:19]), y))
    with pytest.raises(ValueError, match="`train_data` has 20 inputs but 19 labels"):
        data_forms.check_arrays("train_data", ((a, b), y[:19]))
    with pytest.raises(ValueError, match="`eval_data` holds no examples"):
        data_forms.check_arrays("eval_data", (a[:0], y[:0]))
    with pytest.raises(ValueError, match="`train_data` must be a `tf.data.Dataset`"):
        data_forms.check_arrays("train_data", a)


def test_split_search_splits_every_input_alike():
    (a, b), y = _two_inputs(50)
    b = b.copy()
    b[:, 0] = np.arange(50)  # row ids
    a[:, 0, 0, 0] = np.arange(50)
    ((wa, wb), wy), ((sa, sb), sy) = inputs.split_search(((a, b), y), 0.2, seed=1)
    assert len(sy) == 10 and len(wy) == 40
    np.testing.assert_array_equal(wa[:, 0, 0, 0], wb[:, 0])
    np.testing.assert_array_equal(sa[:, 0, 0, 0], sb[:, 0])
    np.testing.assert_array_equal(y[sb[:, 0].astype(int)], sy)
    assert not set(wb[:, 0]) & set(sb[:, 0])
    _, ((_, again), _) = inputs.split_search(((a, b), y), 0.2, seed=1)
    np.testing.assert_array_equal(again, sb)


def test_an_empty_dataset_of_unknown_length_is_reported():
    import tensorflow as tf

    x, y = np.zeros((8, 2), "float32"), np.zeros(8, "int32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    empty = data.filter(lambda a, b: False)
    assert int(empty.cardinality()) == tf.data.UNKNOWN_CARDINALITY
    with pytest.raises(ValueError, match="`train_data` is an empty dataset"):
        data_forms.check_data("train_data", empty)
    with pytest.raises(ValueError, match="`search_data` is an empty dataset"):
        data_forms.check_data("search_data", data.take(0))
    assert data_forms.check_data("train_data", data.filter(lambda a, b: True)) is not None


def test_steps_per_epoch():
    import tensorflow as tf

    x, y = np.zeros((10, 2), "float32"), np.zeros(10, "int32")
    assert inputs.steps_per_epoch((x, y), 4) == 3
    assert inputs.steps_per_epoch(tf.data.Dataset.from_tensor_slices((x, y)).batch(4), 64) == 3
    unknown = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda a, b: True).batch(4)
    assert inputs.steps_per_epoch(unknown, 4) is None


class _Batches(keras.utils.PyDataset):
    """A plain PyDataset: `n` batches of one example, labelled by batch;
    counts its passes."""

    def __init__(self, n):
        super().__init__()
        self.n, self.passes = n, 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.full((1, 2), i, "float32"), np.array([i + 100 * self.passes], "int32")

    def on_epoch_end(self):
        self.passes += 1


def _images(n=20):
    x = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)
    return data.ImagePyDataset(x, np.arange(n, dtype=np.int32), 4, shuffle=True, seed=2)


def test_pydataset_is_batched_data():
    ds = _images()
    assert data_forms.is_batched(ds) and data_forms.is_pydataset(ds)
    assert not data_forms.is_dataset(ds) and not data_forms.is_batched((np.zeros(2), [1, 2]))
    assert data_forms.check_data("train_data", ds) is ds
    assert inputs.steps_per_epoch(ds, 64) == 5 == data_forms.num_batches(ds)
    assert inputs.fit_arguments(ds, 64) == ((ds,), {"shuffle": False})
    assert inputs.steps_per_epoch(ds.subset(np.arange(20)), 1) == 5
    endless = data.ImagePyDataset(ds.x, ds.y, 4, repeat=True)
    assert inputs.steps_per_epoch(endless, 4) is None
    with pytest.raises(ValueError, match="`search_data` is an empty dataset"):
        data_forms.check_data("search_data", _Batches(0))


def test_split_search_of_an_image_pydataset_splits_examples():
    # Like arrays: a seeded permutation of the examples, the last 20 % for
    # the search; two datasets with the settings of the original.
    ds = _images()
    weight, search = inputs.split_search(ds, 0.2, seed=1)
    (_, wy), (_, sy) = inputs.split_search((np.zeros((20, 1)), ds.y), 0.2, seed=1)
    np.testing.assert_array_equal(weight.y, wy)
    np.testing.assert_array_equal(search.y, sy)
    assert (len(search), len(weight), search.shuffle, search.seed) == (1, 4, True, 2)


def test_split_search_of_a_pydataset_takes_every_kth_batch():
    ds = _Batches(10)
    weight, search = inputs.split_search(ds, 0.2)
    assert [int(search[i][1][0]) for i in range(len(search))] == [0, 5]
    assert [int(weight[i][1][0]) for i in range(len(weight))] == [1, 2, 3, 4, 6, 7, 8, 9]
    # `fit` trains on the weight part: its passes are the dataset's.
    search.on_epoch_end()
    weight.on_epoch_end()
    assert ds.passes == 1 and int(weight[0][1][0]) == 101
    with pytest.raises(ValueError, match="has 1 batches: too few"):
        inputs.split_search(_Batches(1), 0.2)
    endless = data.ImagePyDataset(np.zeros((4, 2, 2, 1)), np.zeros(4), 2, repeat=True)
    assert len(inputs.split_search(endless, 0.5)[1].y) == 2  # examples: fine
    with pytest.raises(ValueError, match="endless PyDataset"):
        inputs.split_search(_Endless(3), 0.5)


class _Endless(_Batches):
    num_batches = None


def test_accuracy_on_a_pydataset_matches_arrays():
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(3)])
    ds = _images()
    ds.y = ds.y % 3
    x = np.concatenate([ds[i][0] for i in range(5)])
    y = np.concatenate([ds[i][1] for i in range(5)])
    predicted, labels = accuracy.predict_classes(model, ds)
    np.testing.assert_array_equal(labels, y)
    np.testing.assert_array_equal(predicted, np.argmax(model.predict(x, verbose=0), -1))
    assert accuracy.accuracy(model, ds) == accuracy.accuracy(model, (x, y))
