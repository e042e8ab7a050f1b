"""Knowledge distillation for fine-tuning a pruned model.

`Distiller` wraps a student (the pruned model) and a frozen teacher (the
unpruned one). It trains the student on

    (1 - distill_weight) * task_loss(y, student)
    + distill_weight * T^2 * KL(softmax(teacher / T) || softmax(student / T))

with the compiled task loss, so it works on every backend with the ordinary
`fit`. After training, use `distiller.student`. The loss itself is
`dais_keras.utils.losses.teacher_distillation_loss` (the DAIS search distils with it
too: `DAISModel.distill_from`).
"""

import keras

from dais_keras.utils.losses import check_distillation
from dais_keras.utils.losses import teacher_distillation_loss


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
        return teacher_distillation_loss(task, self.teacher, x, y_pred, self.temperature,
                                         self.distill_weight, self.from_logits)

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
