"""Image arrays kept on the backend's device, batched and augmented there.

`DeviceImageDataset` is an `ImagePyDataset` whose images are copied once to
the backend's device (a GPU's memory with JAX or torch) and whose batches are
gathered, cropped and flipped there with `keras.ops`: per batch, only a few
integers per image (its row, crop offset and flip) go from the host to the
device. Its batches hold the values of the `ImagePyDataset` of the same
arguments, exactly (the same draws, the same crops, zero padding); only where
they are made differs. No TensorFlow.
"""

import keras
import numpy as np

from dais_keras.data.augment import PADDING
from dais_keras.data.pydataset import AUGMENT_STREAM
from dais_keras.data.pydataset import ImagePyDataset


class DeviceImageDataset(ImagePyDataset):
    """An `ImagePyDataset` whose images live on the device (see the module).

    Batches are backend tensors (`jax.Array`, `torch.Tensor`, `tf.Tensor`)
    on the backend's default device: images `float32` NHWC with the raw
    values of `x`, labels as in `y`. Arguments, passes, `repeat` and
    `subset` as for `ImagePyDataset`; workers are pointless here (a batch is
    a few device operations) and best left at Keras' default of 1.

    Example:

    ```python
    x, y = dais_keras.data.cifar10_numpy("train")  # decoded once
    train = DeviceImageDataset(x, y, batch_size=128, augment=True, shuffle=True)
    model.fit(train, epochs=30, shuffle=False)  # no host-to-device image copies
    ```
    """

    def __init__(self, x, y, batch_size=128, **kwargs):
        super().__init__(x, y, batch_size, **kwargs)
        ops = keras.ops
        n, height, width, channels = self.x.shape
        # Pixels as rows of `channels` values: one gather takes a whole batch.
        self._pixels = ops.convert_to_tensor(self.x.reshape(n * height * width, channels))
        self._labels = ops.convert_to_tensor(self.y)
        self._grid = (
            ops.reshape(ops.arange(height, dtype="int32"), (1, height, 1)),
            ops.reshape(ops.arange(width, dtype="int32"), (1, 1, width)),
        )

    def _batch(self, index, epoch):
        ops = keras.ops
        rows = np.arange(index * self.batch_size, min((index + 1) * self.batch_size, len(self.y)))
        if self.shuffle:
            rows = self._permutation(epoch)[rows]
        count = len(rows)
        if self.augment:  # the draws of `random_crop_flip`, in its order
            rng = np.random.default_rng([self.seed, AUGMENT_STREAM, epoch, int(index)])
            span = 2 * PADDING + 1
            dy, dx = rng.integers(0, span, count), rng.integers(0, span, count)
            flip = rng.random(count) < 0.5
        else:
            dy = dx = np.full(count, PADDING)
            flip = np.zeros(count, bool)
        _, height, width, channels = self.x.shape
        column = lambda a: ops.reshape(ops.convert_to_tensor(a.astype("int32")), (count, 1, 1))
        i, j = self._grid
        # Pixel (i, j) of a crop at (dy, dx) of the zero-padded image is pixel
        # (dy + i - PADDING, dx + j - PADDING) of the image, mirrored in j
        # (j -> width - 1 - j) when flipped; outside the image it is 0.
        r = column(dy - PADDING) + i
        c = column(dx - PADDING) + ops.where(column(flip), width - 1 - j, j)
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        flat = (column(rows) * (height * width) + ops.clip(r, 0, height - 1) * width
                + ops.clip(c, 0, width - 1))
        pixels = ops.take(self._pixels, ops.reshape(flat, (-1,)), axis=0)
        images = ops.reshape(ops.cast(pixels, "float32"), (count, height, width, channels))
        images = images * ops.cast(inside, "float32")[..., None]
        return images, ops.take(self._labels, ops.convert_to_tensor(rows.astype("int32")))
