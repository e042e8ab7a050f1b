"""Reading and switching the channel indicators of a model."""

import keras

from dais_keras.indicators.layer import ChannelIndicator
from dais_keras.indicators.layer import indicator_order
from dais_keras.utils.checks import check_number


def indicator_layers(model):
    """The model's `ChannelIndicator` layers, ordered by group id."""
    found = [l for l in model._flatten_layers(include_self=False, recursive=True)
             if isinstance(l, ChannelIndicator)]
    return sorted(found, key=indicator_order)


def _require_indicators(model, fn):
    layers = indicator_layers(model)
    if not layers:
        raise ValueError(
            f"`{fn}` needs a model with channel indicators, but model "
            f"'{model.name}' has none. Create one with "
            "`dais_keras.attach_indicators(model)`."
        )
    return layers


def _reset_compiled_functions(model):
    for attr in ("train_function", "test_function", "predict_function"):
        if hasattr(model, attr):
            setattr(model, attr, None)


def set_temperature(model, temperature):
    """Sets the temperature `T` of every indicator of `model`.

    Args:
        model: A model with channel indicators.
        temperature: A float > 0.

    Raises:
        ValueError: If `temperature <= 0` or `model` has no indicators.
    """
    temperature = check_number("temperature", temperature, low=0.0, low_open=True)
    for layer in _require_indicators(model, "set_temperature"):
        layer.temperature.assign(float(temperature))


def binarize(model, hard=True):
    """Switches every indicator of `model` to hard (`alpha > 0`) or soft mode.

    Args:
        model: A model with channel indicators.
        hard: `True` for binary masks, `False` for `sigmoid(alpha / T)`.

    Raises:
        ValueError: If `model` has no indicators.
    """
    for layer in _require_indicators(model, "binarize"):
        layer.hard = bool(hard)
    _reset_compiled_functions(model)


def masks(model, hard=None):
    """Dict group id -> numpy mask of each indicator (soft or hard).

    Raises:
        ValueError: If `model` has no indicators.
    """
    return {
        layer.group_id: keras.ops.convert_to_numpy(layer.mask(hard=hard))
        for layer in _require_indicators(model, "masks")
    }
