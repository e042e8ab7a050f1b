"""Surgery: exact parity, purity, explicit keep sets, bad input, and the
guarantee on every keras.applications architecture."""

import numpy as np
import pytest

import keras
from keras import layers as L

import dais_keras as dk
from dais_keras import testing


def _model():
    inp = keras.Input((8, 8, 3))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(8, 3, padding="same", name="stem")(inp)))
    y = L.ReLU()(L.Conv2D(6, 3, padding="same", name="b1")(x))
    y = L.BatchNormalization()(L.Conv2D(8, 3, padding="same", name="b2")(y))
    x = L.ReLU()(L.Add()([x, y]))
    return keras.Model(inp, L.Dense(3, name="fc")(L.GlobalAveragePooling2D()(x)))


def _x(shape=(8, 8, 3), n=4, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n,) + shape).astype("float32")


def test_prune_explicit_keep_matches_masked_model():
    model = _model()
    testing.randomize_weights(model)
    graph = dk.channel_groups(model)
    stem, b1 = graph["stem"], graph["b1"]
    small = dk.surgery.prune(model, {stem.id: [0, 3, 7], "b1": np.array([1, 0, 1, 1, 0, 0], bool)})
    assert small.get_layer("stem").filters == 3
    assert small.get_layer("b2").filters == 3
    assert small.get_layer("b1").filters == 3
    assert small.get_layer("fc").get_weights()[0].shape == (3, 3)
    # Reference: the indicator model with the same hard masks.
    search = dk.attach_indicators(model)
    for ind in dk.indicator_layers(search):
        group = graph.groups[ind.group_id]
        keep = {stem.id: [0, 3, 7], b1.id: [0, 2, 3]}[group.id]
        alpha = -np.ones(ind.units, "float32")
        alpha[keep] = 1.0
        ind.alpha.assign(alpha)
    dk.binarize(search)
    x = _x()
    np.testing.assert_allclose(small.predict(x, verbose=0), search.predict(x, verbose=0), rtol=1e-5, atol=1e-4)
    assert dk.count_macs(small) < dk.count_macs(model)


def test_surgery_is_pure():
    model = _model()
    before = [w.copy() for w in model.get_weights()]
    n_layers = len(model.layers)
    search = dk.attach_indicators(model)
    testing.random_half_masks(search)
    pruned = dk.surgery.apply(search)
    assert len(model.layers) == n_layers
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert pruned is not model and all(l not in model.layers for l in pruned.layers)
    assert not dk.indicator_layers(pruned)
    assert type(pruned) is keras.Model or type(pruned).__name__ == "Functional"


def test_all_alpha_positive_hard_mode_equals_original():
    model = _model()
    testing.randomize_weights(model)
    search = dk.attach_indicators(model)
    dk.binarize(search)
    x = _x()
    np.testing.assert_array_equal(search.predict(x, verbose=0), model.predict(x, verbose=0))
    pruned = dk.surgery.apply(search)
    assert dk.count_macs(pruned) == dk.count_macs(model)


@pytest.mark.parametrize(
    "keep, message",
    [
        ({99: [0]}, "No channel group 99"),
        ({"stem": [0, 8]}, r"out of range .* 8 channels"),
        ({"stem": [-1]}, "out of range"),
        ({"stem": []}, "Keeping no channel"),
        ({"stem": [1, 1]}, "duplicates"),
        # Floats are refused, not silently truncated.
        ({"stem": [0.7, 1.2, 2.9]}, r"group \d+ 'stem' must be integer indices .* boolean mask"),
        ({"stem": np.array([0.0, 2.0])}, r"'stem' must be integer indices.*float64"),
        ({"stem": ["0", "2"]}, "must be integer indices"),
        ({"stem": np.ones(5, bool)}, r"expected \(8,\)"),
        ({"fc": [0]}, "frozen"),
        ([0, 1], "must be a dict"),
    ],
)
def test_bad_keep_sets_raise(keep, message):
    with pytest.raises(ValueError, match=message):
        dk.surgery.prune(_model(), keep)


def test_all_negative_group_is_refused():
    search = dk.attach_indicators(_model())
    for ind in dk.indicator_layers(search):
        ind.alpha.assign(-np.ones(ind.units, "float32"))
    with pytest.raises(ValueError, match="leave its producers empty"):
        dk.surgery.apply(search)


def test_apply_needs_an_indicator_model_with_graph():
    class Net(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="subclassed"):
        dk.surgery.apply(Net())


def test_shared_layer_is_pruned_consistently():
    inp = keras.Input((8, 8, 3))
    shared = L.Conv2D(5, 1, name="shared")
    a = shared(L.Conv2D(6, 1, name="p1")(inp))
    b = shared(L.Conv2D(6, 1, name="p2")(inp))
    out = L.Dense(2)(L.GlobalAveragePooling2D()(L.Add()([a, b])))
    model = keras.Model(inp, out)
    result = testing.check_surgery(model)
    assert result["rel_error"] <= 1e-5
    assert result["pruned_macs"] == result["cost_model_macs"]


@pytest.mark.parametrize("name", testing.application_names())
def test_keras_applications_guarantee(name):
    """The surgery guarantee on every keras.applications architecture: (a)
    pruned == hard-masked, (b) exact MACs == the cost model's, (c) the
    pruned model reloads unchanged, (d) most of the MACs are prunable."""
    model = testing.build_application(name)
    result = testing.check_surgery(model, save=True)
    assert result["rel_error"] <= 1e-5  # (a)
    assert result["pruned_macs"] == result["cost_model_macs"]  # (b)
    assert result["pruned_macs"] < result["macs"]
    assert result["reload_rel_error"] <= 1e-6  # (c)
    family_goal = not name.startswith(("ConvNeXt", "NASNet", "EfficientNetV2"))
    if family_goal:  # (d) ResNet, MobileNet, VGG, EfficientNet, DenseNet, Xception, Inception
        assert result["prunable_share"] >= 0.90
    else:
        assert result["prunable_share"] > 0.5


def test_number_of_applications():
    assert len(testing.application_names()) == 40


@pytest.mark.parametrize("name", __import__("dais_keras.models", fromlist=["available"]).available())
def test_cifar_models_guarantee(name):
    from dais_keras import models

    result = testing.check_surgery(models.get(name), save=True)
    assert result["rel_error"] <= 1e-5
    assert result["pruned_macs"] == result["cost_model_macs"] < result["macs"]
    assert result["reload_rel_error"] <= 1e-6
    assert result["prunable_share"] >= 0.90


@pytest.mark.parametrize("name", ["resnet20", "resnet56"])
def test_pretrained_ports_guarantee(name):
    from dais_keras import models

    result = testing.check_surgery(models.pretrained(name), randomize=False, save=False)
    assert result["rel_error"] <= 1e-5
    assert result["pruned_macs"] == result["cost_model_macs"] < result["macs"]


def _nested_twice():
    """One sub-model called twice, each call its own node."""
    keras.utils.set_random_seed(0)
    i = keras.Input((16, 16, 8))
    block = keras.Model(i, L.Add()([i, L.Conv2D(8, 3, padding="same")(i)]))
    inp = keras.Input((16, 16, 3))
    a = block(block(L.Conv2D(8, 3, padding="same")(inp)))
    x = L.Conv2D(6, 3, padding="same")(a)
    return keras.Model(inp, L.Dense(4)(L.GlobalAveragePooling2D()(x)))


def test_sub_model_called_twice_keeps_the_function():
    model = _nested_twice()
    search = dk.attach_indicators(model)
    dk.binarize(search)
    x = _x((16, 16, 3))
    reference = model.predict(x, verbose=0)
    np.testing.assert_allclose(search.predict(x, verbose=0), reference, rtol=1e-6, atol=1e-6)
    pruned = dk.surgery.apply(search)
    np.testing.assert_allclose(pruned.predict(x, verbose=0), reference, rtol=1e-5, atol=1e-5)


def test_sub_model_called_twice_prunes_exactly():
    result = testing.check_surgery(_nested_twice(), save=True)
    assert result["rel_error"] <= 1e-5
    assert result["reload_rel_error"] <= 1e-6
    assert result["pruned_macs"] == result["cost_model_macs"] < result["macs"]


def test_sub_model_called_on_different_groups():
    """A weightless sub-model called on two unrelated tensors of different
    widths: each call carries its own channels."""
    keras.utils.set_random_seed(0)
    i = keras.Input((None, None, None))
    act = keras.Model(i, L.ReLU()(i))
    inp = keras.Input((8, 8, 3))
    a = act(L.Conv2D(8, 3, padding="same", name="a")(inp))
    b = act(L.Conv2D(6, 3, padding="same", name="b")(inp))
    a = L.Conv2D(5, 1, name="after_a")(a)
    b = L.Conv2D(5, 1, name="after_b")(b)
    model = keras.Model(inp, L.Dense(3)(L.GlobalAveragePooling2D()(L.Add()([a, b]))))
    graph = dk.channel_groups(model)
    assert graph["a"].size == 8 and graph["b"].size == 6
    assert graph["a"].consumers == ["after_a"] and graph["b"].consumers == ["after_b"]
    result = testing.check_surgery(model, save=False)
    assert result["rel_error"] <= 1e-5
    assert result["pruned_macs"] == result["cost_model_macs"] < result["macs"]


CONSTANT_OPERANDS = {
    "x * ndarray": lambda h: h * np.arange(8, dtype="float32"),
    "ops.add(x, tensor)": lambda h: keras.ops.add(
        h, keras.ops.convert_to_tensor(np.arange(8, dtype="float32"))
    ),
    "ops.power(x, (1, 8))": lambda h: keras.ops.power(
        keras.ops.abs(h) + 1.0, np.full((1, 8), 2.0, "float32")
    ),
    "ndarray - x, spatial": lambda h: keras.ops.subtract(
        np.arange(8 * 8 * 8, dtype="float32").reshape(8, 8, 8) / 100.0, h
    ),
}


@pytest.mark.parametrize("case", list(CONSTANT_OPERANDS))
def test_per_channel_constants_of_ops_are_sliced(case):
    """A constant with one value per channel is sliced with them."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    h = CONSTANT_OPERANDS[case](L.Conv2D(8, 3, padding="same", name="producer")(inp))
    x = L.GlobalAveragePooling2D()(L.Conv2D(6, 3, padding="same")(h))
    model = keras.Model(inp, L.Dense(4)(x))
    assert not dk.channel_groups(model)["producer"].frozen
    result = testing.check_surgery(model, save=True)
    assert result["rel_error"] <= 1e-5
    assert result["reload_rel_error"] <= 1e-6
    assert result["pruned_macs"] == result["cost_model_macs"] < result["macs"]


def test_per_channel_constants_held_by_an_op_freeze():
    inp = keras.Input((8, 8, 3))
    h = L.Conv2D(8, 3, padding="same", name="producer")(inp)
    h = keras.ops.clip(h, np.zeros(8, "float32"), np.ones(8, "float32"))
    model = keras.Model(inp, L.Dense(4)(L.GlobalAveragePooling2D()(L.Conv2D(6, 1)(h))))
    group = dk.channel_groups(model)["producer"]
    assert group.frozen and "per-channel constants (x_min, x_max)" in group.reason
    assert testing.check_surgery(model, save=False)["rel_error"] <= 1e-5
