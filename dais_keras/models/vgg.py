"""VGG-16 with batch normalisation for CIFAR (32x32) images.

The 13 convolutions of VGG-16 (Simonyan & Zisserman, 2015, configuration D),
each followed by batch normalisation and ReLU, with 2x2 max-pooling after
blocks 1-5:

    images (raw 0-255 RGB) -> normalize
    block1: 64, 64, pool        block2: 128, 128, pool
    block3: 256 x 3, pool       block4: 512 x 3, pool     block5: 512 x 3, pool
    avg_pool (global) -> logits (Dense, no softmax)

Classifier choice: global average pooling and one `Dense(num_classes)`, as in
the widely used CIFAR adaptation (kuangliu/pytorch-cifar). On 32x32 inputs the
five poolings leave a 1x1 map, so this equals `Flatten -> Dense`, without the
two 4096-wide layers of the ImageNet model; and it keeps every channel of the
last convolution prunable (no `Flatten` couples channels to dense units).
Convolutions have no bias (a bias before batch normalisation is redundant).
"""

import keras

from dais_keras.models.layers import batch_norm
from dais_keras.models.layers import check_builder_arguments
from dais_keras.models.layers import input_normalization

#: Output channels of the convolutions of each block (VGG-16, config "D").
VGG16_BLOCKS = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def cifar_vgg16(num_classes=10, input_shape=(32, 32, 3), name="cifar_vgg16"):
    """Builds VGG-16 with batch normalisation for CIFAR images.

    The model takes raw RGB pixels in `[0, 255]`, normalises them in its first
    layer like the CIFAR ResNets, and returns logits. Layers are named
    `block{b}_conv{i}`, `block{b}_bn{i}`, `block{b}_relu{i}`, `block{b}_pool`,
    `avg_pool` and `logits`. 14,724,042 trainable parameters for 10 classes.

    Args:
        num_classes: Number of output logits.
        input_shape: `(height, width, 3)`; height and width must be at least
            32 (five 2x2 poolings), `None` allows any size.
        name: The model's name.

    Returns:
        A `keras.Model` mapping `(batch, height, width, 3)` pixels to
        `(batch, num_classes)` logits.

    Raises:
        ValueError: if `num_classes` or `input_shape` is invalid.

    Example:

    ```python
    model = dais_keras.models.cifar_vgg16(num_classes=100)
    ```
    """
    input_shape, num_classes = check_builder_arguments(input_shape, num_classes, "cifar_vgg16")
    if any(d is not None and d < 32 for d in input_shape[:2]):
        raise ValueError(
            f"cifar_vgg16(): height and width must be at least 32 (the model "
            f"halves them five times); received input_shape={input_shape}."
        )

    inputs = keras.Input(shape=input_shape, name="images")
    x = input_normalization("normalize")(inputs)
    for b, widths in enumerate(VGG16_BLOCKS, start=1):
        for i, filters in enumerate(widths, start=1):
            x = keras.layers.Conv2D(
                filters,
                3,
                padding="same",
                use_bias=False,
                kernel_initializer="he_normal",
                name=f"block{b}_conv{i}",
            )(x)
            x = batch_norm(f"block{b}_bn{i}")(x)
            x = keras.layers.ReLU(name=f"block{b}_relu{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"block{b}_pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = keras.layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=name)
