"""Exact MAC and parameter counting."""

import numpy as np
import pytest

import keras
from keras import layers as L

import dais_keras as dk
from dais_keras.models import cifar_resnet

APPLICATION_MACS = {
    # keras.applications at 224x224 (Xception at its native 299x299).
    "ResNet50": 3_857_973_248,
    "MobileNetV2": 300_774_272,
    "VGG16": 15_470_264_320,
    "DenseNet121": 2_834_161_664,
    "EfficientNetB0": 385_814_752,
    "Xception": 8_357_403_496,
}


@pytest.mark.parametrize("name", list(APPLICATION_MACS))
def test_keras_applications_macs(name):
    model = getattr(keras.applications, name)(weights=None)
    assert dk.count_macs(model) == APPLICATION_MACS[name]


@pytest.mark.parametrize("depth, macs, params", [(20, 40_551_040, 269_722), (56, 125_485_696, 853_018)])
def test_cifar_resnet_macs(depth, macs, params):
    model = cifar_resnet(depth, shortcut="A")
    assert dk.count_macs(model) == macs
    assert dk.count_params(model) == params


def test_layer_rules_by_hand():
    inp = keras.Input((10, 10, 4))
    x = L.Conv2D(8, 3, padding="same", use_bias=False)(inp)  # 9*4*8*100
    x = L.Conv2D(6, 3, groups=2, padding="valid")(x)  # 9*(8/2)*6*64
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(x)  # 9*12*64
    x = L.SeparableConv2D(5, 3, depth_multiplier=1, padding="same")(x)  # 9*12*64 + 12*5*64
    x = L.Conv2DTranspose(3, 2, strides=2)(x)  # 4*5*3*64
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(7)(x)  # 3*7
    model = keras.Model(inp, out)
    expected = 9 * 4 * 8 * 100 + 9 * 4 * 6 * 64 + 9 * 12 * 64 + (9 * 12 * 64 + 12 * 5 * 64) + 4 * 5 * 3 * 64 + 21
    assert dk.count_macs(model) == expected


def test_shared_layers_count_per_call_and_nested_models_recurse():
    shared = L.Dense(5)
    inp = keras.Input((3,))
    inner = keras.Sequential([keras.Input((5,)), L.Dense(2)])
    out = inner(shared(shared(L.Dense(5)(inp))))  # 15 + 25 + 25 + 10
    model = keras.Model(inp, out)
    assert dk.count_macs(model) == 15 + 25 + 25 + 10
    assert dk.count_params(model) == (15 + 5) + (25 + 5) + (10 + 2)


def test_dense_on_sequences_counts_every_step():
    inp = keras.Input((7, 3))
    model = keras.Model(inp, L.Dense(4)(inp))
    assert dk.count_macs(model) == 7 * 3 * 4


def test_params_exclude_statistics_and_indicators():
    inp = keras.Input((4, 4, 3))
    x = L.BatchNormalization()(L.Conv2D(2, 1)(inp))
    model = keras.Model(inp, x)
    assert dk.count_params(model) == (3 * 2 + 2) + 2 * 2
    model.layers[1].trainable = False  # frozen layers still have parameters
    assert dk.count_params(model) == (3 * 2 + 2) + 2 * 2
    search = dk.attach_indicators(keras.Model(inp, L.Dense(2)(L.Flatten()(x))))
    assert dk.count_params(search) == dk.count_params(keras.Model(inp, L.Dense(2)(L.Flatten()(x))))


def test_table_text_and_dict():
    model = cifar_resnet(20)
    table = dk.macs_table(model)
    assert table.total_macs == 40_551_040
    assert table.as_dict()["stem_conv"] == {"macs": 3 * 16 * 9 * 1024, "params": 432}
    text = str(table)
    assert "stem_conv" in text and "40,551,040" in text


def test_unknown_spatial_size_is_a_clear_error():
    model = keras.applications.MobileNetV3Small(weights=None, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="unknown spatial dimension.*keras.Input"):
        dk.count_macs(model)


def test_cost_model_matches_count_macs_for_hard_masks():
    model = cifar_resnet(20)
    graph = dk.channel_groups(model)
    cm = graph.cost_model()
    assert cm.total == dk.count_macs(model)
    rng = np.random.default_rng(0)
    keep = {g.id: rng.random(g.size) < 0.5 for g in graph.prunable}
    for mask in keep.values():
        mask[0] = True
    m = np.concatenate([keep[g.id] for g in graph.prunable]).astype(float)
    pruned = dk.surgery.prune(model, keep)
    assert int(round(cm.exact(m))) == dk.count_macs(pruned)
    soft = keras.ops.convert_to_tensor(np.full(cm.num_channels, 0.5, "float32"))
    assert float(cm.expected(soft)) == pytest.approx(cm.exact(np.full(cm.num_channels, 0.5)), rel=1e-6)
    # channel_macs is the exact saving of removing one channel alone.
    full = np.ones(cm.num_channels)
    marginal = cm.channel_macs(full)
    for j in [0, 17, cm.num_channels - 1]:
        less = full.copy()
        less[j] = 0
        assert cm.exact(full) - cm.exact(less) == pytest.approx(marginal[j])
    # marginal_tensor is channel_macs on backend tensors (the search's band
    # gate reads it inside the compiled step).
    for mask in (full, m, rng.random(cm.num_channels)):
        tensor = keras.ops.convert_to_tensor(mask.astype("float32"))
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(cm.marginal_tensor(tensor)),
            cm.channel_macs(mask), rtol=1e-5)
