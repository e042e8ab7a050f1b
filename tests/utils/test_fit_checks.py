"""Training data checked against the model and the loss before any step.

Runs on every backend the search supports: on JAX a sparse cross-entropy with
an out-of-range label trains on silently, on TensorFlow it fails inside the
compiled step; both must get the same clear error first. Every case runs
through the three entry points that take training data: `dais_keras.prune`,
`DAISModel.fit` and `DAISCallback`'s `search_data`.
"""

import numpy as np
import pytest

import keras

import dais_keras as dk
from dais_keras.testing import toy_data
from dais_keras.testing import toy_model
from dais_keras.utils import fit_checks

X, Y = toy_data(48, seed=1)
SPARSE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

# name -> (labels, inputs, words the error must hold). The toy has 4 classes.
BAD = {
    "out_of_range": (Y + 4, X, ["out of range", "4 outputs", "0..3"]),
    "negative": (np.where(np.arange(48) == 5, -1, Y), X, ["out of range", "row 5"]),
    "fractional_float": (Y + 0.5, X, ["not whole numbers", "truncate"]),
    "one_hot": (np.eye(4, dtype="float32")[Y], X, ["one-hot", "argmax", "CategoricalCrossentropy"]),
    "nan_label": (np.where(np.arange(48) == 2, np.nan, Y), X, ["non-finite label", "row 2"]),
    "string_labels": (np.array(["cat"] * 48), X, ["dtype", "integer class indices"]),
    "nan_input": (Y, np.where(np.arange(48)[:, None, None, None] == 3, np.nan, X),
                  ["non-finite input"]),
    "wrong_shape": (Y, np.zeros((48, 8, 8, 3), "float32"), ["(8, 8, 3)", "(16, 16, 3)"]),
}


@pytest.fixture(scope="module")
def model():
    return toy_model(0)


@pytest.fixture(scope="module")
def search_model(model):
    search = dk.attach_indicators(model)
    search.compile(optimizer="sgd", loss=SPARSE)
    return search


def _no_step(monkeypatch):
    """Makes any training step fail the test: the checks must come first."""
    def fail(*args, **kwargs):
        raise AssertionError("a training step ran before the data was checked")
    monkeypatch.setattr(keras.Model, "train_step", fail)
    monkeypatch.setattr(dk.DAISModel, "train_step", fail)


@pytest.mark.parametrize("case", sorted(BAD))
def test_prune_names_train_data_and_the_fix(model, case, monkeypatch):
    y, x, words = BAD[case]
    _no_step(monkeypatch)
    with pytest.raises(ValueError) as info:
        dk.prune(model, 0.5, (x, y), epochs=1, finetune_epochs=0, verbose=0)
    message = str(info.value)
    assert "`train_data`" in message and "search_data" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("case", sorted(BAD))
def test_prune_checks_given_search_and_eval_data(model, case, monkeypatch):
    y, x, words = BAD[case]
    _no_step(monkeypatch)
    with pytest.raises(ValueError, match="`search_data`"):
        dk.prune(model, 0.5, (X, Y), search_data=(x, y), epochs=1, finetune_epochs=0,
                 verbose=0)
    with pytest.raises(ValueError, match=r"eval_data\['test'\]"):
        dk.prune(model, 0.5, (X, Y), eval_data={"test": (x, y)}, epochs=1,
                 finetune_epochs=0, verbose=0)


@pytest.mark.parametrize("case", sorted(BAD))
def test_search_model_fit_names_x_or_y(search_model, case, monkeypatch):
    y, x, words = BAD[case]
    _no_step(monkeypatch)
    with pytest.raises(ValueError) as info:
        search_model.fit(x, y, epochs=1, verbose=0)
    message = str(info.value)
    assert ("`x`" in message) != ("`y`" in message)
    for word in words:
        assert word in message


@pytest.mark.parametrize("case", sorted(BAD))
def test_callback_names_search_data(search_model, case, monkeypatch):
    y, x, words = BAD[case]
    _no_step(monkeypatch)
    callback = dk.DAISCallback(budget=0.5, search_data=(x, y))
    with pytest.raises(ValueError) as info:
        search_model.fit(X, Y, epochs=1, verbose=0, callbacks=[callback])
    message = str(info.value)
    assert "`search_data`" in message
    for word in words:
        assert word in message


def test_whole_float_and_column_labels_are_accepted(model):
    fit_checks.check_fit_data("train_data", (X, Y.astype("float32")), model, SPARSE)
    fit_checks.check_fit_data("train_data", (X, Y[:, None]), model, SPARSE)
    fit_checks.check_fit_data("train_data", (X.astype("uint8"), Y), model, SPARSE)


def test_categorical_loss_takes_one_hot_and_refuses_indices(model):
    loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    fit_checks.check_fit_data("train_data", (X, np.eye(4)[Y]), model, loss)
    with pytest.raises(ValueError, match="one-hot rows of 4 values.*to_categorical"):
        fit_checks.check_fit_data("train_data", (X, Y), model, loss)


@pytest.mark.parametrize("loss, kind", [
    (SPARSE, "sparse"), ("sparse_categorical_crossentropy", "sparse"),
    (keras.losses.sparse_categorical_crossentropy, "sparse"),
    (keras.losses.CategoricalCrossentropy(), "categorical"),
    ("categorical_crossentropy", "categorical"), ("mse", None),
    (keras.losses.MeanSquaredError(), None), (None, None),
])
def test_loss_kind(loss, kind):
    assert fit_checks.loss_kind(loss) == kind


def test_other_losses_leave_labels_alone(model):
    # A regression-style loss takes any finite targets.
    fit_checks.check_fit_data("train_data", (X, np.random.rand(48, 4)), model, "mse")


def test_pydataset_is_checked_on_its_first_batch(model):
    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return X[16 * i:16 * i + 16], Y[16 * i:16 * i + 16] + 4

    with pytest.raises(ValueError, match=r"`train_data` \(its first batch\) has a label out of range"):
        fit_checks.check_fit_data("train_data", Batches(), model, SPARSE)
