"""CIFAR ResNets (He et al., 2016, section 4.2).

The architecture of akamaster/pytorch_resnet_cifar10, layer for layer, so that
its checkpoints port exactly (see `dais_keras.models.pretrained`):

    images (raw 0-255 RGB) -> normalize
    stem_conv (3x3, 16, no bias) -> stem_bn -> stem_relu
    stage1: n basic blocks of 16 channels, stride 1
    stage2: n basic blocks of 32 channels, the first with stride 2
    stage3: n basic blocks of 64 channels, the first with stride 2
    avg_pool (global) -> logits (Dense, no softmax)

with `depth = 6n + 2`. A basic block `stage{s}_block{b}` is

    [pad1 ->] conv1 (3x3) -> bn1 -> relu1 -> conv2 (3x3) -> bn2
    add(bn2, shortcut) -> out (ReLU)

A stride-2 3x3 convolution is `ZeroPadding2D(1)` (`_pad1`) followed by a
`padding="valid"` convolution: PyTorch pads symmetrically, while Keras'
`"same"` pads only bottom/right for stride 2. Stride-1 convolutions use
`"same"`, which is symmetric for odd kernels.

Shortcuts where the shape changes:

* `"A"`: `ZeroPadShortcut` (`_shortcut`): `x[:, ::2, ::2, :]` and
  `planes // 4` channels of zeros on each side. No parameters.
* `"B"`: a 1x1 stride-2 convolution without bias (`_shortcut_conv`) and a
  batch normalisation (`_shortcut_bn`).

Every other shortcut is the identity.
"""

import keras

from dais_keras.models.layers import ZeroPadShortcut
from dais_keras.models.layers import batch_norm
from dais_keras.models.layers import check_builder_arguments
from dais_keras.models.layers import input_normalization

#: Depths of the CIFAR ResNets in He et al. (2016).
STANDARD_DEPTHS = (20, 32, 44, 56, 110)
#: Channels of the three stages.
STAGE_WIDTHS = (16, 32, 64)
SHORTCUTS = ("A", "B")


def _conv(filters, kernel_size, stride, name):
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=stride,
        padding="same" if stride == 1 else "valid",
        use_bias=False,
        kernel_initializer="he_normal",
        name=name,
    )


def _conv3x3(x, filters, stride, name, pad_name):
    """3x3 convolution padded like PyTorch's `padding=1`."""
    if stride != 1:
        x = keras.layers.ZeroPadding2D(padding=1, name=pad_name)(x)
    return _conv(filters, 3, stride, name)(x)


def basic_block(x, filters, stride, shortcut, name):
    """One basic residual block of a CIFAR ResNet.

    Args:
        x: Input tensor, channels last.
        filters: Output channels of the block.
        stride: Stride of the first convolution (1 or 2).
        shortcut: `"A"` (subsample and zero-pad) or `"B"` (1x1 convolution +
            BN) for a block that changes the shape; ignored otherwise.
        name: Prefix of the block's layer names, e.g. `"stage2_block0"`.

    Returns:
        The block's output tensor.
    """
    in_channels = x.shape[-1]
    y = _conv3x3(x, filters, stride, name + "_conv1", name + "_pad1")
    y = batch_norm(name + "_bn1")(y)
    y = keras.layers.ReLU(name=name + "_relu1")(y)
    y = _conv3x3(y, filters, 1, name + "_conv2", name + "_pad2")
    y = batch_norm(name + "_bn2")(y)

    if stride != 1 or in_channels != filters:
        if shortcut == "A":
            extra = filters - in_channels
            if extra < 0:
                raise ValueError(
                    f"Block '{name}': an option-A shortcut can only add "
                    f"channels, but the block goes from {in_channels} to "
                    f"{filters}. Use shortcut='B'."
                )
            s = ZeroPadShortcut(
                pad_before=extra // 2,
                pad_after=extra - extra // 2,
                stride=stride,
                name=name + "_shortcut",
            )(x)
        else:
            s = _conv(filters, 1, stride, name + "_shortcut_conv")(x)
            s = batch_norm(name + "_shortcut_bn")(s)
    else:
        s = x
    y = keras.layers.Add(name=name + "_add")([y, s])
    return keras.layers.ReLU(name=name + "_out")(y)


def _check_depth(depth):
    ok = (
        isinstance(depth, int)
        and not isinstance(depth, bool)
        and depth >= 8
        and (depth - 2) % 6 == 0
    )
    if not ok:
        raise ValueError(
            f"cifar_resnet(): `depth` must be 6n + 2 for an integer n >= 1 "
            f"(n basic blocks per stage), e.g. one of "
            f"{', '.join(map(str, STANDARD_DEPTHS))}; received {depth!r}."
        )
    return (depth - 2) // 6


def cifar_resnet(
    depth, shortcut="A", num_classes=10, input_shape=(32, 32, 3), name=None
):
    """Builds a CIFAR ResNet of He et al. (2016) as a functional Keras model.

    The model takes raw RGB pixels in `[0, 255]` and normalises them in its
    first layer (`x / 255`, then ImageNet mean/std), and returns logits (no
    softmax). Layer names are deterministic (`stem_conv`,
    `stage1_block0_conv1`, `stage2_block0_shortcut`, ..., `logits`); weight
    ports and pruning reports rely on them. Batch normalisation uses
    PyTorch's defaults (epsilon 1e-5, momentum 0.1), convolutions have no bias
    and He-normal initialisation.

    Parameters (10 classes, option A): ResNet-20 269,722; ResNet-32 464,154;
    ResNet-44 658,586; ResNet-56 853,018; ResNet-110 1,727,962 (trainable
    parameters; the BN moving statistics add 2 per BN channel).

    Args:
        depth: `6n + 2` layers for `n` basic blocks per stage: 20, 32, 44, 56
            or 110 in the paper; any `n >= 1` is accepted.
        shortcut: `"A"` (parameter-free: subsample and zero-pad channels, as
            in the paper's CIFAR experiments and the pretrained weights) or
            `"B"` (1x1 convolution + BN where the shape changes).
        num_classes: Number of output logits.
        input_shape: `(height, width, 3)`; `None` entries allow any size.
        name: The model's name; defaults to `"cifar_resnet{depth}"` (with a
            `"b"` suffix for shortcut `"B"`).

    Returns:
        A `keras.Model` mapping `(batch, height, width, 3)` pixels to
        `(batch, num_classes)` logits.

    Raises:
        ValueError: if `depth` is not `6n + 2`, `shortcut` is not `"A"` or
            `"B"`, or `num_classes`/`input_shape` are invalid.

    Example:

    ```python
    model = dais_keras.models.cifar_resnet(20)
    logits = model.predict(x_uint8)   # (batch, 10)
    ```
    """
    n = _check_depth(depth)
    shortcut_key = shortcut.upper() if isinstance(shortcut, str) else shortcut
    if shortcut_key not in SHORTCUTS:
        raise ValueError(
            f"cifar_resnet(): `shortcut` must be one of {list(SHORTCUTS)} "
            f"('A': subsample and zero-pad channels, 'B': 1x1 convolution + "
            f"BN); received {shortcut!r}."
        )
    input_shape, num_classes = check_builder_arguments(input_shape, num_classes, "cifar_resnet")
    if name is None:
        name = f"cifar_resnet{depth}" + ("b" if shortcut_key == "B" else "")

    inputs = keras.Input(shape=input_shape, name="images")
    x = input_normalization("normalize")(inputs)
    x = _conv(STAGE_WIDTHS[0], 3, 1, "stem_conv")(x)
    x = batch_norm("stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    for stage, filters in enumerate(STAGE_WIDTHS, start=1):
        for block in range(n):
            stride = 2 if stage > 1 and block == 0 else 1
            x = basic_block(
                x, filters, stride, shortcut_key, f"stage{stage}_block{block}"
            )
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
