"""Every registered channel handler, exercised through the surgery guarantee.

`CASES` maps each registered layer class to a tiny model that routes prunable
channels through it. A handler registered without a case fails
`test_every_handler_has_a_case`, so the registry and its tests stay in step.
"""

import numpy as np
import pytest

import keras
from keras import layers as L
from keras import ops

import dais_keras as dk
from dais_keras import testing
from dais_keras.groups.handlers import registered_handlers
from dais_keras.models.layers import ZeroPadShortcut


def _conv(x, filters=6, **kw):
    return L.Conv2D(filters, 3, padding="same", **kw)(x)


def _img(shape=(8, 8, 3)):
    return keras.Input(shape)


def _head(x):
    if len(x.shape) == 4:
        x = L.GlobalAveragePooling2D()(x)
    elif len(x.shape) == 3:
        x = L.GlobalAveragePooling1D()(x)
    return L.Dense(4)(x)


def _through(layer_fn, rank=2):
    def build():
        if rank == 1:
            inp = keras.Input((12, 3))
            x = L.Conv1D(6, 3, padding="same")(inp)
        elif rank == 3:
            inp = keras.Input((6, 6, 6, 3))
            x = L.Conv3D(6, 3, padding="same")(inp)
        else:
            inp = _img()
            x = _conv(inp)
        x = layer_fn(x)
        if rank == 1:
            x = L.Conv1D(5, 3, padding="same")(x)
        elif rank == 3:
            x = L.Conv3D(5, 3, padding="same")(x)
        else:
            x = _conv(x, 5)
        return keras.Model(inp, _head(x))

    return build


def _merge(cls):
    def build():
        inp = _img()
        a = _conv(inp)
        b = _conv(inp)
        return keras.Model(inp, _head(_conv(cls()([a, b]), 5)))

    return build


def _concat():
    inp = _img()
    a = _conv(inp, 4)
    b = _conv(inp, 5)
    return keras.Model(inp, _head(_conv(L.Concatenate()([a, b]), 5)))


def _dense_after_flatten():
    inp = _img()
    x = L.MaxPooling2D(2)(L.ReLU()(_conv(inp)))
    return keras.Model(inp, L.Dense(4)(L.Dense(7)(L.Flatten()(x))))


def _depthwise():
    inp = _img()
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")(_conv(inp))
    return keras.Model(inp, _head(_conv(x, 5)))


def _depthwise1d():
    inp = keras.Input((12, 3))
    x = L.DepthwiseConv1D(3, depth_multiplier=2, padding="same")(
        L.Conv1D(6, 3, padding="same")(inp)
    )
    return keras.Model(inp, _head(L.Conv1D(5, 3, padding="same")(x)))


def _separable(rank):
    def build():
        if rank == 1:
            inp = keras.Input((12, 3))
            x = L.Conv1D(6, 3, padding="same")(inp)
            x = L.SeparableConv1D(7, 3, depth_multiplier=2, padding="same")(x)
            x = L.Conv1D(5, 3, padding="same")(x)
        else:
            inp = _img()
            x = L.SeparableConv2D(7, 3, depth_multiplier=2, padding="same")(_conv(inp))
            x = _conv(x, 5)
        return keras.Model(inp, _head(x))

    return build


def _grouped_conv():
    inp = _img()
    x = _conv(inp, 8)
    x = L.Conv2D(6, 3, groups=2, padding="same")(x)
    return keras.Model(inp, _head(_conv(x, 5)))


def _transpose(rank):
    def build():
        if rank == 1:
            inp = keras.Input((6, 3))
            x = L.Conv1DTranspose(6, 3, strides=2)(L.Conv1D(5, 1)(inp))
            x = L.Conv1D(4, 3)(x)
        elif rank == 3:
            inp = keras.Input((4, 4, 4, 3))
            x = L.Conv3DTranspose(6, 3, strides=2)(L.Conv3D(5, 1)(inp))
            x = L.Conv3D(4, 3)(x)
        else:
            inp = _img()
            x = L.Conv2DTranspose(6, 3, strides=2)(_conv(inp, 5))
            x = _conv(x, 4)
        return keras.Model(inp, _head(x))

    return build


def _se_block():
    """Squeeze-excite with Reshape to (1, 1, C) and a Multiply gate."""
    inp = _img()
    x = L.BatchNormalization()(_conv(inp, 8))
    s = L.GlobalAveragePooling2D()(x)
    s = L.Reshape((1, 1, 8))(s)
    s = L.Conv2D(3, 1, activation="relu")(s)
    s = L.Conv2D(8, 1, activation="sigmoid")(s)
    x = L.Multiply()([x, s])
    return keras.Model(inp, _head(_conv(x, 5)))


def _permute():
    inp = _img()
    x = L.Permute((2, 1, 3))(_conv(inp))
    return keras.Model(inp, _head(_conv(x, 5)))


def _frozen_by(layer_fn):
    """Layers that freeze the channels they read; surgery must still be exact
    for the rest of the model."""

    def build():
        inp = _img()
        x = _conv(_conv(inp, 7), 6)
        x = layer_fn(x)
        return keras.Model(inp, _head(_conv(x, 5)))

    return build


def _op(fn):
    def build():
        inp = _img()
        a = _conv(inp)
        b = _conv(inp)
        return keras.Model(inp, _head(_conv(fn(a, b), 5)))

    return build


def _custom_scale():
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    inp = _img()
    a = _conv(inp)
    b = _conv(inp)
    return keras.Model(inp, _head(_conv(CustomScaleLayer(0.3)([a, b]), 5)))


def _layer_scale():
    from keras.src.applications.convnext import LayerScale

    inp = _img()
    x = LayerScale(0.5, 6)(_conv(inp))
    return keras.Model(inp, _head(_conv(x, 5)))


def _indicator():
    inp = _img()
    x = dk.ChannelIndicator(6)(_conv(inp))
    return keras.Model(inp, _head(_conv(x, 5)))


def _zero_pad_shortcut():
    """Option-A residual: the pads are coupled with the block's conv output."""
    inp = _img()
    x = _conv(inp, 4)
    y = L.Conv2D(8, 3, strides=2, padding="same")(x)
    s = ZeroPadShortcut(2, 2, stride=2)(x)
    return keras.Model(inp, _head(_conv(L.Add()([y, s]), 5)))


def _cases():
    from keras.src.applications import convnext
    from keras.src.applications import inception_resnet_v2
    from keras.src.ops import nn as ops_nn
    from keras.src.ops import numpy as ops_np

    cases = {
        L.Activation: _through(lambda x: L.Activation("sigmoid")(x)),
        L.ReLU: _through(lambda x: L.ReLU(6.0)(x)),
        L.LeakyReLU: _through(lambda x: L.LeakyReLU()(x)),
        L.ELU: _through(lambda x: L.ELU()(x)),
        L.PReLU: _through(lambda x: L.PReLU(shared_axes=[1, 2])(x)),
        L.Dropout: _through(lambda x: L.Dropout(0.5)(x)),
        L.SpatialDropout1D: _through(lambda x: L.SpatialDropout1D(0.5)(x), rank=1),
        L.SpatialDropout2D: _through(lambda x: L.SpatialDropout2D(0.5)(x)),
        L.SpatialDropout3D: _through(lambda x: L.SpatialDropout3D(0.5)(x), rank=3),
        L.GaussianNoise: _through(lambda x: L.GaussianNoise(0.1)(x)),
        L.GaussianDropout: _through(lambda x: L.GaussianDropout(0.1)(x)),
        L.AlphaDropout: _through(lambda x: L.AlphaDropout(0.1)(x)),
        L.ActivityRegularization: _through(lambda x: L.ActivityRegularization(0.1)(x)),
        L.Identity: _through(lambda x: L.Identity()(x)),
        L.MaxPooling1D: _through(lambda x: L.MaxPooling1D(2)(x), rank=1),
        L.MaxPooling2D: _through(lambda x: L.MaxPooling2D(2)(x)),
        L.MaxPooling3D: _through(lambda x: L.MaxPooling3D(2)(x), rank=3),
        L.AveragePooling1D: _through(lambda x: L.AveragePooling1D(2)(x), rank=1),
        L.AveragePooling2D: _through(lambda x: L.AveragePooling2D(2)(x)),
        L.AveragePooling3D: _through(lambda x: L.AveragePooling3D(2)(x), rank=3),
        L.GlobalAveragePooling1D: _through(
            lambda x: L.GlobalAveragePooling1D(keepdims=True)(x), rank=1
        ),
        L.GlobalAveragePooling2D: _through(
            lambda x: L.GlobalAveragePooling2D(keepdims=True)(x)
        ),
        L.GlobalAveragePooling3D: _through(
            lambda x: L.GlobalAveragePooling3D(keepdims=True)(x), rank=3
        ),
        L.GlobalMaxPooling1D: _through(
            lambda x: L.GlobalMaxPooling1D(keepdims=True)(x), rank=1
        ),
        L.GlobalMaxPooling2D: _through(lambda x: L.GlobalMaxPooling2D(keepdims=True)(x)),
        L.GlobalMaxPooling3D: _through(
            lambda x: L.GlobalMaxPooling3D(keepdims=True)(x), rank=3
        ),
        L.ZeroPadding1D: _through(lambda x: L.ZeroPadding1D(1)(x), rank=1),
        L.ZeroPadding2D: _through(lambda x: L.ZeroPadding2D(1)(x)),
        L.ZeroPadding3D: _through(lambda x: L.ZeroPadding3D(1)(x), rank=3),
        L.Cropping1D: _through(lambda x: L.Cropping1D(1)(x), rank=1),
        L.Cropping2D: _through(lambda x: L.Cropping2D(1)(x)),
        L.Cropping3D: _through(lambda x: L.Cropping3D(1)(x), rank=3),
        L.UpSampling1D: _through(lambda x: L.UpSampling1D(2)(x), rank=1),
        L.UpSampling2D: _through(lambda x: L.UpSampling2D(2)(x)),
        L.UpSampling3D: _through(lambda x: L.UpSampling3D(2)(x), rank=3),
        L.Resizing: _through(lambda x: L.Resizing(5, 5)(x)),
        L.Rescaling: _through(lambda x: L.Rescaling(0.5, offset=0.25)(x)),
        L.BatchNormalization: _through(lambda x: L.BatchNormalization()(x)),
        L.Conv1D: _through(lambda x: L.Conv1D(4, 3, padding="same")(x), rank=1),
        L.Conv2D: _grouped_conv,
        L.Conv3D: _through(lambda x: L.Conv3D(4, 3, padding="same")(x), rank=3),
        L.Conv1DTranspose: _transpose(1),
        L.Conv2DTranspose: _transpose(2),
        L.Conv3DTranspose: _transpose(3),
        L.DepthwiseConv1D: _depthwise1d,
        L.DepthwiseConv2D: _depthwise,
        L.SeparableConv1D: _separable(1),
        L.SeparableConv2D: _separable(2),
        L.Dense: _dense_after_flatten,
        L.Add: _merge(L.Add),
        L.Subtract: _merge(L.Subtract),
        L.Multiply: _merge(L.Multiply),
        L.Average: _merge(L.Average),
        L.Maximum: _merge(L.Maximum),
        L.Minimum: _merge(L.Minimum),
        L.Concatenate: _concat,
        L.Flatten: _dense_after_flatten,
        L.Reshape: _se_block,
        L.Permute: _permute,
        L.LayerNormalization: _frozen_by(lambda x: L.LayerNormalization()(x)),
        L.GroupNormalization: _frozen_by(lambda x: L.GroupNormalization(2)(x)),
        L.UnitNormalization: _frozen_by(lambda x: L.UnitNormalization()(x)),
        L.Softmax: _frozen_by(lambda x: L.Softmax()(x)),
        L.Normalization: _frozen_by(
            lambda x: L.Normalization(mean=np.arange(6.0), variance=np.ones(6))(x)
        ),
        convnext.LayerScale: _layer_scale,
        inception_resnet_v2.CustomScaleLayer: _custom_scale,
        dk.ChannelIndicator: _indicator,
        ZeroPadShortcut: _zero_pad_shortcut,
    }
    binary = {
        "Add": ops.add, "Subtract": ops.subtract, "Multiply": ops.multiply,
        "Divide": lambda a, b: ops.divide(a, ops.abs(b) + 1.0),
        "TrueDivide": lambda a, b: ops.true_divide(a, ops.abs(b) + 1.0),
        "Maximum": ops.maximum, "Minimum": ops.minimum,
    }
    for name, fn in binary.items():
        cases[getattr(ops_np, name)] = _op(fn)
    unary = {
        "Absolute": ops.absolute, "Negative": ops.negative,
        "Square": ops.square, "Sqrt": lambda x: ops.sqrt(ops.abs(x)),
        "Exp": lambda x: ops.exp(x * 0.1), "Clip": lambda x: ops.clip(x, -1.0, 1.0),
        "Power": lambda x: ops.power(x, 2.0),
    }
    for name, fn in unary.items():
        if hasattr(ops_np, name):
            cases[getattr(ops_np, name)] = _op(lambda a, b, fn=fn: fn(a) + b * 3.0)
    cases[ops_np.Pad] = _through(lambda x: ops.pad(x, [[0, 0], [1, 1], [0, 1], [2, 3]]))
    for name, fn in [("Softmax", ops.softmax), ("LogSoftmax", ops.log_softmax),
                     ("Sparsemax", ops.sparsemax)]:
        if hasattr(ops_nn, name):
            cases[getattr(ops_nn, name)] = _frozen_by(fn)
    for name in ["Relu", "Relu6", "Sigmoid", "HardSigmoid", "HardSilu", "Silu",
                 "Swish", "Gelu", "Elu", "Selu", "LeakyRelu", "Softplus", "Tanh"]:
        cls = getattr(ops_nn, name, None)
        if cls is not None:
            fn = getattr(ops, {"HardSilu": "hard_silu", "LeakyRelu": "leaky_relu",
                               "HardSigmoid": "hard_sigmoid", "Relu6": "relu6"}.get(
                name, name.lower()))
            cases[cls] = _op(lambda a, b, fn=fn: fn(a) * b)
    return cases


CASES = _cases()


def test_every_handler_has_a_case():
    missing = [c.__name__ for c in registered_handlers() if c not in CASES]
    assert not missing, f"registered handlers without a test case: {missing}"


@pytest.mark.parametrize("layer_class", list(CASES), ids=lambda c: c.__name__)
def test_handler_surgery_is_exact(layer_class):
    keras.utils.set_random_seed(0)
    model = CASES[layer_class]()
    used = {type(l) for l in model.layers} | {
        type(n.operation) for d in model._nodes_by_depth.values() for n in d
    }
    assert layer_class in used, f"case for {layer_class.__name__} does not use it"
    if layer_class is dk.ChannelIndicator:
        _check_indicator_model(model)
        return
    result = testing.check_surgery(model, seed=1, save=True)
    assert result["rel_error"] <= 1e-5
    assert result["reload_rel_error"] <= 1e-6
    assert result["pruned_macs"] == result["cost_model_macs"]
    assert result["pruned_macs"] < result["macs"]


def _check_indicator_model(model):
    """A model that already holds an indicator: surgery reads its alpha."""
    (ind,) = dk.indicator_layers(model)
    ind.alpha.assign(np.array([1, -1, 1, -1, -1, 1], "float32"))
    dk.binarize(model)
    pruned = dk.surgery.apply(model)
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    ref = keras.ops.convert_to_numpy(model(x))
    out = keras.ops.convert_to_numpy(pruned(x))
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())
    assert not dk.indicator_layers(pruned)
    with pytest.raises(ValueError, match="already has channel indicators"):
        dk.attach_indicators(model)
