"""What a classifier's output layer says about its loss.

A model that ends in a softmax outputs probabilities; a loss built with
`from_logits=True` then applies a second softmax, its gradients vanish and
the loss stays near `log(classes)` (2.30 for ten classes) while nothing is
learned. `check_from_logits` warns about that pairing, and
`classification_loss` picks the right cross-entropy for a model.
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
