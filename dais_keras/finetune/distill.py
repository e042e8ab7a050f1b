"""Knowledge distillation for fine-tuning a pruned model.

`Distiller` wraps a student (the pruned model) and a frozen teacher (the
unpruned one). It trains the student on

    (1 - distill_weight) * task_loss(y, student)
    + distill_weight * T^2 * KL(softmax(teacher / T) || softmax(student / T))

with the compiled task loss, so it works on every backend with the ordinary
`fit`. After training, use `distiller.student`. `distillation_loss` is that
loss on its own (the DAIS search distils with it too:
`DAISModel.distill_from`).
"""

import keras
from keras import ops


def _check(name, value, low, high, low_open=False):
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (low < value if low_open else low <= value) and value <= high
    if not ok:
        bracket = "(" if low_open else "["
        raise ValueError(
            f"`{name}` must be a number in {bracket}{low:g}, {high:g}]; received {value!r}."
        )
    return float(value)


def _log_probs(outputs, temperature, from_logits):
    if not from_logits:
        outputs = ops.log(ops.clip(outputs, 1e-7, 1.0))
    return ops.log_softmax(outputs / temperature, axis=-1)


def distillation_loss(task, teacher_outputs, student_outputs, temperature=4.0,
                      distill_weight=0.7, from_logits=True):
    """`(1 - distill_weight) * task + distill_weight * T^2 * KL(teacher || student)`.

    The KL divergence is between the softmax of both outputs at temperature
    `T` (mean over the batch; scaled for `tf.distribute` like Keras' losses);
    no gradient flows into `teacher_outputs`.

    Args:
        task: The task loss (a scalar tensor).
        teacher_outputs: The teacher's outputs on the same inputs.
        student_outputs: The student's outputs.
        temperature: Softening temperature (> 0).
        distill_weight: Weight of the distillation term in [0, 1].
        from_logits: Whether the outputs are logits (`False`: probabilities).

    Returns:
        The scalar loss.
    """
    from keras.src.losses.loss import scale_loss_for_distribution

    if distill_weight == 0.0:
        return task
    t_log = _log_probs(ops.stop_gradient(teacher_outputs), temperature, from_logits)
    s_log = _log_probs(student_outputs, temperature, from_logits)
    kl = ops.sum(ops.exp(t_log) * (t_log - s_log), axis=-1)
    distill = scale_loss_for_distribution(ops.mean(kl) * temperature**2)
    return (1.0 - distill_weight) * task + distill_weight * distill


def check_distillation(temperature, distill_weight):
    """`(temperature, distill_weight)` as floats, checked (a `ValueError`
    names the argument otherwise)."""
    return (_check("temperature", temperature, 0.0, float("inf"), low_open=True),
            _check("distill_weight", distill_weight, 0.0, 1.0))


@keras.saving.register_keras_serializable(package="dais_keras")
class Distiller(keras.Model):
    """Trains `student` to match a frozen `teacher` and the labels.

    Args:
        student: The model to train (e.g. the pruned model).
        teacher: The reference model (e.g. the unpruned model); frozen.
        temperature: Softening temperature of the distillation (> 0).
        distill_weight: Weight of the distillation term in [0, 1]; the task
            loss gets `1 - distill_weight`.
        from_logits: Whether both models output logits (`False`: they output
            probabilities, which are turned into log-probabilities).

    Example:

    ```python
    distiller = dais_keras.distill.Distiller(pruned, original)
    distiller.compile(optimizer="sgd",
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    distiller.fit(train, epochs=5)
    pruned = distiller.student
    ```
    """

    def __init__(
        self, student, teacher, temperature=4.0, distill_weight=0.7, from_logits=True, **kwargs
    ):
        super().__init__(**kwargs)
        if not isinstance(student, keras.Model) or not isinstance(teacher, keras.Model):
            raise ValueError(
                "`student` and `teacher` must be Keras models; received "
                f"{type(student).__name__} and {type(teacher).__name__}."
            )
        self.temperature, self.distill_weight = check_distillation(temperature, distill_weight)
        self.from_logits = bool(from_logits)
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        task = super().compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )
        if self.distill_weight == 0.0:
            return task
        return distillation_loss(task, self.teacher(x, training=False), y_pred,
                                 self.temperature, self.distill_weight, self.from_logits)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "student": keras.saving.serialize_keras_object(self.student),
                "teacher": keras.saving.serialize_keras_object(self.teacher),
                "temperature": self.temperature,
                "distill_weight": self.distill_weight,
                "from_logits": self.from_logits,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["student"] = keras.saving.deserialize_keras_object(config["student"])
        config["teacher"] = keras.saving.deserialize_keras_object(config["teacher"])
        return cls(**config)
