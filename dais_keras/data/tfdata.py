"""Image arrays as a batched `tf.data.Dataset` (`cifar10(format="tf")`).

TensorFlow is imported when `tf_dataset` is called, not before.
"""

import os


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
            num_parallel_calls=_parallel_calls(),
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
            num_parallel_calls=_parallel_calls(),
        )
    # Fixed parallelism and prefetch, no autotuning: tf.data's autotuning
    # thread competes with training for the cores, and destroying an
    # iterator (at the end of every `fit`) waits for its optimisation pass
    # to finish (on 2 busy cores: 1.2 s after 2 of 5 short fits, none
    # without autotuning; bench/results/demo_runs.json).
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.prefetch(2).with_options(options)


def _parallel_calls():
    """Parallel calls of the pipeline's map: one per core, at most 8."""
    return max(1, min(8, os.cpu_count() or 1))
