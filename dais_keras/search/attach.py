"""`attach_indicators`: the search model of a Keras model."""

import keras

from dais_keras.indicators.insert import insert_indicators
from dais_keras.search.model import DAISModel
from dais_keras.utils.checks import check_number


def attach_indicators(
    model, frozen_layers=None, alpha_init=2.0, temperature=1.0, strict=False
):
    """Returns a copy of `model` with DAIS channel indicators inserted.

    One `ChannelIndicator` per prunable channel group multiplies the group's
    channels wherever they enter a layer that mixes channels (a convolution or
    dense layer), so coupled places share one `alpha` and a channel whose
    indicator is 0 contributes exactly nothing downstream. With every
    `alpha > 0` in hard mode the new model computes exactly what `model` does.

    Args:
        model: A functional or built Sequential Keras model (channels last).
        frozen_layers: Names of layers whose channels must never be pruned.
        alpha_init: Initial logit of every channel (see `ChannelIndicator`).
        temperature: Initial temperature of every indicator.
        strict: Raise on layers without a pruning handler instead of freezing
            their channels.

    Returns:
        A `dais_keras.DAISModel` with the original weights copied; `model`
        itself is left untouched.

    Raises:
        ValueError: If `model` already has indicators or no functional graph,
            or (with `strict=True`) a layer has no handler.

    Example:

    >>> search = dais_keras.attach_indicators(model)
    >>> len(dais_keras.indicator_layers(search))
    """
    alpha_init = check_number("alpha_init", alpha_init)
    temperature = check_number("temperature", temperature, low=0.0, low_open=True)
    inserted = insert_indicators(
        model,
        frozen_layers=frozen_layers,
        alpha_init=alpha_init,
        temperature=temperature,
        strict=strict,
    )
    name = inserted.name
    if keras.backend.backend() == "torch":
        # The search's variables belong to the model itself, and PyTorch
        # refuses `.` in their paths (`mobilenetv2_1.00_224/dais_step`).
        name = name.replace(".", "_")
    return DAISModel(inputs=inserted.input, outputs=inserted.output, name=name)
