"""The data forms of prune / fine-tune / accuracy (`dais_keras.utils.data_forms`):
arrays (one input or a tuple, list or dict of inputs) and datasets, empty data;
the search split and steps of `dais_keras.finetune.inputs`."""

import numpy as np
import pytest

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
