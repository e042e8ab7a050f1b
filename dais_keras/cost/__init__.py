"""Cost of a (soft or pruned) network: MACs and params per layer, the differentiable
cost model over channel counts, and budgets."""

from dais_keras import _compat

__getattr__ = _compat.forward(__name__)
