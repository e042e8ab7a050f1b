"""The search feed: endless, exactly resumable streams of search batches from
arrays, `keras.utils.PyDataset`s and (with TensorFlow) `tf.data`.

Runs on every backend the search supports (no TensorFlow needed for arrays
and PyDatasets)."""

import numpy as np
import pytest

import keras

import dais_keras as dk
from dais_keras.data.pydataset import ImagePyDataset
from dais_keras.search.callback import DAISCallback
from dais_keras.search.feed import SearchFeed
from dais_keras.testing import toy_data
from dais_keras.testing import toy_model


def _take(feed, model, n, skip=0):
    feed.start(model, skip=skip)
    return [
        keras.tree.map_structure(lambda a: np.asarray(keras.ops.convert_to_numpy(a)), feed.next())
        for _ in range(n)
    ]


def _assert_same_batches(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for u, v in zip(keras.tree.flatten(x), keras.tree.flatten(y)):
            np.testing.assert_array_equal(u, v)


@pytest.fixture(scope="module")
def model():
    return dk.attach_indicators(toy_model(0))


def test_arrays_each_pass_is_a_permutation_and_restarts_exactly(model):
    x = np.arange(40, dtype="float32").reshape(40, 1, 1, 1) * np.ones((1, 16, 16, 3), "float32")
    y = np.arange(40, dtype="int32")
    feed = SearchFeed((x, y), batch_size=8, seed=3)
    batches = _take(feed, model, 15)  # three passes of five batches
    for p in range(3):
        seen = np.concatenate([b[1] for b in batches[5 * p:5 * p + 5]])
        np.testing.assert_array_equal(np.sort(seen), y)
    assert not np.array_equal(batches[0][1], batches[5][1])  # reshuffled
    np.testing.assert_array_equal(batches[0][0][:, 0, 0, 0], batches[0][1])
    _assert_same_batches(_take(feed, model, 6, skip=9), batches[9:15])
    # The stream is a function of its arguments only.
    _assert_same_batches(_take(SearchFeed((x, y), batch_size=8, seed=3), model, 4), batches[:4])


def test_arrays_batches_run_on_across_passes(model):
    x, y = toy_data(10, seed=1)
    feed = SearchFeed((x, y), batch_size=4, shuffle=False)
    labels = [b[1] for b in _take(feed, model, 5)]
    np.testing.assert_array_equal(np.concatenate(labels), np.concatenate([y, y]))


def test_pydataset_restarts_exactly(model):
    x = np.random.default_rng(0).integers(0, 255, (40, 16, 16, 3)).astype("uint8")
    y = np.arange(40, dtype="int32")
    data = ImagePyDataset(x, y, batch_size=8, augment=True, shuffle=True, seed=5)
    feed = SearchFeed(data)
    assert feed.x_shape == (8, 16, 16, 3)
    batches = _take(feed, model, 12)
    for p in range(2):
        seen = np.concatenate([b[1] for b in batches[5 * p:5 * p + 5]])
        np.testing.assert_array_equal(np.sort(seen), y)
    _assert_same_batches(_take(feed, model, 5, skip=7), batches[7:12])
    _assert_same_batches(_take(feed, model, 3), batches[:3])


@pytest.mark.parametrize(
    "data, kwargs, match",
    [
        ("not data", {}, "search_data"),
        ((np.zeros((0, 16, 16, 3)), np.zeros((0,))), {}, "no examples"),
        ((np.zeros((4, 16, 16, 3)), np.zeros((3,))), {}, "same length"),
        ((np.zeros((4, 16, 16, 3)), np.zeros((4,))), {"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_search_data_gets_a_clear_error(data, kwargs, match):
    with pytest.raises(ValueError, match=match):
        SearchFeed(data, **kwargs)


def test_batch_size_with_a_pydataset_is_refused():
    data = ImagePyDataset(np.zeros((8, 16, 16, 3), "uint8"), np.zeros(8, "int32"), batch_size=4)
    with pytest.raises(ValueError, match="batch_size"):
        SearchFeed(data, batch_size=4)


def test_search_fed_by_a_pydataset(model):
    x, y = toy_data(128, seed=1)
    xs, ys = toy_data(64, seed=2)
    search = dk.attach_indicators(toy_model(1))
    search.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    data = ImagePyDataset(xs, ys, batch_size=16, shuffle=True, seed=0)
    cb = DAISCallback(0.5, search_data=data, verbose=0)
    search.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, callbacks=[cb])
    assert cb.report.feasible
    assert int(keras.ops.convert_to_numpy(search.search_variables["step"])) == cb.anneal_steps
