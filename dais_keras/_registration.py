"""Registers the library's Keras-serialisable classes with `keras.saving`.

`keras.saving.load_model` finds a custom class only if the module that
defines it (and runs `@keras.saving.register_keras_serializable`) has been
imported; Keras imports such modules by itself only for its own packages.
`import dais_keras` loads its submodules on first use, so without this
module a saved search model (`DAISModel`) or an unpruned CIFAR ResNet
(`ZeroPadShortcut`) would not load after a bare `import dais_keras`.

`register()` imports every module that registers a class. `register_soon()`
(called by the package) runs it at once if `keras` is imported, and
otherwise as soon as `keras` is: right after `import keras` finishes, or, if
one of the library's own modules imported `keras`, right after that module
(and every library module that was importing it) has finished, so a
half-imported module is never imported again from inside itself.
`import dais_keras` itself stays free of Keras and TensorFlow.
"""

import importlib
import importlib.abc
import sys

# Every module that defines a class registered with
# `@keras.saving.register_keras_serializable(package="dais_keras")`;
# tests/test_registration.py checks that the list is complete.
SERIALIZABLE_MODULES = (
    "dais_keras.indicators.layer",
    "dais_keras.models.layers",
    "dais_keras.search.model",
    "dais_keras.search.callback",
    "dais_keras.search.schedules",
    "dais_keras.finetune.distill",
)


def register():
    """Imports every module of `SERIALIZABLE_MODULES` (once each)."""
    for module in SERIALIZABLE_MODULES:
        importlib.import_module(module)


class _RegisterWhenKerasIsImported(importlib.abc.MetaPathFinder):
    """Watches the imports of `keras` and of the library's modules, and calls
    `register()` (then leaves `sys.meta_path`) once `keras` is imported and
    no library module is half-way through its import."""

    def __init__(self):
        self.depth = 0  # Library modules being executed right now.

    def find_spec(self, fullname, path=None, target=None):
        library = fullname.startswith("dais_keras.")
        if fullname != "keras" and not library:
            return None
        spec = self._spec_from_other_finders(fullname, path, target)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        execute = loader.exec_module

        def exec_module(module):
            self.depth += library
            try:
                execute(module)
            finally:
                self.depth -= library
            if self.depth == 0 and "keras" in sys.modules:
                self.remove()
                register()

        loader.exec_module = exec_module
        return spec

    def _spec_from_other_finders(self, fullname, path, target):
        for finder in list(sys.meta_path):
            find_spec = getattr(finder, "find_spec", None)
            if finder is self or find_spec is None:
                continue
            spec = find_spec(fullname, path, target)
            if spec is not None:
                return spec
        return None

    def remove(self):
        while self in sys.meta_path:
            sys.meta_path.remove(self)


def register_soon():
    """Registers now if `keras` is imported, else as soon as it is."""
    if sys.modules.get("keras") is not None:
        register()
    elif not any(isinstance(f, _RegisterWhenKerasIsImported) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterWhenKerasIsImported())
