"""Channel handlers of `keras.ops` operations called on symbolic tensors.

A functional model may call `keras.ops` directly (`x + 3.0`, `x * y`,
`ops.relu(x)`); each call is an operation node of the graph. Element-wise
operations couple the channels of their same-width tensor operands.
"""

import numpy as np

from keras import KerasTensor
from keras.src.ops import nn as ops_nn
from keras.src.ops import numpy as ops_np

from dais_keras.groups.handlers.base import ChannelHandler
from dais_keras.groups.handlers.base import register_handler
from dais_keras.groups.handlers.layers import AxisNormalizationHandler
from dais_keras.groups.handlers.layers import ChannelPaddingHandler


def _is_constant(value):
    """Whether a call argument is a constant array (not a symbolic tensor)."""
    return not isinstance(value, KerasTensor) and np.ndim(value) >= 1


class ElementwiseOpHandler(ChannelHandler):
    """keras.ops element-wise operations used on symbolic tensors
    (`x + 3.0`, `x * y`, `ops.relu(x)`): tensor operands of the same width
    are coupled; scalars and one-channel operands broadcast.

    A constant operand with one value per channel (`x * np.arange(8)`) is
    sliced to the kept channels by surgery. Constants held by the operation
    itself (`ops.clip(x, lower, upper)` with per-channel bounds) freeze the
    channels.
    """

    def propagate(self, call, ctx):
        tensors = [t for t in call.inputs if len(t.shape) >= 1]
        all_ids = [ctx.ids(t) for t in tensors]
        width = call.outputs[0].shape[-1]
        full = [i for i in all_ids if i.size == width]
        if not full:
            return ctx.opaque(call, "changes the channel count")
        for i in all_ids:
            if i.size not in (1, width):
                return ctx.opaque(call, f"broadcasts {i.size} channels to {width}")
        held = [k for k, v in vars(call.layer).items() if isinstance(v, np.ndarray) and v.ndim]
        if held:
            return ctx.opaque(call, f"holds per-channel constants ({', '.join(held)})")
        for other in full[1:]:
            ctx.union(full[0], other)
        return [full[0]]

    def rebuild(self, layer, keep):
        return layer

    def rebuild_arguments(self, args, kwargs, keep):
        out = keep.output

        def slice_constant(value):
            if not _is_constant(value) or np.shape(value)[-1] != out.size:
                return value
            sliced = np.asarray(value)[..., out]
            return sliced.tolist() if isinstance(value, (list, tuple)) else sliced

        return (
            tuple(slice_constant(a) for a in args),
            {k: slice_constant(v) for k, v in kwargs.items()},
        )


class PadOpHandler(ChannelPaddingHandler):
    """`keras.ops.pad`: padding other axes passes the channels through;
    constant padding of the channel axis adds constant channels, as
    `ChannelPaddingHandler` says (other modes copy channels: frozen)."""

    def paddings(self, layer):
        width = tuple(layer.pad_width[-1])
        return width if len(width) == 2 else width * 2

    def propagate(self, call, ctx):
        layer = call.layer
        if any(self.paddings(layer)):
            if len(layer.pad_width) == 1:
                return ctx.opaque(call, "pads every axis alike, channels too")
            if layer.mode != "constant":
                return ctx.opaque(call, f"pads the channel axis in mode '{layer.mode}'")
        return super().propagate(call, ctx)

    def rebuild(self, layer, keep):
        width = [tuple(w) for w in layer.pad_width]
        width[-1] = self.kept_paddings(layer, keep)
        return type(layer)(width, mode=layer.mode, name=layer.name)


#: The element-wise operations of `keras.ops`, by module.
ELEMENTWISE_OPS = {
    ops_np: ("Add", "Subtract", "Multiply", "Divide", "TrueDivide", "Maximum",
             "Minimum", "Absolute", "Negative", "Square", "Sqrt", "Exp", "Clip",
             "Power"),
    ops_nn: ("Relu", "Relu6", "Sigmoid", "HardSigmoid", "HardSilu", "Silu",
             "Swish", "Gelu", "Elu", "Selu", "LeakyRelu", "Softplus", "Tanh"),
}

_elementwise = ElementwiseOpHandler()
for _module, _names in ELEMENTWISE_OPS.items():
    for _name in _names:
        if hasattr(_module, _name):
            register_handler(getattr(_module, _name), _elementwise)

# Normalisers over an axis: frozen when it is the channel axis.
for _name, _what in (("Softmax", "softmax"), ("LogSoftmax", "log-softmax"),
                     ("Sparsemax", "sparsemax")):
    if hasattr(ops_nn, _name):
        register_handler(
            getattr(ops_nn, _name), AxisNormalizationHandler(f"is a {_what} over channels")
        )
register_handler(ops_np.Pad, PadOpHandler())
