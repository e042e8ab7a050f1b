"""Runtimes: a Keras model converted for TFLite (LiteRT) or ONNX Runtime, the
interpreters and sessions that run it, and runners for timing.

    convert       TFLite / ONNX files and bytes, converter options and errors
    interpreters  LiteRT interpreters, ONNX Runtime sessions, running a batch
    runner        runtimes by name; a model compiled once, run at batch 1

The exporters (`dais_keras.deploy.export`, with their parity check) and the
latency tables (`dais_keras.latency`) are built on these functions.
"""

from dais_keras.runtime.convert import QUANTIZE_MODES
from dais_keras.runtime.convert import TFLiteConversionError
from dais_keras.runtime.convert import frozen_function
from dais_keras.runtime.convert import onnx_bytes
from dais_keras.runtime.convert import tflite_bytes
from dais_keras.runtime.convert import tflite_options
from dais_keras.runtime.convert import write_onnx
from dais_keras.runtime.convert import write_tflite
from dais_keras.runtime.interpreters import interpreter_class
from dais_keras.runtime.interpreters import litert_interpreter
from dais_keras.runtime.interpreters import onnx_session
from dais_keras.runtime.interpreters import run_onnx
from dais_keras.runtime.interpreters import run_tflite
from dais_keras.runtime.runner import DEFAULT_RUNTIME
from dais_keras.runtime.runner import RUNTIMES
from dais_keras.runtime.runner import check_runtime
from dais_keras.runtime.runner import compile_runner
from dais_keras.runtime.runner import runner
from dais_keras.runtime.runner import runtime_id
