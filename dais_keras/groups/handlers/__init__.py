"""Per-layer-type channel handlers: the protocol, its registry, and the
handlers of Keras' built-in layers and `keras.ops` operations.

A handler says how channels flow through one layer type and how to rebuild
the layer with fewer channels (`base`). The handlers of Keras' layers
(`layers`) and operations (`ops`) register themselves at import, and
`activations` knows which activation functions act on each value alone; the
library's own layers register theirs next to their definitions
(`dais_keras.indicators.layer`, `dais_keras.models.layers`). Register your
own with `dais_keras.register_handler(MyLayer, MyHandler())`.
"""

from dais_keras.groups.handlers.activations import freeze_activation
from dais_keras.groups.handlers.activations import is_elementwise
from dais_keras.groups.handlers.activations import register_elementwise_activation
from dais_keras.groups.handlers.base import CallKeep
from dais_keras.groups.handlers.base import ChannelHandler
from dais_keras.groups.handlers.base import MaskHandler
from dais_keras.groups.handlers.base import PassThroughHandler
from dais_keras.groups.handlers.base import handler_for
from dais_keras.groups.handlers.base import register_handler
from dais_keras.groups.handlers.base import registered_handlers
from dais_keras.groups.handlers.layers import AxisNormalizationHandler
from dais_keras.groups.handlers.layers import BatchNormalizationHandler
from dais_keras.groups.handlers.layers import ChannelPaddingHandler
from dais_keras.groups.handlers.layers import ChannelwiseWeightsHandler
from dais_keras.groups.handlers.layers import ConcatenateHandler
from dais_keras.groups.handlers.layers import ConvHandler
from dais_keras.groups.handlers.layers import ConvTransposeHandler
from dais_keras.groups.handlers.layers import DenseHandler
from dais_keras.groups.handlers.layers import DepthwiseConvHandler
from dais_keras.groups.handlers.layers import FlattenHandler
from dais_keras.groups.handlers.layers import FreezeChannelsHandler
from dais_keras.groups.handlers.layers import MergeHandler
from dais_keras.groups.handlers.layers import PermuteHandler
from dais_keras.groups.handlers.layers import ProducerHandler
from dais_keras.groups.handlers.layers import RescalingHandler
from dais_keras.groups.handlers.layers import ReshapeHandler
from dais_keras.groups.handlers.layers import SeparableConvHandler
from dais_keras.groups.handlers.ops import ElementwiseOpHandler
from dais_keras.groups.handlers.ops import PadOpHandler

__all__ = [
    "AxisNormalizationHandler",
    "BatchNormalizationHandler",
    "CallKeep",
    "ChannelHandler",
    "ChannelPaddingHandler",
    "ChannelwiseWeightsHandler",
    "ConcatenateHandler",
    "ConvHandler",
    "ConvTransposeHandler",
    "DenseHandler",
    "DepthwiseConvHandler",
    "ElementwiseOpHandler",
    "FlattenHandler",
    "FreezeChannelsHandler",
    "MaskHandler",
    "MergeHandler",
    "PadOpHandler",
    "PassThroughHandler",
    "PermuteHandler",
    "ProducerHandler",
    "RescalingHandler",
    "ReshapeHandler",
    "SeparableConvHandler",
    "freeze_activation",
    "handler_for",
    "is_elementwise",
    "register_elementwise_activation",
    "register_handler",
    "registered_handlers",
]
