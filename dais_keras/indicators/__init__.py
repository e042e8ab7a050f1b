"""Channel indicators: the `ChannelIndicator` layer (`m = sigmoid(alpha / T)`),
their insertion into a model and the functions that read and set them.

`dais_keras.attach_indicators` (in `dais_keras.search.attach`) wraps
`insert_indicators` in the search model.
"""

from dais_keras import _compat
from dais_keras.indicators.insert import insert_indicators
from dais_keras.indicators.layer import ChannelIndicator
from dais_keras.indicators.state import binarize
from dais_keras.indicators.state import indicator_layers
from dais_keras.indicators.state import masks
from dais_keras.indicators.state import set_temperature

# The names of the old `dais_keras.indicators` module that live elsewhere now.
__getattr__ = _compat.forward(__name__)
