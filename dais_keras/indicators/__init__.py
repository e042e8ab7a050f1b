"""Channel indicators: the `ChannelIndicator` layer (`m = sigmoid(alpha / T)`)
and the functions that read and set the indicators of a model."""

from dais_keras import _compat

__getattr__ = _compat.forward(__name__)
