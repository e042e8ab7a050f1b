"""Channel handlers of Keras' built-in layers, registered at import.

Pass-through layers (activations, pooling, padding, dropout, ...), layers with
per-channel weights (BatchNormalization, PReLU), producers (convolutions,
dense layers), merges, `Concatenate`, reshapes, and the layers that read all
channels together (normalisation over channels, Softmax), whose channels are
frozen. See `dais_keras.groups.handlers.base` for the protocol.
"""

import numpy as np

import keras
from keras.src.applications import convnext
from keras.src.applications import inception_resnet_v2

from dais_keras.groups.handlers.base import ChannelHandler
from dais_keras.groups.handlers.base import PassThroughHandler
from dais_keras.groups.handlers.base import register_handler


class ChannelwiseWeightsHandler(ChannelHandler):
    """Pass-through layers with per-channel weights along the last axis
    (BatchNormalization, PReLU, LayerScale, ...): weights whose last axis has
    the channel count are sliced; others (scalars) are kept.

    Args:
        channels_key: Name of a config entry holding the channel count
            (e.g. `"projection_dim"` for ConvNeXt's LayerScale), rewritten to
            the kept count on rebuild.
    """

    def __init__(self, channels_key=None):
        self.channels_key = channels_key

    def rebuild(self, layer, keep):
        config = layer.get_config()
        if self.channels_key is not None:
            config[self.channels_key] = int(keep.output.sum())
        return type(layer).from_config(config)

    def new_weights(self, layer, keep):
        k = keep.input
        out = []
        for w in layer.get_weights():
            if w.ndim >= 1 and w.shape[-1] == k.size:
                w = w[..., k]
            out.append(w)
        return out


class BatchNormalizationHandler(ChannelwiseWeightsHandler):
    def propagate(self, call, ctx):
        layer = call.layer
        rank = len(call.inputs[0].shape)
        axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        if [a % rank for a in axes] != [rank - 1]:
            ids = ctx.ids(call.inputs[0])
            ctx.freeze(
                ids, f"{ctx.describe(layer)} normalises over axis {layer.axis}, not channels-last"
            )
        return [ctx.ids(call.inputs[0])]


class FreezeChannelsHandler(ChannelHandler):
    """Layers that read all channels together without being prunable
    producers (LayerNormalization over channels, Softmax over channels,
    per-channel preprocessing): their channels are frozen."""

    def __init__(self, reason):
        self.reason = reason

    def applies(self, layer, rank):
        return True

    def propagate(self, call, ctx):
        ids = ctx.ids(call.inputs[0])
        rank = len(call.inputs[0].shape)
        if self.applies(call.layer, rank):
            ctx.freeze(ids, f"{ctx.describe(call.layer)}: {self.reason}")
        return [ids] * len(call.outputs)


class AxisNormalizationHandler(FreezeChannelsHandler):
    """Freezes the channels when the layer's `axis` includes the channel
    axis (`axis=None`: every axis)."""

    def applies(self, layer, rank):
        axes = getattr(layer, "axis", -1)
        if axes is None:
            return True
        axes = axes if isinstance(axes, (list, tuple)) else [axes]
        return (rank - 1) in [a % rank for a in axes]


def _with_bias(layer, kernels, keep):
    """`kernels` plus the layer's bias (its last weight) sliced to the kept
    output channels, when the layer has one."""
    if layer.use_bias:
        kernels.append(layer.get_weights()[-1][keep.output])
    return kernels


def _channels_first(layer):
    return getattr(layer, "data_format", "channels_last") == "channels_first"


class ProducerHandler(ChannelHandler):
    """Layers that mix their input channels into `config[units_key]` new
    channels (transposed/separable convolutions, dense layers)."""

    mixes_channels = True
    units_key = "filters"

    def propagate(self, call, ctx):
        layer = call.layer
        units = getattr(layer, self.units_key)
        if _channels_first(layer):
            ctx.freeze(ctx.ids(call.inputs[0]), f"{ctx.describe(layer)} is channels_first")
            return [ctx.fresh(layer, units, frozen="channels_first layer")]
        return [ctx.fresh(layer, units)]

    def rebuild(self, layer, keep):
        config = layer.get_config()
        config[self.units_key] = int(keep.output.sum())
        return type(layer).from_config(config)


class ConvHandler(ProducerHandler):
    """Conv1D/2D/3D, including grouped convolutions.

    With `groups=G` (1 < G < C_in), channel `i` of every group is coupled
    with channel `i` of the others, in the input and in the output, so every
    group keeps the same width. With `groups == C_in` the layer acts per
    channel (like a depthwise convolution).
    """

    def propagate(self, call, ctx):
        layer = call.layer
        if _channels_first(layer) or layer.groups == 1:
            return super().propagate(call, ctx)
        ids = ctx.ids(call.inputs[0])
        groups = layer.groups
        per_in, per_out = ids.size // groups, layer.filters // groups
        if per_in == 1:
            return [np.repeat(ids, per_out)]
        for k in range(1, groups):
            ctx.union(ids[:per_in], ids[k * per_in : (k + 1) * per_in])
        return [np.tile(ctx.fresh(layer, per_out), groups)]

    def rebuild(self, layer, keep):
        new = super().rebuild(layer, keep)
        if layer.groups > 1 and layer.groups == keep.input.size:
            config = new.get_config()
            config["groups"] = int(keep.input.sum())
            new = type(layer).from_config(config)
        return new

    def new_weights(self, layer, keep):
        weights = layer.get_weights()
        kernel = weights[0]
        groups = layer.groups
        if groups == 1:
            kernel = kernel[..., keep.input, :]
        elif groups == keep.input.size:
            pass  # one input channel per group: output slicing does it all
        else:
            per_in = keep.input.size // groups
            kernel = kernel[..., keep.input[:per_in], :]
        return _with_bias(layer, [kernel[..., keep.output]], keep)


class ConvTransposeHandler(ProducerHandler):
    def new_weights(self, layer, keep):
        # Transposed kernels are (..., C_out, C_in).
        kernel = layer.get_weights()[0][..., keep.output, :][..., keep.input]
        return _with_bias(layer, [kernel], keep)


class DepthwiseConvHandler(ChannelHandler):
    """DepthwiseConv1D/2D: output channel `c * dm + j` reads input channel
    `c` only, so it carries `c`'s identity (repeated `dm` times)."""

    def propagate(self, call, ctx):
        layer = call.layer
        ids = ctx.ids(call.inputs[0])
        if _channels_first(layer):
            ctx.freeze(ids, f"{ctx.describe(layer)} is channels_first")
        return [np.repeat(ids, layer.depth_multiplier)]

    def new_weights(self, layer, keep):
        return _with_bias(layer, [layer.get_weights()[0][..., keep.input, :]], keep)


class SeparableConvHandler(ProducerHandler):
    def new_weights(self, layer, keep):
        weights = layer.get_weights()
        dm = layer.depth_multiplier
        depthwise = weights[0][..., keep.input, :]
        pointwise = weights[1][..., np.repeat(keep.input, dm), :][..., keep.output]
        return _with_bias(layer, [depthwise, pointwise], keep)


class DenseHandler(ProducerHandler):
    units_key = "units"

    def new_weights(self, layer, keep):
        if getattr(layer, "lora_enabled", False) or getattr(layer, "quantization_mode", None):
            raise ValueError(
                f"Dense layer '{layer.name}' uses LoRA or quantization; prune "
                "the float model before enabling them."
            )
        kernel = layer.get_weights()[0][keep.input][:, keep.output]
        return _with_bias(layer, [kernel], keep)


class MergeHandler(ChannelHandler):
    """Add, Subtract, Multiply, Average, Maximum, Minimum: same-width inputs
    are coupled channel by channel; a one-channel input broadcasts."""

    def propagate(self, call, ctx):
        all_ids = [ctx.ids(t) for t in call.inputs]
        all_ids = [i for i in all_ids if i is not None]
        width = max(i.size for i in all_ids)
        full = [i for i in all_ids if i.size == width]
        for other in full[1:]:
            ctx.union(full[0], other)
        for i in all_ids:
            if i.size not in (1, width):
                ctx.freeze(i, f"{ctx.describe(call.layer)} broadcasts {i.size} channels to {width}")
        return [full[0]]


class ConcatenateHandler(ChannelHandler):
    def propagate(self, call, ctx):
        rank = len(call.inputs[0].shape)
        all_ids = [ctx.ids(t) for t in call.inputs]
        if call.layer.axis % rank == rank - 1:
            return [np.concatenate(all_ids)]
        for other in all_ids[1:]:
            ctx.union(all_ids[0], other)
        return [all_ids[0]]


class FlattenHandler(ChannelHandler):
    """Flatten of `(..., C)` repeats the channel ids once per position."""

    def propagate(self, call, ctx):
        ids = ctx.ids(call.inputs[0])
        shape = call.inputs[0].shape
        if _channels_first(call.layer):
            ctx.freeze(ids, f"{ctx.describe(call.layer)} flattens channels_first data")
            return [ctx.fresh(call.layer, call.outputs[0].shape[-1], frozen="channels_first Flatten")]
        positions = 1
        for d in shape[1:-1]:
            positions *= int(d)
        return [np.tile(ids, positions)]


class ReshapeHandler(ChannelHandler):
    """Reshape that keeps the last axis (e.g. `(C,)` to `(1, 1, C)`) passes
    channels through; any other reshape moves the channel axis and freezes."""

    def propagate(self, call, ctx):
        ids = ctx.ids(call.inputs[0])
        if call.outputs[0].shape[-1] == call.inputs[0].shape[-1]:
            return [ids]
        return ctx.opaque(call, "reshapes across the channel axis")

    def rebuild(self, layer, keep):
        config = layer.get_config()
        config["target_shape"] = tuple(config["target_shape"][:-1]) + (
            int(keep.output.sum()),
        )
        return type(layer).from_config(config)


class PermuteHandler(ChannelHandler):
    def propagate(self, call, ctx):
        dims = tuple(call.layer.dims)
        if dims[-1] == len(dims):
            return [ctx.ids(call.inputs[0])]
        return ctx.opaque(call, f"permutes the channel axis (dims={dims})")


class ChannelPaddingHandler(ChannelHandler):
    """Layers that add constant channels around their input along the last
    axis (the CIFAR ResNets' option-A `ZeroPadShortcut`): the padding
    channels are produced by the layer, and surgery rewrites the config keys
    `before_key`/`after_key` to the number of padding channels kept."""

    def __init__(self, before_key="pad_before", after_key="pad_after"):
        self.before_key = before_key
        self.after_key = after_key

    def paddings(self, layer):
        """`(before, after)`: the constant channels `layer` adds."""
        return getattr(layer, self.before_key), getattr(layer, self.after_key)

    def kept_paddings(self, layer, keep):
        """`(before, after)` after pruning: the padding channels kept."""
        before, after = self.paddings(layer)
        out = keep.output
        return int(out[:before].sum()), int(out[out.size - after :].sum()) if after else 0

    def propagate(self, call, ctx):
        layer = call.layer
        before, after = self.paddings(layer)
        before = ctx.fresh(layer, before, key="before")
        after = ctx.fresh(layer, after, key="after")
        return [np.concatenate([before, ctx.ids(call.inputs[0]), after])]

    def rebuild(self, layer, keep):
        config = layer.get_config()
        config[self.before_key], config[self.after_key] = self.kept_paddings(layer, keep)
        return type(layer).from_config(config)


class RescalingHandler(ChannelHandler):
    """Rescaling: pass-through, unless its scale or offset is per channel."""

    def propagate(self, call, ctx):
        layer = call.layer
        if np.ndim(layer.scale) > 0 or np.ndim(layer.offset) > 0:
            ctx.freeze(
                ctx.ids(call.inputs[0]),
                f"{ctx.describe(layer)} has per-channel scale/offset constants",
            )
        return [ctx.ids(call.inputs[0])]


L = keras.layers
_CHANNELS = "normalises over the channel axis"

#: The handler of every built-in Keras layer type, registered below.
BUILTIN_HANDLERS = [
    (PassThroughHandler(), (
        L.Activation, L.ReLU, L.LeakyReLU, L.ELU, L.Dropout, L.SpatialDropout1D,
        L.SpatialDropout2D, L.SpatialDropout3D, L.GaussianNoise, L.GaussianDropout,
        L.AlphaDropout, L.ActivityRegularization, L.Identity,
        L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D, L.AveragePooling1D,
        L.AveragePooling2D, L.AveragePooling3D, L.GlobalAveragePooling1D,
        L.GlobalAveragePooling2D, L.GlobalAveragePooling3D, L.GlobalMaxPooling1D,
        L.GlobalMaxPooling2D, L.GlobalMaxPooling3D, L.ZeroPadding1D,
        L.ZeroPadding2D, L.ZeroPadding3D, L.Cropping1D, L.Cropping2D,
        L.Cropping3D, L.UpSampling1D, L.UpSampling2D, L.UpSampling3D,
        L.Resizing,
    )),
    (BatchNormalizationHandler(), (L.BatchNormalization,)),
    (ConvHandler(), (L.Conv1D, L.Conv2D, L.Conv3D)),
    (ChannelwiseWeightsHandler(), (L.PReLU,)),
    (ConvTransposeHandler(), (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)),
    (DenseHandler(), (L.Dense,)),
    (DepthwiseConvHandler(), (L.DepthwiseConv1D, L.DepthwiseConv2D)),
    (SeparableConvHandler(), (L.SeparableConv1D, L.SeparableConv2D)),
    (MergeHandler(), (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum)),
    (ConcatenateHandler(), (L.Concatenate,)),
    (FlattenHandler(), (L.Flatten,)),
    (AxisNormalizationHandler(_CHANNELS), (L.LayerNormalization, L.UnitNormalization)),
    (ReshapeHandler(), (L.Reshape,)),
    (AxisNormalizationHandler("normalises over groups of channels"), (L.GroupNormalization,)),
    (PermuteHandler(), (L.Permute,)),
    (AxisNormalizationHandler("is a softmax over channels"), (L.Softmax,)),
    (FreezeChannelsHandler("per-channel preprocessing constants"), (L.Normalization,)),
    (RescalingHandler(), (L.Rescaling,)),
    # Layers of keras.applications models.
    (ChannelwiseWeightsHandler("projection_dim"), (convnext.LayerScale,)),
    # CustomScaleLayer computes inputs[0] + inputs[1] * scale (a scalar).
    (MergeHandler(), (inception_resnet_v2.CustomScaleLayer,)),
]
for _handler, _classes in BUILTIN_HANDLERS:
    for _cls in _classes:
        register_handler(_cls, _handler)
