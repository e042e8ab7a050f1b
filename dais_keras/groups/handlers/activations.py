"""Which activation functions act on each value alone.

A layer's own activation (`Conv2D(..., activation="softmax")`, or an
`Activation` layer) is applied to the channels it writes. An element-wise
activation (relu, sigmoid, gelu, ...) lets the channels be pruned one by one;
any other (softmax, log_softmax, sparsemax, glu, or a function dais-keras does
not know) reads the channels together, so removing one changes the others:
the channels entering it are frozen. Declare your own element-wise function
with `register_elementwise_activation`.
"""

import keras

#: Names of the element-wise activations of `keras.activations` and
#: `keras.ops`.
ELEMENTWISE_NAMES = (
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu",
    "silu", "swish", "sigmoid", "hard_sigmoid", "hard_silu", "hard_swish",
    "tanh", "hard_tanh", "softplus", "softsign", "exponential", "exp", "mish",
    "log_sigmoid", "sparse_plus", "sparse_sigmoid", "squareplus",
    "soft_shrink", "hard_shrink", "tanh_shrink", "threshold",
)

_ELEMENTWISE = set()


def register_elementwise_activation(fn):
    """Declares that activation function `fn` acts on each value alone.

    Channels through a layer with an unknown activation are frozen; declare
    your own element-wise function so they can be pruned.

    Args:
        fn: The function (as the layer stores it in `layer.activation`).

    Returns:
        `fn`, so this can be used as a decorator.

    Raises:
        ValueError: If `fn` is not callable.
    """
    if not callable(fn):
        raise ValueError(f"`fn` must be a function; received {fn!r}.")
    _ELEMENTWISE.add(fn)
    return fn


for _module in (keras.activations, keras.ops):
    for _name in ELEMENTWISE_NAMES:
        if hasattr(_module, _name):
            register_elementwise_activation(getattr(_module, _name))


def is_elementwise(activation):
    """Whether `activation` (a function or a Keras activation name) is a
    known element-wise function."""
    if isinstance(activation, str):
        activation = keras.activations.get(activation)
    try:
        return activation in _ELEMENTWISE
    except TypeError:  # an unhashable callable
        return False


def freeze_activation(call, out_ids, ctx):
    """Freezes the channels a call's own non-element-wise activation reads.

    Args:
        call: The call of a layer (with or without an `activation`).
        out_ids: The channel ids its handler gave each output.
        ctx: The `ChannelContext` of the analysis.

    Returns:
        The output ids (fresh frozen ones when the activation changes the
        channel count, as `glu` does).
    """
    activation = getattr(call.layer, "activation", None)
    if not (callable(activation) or isinstance(activation, str)):
        return out_ids
    if is_elementwise(activation):
        return out_ids
    name = activation if isinstance(activation, str) else getattr(
        activation, "__name__", repr(activation)
    )
    reason = (
        f"applies activation '{name}', which is not element-wise (it reads "
        "the channels together); if it is, declare it with "
        "dais_keras.groups.handlers.register_elementwise_activation"
    )
    widths = [t.shape[-1] for t in call.outputs]
    if [len(ids) for ids in out_ids] != widths:
        return ctx.opaque(call, reason)
    for ids in out_ids:
        ctx.freeze(ids, f"{ctx.describe(call.layer)} {reason}")
    return out_ids
