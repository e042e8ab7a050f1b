"""The `dais` command line: a registry of subcommands and the parser.

Built-in commands (`dais_keras.experiments.commands`): `dais export` (a
`.keras` file or zoo entry to TFLite or ONNX, checked against Keras),
`dais zoo list|show|verify`, and the config-driven runs `dais search`
(DAIS), `dais prune` (DAIS or a baseline of `dais_keras.baselines`),
`dais finetune`, `dais eval` and `dais bench`, which read a YAML config
(`dais_keras.config`) and write a run folder.

Other commands register themselves, without editing this file:

```python
# dais_keras/commands/search.py (every module of the optional
# `dais_keras.commands` package is imported by `main`), or any module named
# by a `dais_keras.commands` entry point in pyproject.toml.
from dais_keras.cli import register_command

def _configure(parser):
    parser.add_argument("config")

@register_command("search", help="Run a DAIS search.", configure=_configure)
def _search(args):
    ...
    return 0  # the exit code
```

Building the parser imports neither Keras nor TensorFlow, so `dais --help`
returns at once; TensorFlow is imported, with its start-up log lines
silenced, only when a command runs.

`main(argv)` returns the exit code: 0 on success, 1 when the command fails
(a parity check, a checksum, a bad file), 2 for a usage error.
"""

import argparse
import dataclasses
import importlib
import pkgutil
import sys

from dais_keras.experiments.commands import CommandError

ENTRY_POINT_GROUP = "dais_keras.commands"
PLUGIN_PACKAGE = "dais_keras.commands"
BUILTIN_PACKAGE = "dais_keras.experiments.commands"
BUILTIN_MODULES = ("export", "zoo", "pruning", "finetune", "evaluate", "bench")

# Errors a command raises for the user to act on: exit code 1 and one line.
USER_ERRORS = (CommandError, ValueError, TypeError, ImportError, OSError)


@dataclasses.dataclass(frozen=True)
class Command:
    """A `dais` subcommand.

    Attributes:
        name: The subcommand, e.g. `"export"`.
        help: One line for `dais --help`.
        configure: `configure(parser)` adds the arguments.
        run: `run(args)` does the work and returns the exit code.
        description: Longer text for `dais NAME --help` (defaults to `help`),
            or a function returning it (called only when the help is shown).
    """

    name: str
    help: str
    configure: object
    run: object
    description: object = None


_COMMANDS = {}


def register_command(name, *, help, configure=None, description=None, run=None):
    """Registers a `dais` subcommand; usable as a decorator of `run`.

    Args:
        name: Subcommand name.
        help: One-line help.
        configure: Function adding arguments to the subcommand's parser.
        description: Longer help text, or a function returning it.
        run: The function `run(args) -> int`; omit to use as a decorator.

    Returns:
        `run`, or a decorator that registers and returns it.

    Raises:
        ValueError: If `name` is already registered by another function.

    Example:

    ```python
    @register_command("hello", help="Say hello.")
    def _hello(args):
        print("hello")
        return 0
    ```
    """

    def decorator(fn):
        existing = _COMMANDS.get(name)
        if existing is not None and existing.run is not fn:
            if (existing.run.__module__, existing.run.__qualname__) != (fn.__module__, fn.__qualname__):
                raise ValueError(
                    f"The dais command '{name}' is already registered by "
                    f"{existing.run.__module__}.{existing.run.__qualname__}; "
                    "choose another name."
                )
        _COMMANDS[name] = Command(name, help, configure or (lambda parser: None), fn, description)
        return fn

    return decorator if run is None else decorator(run)


def registered_commands():
    """Returns the registered `Command`s, by name."""
    return dict(sorted(_COMMANDS.items()))


def _register_builtin_commands():
    for module_name in BUILTIN_MODULES:
        module = importlib.import_module(f"{BUILTIN_PACKAGE}.{module_name}")
        for spec in module.COMMANDS:
            register_command(**spec)


def _load_plugins():
    """Imports command modules: `dais_keras.commands.*` and entry points."""
    problems = []
    try:
        package = importlib.import_module(PLUGIN_PACKAGE)
    except ModuleNotFoundError as e:
        if e.name not in (PLUGIN_PACKAGE, "dais_keras"):
            problems.append((PLUGIN_PACKAGE, e))
        package = None
    except Exception as e:  # A broken plugin must not take the CLI down.
        problems.append((PLUGIN_PACKAGE, e))
        package = None
    if package is not None:
        for info in pkgutil.iter_modules(package.__path__, PLUGIN_PACKAGE + "."):
            try:
                importlib.import_module(info.name)
            except Exception as e:
                problems.append((info.name, e))
    try:
        from importlib.metadata import entry_points

        points = entry_points(group=ENTRY_POINT_GROUP)
    except Exception:
        points = []
    for point in points:
        try:
            point.load()
        except Exception as e:
            problems.append((point.value, e))
    for module, error in problems:
        print(f"dais: warning: could not load commands from {module}: {error}", file=sys.stderr)


def _version():
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version

    try:
        return version("dais-keras")
    except PackageNotFoundError:  # a source tree on sys.path, not installed
        return "unknown (not installed)"


class _Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose description may be a function, called when
    the help is formatted (so that building the parser stays cheap)."""

    def format_help(self):
        if callable(self.description):
            self.description = self.description()
        return super().format_help()


def build_parser():
    """Returns the `argparse` parser of every registered command."""
    parser = _Parser(
        prog="dais",
        description="DAIS channel pruning for Keras: search and prune to a MACs budget "
        "(DAIS or baselines), fine-tune, evaluate, export, manage the model zoo, run "
        "benchmarks. `dais COMMAND --help` describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"dais-keras {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    for command in registered_commands().values():
        sub = subparsers.add_parser(
            command.name, help=command.help,
            description=command.description or command.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.configure(sub)
        sub.set_defaults(_command=command)
    return parser


def main(argv=None):
    """Runs `dais` with `argv` (default `sys.argv[1:]`); returns the exit code."""
    _load_plugins()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors.
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    from dais_keras.utils.tf_logging import silence_tensorflow

    silence_tensorflow()
    try:
        return int(args._command.run(args) or 0)
    except USER_ERRORS as e:
        print(f"dais {args.command}: error: {e}", file=sys.stderr)
        return 1


_register_builtin_commands()

if __name__ == "__main__":
    # Run through the importable module, so that commands registered with
    # `dais_keras.cli.register_command` land in the registry `main` reads.
    from dais_keras.cli import main as _main

    sys.exit(_main())
