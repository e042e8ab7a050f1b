"""The standard CIFAR training augmentation: pad 4, random crop, random flip."""

from dais_keras.data.formats import IMAGE_SHAPE


def cifar10_augmentation(seed=None):
    """Returns the standard CIFAR training augmentation for one image.

    Zero-pads 4 pixels on each side, crops a random 32x32 window
    (`keras.layers.RandomCrop`) and flips horizontally with probability 1/2
    (`keras.layers.RandomFlip`). The padding is a `tf.pad`: unlike
    `keras.layers.ZeroPadding2D`, it also runs inside `tf.data` when Keras uses
    the JAX or torch backend. Pixel values are not rescaled.

    Args:
        seed: Optional integer seed of the random layers.

    Returns:
        A function mapping one float image `(32, 32, 3)` to an augmented
        `(32, 32, 3)` image; usable in `tf.data.Dataset.map` (apply it per
        example: `RandomCrop` draws one window per call).

    Example:

    ```python
    augment = cifar10_augmentation(seed=1)
    ds = ds.map(lambda x, y: (augment(tf.cast(x, "float32")), y))
    ```
    """
    import keras
    import tensorflow as tf

    height, width, _ = IMAGE_SHAPE
    pipeline = keras.layers.Pipeline(
        [
            keras.layers.RandomCrop(height, width, seed=seed),
            keras.layers.RandomFlip(
                "horizontal", seed=None if seed is None else seed + 1
            ),
        ],
        name="cifar10_augmentation",
    )

    def augment(image):
        padded = tf.pad(image, [[4, 4], [4, 4], [0, 0]])
        return pipeline(padded, training=True)

    return augment
