"""The DAIS search model: a functional model with channel indicators."""

import keras


@keras.saving.register_keras_serializable(package="dais_keras")
class DAISModel(keras.Model):
    """A functional Keras model whose channel groups carry `ChannelIndicator`s.

    Build it with `dais_keras.attach_indicators(model)`. It behaves like any
    functional model (`compile`, `fit`, `predict`, `save`); the search's
    bi-level `train_step` updates the indicators on search batches handed to it
    by `DAISCallback` and the weights on training batches.
    """
