"""Building blocks shared by the CIFAR models.

* `ZeroPadShortcut`: the parameter-free "option A" shortcut of the CIFAR
  ResNets (He et al., 2016, section 4.2): spatial subsampling followed by
  zero-padding of the channel axis. A small serializable layer; pruning
  surgery replaces it by built-in Keras layers computing the same
  (`builtin_zero_pad_shortcut`), so pruned models load without dais_keras.
* `input_normalization`: the in-model preprocessing of raw 0-255 RGB pixels
  (`x / 255`, then the ImageNet mean/std), as a built-in, serializable
  `keras.layers.Normalization` (no `Lambda`, so models load with
  `safe_mode=True`).
* `batch_norm`: a `BatchNormalization` configured like PyTorch's default
  (`epsilon=1e-5`, `momentum=0.9`, i.e. PyTorch's `momentum=0.1`), so that
  PyTorch checkpoints port exactly and training behaves the same.

All models of this package are channels-last.
"""

import functools

import numpy as np

import keras
from keras import ops
from keras.src.ops import numpy as ops_numpy

from dais_keras.groups.handlers import ChannelPaddingHandler
from dais_keras.groups.handlers import register_handler

#: Per-channel mean of the RGB input after scaling to [0, 1] (ImageNet).
MEAN_RGB = (0.485, 0.456, 0.406)
#: Per-channel standard deviation of the RGB input after scaling to [0, 1].
STD_RGB = (0.229, 0.224, 0.225)
#: PyTorch's default `BatchNorm2d` epsilon.
BN_EPSILON = 1e-5
#: Keras' momentum equivalent to PyTorch's default `momentum=0.1`.
BN_MOMENTUM = 0.9


def _is_nonnegative_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 0


@keras.saving.register_keras_serializable(package="dais_keras")
class ZeroPadShortcut(keras.layers.Layer):
    """Option-A residual shortcut: subsample, then zero-pad the channels.

    Computes `pad(x[:, ::stride, ::stride, :])` where the channel axis gets
    `pad_before` channels of zeros in front and `pad_after` behind. In the
    CIFAR ResNets of He et al. (and akamaster/pytorch_resnet_cifar10) the
    shortcut from a stage of `c` channels to one of `2c` uses `stride=2` and
    `pad_before = pad_after = 2c // 4`. The layer has no weights.

    For pruning, the layer's output channels are `pad_before` constant zeros,
    then the input channels unchanged, then `pad_after` zeros; surgery replaces
    it by built-in Keras layers with the kept padding channels
    (`builtin_zero_pad_shortcut`), so a pruned model needs no dais_keras.

    Args:
        pad_before: Non-negative int, channels of zeros added before the
            input's channels (channel axis, last).
        pad_after: Non-negative int, channels of zeros added after them.
        stride: Positive int, spatial subsampling step along height and
            width: keeps rows and columns `0, stride, 2 * stride, ...`
            (`stride=1` keeps every pixel).
        **kwargs: Base layer keyword arguments (`name`, `dtype`, ...).

    Input shape:
        4D tensor `(batch, height, width, channels)` (channels last).

    Output shape:
        `(batch, ceil(height / stride), ceil(width / stride),
        pad_before + channels + pad_after)`.

    Raises:
        ValueError: if an argument is not a non-negative (for `stride`:
            positive) integer, or if the input is not 4D.

    Example:

    >>> x = np.ones((1, 4, 4, 2), "float32")
    >>> y = ZeroPadShortcut(pad_before=1, pad_after=1, stride=2)(x)
    >>> tuple(y.shape)
    (1, 2, 2, 4)
    """

    def __init__(self, pad_before, pad_after, stride=2, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("pad_before", pad_before), ("pad_after", pad_after)):
            if not _is_nonnegative_int(value):
                raise ValueError(
                    f"ZeroPadShortcut '{self.name}': `{arg}` must be a "
                    f"non-negative integer (channels of zeros); received "
                    f"{value!r}."
                )
        if not _is_nonnegative_int(stride) or stride < 1:
            raise ValueError(
                f"ZeroPadShortcut '{self.name}': `stride` must be a positive "
                f"integer (spatial subsampling step); received {stride!r}."
            )
        self.pad_before = int(pad_before)
        self.pad_after = int(pad_after)
        self.stride = int(stride)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"ZeroPadShortcut '{self.name}' expects a 4D channels-last "
                f"input (batch, height, width, channels); received shape "
                f"{tuple(input_shape)}."
            )
        super().build(input_shape)

    def call(self, inputs):
        x = inputs
        if self.stride > 1:
            x = x[:, :: self.stride, :: self.stride, :]
        if self.pad_before or self.pad_after:
            x = ops.pad(
                x, [[0, 0], [0, 0], [0, 0], [self.pad_before, self.pad_after]]
            )
        return x

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape

        def subsample(size):
            return None if size is None else -(-size // self.stride)

        if channels is not None:
            channels = self.pad_before + channels + self.pad_after
        return (batch, subsample(height), subsample(width), channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pad_before": self.pad_before,
                "pad_after": self.pad_after,
                "stride": self.stride,
            }
        )
        return config


def builtin_zero_pad_shortcut(x, pad_before, pad_after, stride, name):
    """`ZeroPadShortcut` computed with built-in Keras layers and operations.

    The subsampling is a `MaxPooling2D` of size 1 (it keeps rows and columns
    `0, stride, ...`), the channel padding a `keras.ops.pad`: the result is
    exactly the layer's, and a model built so loads with plain Keras.

    Args:
        x: A symbolic 4D channels-last tensor.
        pad_before, pad_after, stride: As for `ZeroPadShortcut`.
        name: The name of the last layer or operation (others get suffixes).

    Returns:
        The output tensor.
    """
    if stride > 1:
        pool_name = f"{name}_subsample" if pad_before or pad_after else name
        x = keras.layers.MaxPooling2D(pool_size=1, strides=stride, name=pool_name)(x)
    if pad_before or pad_after:
        width = [(0, 0), (0, 0), (0, 0), (pad_before, pad_after)]
        x = ops_numpy.Pad(width, name=name)(x)
    return x


class ZeroPadShortcutHandler(ChannelPaddingHandler):
    """The padding channels are produced by the layer. Surgery replaces it,
    pruned or not, by `builtin_zero_pad_shortcut` with the padding channels
    kept, so a pruned CIFAR ResNet is plain Keras."""

    always_rebuild = True

    def rebuild(self, layer, keep):
        before, after = self.kept_paddings(layer, keep)
        return functools.partial(
            builtin_zero_pad_shortcut,
            pad_before=before,
            pad_after=after,
            stride=layer.stride,
            name=layer.name,
        )


register_handler(ZeroPadShortcut, ZeroPadShortcutHandler())


def input_normalization(name="normalize"):
    """The in-model preprocessing of raw RGB pixels in `[0, 255]`.

    Equivalent to `((x / 255) - MEAN_RGB) / STD_RGB`, folded into one
    `keras.layers.Normalization` with `mean = 255 * MEAN_RGB` and
    `variance = (255 * STD_RGB) ** 2`. It holds no weights and serializes as a
    built-in layer.

    Args:
        name: The layer's name.

    Returns:
        A `keras.layers.Normalization` layer.
    """
    mean = [255.0 * m for m in MEAN_RGB]
    variance = [(255.0 * s) ** 2 for s in STD_RGB]
    return keras.layers.Normalization(
        axis=-1, mean=mean, variance=variance, name=name
    )


def batch_norm(name):
    """A `BatchNormalization` with PyTorch's defaults (eps 1e-5, momentum 0.1).

    Args:
        name: The layer's name.

    Returns:
        A `keras.layers.BatchNormalization` layer over the last axis.
    """
    return keras.layers.BatchNormalization(
        axis=-1, epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name
    )


def check_image_input(input_shape, builder):
    """Validates a channels-last RGB `input_shape` and the global data format.

    Args:
        input_shape: The `(height, width, 3)` tuple given to a builder.
        builder: The builder's name, for error messages.

    Returns:
        `input_shape` as a tuple.

    Raises:
        ValueError: if the shape is not `(height, width, 3)` or Keras is set
            to `channels_first`.
    """
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            f"{builder}() builds channels-last models, but "
            f"keras.config.image_data_format() is "
            f"'{keras.config.image_data_format()}'. Call "
            f"keras.config.set_image_data_format('channels_last') first."
        )
    try:
        shape = tuple(input_shape)
    except TypeError:
        shape = None
    if (
        shape is None
        or len(shape) != 3
        or shape[-1] != 3
        or any(d is not None and (not _is_nonnegative_int(d) or d < 1) for d in shape)
    ):
        raise ValueError(
            f"{builder}(): `input_shape` must be (height, width, 3) for RGB "
            f"images, channels last (the model normalises each RGB channel); "
            f"received {input_shape!r}."
        )
    return shape


def check_num_classes(num_classes, builder):
    """Validates `num_classes` (a positive int) and returns it as an int."""
    if not _is_nonnegative_int(num_classes) or num_classes < 1:
        raise ValueError(
            f"{builder}(): `num_classes` must be a positive integer; received "
            f"{num_classes!r}."
        )
    return int(num_classes)


def check_builder_arguments(input_shape, num_classes, builder):
    """`(input_shape, num_classes)` of a model builder, both checked (see
    `check_image_input` and `check_num_classes`)."""
    return check_image_input(input_shape, builder), check_num_classes(num_classes, builder)
