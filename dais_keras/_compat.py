"""The module names of the flat layout (before 0.2), kept importable.

`import dais_keras.budget` or `dais_keras.budget.repair` keep working: each
old name is a read-only facade whose attributes are looked up, in order, in
the modules that now hold what the old module held.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import types

# Old module (under dais_keras) -> the modules that hold its names now.
OLD_MODULES = {
    "functional": ("dais_keras.utils.functional",),
    "budget": ("dais_keras.cost.budget", "dais_keras.select.repair"),
    "graph": ("dais_keras.groups.graph", "dais_keras.groups.analysis"),
    "handlers": ("dais_keras.groups.handlers",),
    "layers": ("dais_keras.indicators.layer",),
    "export": ("dais_keras.deploy.export",),
    "zoo": ("dais_keras.deploy.zoo",),
    "callbacks": ("dais_keras.search.callback", "dais_keras.search.objective", "dais_keras.search.feed"),
    "schedules": ("dais_keras.search.schedules",),
    "baselines": ("dais_keras.select.baselines",),
    "distill": ("dais_keras.finetune.distill",),
    "config": ("dais_keras.experiments.config",),
    "demo": ("dais_keras.experiments.demo",),
}


# Old modules whose name is now a package: the package forwards the old
# module's names (`dais_keras.cost.count_macs` still works).
OLD_PACKAGES = {
    "cost": ("dais_keras.cost.macs", "dais_keras.cost.model"),
    "indicators": (
        "dais_keras.indicators.state",
        "dais_keras.indicators.insert",
        "dais_keras.indicators.layer",
        "dais_keras.search.attach",
    ),
    "latency": ("dais_keras.latency.model",),
    "search": ("dais_keras.search.model", "dais_keras.search.objective", "dais_keras.select.problem"),
}


def _lookup(targets, attribute, owner):
    """`attribute` from the first of the modules `targets` that has it."""
    if attribute.startswith("__"):
        raise AttributeError(attribute)
    for target in targets:
        module = importlib.import_module(target)
        if hasattr(module, attribute):
            return getattr(module, attribute)
    raise AttributeError(
        f"'{owner}' (now {', '.join(targets)}) has no attribute '{attribute}'"
    )


def forward(package):
    """A module `__getattr__` for `package` that serves its old module's names.

    Args:
        package: The package's `__name__`, e.g. `"dais_keras.cost"`.
    """
    targets = OLD_PACKAGES[package.rpartition(".")[2]]

    def __getattr__(attribute):
        return _lookup(targets, attribute, package)

    return __getattr__


class _Facade(types.ModuleType):
    """A module whose attributes come from the modules listed in `_targets`."""

    def __init__(self, name, targets):
        super().__init__(name, f"Alias of {', '.join(targets)} (old module name).")
        self._targets = targets

    def __getattr__(self, attribute):
        return _lookup(self._targets, attribute, self.__name__)

    def __dir__(self):
        names = set()
        for target in self._targets:
            names.update(dir(importlib.import_module(target)))
        return sorted(names)


class _Loader(importlib.abc.Loader):
    def create_module(self, spec):
        return _Facade(spec.name, OLD_MODULES[spec.name.rpartition(".")[2]])

    def exec_module(self, module):
        pass


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        package, _, leaf = fullname.rpartition(".")
        if package != "dais_keras" or leaf not in OLD_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, _Loader())


if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
    sys.meta_path.append(_Finder())
