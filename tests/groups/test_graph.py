"""Channel groups: coupling rules, frozen reasons, errors."""

import numpy as np
import pytest

import keras
from keras import layers as L
from keras import ops

import dais_keras as dk
from dais_keras.groups.handlers import base as handlers_base


def _residual_model():
    inp = keras.Input((8, 8, 3), name="img")
    stem = L.Conv2D(8, 3, padding="same", name="stem")(inp)
    x = L.ReLU(name="stem_relu")(L.BatchNormalization(name="stem_bn")(stem))
    y = L.Conv2D(4, 3, padding="same", name="b1")(x)
    y = L.Conv2D(8, 3, padding="same", name="b2")(L.ReLU(name="b1_relu")(y))
    x = L.Add(name="add")([x, y])
    x = L.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(inp, L.Dense(3, name="fc")(x))


def _by_name(graph):
    return {g.name: g for g in graph}


def test_residual_add_couples_producers():
    graph = dk.channel_groups(_residual_model())
    groups = _by_name(graph)
    stage = groups["stem"]
    assert stage.size == 8 and not stage.frozen
    assert stage.producers == ["stem", "b2"]
    assert set(stage.consumers) == {"b1", "fc"}
    assert groups["b1"].producers == ["b1"] and groups["b1"].size == 4
    assert groups["<input>"].frozen and "model input" in groups["<input>"].reason
    assert groups["fc"].frozen and "model output" in groups["fc"].reason
    assert len(graph.prunable) == 2


def test_print_group_shows_chain():
    text = str(dk.channel_groups(_residual_model()).group("stem"))
    assert "produced by: stem, b2" in text
    assert "stem_bn -> stem_relu" in text
    assert "consumed by: b1, fc" in text


def test_concatenate_keeps_parts_separate():
    inp = keras.Input((8, 8, 3))
    a = L.Conv2D(4, 1, name="a")(inp)
    b = L.Conv2D(5, 1, name="b")(inp)
    x = L.Concatenate()([a, b])
    out = L.Dense(2)(L.GlobalAveragePooling2D()(L.Conv2D(6, 1, name="c")(x)))
    groups = _by_name(dk.channel_groups(keras.Model(inp, out)))
    assert groups["a"].size == 4 and groups["b"].size == 5
    assert groups["a"].consumers == ["c"] == groups["b"].consumers


def test_depthwise_and_squeeze_excite_share_one_group():
    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(8, 1, name="expand")(inp)
    x = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    s = L.Reshape((1, 1, 8))(L.GlobalAveragePooling2D()(x))
    s = L.Conv2D(2, 1, name="se_reduce")(s)
    s = L.Conv2D(8, 1, activation="sigmoid", name="se_expand")(s)
    x = L.Multiply()([x, s])
    out = L.Dense(2)(L.GlobalAveragePooling2D()(L.Conv2D(4, 1, name="project")(x)))
    groups = _by_name(dk.channel_groups(keras.Model(inp, out)))
    assert groups["expand"].producers == ["expand", "se_expand"]
    assert set(groups["expand"].consumers) == {"se_reduce", "project"}
    assert "dw" in groups["expand"].carriers


def test_grouped_conv_couples_channels_across_groups():
    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(8, 1, name="pre")(inp)
    x = L.Conv2D(6, 3, groups=2, padding="same", name="grouped")(x)
    out = L.Dense(2)(L.GlobalAveragePooling2D()(x))
    groups = _by_name(dk.channel_groups(keras.Model(inp, out)))
    # channel i of each of the 2 input groups is one channel: 8 / 2 = 4.
    assert groups["pre"].size == 4
    assert groups["grouped"].size == 3


@pytest.mark.parametrize(
    "layer, reason",
    [
        (L.LayerNormalization(), "normalises over the channel axis"),
        (L.Softmax(), "softmax over channels"),
        (L.Lambda(lambda t: t * 2.0), "has no pruning rule"),
    ],
)
def test_layers_that_read_all_channels_freeze_them(layer, reason):
    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(8, 3, padding="same", name="producer")(inp)
    x = layer(x)
    x = L.Conv2D(4, 1, name="after")(x) if len(x.shape) == 4 else L.Dense(4, name="after")(x)
    out = L.Dense(2)(L.Flatten()(x))
    group = _by_name(dk.channel_groups(keras.Model(inp, out)))["producer"]
    assert group.frozen
    if reason:
        assert reason in group.reason
        assert type(layer).__name__ in group.reason


def test_reshape_across_channels_freezes():
    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(8, 3, padding="same", name="producer")(inp)
    x = L.Reshape((8, 64))(x)
    out = L.Dense(2)(L.Flatten()(x))
    group = _by_name(dk.channel_groups(keras.Model(inp, out)))["producer"]
    assert group.frozen and "reshapes across the channel axis" in group.reason


def test_strict_mode_names_the_layer_and_register_handler():
    inp = keras.Input((8, 8, 3))
    x = L.Lambda(lambda t: t * 2.0, name="mystery")(L.Conv2D(4, 1)(inp))
    model = keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(x)))
    with pytest.raises(ValueError, match=r"'mystery' \(Lambda\).*register_handler"):
        dk.channel_groups(model, strict=True)


def test_register_handler_for_a_custom_layer():
    @keras.saving.register_keras_serializable(package="tests")
    class Scale(L.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.w

    inp = keras.Input((8, 8, 3))
    x = Scale(name="scale")(L.Conv2D(6, 1, name="producer")(inp))
    model = keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(L.Conv2D(4, 1)(x))))
    assert _by_name(dk.channel_groups(model))["producer"].frozen
    dk.register_handler(Scale, dk.handlers.ChannelwiseWeightsHandler())
    try:
        group = _by_name(dk.channel_groups(model))["producer"]
        assert not group.frozen
        small = dk.surgery.prune(model, {group.id: [0, 2, 5]})
        assert small.get_layer("scale").get_weights()[0].shape == (3,)
    finally:
        handlers_base._HANDLERS.unregister(Scale)


def test_register_handler_validates_arguments():
    with pytest.raises(ValueError, match="must be a class"):
        dk.register_handler("Conv2D", dk.handlers.PassThroughHandler())
    with pytest.raises(ValueError, match="ChannelHandler"):
        dk.register_handler(L.Conv2D, object())


def test_frozen_layers_argument():
    model = _residual_model()
    graph = dk.channel_groups(model, frozen_layers=["b1"])
    group = _by_name(graph)["b1"]
    assert group.frozen and "frozen_layers" in group.reason
    with pytest.raises(ValueError, match="not in model"):
        dk.channel_groups(model, frozen_layers=["nope"])


def test_subclassed_model_is_rejected_with_advice():
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = L.Conv2D(4, 3)

        def call(self, x):
            return self.conv(x)

    net = Net()
    net(np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="subclassed model.*functional API"):
        dk.channel_groups(net)


def test_sequential_and_nested_models():
    inner = keras.Sequential(
        [keras.Input((8, 8, 6)), L.Conv2D(5, 1, name="inner_conv"), L.ReLU()],
        name="inner",
    )
    inp = keras.Input((8, 8, 3))
    x = inner(L.Conv2D(6, 1, name="outer_conv")(inp))
    model = keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(x)))
    groups = _by_name(dk.channel_groups(model))
    assert groups["outer_conv"].consumers == ["inner_conv"]
    assert not groups["inner_conv"].frozen
    seq = keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3), L.Flatten(), L.Dense(2)])
    assert len(dk.channel_groups(seq).prunable) == 1


def test_group_lookup_errors():
    graph = dk.channel_groups(_residual_model())
    with pytest.raises(ValueError, match="No channel group 99"):
        graph.group(99)
    assert graph["stem"].name == "stem"
    assert "prunable" in graph.summary()


def test_prunable_share_of_a_plain_cnn_is_total():
    graph = dk.channel_groups(_residual_model())
    assert graph.prunable_macs_share() == 1.0



def _producer_then(layer_fn, producer=None, stem=False):
    """input [-> stem conv] -> producer -> layer_fn -> conv -> head."""
    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(6, 3, padding="same", name="stem")(inp) if stem else inp
    producer = producer() if producer else L.Conv2D(8, 3, padding="same", name="producer")
    x = layer_fn(producer(x))
    out = L.Dense(2)(L.GlobalAveragePooling2D()(L.Conv2D(4, 1, name="after")(x)))
    return keras.Model(inp, out)


def _identity(x):
    return x


NOT_ELEMENTWISE = {
    "Activation softmax": (lambda x: L.Activation("softmax")(x), None),
    "Activation log_softmax": (lambda x: L.Activation("log_softmax")(x), None),
    "Activation sparsemax": (lambda x: L.Activation("sparsemax")(x), None),
    "Activation unknown function": (lambda x: L.Activation(lambda t: t * 2.0)(x), None),
    "Conv2D activation softmax": (
        _identity,
        lambda: L.Conv2D(8, 3, padding="same", activation="softmax", name="producer"),
    ),
    "Dense activation log_softmax": (
        _identity,
        lambda: L.Dense(8, activation="log_softmax", name="producer"),
    ),
    "ops.softmax": (lambda x: ops.softmax(x), None),
    "ops.log_softmax": (lambda x: ops.log_softmax(x, axis=-1), None),
}


@pytest.mark.parametrize("case", list(NOT_ELEMENTWISE))
def test_activations_that_read_all_channels_freeze_them(case):
    """Removing a channel changes a softmax's normaliser."""
    group = _by_name(dk.channel_groups(_producer_then(*NOT_ELEMENTWISE[case])))["producer"]
    assert group.frozen
    assert "softmax over channels" in group.reason or "not element-wise" in group.reason


def test_softmax_over_another_axis_is_pass_through():
    model = _producer_then(lambda x: ops.softmax(x, axis=1))
    assert not _by_name(dk.channel_groups(model))["producer"].frozen


def test_element_wise_activations_stay_prunable():
    from dais_keras.groups.handlers.activations import ELEMENTWISE_NAMES

    names = [n for n in ELEMENTWISE_NAMES
             if hasattr(keras.activations, n) and n != "threshold"]
    assert {"relu", "gelu", "silu", "swish", "mish", "hard_swish", "selu"} <= set(names)

    def chain(x):
        for name in names:
            x = L.Activation(name)(x)
        for name in names:
            x = L.Conv2D(8, 1, activation=name, name=f"conv_{name}")(x)
        return x

    groups = _by_name(dk.channel_groups(_producer_then(chain)))
    assert not groups["producer"].frozen
    assert [n for n in names if groups[f"conv_{n}"].frozen] == []


@pytest.mark.parametrize(
    "case", ["Activation softmax", "Conv2D activation softmax", "Dense activation log_softmax"]
)
def test_softmax_inside_the_network_prunes_exactly(case):
    from dais_keras import testing

    keras.utils.set_random_seed(0)
    model = _producer_then(*NOT_ELEMENTWISE[case], stem=True)
    result = testing.check_surgery(model, save=False)
    assert result["rel_error"] <= 1e-5
    assert result["pruned_macs"] == result["cost_model_macs"] < result["macs"]
