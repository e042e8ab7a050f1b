"""The DAIS search: the search model (bi-level trainer, one step per backend),
its objective, temperature schedules and the `DAISCallback` that drives it."""

from dais_keras import _compat

__getattr__ = _compat.forward(__name__)
