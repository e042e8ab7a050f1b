"""What a classifier's output layer says about its loss.

A model that ends in a softmax outputs probabilities; a loss built with
`from_logits=True` then applies a second softmax, its gradients vanish and
the loss stays near `log(classes)` (2.30 for ten classes) while nothing is
learned. `check_from_logits` warns about that pairing, and
`classification_loss` picks the right cross-entropy for a model.

`distillation_loss` adds knowledge distillation to a task loss;
`teacher_distillation_loss` runs the teacher for it (the fine-tune's
`Distiller` and the DAIS search's weight step use it).
"""

import warnings

_PROBABILITY_ACTIVATIONS = ("softmax",)


def output_activation(model):
    """The name of the activation that ends `model`'s first output, or None.

    Looks at the layer that produces the output: its own `activation=`
    (e.g. `Dense(10, activation="softmax")`), an `Activation` layer or a
    `Softmax` layer.
    """
    import keras

    outputs = getattr(model, "outputs", None) or []
    if not outputs:
        return None
    layer = getattr(getattr(outputs[0], "_keras_history", None), "operation", None)
    if isinstance(layer, keras.Model):  # a nested classifier head
        return output_activation(layer)
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", None)


def ends_in_softmax(model):
    """Whether `model` outputs probabilities (its output layer is a softmax)."""
    return output_activation(model) in _PROBABILITY_ACTIVATIONS


def classification_loss(model):
    """Sparse categorical cross-entropy that suits `model`'s output:
    `from_logits=False` after a softmax, `True` otherwise."""
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=not ends_in_softmax(model))


def check_from_logits(model, loss, where="loss"):
    """Warns when `model` ends in a softmax but `loss` expects logits.

    Args:
        model: A Keras model.
        loss: The loss it is compiled or trained with (a `keras.losses.Loss`,
            a string or a function; only losses with a `from_logits`
            attribute can be checked).
        where: How the caller names the loss, for the message.

    Returns:
        `True` if a warning was issued.
    """
    if not getattr(loss, "from_logits", False) or not ends_in_softmax(model):
        return False
    warnings.warn(
        f"Model '{model.name}' ends in a softmax (it outputs probabilities) but "
        f"`{where}` has from_logits=True, so a second softmax is applied and the "
        "model does not learn (the loss stays near log(classes)). Build the model "
        "without the final softmax (e.g. keras.applications: "
        "classifier_activation=None) or use from_logits=False.",
        UserWarning,  # issued here: Python shows it once, however many callers check
    )
    return True


def _log_probs(outputs, temperature, from_logits):
    from keras import ops

    # In float32, as Keras' losses are: under a mixed precision policy
    # (`mixed_bfloat16`) the models output bfloat16 and the task loss is float32.
    outputs = ops.cast(outputs, "float32")
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
    from keras import ops
    from keras.src.losses.loss import scale_loss_for_distribution

    if distill_weight == 0.0:
        return task
    t_log = _log_probs(ops.stop_gradient(teacher_outputs), temperature, from_logits)
    s_log = _log_probs(student_outputs, temperature, from_logits)
    kl = ops.sum(ops.exp(t_log) * (t_log - s_log), axis=-1)
    distill = scale_loss_for_distribution(ops.mean(kl) * temperature**2)
    return (1.0 - distill_weight) * task + distill_weight * distill


def teacher_distillation_loss(task, teacher, x, student_outputs, temperature=4.0,
                              distill_weight=0.7, from_logits=True):
    """`distillation_loss` against a frozen `teacher` model run on `x` (in
    inference mode), which runs only when its term counts (`distill_weight`
    > 0). The fine-tune's `Distiller` and `DAISModel.distill_from` use it."""
    if distill_weight == 0.0:
        return task
    return distillation_loss(task, teacher(x, training=False), student_outputs, temperature,
                             distill_weight, from_logits)


def check_distillation(temperature, distill_weight):
    """`(temperature, distill_weight)` as floats, checked (a `ValueError`
    names the argument otherwise)."""
    from dais_keras.utils.checks import check_number

    return (check_number("temperature", temperature, low=0.0, low_open=True),
            check_number("distill_weight", distill_weight, 0.0, 1.0))
