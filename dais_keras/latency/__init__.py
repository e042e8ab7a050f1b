"""Latency as a cost: per-layer latency tables measured on this machine and the
differentiable latency model built from them."""

from dais_keras import _compat

__getattr__ = _compat.forward(__name__)
