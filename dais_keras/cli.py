"""The `dais` command line: a registry of subcommands.

Built-in commands: `dais export` (a `.keras` file or zoo entry to TFLite or
ONNX, checked against Keras), `dais zoo list|show|verify`, and the
config-driven runs `dais search` (DAIS), `dais prune` (DAIS or a baseline of
`dais_keras.baselines`), `dais finetune`, `dais eval` and `dais bench`, which
read a YAML config (`dais_keras.config`) and write a run folder.

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
        description="DAIS channel pruning for Keras: search and prune to a MACs budget "
        "(DAIS or baselines), fine-tune, evaluate, export, manage the model zoo, run "
        "benchmarks. `dais COMMAND --help` describes each command.",
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
    from dais_keras.deploy import export as export_lib
    from dais_keras.deploy import zoo
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
    from dais_keras.deploy import export as export_lib
    from dais_keras.deploy import zoo
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
    from dais_keras.deploy import zoo
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


# ------------------------------------------------------ config-driven runs
#
# `search`, `prune`, `finetune`, `eval` and `bench` read an experiment config
# (`dais_keras.config`: `--config FILE`, flags, `--set KEY=VALUE`) and write
# a run folder: `config.yaml` (resolved), `log.txt`, `metrics.json`, the
# model (`pruned.keras`, `finetuned.keras`), CSV histories and plots.


def _config_arguments(parser, model=True, pruning=True, positional_model=False):
    """Arguments shared by the config-driven commands."""
    group = parser.add_argument_group("configuration (flags override --config; --set overrides both)")
    group.add_argument("--config", metavar="FILE",
                       help="YAML experiment config (see configs/README.md); default: built-in defaults")
    group.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                       help="override any config key, value read as YAML (repeatable), "
                       "e.g. --set finetune.lr=0.01 --set data.limit=null")
    if model and not positional_model:
        group.add_argument("--model", metavar="MODEL",
                           help="a model builder name (resnet20, resnet56, vgg16, mobilenet_v2, ...), "
                           "a .keras file or a zoo key 'name@version' (config: model.*)")
    if pruning:
        budget = group.add_mutually_exclusive_group()
        budget.add_argument("--budget", type=float, metavar="F",
                            help="target MACs as a fraction of the unpruned model's, in (0, 1)")
        budget.add_argument("--latency", type=float, metavar="F",
                            help="DAIS only: target latency as a fraction of the unpruned model's, "
                            "measured on this machine (config: budget={latency: F})")
        budget.add_argument("--latency-ms", type=float, metavar="MS",
                            help="DAIS only: target latency in milliseconds (config: "
                            "budget={latency_ms: MS})")
        group.add_argument("--round-to", type=int, metavar="N",
                           help="make every pruned group's width a multiple of N (e.g. 8)")
    group.add_argument("--scale", metavar="NAME",
                       help="schedule preset from the config's `scales` (cpu: minutes; full: paper-like)")
    group.add_argument("--seed", type=int, metavar="N", help="random seed (config: seed)")
    group.add_argument("--data-dir", metavar="DIR",
                       help="CIFAR-10 directory (default: $DAIS_DATA_DIR, ../shared/data, tfds)")
    output = parser.add_argument_group("output")
    output.add_argument("--out", metavar="DIR",
                        help="run folder (default: <output.dir>/<output.name>, e.g. "
                        "runs/resnet20-l1-global-50; a new folder with -2, -3, ... if it is not empty)")
    output.add_argument("--quiet", action="store_true", help="no progress bars")


def _model_override(spec):
    """`--model` / a positional MODEL as config overrides."""
    from dais_keras import models

    quoted = json.dumps(spec)  # a JSON string is a YAML string
    path = pathlib.Path(spec)
    if path.suffix == ".keras" or path.is_file():
        return [f"model.file={quoted}", "model.zoo=null"]
    if spec in models.available():
        return [f"model.name={quoted}", "model.file=null", "model.zoo=null"]
    return [f"model.zoo={quoted}", "model.file=null"]


def _flag_overrides(args, extra=()):
    """Turns the flags of `_config_arguments` into `--set` strings."""
    out = []
    if getattr(args, "model", None):
        out += _model_override(args.model)
    if getattr(args, "distill", False):
        out.append("finetune.distill=true")
    for flag, kind in [("latency", "latency"), ("latency_ms", "latency_ms")]:
        value = getattr(args, flag, None)
        if value is not None:
            out.append(f"budget={json.dumps({kind: value})}")
    for flag, key in [("budget", "budget"), ("round_to", "round_to"), ("scale", "scale"),
                      ("seed", "seed"), ("data_dir", "data.data_dir"), *extra]:
        value = getattr(args, flag, None)
        if value is not None:
            out.append(f"{key}={json.dumps(value)}")
    return out + list(args.overrides)


class _Run:
    """One run folder: resolved config, log, metrics and plots."""

    def __init__(self, args, command, overrides, folder=True):
        from dais_keras.experiments import config as config_lib
        self.overrides = overrides
        self.config = config_lib.load(args.config, overrides)
        self.verbose = 0 if args.quiet else 1
        self.command = command
        self.dir = None
        self.metrics = {"command": command, "config": str(args.config) if args.config else None}
        if folder:
            self.dir = config_lib.make_run_dir(self.config, args.out)
            config_lib.write(
                self.config, self.dir, command=" ".join(["dais"] + sys.argv[1:]) if sys.argv else command,
                overrides=overrides, sources=[args.config] if args.config else [],
            )
            self.log(f"dais {command}: run folder {self.dir}")

    def log(self, text, echo=True):
        if echo:
            print(text)
        if self.dir is not None:
            with open(self.dir / "log.txt", "a", encoding="utf-8") as f:
                f.write(str(text) + "\n")

    def path(self, name):
        return self.dir / name

    def callbacks(self, name):
        import keras

        return [keras.callbacks.CSVLogger(str(self.path(f"{name}_history.csv")))] if self.dir else []

    def save_model(self, model, name):
        path = self.path(name)
        model.save(path)
        self.metrics.setdefault("files", {})[name.split(".")[0]] = str(path)
        self.log(f"saved {path}")
        return path

    def write_metrics(self):
        path = self.path("metrics.json")
        path.write_text(json.dumps(self.metrics, indent=2, default=_json_default) + "\n")
        self.log(f"metrics: {path}")
        return path


def _json_default(value):
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, pathlib.Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _build_model(config):
    """The model a config names: a file, a zoo entry, ported weights or a builder."""
    import keras

    from dais_keras import models
    from dais_keras.deploy import zoo
    spec = config["model"]
    if spec["file"]:
        path = pathlib.Path(spec["file"]).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"model.file: no such model file '{path}'.")
        return keras.saving.load_model(path)
    if spec["zoo"]:
        return zoo.load(spec["zoo"])
    if spec["pretrained"]:
        if spec["kwargs"]:
            raise ValueError(
                f"model.kwargs {spec['kwargs']} cannot be used with model.pretrained=true: the "
                "ported weights fix the architecture. Set model.pretrained=false to build "
                "a fresh model with these arguments."
            )
        if spec["name"] not in models.available_pretrained():
            raise ValueError(
                f"model.pretrained=true: no pretrained weights for '{spec['name']}'; "
                f"available: {models.available_pretrained()}. Set model.pretrained=false "
                "or point model.file at a trained .keras model."
            )
        return models.pretrained(spec["name"])
    return models.get(spec["name"], **spec["kwargs"])


def _describe_model(config):
    spec = config["model"]
    return spec["file"] or spec["zoo"] or (
        f"{spec['name']}" + (" (pretrained)" if spec["pretrained"] else " (untrained)")
    )


def _cifar(config, split, augment=None):
    """A batched `tf.data.Dataset` of a CIFAR-10 split, per the config."""
    from dais_keras import data

    d = config["data"]
    limit = d["limit"]
    fraction = d["search_fraction"]
    if split == "search" and limit:
        limit = max(1, round(limit * fraction / (1 - fraction)))
    return data.cifar10(
        split, batch_size=d["batch_size"],
        augment=d["augment"] if augment is None else augment,
        search_fraction=fraction if split in ("weight", "search") else None,
        seed=config["seed"], limit=limit, data_dir=d["data_dir"], variant=d["variant"],
    )


def _accuracy(model, x, y, config, verbose):
    import numpy as np

    logits = model.predict(
        x.astype("float32"), batch_size=config["data"]["eval_batch_size"], verbose=verbose
    )
    return float(np.mean(np.argmax(logits, axis=-1) == y))


def _eval_sets(config):
    """`{name: (x, y)}` of the evaluation sets the config asks for."""
    from dais_keras import data

    d = config["data"]
    sets = {}
    if config["eval"]["exact_subset"]:
        x, y = data.cifar10_exact_subset(d["data_dir"])
        sets[f"cifar10-exact-subset-{len(y)}"] = (x, y)
    if config["eval"]["test"]:
        source = data.cifar10_source(d["data_dir"], d["variant"])
        x, y = data.cifar10_numpy("test", limit=d["test_limit"], data_dir=d["data_dir"],
                                  variant=d["variant"])
        sets[f"{source.name}-test-{len(y)}"] = (x, y)
    return sets


def _evaluate(run, model, label, sets):
    results = {}
    for name, (x, y) in sets.items():
        results[name] = _accuracy(model, x, y, run.config, run.verbose)
        run.log(f"top-1 {label} on {name}: {results[name]:.2%}")
    run.metrics.setdefault("accuracy", {})[label] = results
    return results


def _sgd(section, learning_rate=None):
    import keras

    return keras.optimizers.SGD(
        learning_rate=section["lr"] if learning_rate is None else learning_rate,
        momentum=section["momentum"], nesterov=section["nesterov"],
        weight_decay=section["weight_decay"] or None,
    )


def _loss():
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _finetune_schedule(section, steps_per_epoch):
    """The fine-tune learning rate: a float or a Keras schedule."""
    import keras

    total = max(1, section["epochs"] * steps_per_epoch)
    lr = section["lr"]
    if section["schedule"] == "cosine":
        return keras.optimizers.schedules.CosineDecay(lr, decay_steps=total)
    if section["schedule"] == "step":
        bounds = sorted({max(1, int(total * 0.5)), max(2, int(total * 0.75))})
        values = [lr, lr * 0.1, lr * 0.01][: len(bounds) + 1]
        return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)
    return lr


def _load_teacher(run):
    """The model `finetune.teacher` names (a .keras file or zoo key)."""
    import keras

    from dais_keras.deploy import zoo
    spec = run.config["finetune"]["teacher"]
    path = pathlib.Path(spec).expanduser()
    if path.suffix == ".keras" or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"finetune.teacher: no such model file '{path}'.")
        return keras.saving.load_model(path)
    return zoo.load(spec)


def _finetune(run, model, teacher=None):
    """Fine-tunes `model` in place on the training split, per `finetune`.

    With `finetune.distill`, trains it through `dais_keras.distill.Distiller`
    against `teacher` (`finetune.teacher` when set).
    """
    from dais_keras.finetune.distill import Distiller

    section = run.config["finetune"]
    train = _cifar(run.config, "train")
    steps = int(train.cardinality().numpy())
    trainee = model
    if section["distill"]:
        if section["teacher"]:
            teacher = _load_teacher(run)
        if teacher is None:
            raise ValueError(
                "finetune.distill=true needs a teacher: set finetune.teacher to a .keras "
                "file or zoo key (--teacher MODEL), or fine-tune as part of `dais prune` / "
                "`dais search`, where the unpruned model is the teacher."
            )
        trainee = Distiller(model, teacher, temperature=section["distill_temperature"],
                            distill_weight=section["distill_weight"])
    trainee.compile(optimizer=_sgd(section, _finetune_schedule(section, steps)), loss=_loss(),
                    metrics=["accuracy"])
    run.log(f"fine-tuning {section['epochs']} epoch(s) x {steps} steps, lr {section['lr']} "
            f"({section['schedule']})"
            + (f", distilling from '{teacher.name}' (T={section['distill_temperature']:g}, "
               f"weight {section['distill_weight']:g})" if section["distill"] else ""))
    history = trainee.fit(train, epochs=section["epochs"], verbose=run.verbose, shuffle=False,
                          callbacks=run.callbacks("finetune"))
    run.metrics["finetune"] = {k: [float(v) for v in vals] for k, vals in history.history.items()}
    _plot_history(history.history, run.path("finetune_history.png"), "fine-tune", run)
    return history


def _dais_search(run, model):
    """Runs the DAIS search (`dais_keras.prune`, without its fine-tune: the
    run fine-tunes DAIS and the baselines alike); returns `(pruned, report
    dict)`."""
    import dais_keras as dk
    from dais_keras.experiments import config as config_lib
    cfg = run.config
    section = cfg["search"]
    callback_kwargs = {k: v for k, v in section.items() if k not in config_lib.SCHEMA["search"]}
    run.log(f"DAIS search: {section['epochs']} epoch(s), budget "
            f"{config_lib.budget_text(cfg['budget'])}")
    pruned, result = dk.prune(
        model, cfg["budget"], _cifar(cfg, "weight"), _cifar(cfg, "search", augment=False),
        epochs=section["epochs"], finetune_epochs=0, round_to=cfg["round_to"],
        optimizer=_sgd(section), loss=_loss(), seed=cfg["seed"],
        callbacks=run.callbacks("search"), verbose=run.verbose,
        band=cfg["band"], min_width=cfg["min_width"], plot_dir=str(run.dir), **callback_kwargs,
    )
    history = result.search_history
    run.metrics["search"] = {k: v for k, v in history.items() if not k.startswith("dais_width/")}
    _plot_history(history, run.path("search_history.png"), "DAIS search", run)
    budget_report = result.budget_report
    run.log(budget_report.summary(), echo=not run.verbose)  # dk.prune printed it
    report = budget_report.as_dict()
    report["feasible"] = budget_report.feasible
    report["seconds"] = result.seconds
    return pruned, report


def _baseline(run, model):
    from dais_keras.select import baselines
    cfg = run.config
    budget = cfg["budget"]["macs"] if isinstance(cfg["budget"], dict) else cfg["budget"]
    pruned, report = baselines.prune(
        model, cfg["method"], budget, seed=cfg["seed"], round_to=cfg["round_to"],
        band=cfg["band"], min_width=cfg["min_width"],
    )
    run.log(report.summary())
    _plot_widths(report.groups, run.path("widths.png"), f"{cfg['method']} at {budget:.0%}", run)
    return pruned, report.as_dict()


def _pyplot_figure():
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    return Figure


def _plot_widths(groups, path, title, run):
    Figure = _pyplot_figure()
    if Figure is None:
        run.log("(no plots: matplotlib is not installed; pip install 'dais-keras[plot]')")
        return
    fig = Figure(figsize=(max(6, 0.35 * len(groups)), 4))
    ax = fig.add_subplot()
    index = range(len(groups))
    ax.bar(index, [g["size"] for g in groups], color="0.85", label="unpruned")
    ax.bar(index, [g["kept"] for g in groups], color="tab:blue", label="kept")
    ax.set_xticks(list(index), [g["name"] for g in groups], rotation=90, fontsize=7)
    ax.set_ylabel("channels")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _plot_history(history, path, title, run):
    Figure = _pyplot_figure()
    if Figure is None or not history:
        return
    keys = [k for k in ("loss", "accuracy", "dais_macs", "dais_T") if k in history]
    fig = Figure(figsize=(4 * len(keys), 3))
    for i, key in enumerate(keys):
        ax = fig.add_subplot(1, len(keys), i + 1)
        ax.plot(range(1, len(history[key]) + 1), history[key], marker="o")
        ax.set_xlabel("epoch")
        ax.set_title(key)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _pruning_run(args, command, overrides):
    """Shared body of `search` and `prune`: prune, save, fine-tune, evaluate."""
    import time

    import keras

    import dais_keras as dk
    from dais_keras.experiments import config as config_lib
    run = _Run(args, command, overrides)
    cfg = run.config
    keras.utils.set_random_seed(cfg["seed"])
    model = _build_model(cfg)
    run.log(f"model: {_describe_model(cfg)}; method: {cfg['method']}; budget "
            f"{config_lib.budget_text(cfg['budget'])}"
            + (f"; round_to {cfg['round_to']}" if cfg["round_to"] else ""))
    sets = _eval_sets(cfg) if not args.no_eval else {}
    if sets:
        _evaluate(run, model, "unpruned", sets)
    macs, params = dk.count_macs(model), dk.count_params(model)
    start = time.perf_counter()
    if cfg["method"] == "dais":
        pruned, report = _dais_search(run, model)
    else:
        pruned, report = _baseline(run, model)
    run.metrics["time_s"] = {"prune": time.perf_counter() - start}
    pruned_macs = dk.count_macs(pruned)
    run.metrics.update({
        "method": cfg["method"], "budget": cfg["budget"], "round_to": cfg["round_to"],
        "feasible": bool(report["feasible"]),
        "macs": {"unpruned": macs, "pruned": pruned_macs, "ratio": pruned_macs / macs},
        "params": {"unpruned": params, "pruned": dk.count_params(pruned)},
        "selection": report,
    })
    run.log(f"MACs {macs:,} -> {pruned_macs:,} ({pruned_macs / macs:.2%}); params "
            f"{params:,} -> {run.metrics['params']['pruned']:,}")
    run.save_model(pruned, "pruned.keras")
    if sets:
        _evaluate(run, pruned, "pruned", sets)
    if cfg["finetune"]["epochs"] > 0 and not args.no_finetune:
        start = time.perf_counter()
        _finetune(run, pruned, teacher=model)
        run.metrics["time_s"]["finetune"] = time.perf_counter() - start
        run.save_model(pruned, "finetuned.keras")
        if sets:
            _evaluate(run, pruned, "finetuned", sets)
    run.write_metrics()
    if not report["feasible"]:
        run.log(f"dais {command}: warning: the budget band was not met: {report['message']}")
    return 0


def _run_flags(parser):
    parser.add_argument("--no-finetune", action="store_true",
                        help="skip the fine-tune even if finetune.epochs > 0")
    parser.add_argument("--distill", action="store_true",
                        help="fine-tune with knowledge distillation from the unpruned model "
                        "(config: finetune.distill, distill_temperature, distill_weight)")
    parser.add_argument("--no-eval", action="store_true", help="skip the accuracy evaluations")


_RUN_FILES = """
run folder:
  config.yaml        the resolved config (pass it back with --config to repeat the run)
  log.txt            what was printed
  metrics.json       MACs, params, budget band, accuracies, timings, the selection
  pruned.keras       the pruned model (plain Keras; loads without dais_keras)
  finetuned.keras    after the fine-tune (when finetune.epochs > 0)
  *_history.csv/png  per-epoch losses and metrics; widths.png (kept channels per group)
"""


def _search_arguments(parser):
    _config_arguments(parser)
    parser.add_argument("--epochs", type=int, metavar="N", help="search epochs (config: search.epochs)")
    _run_flags(parser)


@register_command(
    "search", help="Run the DAIS search to a MACs budget, then fine-tune and evaluate.",
    configure=_search_arguments,
    description="""\
Attach channel indicators to the model, train weights and indicators with the
bi-level DAIS search on the weight/search split of CIFAR-10 (DAISCallback with
the `search` section of the config), binarise to the budget band, rebuild the
pruned model by surgery, fine-tune it (finetune.epochs > 0; --distill to
learn from the unpruned model too) and evaluate it. The same as
`dais prune --method dais`; the search itself is `dais_keras.prune`.

examples:
  dais search --config configs/cifar10/resnet20/dais-50.yaml
  dais search --config configs/cifar10/resnet56/dais-30.yaml --scale full --round-to 8
  dais search --model resnet20 --set model.pretrained=true --budget 0.5 --epochs 2
""" + _RUN_FILES,
)
def _search(args):
    return _pruning_run(args, "search", _flag_overrides(args, [("epochs", "search.epochs")])
                        + ["method=dais"])


def _prune_arguments(parser):
    from dais_keras.experiments import config as config_lib
    parser.description = _prune_description()
    _config_arguments(parser)
    parser.add_argument("--method", choices=config_lib.methods(),
                        help="dais or a baseline (config: method)")
    _run_flags(parser)


def _baseline_lines():
    from dais_keras.select import baselines
    return "\n".join(f"  {m.name:10s} {m.description}" for m in baselines.METHODS.values())


def _prune_description():
    return f"""\
Prune a model to a MACs budget with DAIS or a baseline, through the same exact
surgery, then fine-tune (finetune.epochs > 0, the same way for every method;
--distill to learn from the unpruned model too) and evaluate it. Every method
meets the band [(1 - band) * budget, budget] of the unpruned MACs (band 0.05),
or says by how much it cannot (e.g. a coarse --round-to).

methods:
  dais       the DAIS search (see `dais search --help`)
{_baseline_lines()}

examples:
  dais prune --config configs/cifar10/resnet20/l1-global-50.yaml
  dais prune --model resnet20 --set model.pretrained=true --method cpmc --budget 0.3 --round-to 8
  dais prune --config configs/cifar10/vgg16/uniform-50.yaml --no-finetune --no-eval
{_RUN_FILES}"""


@register_command(
    "prune", help="Prune to a MACs budget with DAIS or a baseline (uniform, L1, random, CPMC).",
    configure=_prune_arguments, description=None,
)
def _prune(args):
    return _pruning_run(args, "prune", _flag_overrides(args, [("method", "method")]))


def _finetune_arguments(parser):
    parser.add_argument("model", nargs="?", metavar="MODEL",
                        help="a .keras file, zoo key or builder name (default: the config's model)")
    _config_arguments(parser, pruning=False, positional_model=True)
    parser.add_argument("--epochs", type=int, metavar="N", help="config: finetune.epochs")
    parser.add_argument("--lr", type=float, metavar="LR", help="config: finetune.lr")
    parser.add_argument("--distill", action="store_true",
                        help="knowledge distillation from --teacher (config: finetune.distill)")
    parser.add_argument("--teacher", metavar="MODEL",
                        help="the teacher: a .keras file or zoo key (config: finetune.teacher)")
    parser.add_argument("--no-eval", action="store_true", help="skip the accuracy evaluations")


@register_command(
    "finetune", help="Fine-tune a (pruned) model on CIFAR-10 and evaluate it.",
    configure=_finetune_arguments,
    description="""\
Train a model on the CIFAR-10 training set with SGD and the `finetune`
section of the config (epochs, lr, momentum, nesterov, weight_decay and a
cosine, step or constant schedule), optionally distilling from a teacher
(--distill --teacher MODEL), then evaluate it and save finetuned.keras in the
run folder. (`dais prune` and `dais search` fine-tune too, when
finetune.epochs > 0, with the unpruned model as the default teacher.)

examples:
  dais finetune runs/resnet20-l1-global-50/pruned.keras --epochs 30 --lr 0.05
  dais finetune pruned.keras --epochs 30 --distill --teacher resnet20-cifar10@1
  dais finetune pruned.keras --config configs/cifar10/resnet20/l1-global-50.yaml --scale full
""" + _RUN_FILES,
)
def _finetune_command(args):
    import time

    import keras

    overrides = (_model_override(args.model) if args.model else []) + _flag_overrides(
        args, [("epochs", "finetune.epochs"), ("lr", "finetune.lr"), ("teacher", "finetune.teacher")])
    run = _Run(args, "finetune", overrides)
    cfg = run.config
    if cfg["finetune"]["epochs"] < 1:
        raise ValueError("finetune.epochs is 0: pass --epochs N (or --set finetune.epochs=N).")
    keras.utils.set_random_seed(cfg["seed"])
    model = _build_model(cfg)
    run.log(f"model: {_describe_model(cfg)}")
    sets = _eval_sets(cfg) if not args.no_eval else {}
    if sets:
        _evaluate(run, model, "before", sets)
    start = time.perf_counter()
    _finetune(run, model)
    run.metrics["time_s"] = {"finetune": time.perf_counter() - start}
    run.save_model(model, "finetuned.keras")
    if sets:
        _evaluate(run, model, "finetuned", sets)
    run.write_metrics()
    return 0


def _eval_arguments(parser):
    parser.add_argument("model", nargs="?", metavar="MODEL",
                        help="a .keras file, zoo key 'name@version' or builder name "
                        "(default: the config's model)")
    _config_arguments(parser, pruning=False, positional_model=True)
    parser.add_argument("--on", choices=["test", "exact", "both"], default=None,
                        help="the CIFAR-10 test set, the exact-pixel subset, or both "
                        "(default: config eval.test / eval.exact_subset)")
    parser.add_argument("--limit", type=int, metavar="N",
                        help="evaluate the first N test images (config: data.test_limit)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


@register_command(
    "eval", help="Top-1 accuracy of a model on the CIFAR-10 test set and/or the exact subset.",
    configure=_eval_arguments,
    description="""\
Evaluate a .keras file, a zoo entry or a (pretrained) builder on the CIFAR-10
test set (whichever copy dais_keras.data finds: original pixels or the lossy
JPEG copy, named in the result) and on the exact-pixel subset of the first
1,017 test images. Prints the accuracies; with --out also writes the run
folder (config.yaml, log.txt, metrics.json).

examples:
  dais eval runs/resnet20-l1-global-50/finetuned.keras
  dais eval resnet56-cifar10-dais50@1 --on exact
  dais eval resnet20 --set model.pretrained=true --on both --limit 2000 --json
""",
)
def _eval(args):
    from dais_keras.cost import macs as cost
    overrides = (_model_override(args.model) if args.model else []) + _flag_overrides(
        args, [("limit", "data.test_limit")])
    if args.on is not None:
        overrides += [f"eval.test={json.dumps(args.on in ('test', 'both'))}",
                      f"eval.exact_subset={json.dumps(args.on in ('exact', 'both'))}"]
    run = _Run(args, "eval", overrides, folder=args.out is not None)
    cfg = run.config
    if not (cfg["eval"]["test"] or cfg["eval"]["exact_subset"]):
        raise ValueError("Nothing to evaluate: eval.test and eval.exact_subset are both false; "
                         "pass --on test|exact|both.")
    model = _build_model(cfg)
    accuracy = {}
    for name, (x, y) in _eval_sets(cfg).items():
        accuracy[name] = _accuracy(model, x, y, cfg, run.verbose)
    run.metrics.update({
        "model": _describe_model(cfg), "accuracy": accuracy,
        "macs": cost.count_macs(model), "params": cost.count_params(model),
    })
    if args.json:
        print(json.dumps(run.metrics, indent=2))
    else:
        run.log(f"{run.metrics['model']}: {run.metrics['macs']:,} MACs, "
                f"{run.metrics['params']:,} params")
        for name, value in accuracy.items():
            run.log(f"  top-1 on {name}: {value:.2%}")
    if run.dir is not None:
        run.write_metrics()
    return 0


def _repository_root():
    return pathlib.Path(__file__).resolve().parent.parent


def _bench_arguments(parser):
    actions = parser.add_subparsers(dest="bench_action", metavar="ACTION")
    actions.required = True
    # `+` as the option prefix: every `-x`/`--xx` after `compare` is passed on
    # to the script, including --help.
    compare = actions.add_parser(
        "compare", help="run bench/compare.py (DAIS against the baselines); every "
        "argument after `compare` goes to the script", prefix_chars="+", add_help=False,
    )
    compare.add_argument("script_args", nargs="*", metavar="ARGS")


@register_command(
    "bench", help="Run a benchmark script of the repository (bench compare).",
    configure=_bench_arguments,
    description="""\
Benchmarks live in the repository's bench/ folder (they need a source
checkout). `dais bench compare ARGS` runs bench/compare.py ARGS with this
Python and returns its exit code; every argument after `compare` (--config
FILE, --help, ...) goes to the script.

actions:
  compare    DAIS against the baselines at the same budgets (bench/compare.py)

examples:
  dais bench compare --help
  dais bench compare --config configs/cifar10/resnet20/base.yaml
""",
)
def _bench(args):
    import subprocess

    script = _repository_root() / "bench" / f"{args.bench_action}.py"
    if not script.is_file():
        raise FileNotFoundError(
            f"`dais bench {args.bench_action}` runs {script}, which does not exist (yet): "
            "the comparison benchmark has not been written, or this is an installed copy "
            "without the repository's bench/ folder. Run it from a source checkout that "
            f"has bench/{args.bench_action}.py."
        )
    passed = list(args.script_args)
    if passed[:1] == ["--"]:
        passed = passed[1:]
    return subprocess.run([sys.executable, str(script), *passed], check=False).returncode


if __name__ == "__main__":
    # Run through the importable module, so that commands registered with
    # `dais_keras.cli.register_command` land in the registry `main` reads.
    from dais_keras.cli import main as _main

    sys.exit(_main())
