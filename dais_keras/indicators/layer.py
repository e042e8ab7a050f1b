"""The DAIS channel indicator layer, and its channel handler."""

import numpy as np

import keras
from keras import ops

from dais_keras.groups.handlers import MaskHandler
from dais_keras.groups.handlers import register_handler


@keras.saving.register_keras_serializable(package="dais_keras")
class ChannelIndicator(keras.layers.Layer):
    """Soft channel indicator of one group of coupled channels.

    Holds one logit `alpha` per channel of its group and a non-trainable
    temperature `T`. In soft mode it multiplies its input by
    `m = sigmoid(alpha / T)` along the last (channel) axis; in hard mode by
    `m = (alpha > 0)`. As `T` goes to 0 the soft mask becomes the hard one.

    One indicator serves one group and may be called at several places of a
    model (everywhere the group's channels enter a layer that mixes channels),
    so coupled places share one `alpha`. A call can cover a slice of a wider
    tensor that holds several groups side by side (after a `Concatenate`):
    `offset` says where the group's channels start, or `index` maps every
    channel of the input to a channel of the group (`-1`: not in this group,
    left unchanged), e.g. after a depthwise convolution with a depth
    multiplier or a `Flatten`.

    Args:
        units: Number of channels in the group.
        alpha_init: Initial value of every logit. With `alpha_init=2` and
            `T=1`, `m` starts at 0.88, so a pretrained network keeps most of
            its accuracy when the search starts.
        temperature: Initial temperature `T` (> 0).
        hard: Whether to start in hard (binary) mode.
        group_id: Id of the channel group this indicator belongs to.
        **kwargs: Base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: A tensor with channels last.
        offset: Optional int, first channel of the group in `inputs`.
        index: Optional list of ints of length `inputs.shape[-1]`.

    Example:

    >>> ind = ChannelIndicator(4, alpha_init=1.0)
    >>> y = ind(np.ones((1, 4)))  # sigmoid(1) = 0.731 everywhere
    """

    _dais_indicator = True

    def __init__(
        self,
        units,
        alpha_init=2.0,
        temperature=1.0,
        hard=False,
        group_id=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        problem = None
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            problem = f"`units` must be a positive integer (the group's channel count); " \
                      f"received {units!r}."
        elif not temperature > 0:
            problem = f"`temperature` must be > 0; received {temperature!r}."
        if problem:
            raise ValueError(f"ChannelIndicator '{self.name}': {problem}")
        self.units = int(units)
        self.alpha_init = float(alpha_init)
        self.initial_temperature = float(temperature)
        self.hard = bool(hard)
        self.group_id = group_id
        self.alpha = self.add_weight(
            shape=(self.units,),
            initializer=keras.initializers.Constant(self.alpha_init),
            trainable=True,
            name="alpha",
        )
        self.temperature = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.initial_temperature),
            trainable=False,
            name="temperature",
        )
        self.built = True

    def mask(self, hard=None):
        """The indicator vector `m`, shape `(units,)`.

        Args:
            hard: Override the layer's mode: `True` gives `alpha > 0` as
                floats, `False` gives `sigmoid(alpha / T)`.
        """
        hard = self.hard if hard is None else hard
        alpha = ops.convert_to_tensor(self.alpha)
        if hard:
            return ops.cast(ops.greater(alpha, 0.0), self.compute_dtype)
        return ops.sigmoid(alpha / self.temperature)

    def call(self, inputs, offset=None, index=None):
        m = ops.cast(self.mask(), inputs.dtype)
        channels = inputs.shape[-1]
        if index is not None:
            index = np.asarray(index, dtype="int32")
            inside = index >= 0
            gathered = ops.take(m, np.where(inside, index, 0))
            m = ops.where(inside, gathered, ops.ones_like(gathered))
        elif offset is not None or channels != self.units:
            offset = 0 if offset is None else int(offset)
            after = channels - offset - self.units
            if after < 0:
                raise ValueError(
                    f"ChannelIndicator '{self.name}' ({self.units} channels) "
                    f"called at offset {offset} on a tensor with {channels} "
                    "channels."
                )
            m = ops.concatenate(
                [
                    ops.ones((offset,), dtype=m.dtype),
                    m,
                    ops.ones((after,), dtype=m.dtype),
                ]
            )
        return inputs * m

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "alpha_init": self.alpha_init,
                "temperature": self.initial_temperature,
                "hard": self.hard,
                "group_id": self.group_id,
            }
        )
        return config


def indicator_order(layer):
    """The sort key of indicator layers: by group id, then name."""
    return (layer.group_id is None, layer.group_id, layer.name)


class IndicatorHandler(MaskHandler):
    """Channels pass through an indicator unchanged in identity; its calls
    lay out the search's indicator vector (see `MaskHandler`)."""

    def units(self, layer):
        return layer.units

    def order(self, layer):
        return indicator_order(layer)

    def positions(self, call):
        kwargs = call.node.arguments.kwargs
        if kwargs.get("index") is not None:
            index = np.asarray(kwargs["index"])
            positions = np.flatnonzero(index >= 0)
            return positions, index[positions]
        offset = kwargs.get("offset") or 0
        units = call.layer.units
        return np.arange(offset, offset + units), np.arange(units)


register_handler(ChannelIndicator, IndicatorHandler())
