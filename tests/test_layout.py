"""The package layout: imports flow one way, no circles, modules stay small.

Parses every module of `dais_keras` (no import happens) and checks
* no import circle between modules, counting imports inside functions too;
* packages import only packages of a lower or the same stage (`STAGES`);
* nothing inside the package imports the package `__init__` for its names
  (`import dais_keras`, `from dais_keras import prune`);
* no module over 600 lines and a median of at most 300.
"""

import ast
import pathlib
import statistics

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "dais_keras"

# Stage of every top-level package or module: a module may import only from
# stages <= its own. Lower stages know nothing of higher ones.
STAGES = {
    "_compat": 0,
    "_registration": 0,
    "utils": 0,
    "cost": 1,
    "data": 1,
    "groups": 2,
    "indicators": 3,
    "models": 3,
    "surgery": 4,
    "runtime": 5,
    "latency": 6,
    "select": 7,
    "search": 8,
    "finetune": 9,
    "deploy": 10,
    "api": 11,
    "experiments": 12,
    "cli": 13,
    "testing": 13,
}


def _module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules():
    return {
        _module_name(path): path
        for path in sorted(ROOT.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


MODULES = _modules()


def _imports(name, path):
    """Yields `(imported module, imported names or None, line)` of `path`."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            yield module, [a.name for a in node.names], node.lineno


def _resolve(module, names):
    """The `dais_keras` modules an import statement loads."""
    if not module.startswith("dais_keras"):
        return []
    if names is None:
        return [module]
    out = []
    for n in names:
        sub = f"{module}.{n}"
        out.append(sub if sub in MODULES else module)
    return out


def _graph():
    graph = {}
    for name, path in MODULES.items():
        targets = set()
        for module, names, _ in _imports(name, path):
            targets.update(t for t in _resolve(module, names) if t in MODULES)
        graph[name] = targets - {name}
    return graph


def _stage(module):
    parts = module.split(".")
    if len(parts) == 1:
        return None
    return STAGES.get(parts[1])


def test_every_top_level_package_has_a_stage():
    top = {name.split(".")[1] for name in MODULES if name != "dais_keras"}
    assert top <= set(STAGES), f"give these a stage in STAGES: {sorted(top - set(STAGES))}"


def test_no_import_circle():
    graph = _graph()
    # Package __init__ files import their own submodules; an edge into an
    # __init__ from its own submodule would be a circle, and is reported.
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state and node != "dais_keras":
            visit(node)
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_imports_flow_from_higher_stages_to_lower_ones():
    bad = []
    for name, path in MODULES.items():
        own = _stage(name)
        if own is None:
            continue
        for module, names, line in _imports(name, path):
            for target in _resolve(module, names):
                stage = _stage(target)
                if stage is not None and stage > own:
                    bad.append(f"{name}:{line} (stage {own}) imports {target} (stage {stage})")
    assert not bad, "lower stages import higher ones:\n" + "\n".join(bad)


def test_nothing_imports_the_package_init():
    bad = []
    for name, path in MODULES.items():
        if name == "dais_keras":
            continue
        for module, names, line in _imports(name, path):
            if module == "dais_keras" and (
                names is None or any(f"dais_keras.{n}" not in MODULES for n in names)
            ):
                bad.append(f"{name}:{line} imports the package __init__ ({names or 'import'})")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_at_most_600_lines(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= 600, f"{name} has {lines} lines; split it by concept"


def test_median_module_at_most_300_lines():
    sizes = [len(p.read_text().splitlines()) for p in MODULES.values()]
    assert statistics.median(sizes) <= 300, statistics.median(sizes)


def test_old_module_names_still_work():
    import importlib

    from dais_keras import _compat

    for old, targets in {**_compat.OLD_MODULES, **_compat.OLD_PACKAGES}.items():
        module = importlib.import_module(f"dais_keras.{old}")
        for target in targets:
            real = importlib.import_module(target)
            public = getattr(real, "__all__", None) or [
                n for n in vars(real) if not n.startswith("_")
            ]
            for attribute in public[:5]:
                assert getattr(module, attribute) is getattr(real, attribute), (old, attribute)


def test_public_api_resolves():
    import dais_keras

    for name in dais_keras.__all__:
        assert getattr(dais_keras, name) is not None, name
