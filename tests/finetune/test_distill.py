"""Distillation under a mixed precision policy."""

import numpy as np

import keras

from dais_keras.finetune.distill import Distiller
from dais_keras.utils.losses import distillation_loss


def _under_policy(policy, build):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        return build()
    finally:
        keras.config.set_dtype_policy(previous)


def test_distillation_loss_is_float32_for_bfloat16_outputs():
    rng = np.random.default_rng(0)
    teacher, student = (keras.ops.cast(rng.normal(size=(4, 3)), "bfloat16") for _ in range(2))
    task = keras.ops.convert_to_tensor(0.5, "float32")
    loss = distillation_loss(task, teacher, student, temperature=2.0, distill_weight=0.5)
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    expected = distillation_loss(task, keras.ops.cast(teacher, "float32"),
                                 keras.ops.cast(student, "float32"), 2.0, 0.5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loss),
                               keras.ops.convert_to_numpy(expected), rtol=1e-6)


def test_distiller_trains_under_mixed_bfloat16(toy):
    student, teacher = _under_policy("mixed_bfloat16",
                                     lambda: (toy.model(seed=1), toy.model(seed=2)))
    assert student.layers[-1].compute_dtype == "bfloat16"
    x, y = toy.data(32)
    distiller = Distiller(student, teacher, temperature=2.0, distill_weight=0.5)
    distiller.compile(optimizer=keras.optimizers.SGD(0.01),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [w.numpy().copy() for w in student.trainable_weights]
    history = distiller.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, student.trainable_weights))
