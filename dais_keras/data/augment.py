"""The standard CIFAR training augmentation: pad 4, random crop, random flip.

Two implementations draw from the same distribution: every one of the
`(2 * padding + 1) ** 2` crop offsets of the zero-padded image with
probability `1 / (2 * padding + 1) ** 2` and, independently, a horizontal flip
with probability 1/2.

* `cifar10_augmentation`: one image at a time, Keras layers run in
  `tf.data` (the `format="tf"` pipeline of `cifar10`);
* `random_crop_flip`: a whole batch at once in numpy, seeded by a numpy
  `Generator` (the `format="pydataset"` path; no TensorFlow).
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from dais_keras.data.formats import IMAGE_SHAPE
from dais_keras.utils import checks

PADDING = 4


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
        padded = tf.pad(image, [[PADDING, PADDING], [PADDING, PADDING], [0, 0]])
        return pipeline(padded, training=True)

    return augment


def random_crop_flip(images, rng, padding=PADDING):
    """Pads, randomly crops and randomly flips a batch of images, in numpy.

    The same augmentation as `cifar10_augmentation`, vectorised over the
    batch: each image is zero-padded by `padding` pixels on every side, cropped
    back to its size at an offset `(dy, dx)` drawn uniformly from
    `[0, 2 * padding]` squared, and flipped left-right with probability 1/2.
    The draws are, in this order, `dy`, `dx` (`rng.integers`) and the flips
    (`rng.random(n) < 0.5`), so the result is a pure function of `images` and
    the state of `rng`.

    Args:
        images: Array of shape `(n, height, width, channels)` (NHWC), any
            real dtype (e.g. `uint8` raw pixels).
        rng: A `numpy.random.Generator`.
        padding: Non-negative integer, pixels of zero padding per side.

    Returns:
        A `float32` array of the shape of `images`; pixel values are not
        rescaled.

    Raises:
        ValueError: If `images` is not 4-D or `padding` is negative.

    Example:

    ```python
    rng = np.random.default_rng([seed, epoch, batch_index])
    augmented = random_crop_flip(x_uint8[batch], rng)  # float32, 0-255
    ```
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            "`images` must be a batch of shape (n, height, width, channels); "
            f"received shape {images.shape}. Add a batch axis to one image."
        )
    padding = checks.check_int("padding", padding, low=0)
    n, height, width, _ = images.shape
    span = 2 * padding + 1
    dy = rng.integers(0, span, n)
    dx = rng.integers(0, span, n)
    flip = rng.random(n) < 0.5
    padded = np.pad(images, [(0, 0), (padding, padding), (padding, padding), (0, 0)])
    # A flipped crop at `dx` is the crop at `span - 1 - dx` of the flipped
    # padded image: flip whole padded images, then take every crop at once.
    flipped = np.flatnonzero(flip)
    padded[flipped] = padded[flipped, :, ::-1]
    dx = np.where(flip, span - 1 - dx, dx)
    windows = sliding_window_view(padded, (height, width), axis=(1, 2))
    out = np.empty(images.shape, np.float32)
    out[...] = windows[np.arange(n), dy, dx].transpose(0, 2, 3, 1)
    return out
