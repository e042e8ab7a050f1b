"""The channel-handler protocol and its registry.

A handler says, for one layer type, (1) how channel identities flow from the
inputs of a call to its outputs (`propagate`), (2) whether the layer mixes its
input channels (then the search masks its input, `mixes_channels`), and (3) how
to rebuild the layer with fewer channels and slice its weights (`rebuild`,
`new_weights`). Handlers live in a registry keyed by class; a subclass uses the
handler of its closest registered base class. Register your own with
`dais_keras.register_handler(MyLayer, MyHandler())`.

Channel identities are integer arrays, one entry per channel of a tensor (the
last axis). Producers (convolutions, dense layers, ...) create fresh ids; merges
(`Add`, `Multiply`, ...) declare ids equal; pass-through layers copy them.
"""

from dais_keras.utils.registry import ClassRegistry


class CallKeep:
    """Which channels of a call's inputs and outputs survive pruning.

    Attributes:
        inputs: One boolean array per input tensor (`None` for inputs without
            a channel axis).
        outputs: One boolean array per output tensor.
    """

    def __init__(self, inputs, outputs):
        self.inputs = inputs
        self.outputs = outputs

    @property
    def input(self):
        return self.inputs[0]

    @property
    def output(self):
        return self.outputs[0]

    def unchanged(self):
        arrays = [k for k in self.inputs + self.outputs if k is not None]
        return all(bool(k.all()) for k in arrays)


class ChannelHandler:
    """Base handler: a pass-through layer without channel-sized weights.

    Override `propagate` for layers that create or couple channels,
    `mixes_channels` for layers whose output channels read several input
    channels, `rebuild`/`new_weights` for layers whose config or weights
    depend on the channel count, and `rebuild_arguments` for calls whose
    arguments do.
    """

    #: The layer reads several input channels per output channel (conv,
    #: dense): the search multiplies its input by the indicators.
    mixes_channels = False

    #: Surgery rebuilds the layer even where it keeps every channel (for
    #: handlers that replace a layer by built-in ones).
    always_rebuild = False

    def propagate(self, call, ctx):
        """Returns the channel ids of each output of `call`."""
        return [ctx.ids(call.inputs[0])] * len(call.outputs)

    def rebuild(self, layer, keep):
        """Returns a new, unbuilt layer for the kept channels (or any callable
        that maps the call's new inputs to its outputs with Keras layers and
        operations)."""
        return type(layer).from_config(layer.get_config())

    def new_weights(self, layer, keep):
        """Returns the new layer's weights, sliced to the kept channels."""
        return layer.get_weights()

    def rebuild_arguments(self, args, kwargs, keep):
        """Returns the `(args, kwargs)` of the rebuilt call, given the call's
        arguments with the new tensors in place (e.g. constants sliced to the
        kept channels)."""
        return args, kwargs


class PassThroughHandler(ChannelHandler):
    """Layers acting on each channel alike with no channel-sized weights:
    activations, pooling, padding, cropping, resizing, dropout, ..."""


class MaskHandler(PassThroughHandler):
    """Layers that multiply channels by a learned mask, one entry per channel
    of a group: the search's channel indicators.

    Their calls lay out the mask vector `m` of a model
    (`ChannelGraph.indicator_slots`), and surgery drops them. A subclass says
    how many entries a layer holds, where it goes in `m`, and which input
    channels each call masks.
    """

    def units(self, layer):
        """The number of mask entries of `layer`."""
        raise NotImplementedError

    def order(self, layer):
        """A sort key: masks are concatenated into `m` in this order."""
        return layer.name

    def positions(self, call):
        """`(positions, entries)`: the input channels `call` masks and the
        mask entry each of them reads (two int arrays of one length)."""
        raise NotImplementedError


_HANDLERS = ClassRegistry("handler")


def register_handler(layer_class, handler):
    """Registers how dais-keras prunes channels through `layer_class`.

    Args:
        layer_class: A `keras.layers.Layer` (or `keras.Operation`) subclass.
            Subclasses of it use this handler unless they have their own.
        handler: A `ChannelHandler` instance.

    Raises:
        ValueError: If `layer_class` is not a class or `handler` not a
            `ChannelHandler`.

    Example:

    ```python
    class Scale(keras.layers.Layer):  # per-channel scale, pass-through
        ...

    dais_keras.register_handler(Scale, dais_keras.handlers.ChannelwiseWeightsHandler())
    ```
    """
    if not isinstance(layer_class, type):
        raise ValueError(
            f"`layer_class` must be a class; received {layer_class!r}."
        )
    if not isinstance(handler, ChannelHandler):
        raise ValueError(
            "`handler` must be an instance of dais_keras.handlers.ChannelHandler; "
            f"received {handler!r}."
        )
    _HANDLERS.register(layer_class, handler)


def handler_for(op):
    """The handler registered for `op`'s class (or a base class), or `None`."""
    return _HANDLERS.lookup(op)


def registered_handlers():
    """A dict of every registered layer class and its handler."""
    return dict(_HANDLERS.items())

