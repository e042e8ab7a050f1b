"""Image arrays as a batched `tf.data.Dataset` (`cifar10(format="tf")`).

TensorFlow is imported when `tf_dataset` is called, not before.
"""


def tf_dataset(x, y, batch_size=128, *, augment=False, shuffle=False, seed=0,
               drop_remainder=False):
    """Returns `(x, y)` as a batched, prefetched `tf.data.Dataset`.

    Images come out as `float32` (raw values, no scaling), labels as given.

    Args:
        x: `uint8` (or float) images, NHWC.
        y: Labels, one per image.
        batch_size: Positive integer.
        augment: Whether to apply `cifar10_augmentation` (per example).
        shuffle: Whether to reshuffle the examples every epoch, seeded by
            `seed`.
        seed: Integer seed of the shuffle and of the augmentation.
        drop_remainder: Whether to drop the last, smaller batch.

    Returns:
        A `tf.data.Dataset` yielding `(images, labels)` batches.
    """
    import tensorflow as tf

    from dais_keras.data.augment import cifar10_augmentation

    if augment:
        # Per example: RandomCrop draws one window per call.
        augment_fn = cifar10_augmentation(seed=seed)
        ds = tf.data.Dataset.from_tensor_slices((x, y))
        if shuffle:
            ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        ds = ds.map(
            lambda image, label: (augment_fn(tf.cast(image, "float32")), label),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    else:
        # Shuffle indices and gather whole batches: faster than slicing.
        images, labels = tf.constant(x), tf.constant(y)
        ds = tf.data.Dataset.range(len(x))
        if shuffle:
            ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
        ds = ds.map(
            lambda idx: (
                tf.cast(tf.gather(images, idx), "float32"),
                tf.gather(labels, idx),
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return ds.prefetch(tf.data.AUTOTUNE)
