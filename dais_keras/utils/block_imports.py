"""Makes TensorFlow unimportable in this process, as where it is not
installed: for the TensorFlow-free runs (`bench/gpu_full_schedule.py
--block-tensorflow`) and the tests that prove the JAX and torch paths need
no TensorFlow. Imports nothing heavy itself."""

import importlib.abc
import importlib.machinery
import sys


class _NoTensorFlow(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`import tensorflow` (and any `tensorflow.*`) raises ImportError.

    `importlib.util.find_spec` finds a spec without a file (`origin` None),
    as torch's probes expect of a module they may skip; loading it fails.
    """

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "tensorflow":
            return importlib.machinery.ModuleSpec(name, self)
        return None

    def create_module(self, spec):
        raise ModuleNotFoundError(f"TensorFlow is blocked ({spec.name!r})", name=spec.name)

    def exec_module(self, module):
        pass


def block_tensorflow():
    """Makes TensorFlow unimportable in this process (call before anything
    imports it).

    Raises:
        RuntimeError: If TensorFlow is already imported.
    """
    if "tensorflow" in sys.modules:
        raise RuntimeError("TensorFlow is already imported: block it first.")
    sys.meta_path.insert(0, _NoTensorFlow())
