"""The `dais` command line: a registry of subcommands.

Built-in commands: `dais export` (a `.keras` file or zoo entry to TFLite or
ONNX, checked against Keras) and `dais zoo list|show|verify`.

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

`main(argv)` returns the exit code: 0 on success, 1 when the command fails
(a parity check, a checksum, a bad file), 2 for a usage error.
"""

import argparse
import dataclasses
import importlib
import json
import pathlib
import pkgutil
import sys

ENTRY_POINT_GROUP = "dais_keras.commands"
PLUGIN_PACKAGE = "dais_keras.commands"


@dataclasses.dataclass(frozen=True)
class Command:
    """A `dais` subcommand.

    Attributes:
        name: The subcommand, e.g. `"export"`.
        help: One line for `dais --help`.
        configure: `configure(parser)` adds the arguments.
        run: `run(args)` does the work and returns the exit code.
        description: Longer text for `dais NAME --help` (defaults to `help`).
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
        description: Longer help text.
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


def build_parser():
    """Returns the `argparse` parser of every registered command."""
    from dais_keras import __version__

    parser = argparse.ArgumentParser(
        prog="dais",
        description="DAIS channel pruning for Keras: export models, manage the model zoo.",
    )
    parser.add_argument("--version", action="version", version=f"dais-keras {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
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
    from dais_keras import export as export_lib
    from dais_keras import zoo

    _load_plugins()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, usage errors.
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
    try:
        return int(args._command.run(args) or 0)
    except (export_lib.ExportParityError, zoo.ZooIntegrityError, zoo.ZooSchemaError) as e:
        print(f"dais {args.command}: error: {e}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, FileNotFoundError, ImportError, OSError) as e:
        print(f"dais {args.command}: error: {e}", file=sys.stderr)
        return 1


# ------------------------------------------------------------------ export


def _load_array(spec, count, argument):
    """Reads `PATH.npy` or `PATH.npz[:KEY]` (key default `x`)."""
    import numpy as np

    path, _, key = spec.partition(":") if not pathlib.Path(spec).exists() else (spec, "", "")
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{argument}: no such file '{path}'")
    data = np.load(path, allow_pickle=False)
    if isinstance(data, np.ndarray):
        array = data
    else:
        names = list(data.keys())
        key = key or ("x" if "x" in names else (names[0] if len(names) == 1 else None))
        if key not in names:
            raise ValueError(
                f"{argument}: '{path}' holds arrays {names}; name one as "
                f"'{path}:KEY' (default key 'x')."
            )
        array = data[key]
    return array[:count] if count else array


def _export_arguments(parser):
    parser.add_argument("model", help="a .keras file, or a zoo entry 'name' / 'name@version'")
    parser.add_argument("--out", required=True, help="output file (.tflite or .onnx)")
    parser.add_argument(
        "--format", choices=["tflite", "litert", "onnx"],
        help="output format (default: from the suffix of --out)",
    )
    parser.add_argument(
        "--quantize", choices=["none", "dynamic", "int8"], default="none",
        help="TFLite quantization: dynamic-range, or full-integer int8 (needs "
        "--representative-data) (default: none)",
    )
    parser.add_argument(
        "--representative-data", metavar="FILE[:KEY]",
        help="calibration inputs for int8: a .npy file or a .npz array (key 'x' by default)",
    )
    parser.add_argument(
        "--representative-count", type=int, default=500, metavar="N",
        help="use the first N calibration inputs (default: 500)",
    )
    parser.add_argument(
        "--sample", metavar="FILE[:KEY]",
        help="inputs for the parity check (.npy or .npz); default: random "
        "pixels, or the calibration inputs for int8",
    )
    parser.add_argument("--sample-count", type=int, default=None, metavar="N",
                        help="use the first N sample inputs")
    parser.add_argument("--batch-size", type=int, default=None, metavar="N",
                        help="fix the batch dimension (default: dynamic)")
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the converter's)")
    parser.add_argument("--integer-io", action="store_true", help="int8 input and output (with --quantize int8)")
    parser.add_argument("--rtol", type=float, default=None,
                        help="largest accepted relative error (default: 1e-4 for float files)")
    parser.add_argument("--min-top1-agreement", type=float, default=None,
                        help="smallest accepted top-1 agreement (default: 0.98 for int8)")
    parser.add_argument("--no-check", action="store_true", help="do not run the file against Keras")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--zoo-dir", help="zoo directory (default: $DAIS_ZOO_DIR or the repository's zoo/)")
    parser.add_argument("--cache-dir", help="download cache (default: $DAIS_CACHE_DIR or ~/.cache/dais_keras/zoo)")


_EXPORT_DESCRIPTION = """\
Export a .keras file or a zoo entry to TFLite (LiteRT) or ONNX, then run the
written file next to Keras and check that the outputs agree.

examples:
  dais export resnet56-cifar10-dais50@1 --out m.tflite
  dais export pruned.keras --out m.onnx
  dais export pruned.keras --out m_int8.tflite --quantize int8 \\
      --representative-data train.npz:x --sample test.npz:x
"""


@register_command(
    "export", help="Export a .keras file or zoo entry to TFLite or ONNX.",
    configure=_export_arguments, description=_EXPORT_DESCRIPTION,
)
def _export(args):
    from dais_keras import export as export_lib
    from dais_keras import zoo

    fmt = args.format or {".tflite": "tflite", ".onnx": "onnx"}.get(pathlib.Path(args.out).suffix)
    fmt = {"litert": "tflite"}.get(fmt, fmt)
    if fmt is None:
        raise ValueError(f"Cannot tell the format of '{args.out}'; pass --format tflite or onnx.")
    quantize = None if args.quantize == "none" else args.quantize
    if fmt == "onnx":
        tflite_only = {
            "--quantize": quantize, "--representative-data": args.representative_data,
            "--integer-io": args.integer_io or None, "--min-top1-agreement": args.min_top1_agreement,
        }
        used = [flag for flag, value in tflite_only.items() if value is not None]
        if used:
            raise ValueError(f"{', '.join(used)} apply to TFLite only, not to ONNX export.")

    source = pathlib.Path(args.model)
    if source.is_file():
        model = source
    elif source.suffix == ".keras" or "/" in args.model or "\\" in args.model:
        raise FileNotFoundError(f"No such model file '{args.model}'.")
    else:
        model = zoo.load(args.model, zoo_dir=args.zoo_dir, cache_dir=args.cache_dir)

    kwargs = dict(check=not args.no_check, batch_size=args.batch_size)
    if args.sample:
        kwargs["sample"] = _load_array(args.sample, args.sample_count, "--sample")
    if fmt == "onnx":
        if args.rtol is not None:
            kwargs["rtol"] = args.rtol
        result = export_lib.onnx(model, args.out, opset=args.opset, **kwargs)
    else:
        if args.opset is not None:
            raise ValueError("--opset applies to ONNX only.")
        representative = None
        if args.representative_data:
            representative = _load_array(
                args.representative_data, args.representative_count, "--representative-data"
            )
        result = export_lib.tflite(
            model, args.out, quantize=quantize, representative_data=representative,
            rtol=args.rtol, min_top1_agreement=args.min_top1_agreement,
            integer_io=args.integer_io, **kwargs,
        )
    print(json.dumps(result.to_dict(), indent=2) if args.json else result)
    return 0


# --------------------------------------------------------------------- zoo


def _zoo_arguments(parser):
    actions = parser.add_subparsers(dest="zoo_action", metavar="ACTION")
    actions.required = True
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--zoo-dir", help="zoo directory (default: $DAIS_ZOO_DIR or the repository's zoo/)")
    common.add_argument("--json", action="store_true", help="print JSON")
    actions.add_parser("list", parents=[common], help="list the entries",
                       description="List the zoo's entries (latest versions last).")
    verify = actions.add_parser(
        "verify", parents=[common], help="check every weights file's size and sha256",
        description="Check that every entry's weights file exists with the recorded size "
        "and sha256, and that its model card exists. Exit code 1 on any failure.",
    )
    verify.add_argument("--download", action="store_true",
                        help="download URL entries that are not cached and check them")
    verify.add_argument("--cache-dir", help="download cache")
    show = actions.add_parser("show", parents=[common], help="show one entry",
                              description="Show an entry's record (and its model card).")
    show.add_argument("key", help="'name' (latest version) or 'name@version'")
    show.add_argument("--card", action="store_true", help="print the model card (markdown)")


def _accuracy_text(accuracy):
    return ", ".join(f"{name} {value:.2%}" for name, value in sorted(accuracy.items()))


@register_command(
    "zoo", help="List, show and verify the model zoo.", configure=_zoo_arguments,
    description="Work with the versioned model zoo (see zoo/README.md).",
)
def _zoo(args):
    from dais_keras import zoo

    if args.zoo_action == "list":
        entries = zoo.list_entries(zoo_dir=args.zoo_dir)
        if args.json:
            print(json.dumps({e.key: e.to_dict() for e in entries}, indent=2))
        elif not entries:
            print(f"(no entries in {zoo.resolve_zoo_dir(args.zoo_dir)})")
        else:
            rows = [("KEY", "BASE", "DATASET", "BUDGET", "MACS", "PARAMS", "ACCURACY")]
            rows += [
                (e.key, e.base, e.dataset_variant, f"{e.budget:g}", f"{e.macs:,}",
                 f"{e.params:,}", _accuracy_text(e.accuracy))
                for e in entries
            ]
            widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
            for row in rows:
                print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
        return 0
    if args.zoo_action == "verify":
        report = zoo.verify(args.zoo_dir, strict=False, download=args.download, cache_dir=args.cache_dir)
        if args.json:
            print(json.dumps({"zoo_dir": report.zoo_dir, "ok": report.ok,
                              "checks": [dataclasses.asdict(c) for c in report.checks]}, indent=2))
        else:
            print(report)
        return 0 if report.ok else 1
    entry = zoo.get(args.key, zoo_dir=args.zoo_dir)
    if args.card:
        if not entry.card_path.is_file():
            raise FileNotFoundError(f"The model card of '{entry.key}' is missing: '{entry.card_path}'.")
        print(entry.card_path.read_text(encoding="utf-8"))
    elif args.json:
        print(json.dumps({entry.key: entry.to_dict()}, indent=2))
    else:
        for field, value in entry.to_dict().items():
            if field == "accuracy":
                value = _accuracy_text(value)
            elif field in ("macs", "params", "size"):
                value = f"{value:,}"
            print(f"{field:16s} {value}")
        print(f"{'key':16s} {entry.key}")
    return 0


if __name__ == "__main__":
    # Run through the importable module, so that commands registered with
    # `dais_keras.cli.register_command` land in the registry `main` reads.
    from dais_keras.cli import main as _main

    sys.exit(_main())
