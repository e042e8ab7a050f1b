"""Knowledge distillation for fine-tuning a pruned model.

`Distiller` wraps a student (the pruned model) and a frozen teacher (the
unpruned one). It trains the student on

    (1 - distill_weight) * task_loss(y, student)
    + distill_weight * T^2 * KL(softmax(teacher / T) || softmax(student / T))

with the compiled task loss, so it works on every backend with the ordinary
`fit`. After training, use `distiller.student`.
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
        self.temperature = _check("temperature", temperature, 0.0, float("inf"), low_open=True)
        self.distill_weight = _check("distill_weight", distill_weight, 0.0, 1.0)
        self.from_logits = bool(from_logits)
        self.student = student
        self.teacher = teacher
        self.teacher.trainable = False

    def call(self, inputs, training=False):
        return self.student(inputs, training=training)

    def _log_probs(self, outputs):
        if self.from_logits:
            return ops.log_softmax(outputs / self.temperature, axis=-1)
        logits = ops.log(ops.clip(outputs, 1e-7, 1.0))
        return ops.log_softmax(logits / self.temperature, axis=-1)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        task = super().compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )
        if self.distill_weight == 0.0:
            return task
        teacher = ops.stop_gradient(self.teacher(x, training=False))
        t_log = self._log_probs(teacher)
        s_log = self._log_probs(y_pred)
        kl = ops.sum(ops.exp(t_log) * (t_log - s_log), axis=-1)
        distill = ops.mean(kl) * self.temperature**2
        from keras.src.losses.loss import scale_loss_for_distribution

        distill = scale_loss_for_distribution(distill)
        return (1.0 - self.distill_weight) * task + self.distill_weight * distill

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
