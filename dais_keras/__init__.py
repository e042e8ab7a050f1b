"""dais-keras: automatic channel pruning for Keras 3 with DAIS.

DAIS (Differentiable Annealing Indicator Search) relaxes binary channel indicators
to `sigmoid(alpha / T)`, learns them jointly with the weights by bi-level
optimisation, anneals `T` so the indicators become binary, and keeps the expected
MACs (or the latency measured on this machine, `dais_keras.latency`) inside a
budget. Model surgery then rebuilds a smaller plain Keras model that
computes exactly what the binarised indicator model computed.
"""

__version__ = "0.1.0"

from dais_keras.cost import count_macs
from dais_keras.cost import count_params
from dais_keras.cost import macs_table
from dais_keras import handlers
from dais_keras import surgery
from dais_keras.graph import ChannelGraph
from dais_keras.graph import ChannelGroup
from dais_keras.graph import channel_groups
from dais_keras.handlers import register_handler
from dais_keras.indicators import attach_indicators
from dais_keras.indicators import binarize
from dais_keras.indicators import indicator_layers
from dais_keras.indicators import set_temperature
from dais_keras.layers import ChannelIndicator
from dais_keras.search import DAISModel
from dais_keras import budget
from dais_keras import latency
from dais_keras.latency import LatencyTable
from dais_keras.latency import build_latency_table
from dais_keras.latency import latency_model
from dais_keras.latency import measure_latency
from dais_keras import schedules
from dais_keras.budget import BudgetReport
from dais_keras.callbacks import DAISCallback
from dais_keras.api import PruneReport
from dais_keras.api import prune
from dais_keras import data
from dais_keras import models
from dais_keras import export
from dais_keras import zoo
from dais_keras import baselines
from dais_keras import config
