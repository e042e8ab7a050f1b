"""MobileNetV2 for CIFAR (32x32) images.

MobileNetV2 (Sandler et al., 2018) with the usual CIFAR adaptation
(kuangliu/pytorch-cifar): the stem convolution and the first stride-2 stage
(24 channels) use stride 1, so a 32x32 image is downsampled 8x (to 4x4)
instead of 32x. Everything else follows the paper and
`keras.applications.MobileNetV2`:

    images (raw 0-255 RGB) -> normalize
    stem_conv (3x3, 32, stride 1) -> stem_bn -> stem_relu (ReLU6)
    17 inverted residual blocks, (expansion t, channels c, repeats n, stride s):
        (1, 16, 1, 1), (6, 24, 2, 1), (6, 32, 3, 2), (6, 64, 4, 2),
        (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)
    head_conv (1x1, 1280) -> head_bn -> head_relu
    avg_pool (global) -> logits (Dense, no softmax)

Block `block{i}` (i = 0..16): `expand_conv` (1x1, skipped when t = 1) ->
`expand_bn` -> `expand_relu` -> [`dw_pad` ->] `dw_conv` (3x3 depthwise) ->
`dw_bn` -> `dw_relu` -> `project_conv` (1x1, linear) -> `project_bn`, plus
`add` of the input when the stride is 1 and the channel counts match (as in
the paper; no projection shortcut elsewhere). Stride-2 depthwise convolutions
are padded symmetrically (`ZeroPadding2D(1)` + `"valid"`), like PyTorch.
Channel counts are scaled by `alpha` and rounded to multiples of 8 as in
Keras; the head keeps 1280 channels for `alpha <= 1`.
"""

import keras

from dais_keras.models.layers import batch_norm
from dais_keras.models.layers import check_builder_arguments
from dais_keras.models.layers import input_normalization

#: (expansion, output channels, repeats, stride of the first repeat).
CIFAR_MOBILENET_V2_STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),  # stride 2 on ImageNet
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def make_divisible(value, divisor=8, min_value=None):
    """Rounds `value` to a multiple of `divisor`, losing at most 10%."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _relu6(name):
    return keras.layers.ReLU(max_value=6.0, name=name)


def _pointwise(filters, name):
    return keras.layers.Conv2D(
        filters, 1, use_bias=False, kernel_initializer="he_normal", name=name
    )


def inverted_residual_block(x, expansion, filters, stride, name):
    """One inverted residual (MBConv) block of MobileNetV2.

    Args:
        x: Input tensor, channels last.
        expansion: Expansion factor `t` of the 1x1 expand convolution.
        filters: Output channels.
        stride: Stride of the depthwise convolution (1 or 2).
        name: Prefix of the block's layer names, e.g. `"block3"`.

    Returns:
        The block's output tensor.
    """
    in_channels = x.shape[-1]
    y = x
    if expansion != 1:
        y = _pointwise(in_channels * expansion, name + "_expand_conv")(y)
        y = batch_norm(name + "_expand_bn")(y)
        y = _relu6(name + "_expand_relu")(y)
    if stride != 1:
        y = keras.layers.ZeroPadding2D(padding=1, name=name + "_dw_pad")(y)
    y = keras.layers.DepthwiseConv2D(
        3,
        strides=stride,
        padding="same" if stride == 1 else "valid",
        use_bias=False,
        depthwise_initializer="he_normal",
        name=name + "_dw_conv",
    )(y)
    y = batch_norm(name + "_dw_bn")(y)
    y = _relu6(name + "_dw_relu")(y)
    y = _pointwise(filters, name + "_project_conv")(y)
    y = batch_norm(name + "_project_bn")(y)
    if stride == 1 and in_channels == filters:
        y = keras.layers.Add(name=name + "_add")([x, y])
    return y


def cifar_mobilenet_v2(
    num_classes=10, alpha=1.0, input_shape=(32, 32, 3), name=None
):
    """Builds MobileNetV2 adapted to CIFAR images (stride 1 in the stem and
    the 24-channel stage; see the module docstring).

    The model takes raw RGB pixels in `[0, 255]`, normalises them in its first
    layer like the CIFAR ResNets, and returns logits. 2,236,682 trainable
    parameters for 10 classes and `alpha=1`.

    Args:
        num_classes: Number of output logits.
        alpha: Width multiplier (> 0): every block's channels are scaled by
            it and rounded to a multiple of 8.
        input_shape: `(height, width, 3)`; `None` entries allow any size.
        name: The model's name; defaults to `"cifar_mobilenet_v2"` (with
            `"_{alpha}"` appended when `alpha != 1`).

    Returns:
        A `keras.Model` mapping `(batch, height, width, 3)` pixels to
        `(batch, num_classes)` logits.

    Raises:
        ValueError: if `alpha` is not a positive number, or `num_classes` or
            `input_shape` is invalid.

    Example:

    ```python
    model = dais_keras.models.cifar_mobilenet_v2(alpha=0.5)
    ```
    """
    input_shape, num_classes = check_builder_arguments(input_shape, num_classes, "cifar_mobilenet_v2")
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
        raise ValueError(
            f"cifar_mobilenet_v2(): `alpha` (width multiplier) must be a "
            f"positive number, e.g. 0.5, 1.0 or 1.4; received {alpha!r}."
        )
    if name is None:
        name = "cifar_mobilenet_v2" + ("" if alpha == 1 else f"_{alpha:g}")

    inputs = keras.Input(shape=input_shape, name="images")
    x = input_normalization("normalize")(inputs)
    x = keras.layers.Conv2D(
        make_divisible(32 * alpha),
        3,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name="stem_conv",
    )(x)
    x = batch_norm("stem_bn")(x)
    x = _relu6("stem_relu")(x)
    index = 0
    for expansion, channels, repeats, stride in CIFAR_MOBILENET_V2_STAGES:
        filters = make_divisible(channels * alpha)
        for r in range(repeats):
            x = inverted_residual_block(
                x, expansion, filters, stride if r == 0 else 1, f"block{index}"
            )
            index += 1
    head = 1280 if alpha <= 1.0 else make_divisible(1280 * alpha)
    x = _pointwise(head, "head_conv")(x)
    x = batch_norm("head_bn")(x)
    x = _relu6("head_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
