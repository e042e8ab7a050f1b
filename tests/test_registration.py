"""`keras.saving` finds the library's classes whatever the import order.

Every class the library registers with `keras.saving.register_keras_serializable`
must be found by `keras.saving.load_model` once `dais_keras` and `keras` are
both imported, in either order, and when one of the library's own modules is
what imports `keras` first. Each order runs in a new Python, where nothing is
imported yet.
"""

import ast
import os
import pathlib
import subprocess
import sys

import keras
import pytest

from dais_keras import _registration
from dais_keras.models import cifar_resnet
from dais_keras.search.attach import attach_indicators

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _registered_classes():
    """{module: [class names]} of every class decorated with
    `register_keras_serializable(package="dais_keras")`, read from the source."""
    found = {}
    for path in sorted((ROOT / "dais_keras").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ClassDef):
                continue
            for decorator in node.decorator_list:
                if "register_keras_serializable" in ast.unparse(decorator):
                    assert "package='dais_keras'" in ast.unparse(decorator), node.name
                    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
                    found.setdefault(module, []).append(node.name)
    return found


REGISTERED = _registered_classes()


def test_serializable_modules_lists_every_module_that_registers_a_class():
    assert len(REGISTERED) >= 5  # The scan itself found the decorators.
    assert sorted(_registration.SERIALIZABLE_MODULES) == sorted(REGISTERED)


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """An unpruned CIFAR ResNet (it holds `ZeroPadShortcut`) and its search
    model (a `DAISModel` with `ChannelIndicator`s), saved."""
    folder = tmp_path_factory.mktemp("registration")
    model = cifar_resnet(8)
    model.save(folder / "unpruned.keras")
    search = attach_indicators(model)
    search.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    search.save(folder / "search.keras")
    return folder


_LOAD = """
import sys
{imports}
import keras
names = {names!r}
missing = [n for n in names if keras.saving.get_registered_object("dais_keras>" + n) is None]
assert not missing, f"not registered: {{missing}}"
folder = sys.argv[1]
unpruned = keras.saving.load_model(folder + "/unpruned.keras")
search = keras.saving.load_model(folder + "/search.keras")
print("loaded", type(unpruned).__name__, type(search).__name__,
      sorted({{type(l).__name__ for l in search.layers}} & set(names)))
"""


@pytest.mark.parametrize(
    "imports",
    [
        "import dais_keras",  # before keras
        "import keras, dais_keras",  # after keras
        "from dais_keras.search.model import DAISModel",  # a library module imports keras
        "import dais_keras.deploy.zoo",
    ],
)
def test_saved_models_load_whatever_the_import_order(saved_models, imports):
    names = sorted(name for names in REGISTERED.values() for name in names)
    script = _LOAD.format(imports=imports, names=names)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script, str(saved_models)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "loaded Functional DAISModel ['ChannelIndicator', 'ZeroPadShortcut']" in done.stdout


def test_register_soon_registers_at_once_when_keras_is_imported():
    """In this process keras is imported, so registering is immediate and no
    import hook is left in `sys.meta_path`."""
    before = list(sys.meta_path)
    _registration.register_soon()
    assert sys.meta_path == before
    assert keras.saving.get_registered_object("dais_keras>DAISModel") is not None
