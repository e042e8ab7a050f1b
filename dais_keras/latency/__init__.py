"""Latency as a cost: per-layer latency tables measured on this machine and the
differentiable latency model built from them.

    probes    which layer calls are measured, over which channel grids
    table     LatencyTable, build_latency_table and its cache
    measure   measure_latency: whole models timed in turns
    model     LatencyModel and latency_model (interpolation, calibration)

Converting and running models is `dais_keras.runtime`'s job; the timing loop
and the machine description are in `dais_keras.utils`.
"""

from dais_keras import _compat
from dais_keras.latency.measure import measure_latency
from dais_keras.latency.model import LatencyModel
from dais_keras.latency.model import efficient_points
from dais_keras.latency.model import latency_model
from dais_keras.latency.probes import axis_grid
from dais_keras.latency.probes import register_latency_probe
from dais_keras.latency.table import FORMAT
from dais_keras.latency.table import LatencyTable
from dais_keras.latency.table import build_latency_table
from dais_keras.latency.table import cache_path
from dais_keras.latency.table import default_cache_dir
from dais_keras.runtime.runner import DEFAULT_RUNTIME
from dais_keras.runtime.runner import RUNTIMES
from dais_keras.runtime.runner import compile_runner
from dais_keras.runtime.runner import runner
from dais_keras.runtime.runner import runtime_id
from dais_keras.utils.machine import machine_id
from dais_keras.utils.machine import machine_info
from dais_keras.utils.timing import time_ms

__all__ = [
    "DEFAULT_RUNTIME", "FORMAT", "RUNTIMES", "LatencyModel", "LatencyTable",
    "axis_grid", "build_latency_table", "cache_path", "compile_runner",
    "default_cache_dir", "efficient_points", "latency_model", "machine_id",
    "machine_info", "measure_latency", "register_latency_probe", "runner",
    "runtime_id", "time_ms",
]

# Names of the old flat module that are not listed above.
__getattr__ = _compat.forward(__name__)
