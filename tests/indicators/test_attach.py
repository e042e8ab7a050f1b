"""attach_indicators, indicator_layers, set_temperature, binarize, DAISModel."""

import numpy as np
import pytest

import keras
from keras import layers as L

import dais_keras as dk
from dais_keras import testing


def _model():
    inp = keras.Input((8, 8, 3))
    a = L.Conv2D(4, 3, padding="same", name="a")(inp)
    b = L.Conv2D(5, 3, padding="same", name="b")(inp)
    x = L.BatchNormalization()(L.Concatenate()([a, b]))
    x = L.Activation("sigmoid")(x)  # f(0) != 0: masks must sit at consumers
    x = L.Conv2D(6, 1, name="c")(x)
    return keras.Model(inp, L.Dense(2)(L.Flatten()(x)))


def test_one_indicator_per_prunable_group_with_weights_copied():
    model = _model()
    testing.randomize_weights(model)
    search = dk.attach_indicators(model)
    assert isinstance(search, dk.DAISModel)
    graph = dk.channel_groups(model)
    inds = dk.indicator_layers(search)
    assert [i.group_id for i in inds] == [g.id for g in graph.prunable]
    assert [i.units for i in inds] == [g.size for g in graph.prunable]
    for name in ["a", "b", "c"]:
        for w0, w1 in zip(model.get_layer(name).get_weights(), search.get_layer(name).get_weights()):
            np.testing.assert_array_equal(w0, w1)
    assert search.get_layer("a") is not model.get_layer("a")


def test_hard_mode_with_positive_alpha_equals_original():
    model = _model()
    testing.randomize_weights(model)
    search = dk.attach_indicators(model)
    dk.binarize(search, hard=True)
    x = np.random.default_rng(0).uniform(0, 255, (3, 8, 8, 3)).astype("float32")
    np.testing.assert_array_equal(search.predict(x, verbose=0), model.predict(x, verbose=0))
    dk.binarize(search, hard=False)
    assert not np.allclose(search.predict(x, verbose=0), model.predict(x, verbose=0))


def test_sigmoid_after_concat_is_exact_under_surgery():
    model = _model()
    result = testing.check_surgery(model)
    assert result["rel_error"] <= 1e-5


def test_set_temperature_and_errors():
    search = dk.attach_indicators(_model(), alpha_init=1.0, temperature=2.0)
    dk.set_temperature(search, 0.05)
    assert all(float(i.temperature.numpy() if hasattr(i.temperature, "numpy") else i.temperature) == pytest.approx(0.05) for i in dk.indicator_layers(search))
    with pytest.raises(ValueError, match="temperature"):
        dk.set_temperature(search, 0.0)
    with pytest.raises(ValueError, match="has none"):
        dk.set_temperature(_model(), 0.1)


def test_dais_model_saves_and_reloads(tmp_path):
    search = dk.attach_indicators(_model())
    testing.random_half_masks(search)
    path = tmp_path / "search.keras"
    search.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded, dk.DAISModel)
    x = np.ones((1, 8, 8, 3), "float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), search.predict(x, verbose=0), rtol=1e-6)
    pruned = dk.surgery.apply(loaded)
    np.testing.assert_allclose(pruned.predict(x, verbose=0), search.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_input_model_untouched():
    model = _model()
    n = len(model.layers)
    nodes = sum(len(l._inbound_nodes) for l in model.layers)
    dk.attach_indicators(model)
    assert len(model.layers) == n
    assert sum(len(l._inbound_nodes) for l in model.layers) == nodes
