"""Experiment configs: YAML files of plain dicts, resolved and validated.

A config says what to prune, how, and where to write the results:

```yaml
# configs/cifar10/resnet20/l1-global-50.yaml
base: base.yaml          # files merged first (paths relative to this file)
method: l1-global        # "dais" or a baseline (dais_keras.baselines.available())
budget: 0.5              # pruned MACs / unpruned MACs, in (0, 1)
```

`budget` may also be a latency budget for `method: dais`:
`budget: {latency: 0.5}` (half the unpruned model's latency, measured on
this machine) or `budget: {latency_ms: 3.0}`; `search.runtime` picks the
runtime (`tflite`, `onnxruntime`) and `search.latency_table` a saved table
(see `dais_keras.latency`). On the command line:
`--set 'budget={latency: 0.5}'`.

Keys (every one has a default in `DEFAULTS`; `describe()` prints them):

* `model`: `name` (a `dais_keras.models` builder), `pretrained` (load the
  ported CIFAR-10 weights), `file` (a `.keras` file instead), `zoo` (a zoo
  key instead), `kwargs` (builder arguments).
* `data`: `dataset` (`cifar10`), `data_dir`, `variant`, `search_fraction`,
  `batch_size`, `eval_batch_size`, `limit` (training images used),
  `test_limit` (test images evaluated), `augment`.
* `method`, `budget`, `round_to`, `band`, `min_width`, `seed`: the pruning
  problem, shared by DAIS and the baselines.
* `search`: the DAIS search: `epochs`, the weights' SGD (`lr`, `momentum`,
  `nesterov`, `weight_decay`) and any keyword of
  `dais_keras.DAISCallback` (`T0`, `T_min`, `schedule`, `learning_rate` (the
  indicators'), `lambda_budget`, `single_level`, `warmup_epochs`, ...).
* `finetune`: `epochs`, `lr`, `momentum`, `nesterov`, `weight_decay`,
  `schedule` (`cosine`: to 0 over the epochs, `step`: x0.1 at 50 % and
  75 % of the epochs, `constant`), and knowledge distillation
  (`dais_keras.distill.Distiller`): `distill`, `distill_temperature`,
  `distill_weight`, `teacher` (a `.keras` file or zoo key; default: the
  unpruned model of the run).
* `eval`: `test` (the CIFAR-10 test set) and `exact_subset` (the exact-pixel
  subset of `dais_keras.data.cifar10_exact_subset`).
* `output`: `dir` (parent of run folders) and `name` (the run folder;
  default `<model>-<method>-<budget %>`).
* `scale` and `scales`: `scales` maps a name (`cpu`, `full`) to a partial
  config; the one named by `scale` is applied **under** every key written
  outside `scales`, so a preset sets schedules without overriding what a
  file or `--set` says explicitly.

Resolution: `DEFAULTS`, then the `scales[scale]` preset, then the files
(each file's `base` first, recursively), then the overrides
(`"finetune.lr=0.01"`, values parsed as YAML). Unknown keys and bad values
raise `ValueError` naming the key and the valid choices. The resolved config
is a complete, self-contained dict: `write(config, run_dir)` saves it as
`config.yaml`, and loading that file gives it back unchanged.
"""

import copy
import datetime
import inspect
import math
import os
import pathlib

import yaml

CONFIG_FILE = "config.yaml"
DAIS_METHOD = "dais"
FINETUNE_SCHEDULES = ("cosine", "step", "constant")
DATASETS = ("cifar10",)
VARIANTS = (None, "original", "jpeg")

DEFAULTS = {
    "model": {
        "name": "resnet20",
        "pretrained": False,
        "file": None,
        "zoo": None,
        "kwargs": {},
    },
    "data": {
        "dataset": "cifar10",
        "data_dir": None,
        "variant": None,
        "search_fraction": 0.2,
        "batch_size": 128,
        "eval_batch_size": 500,
        "limit": None,
        "test_limit": None,
        "augment": True,
    },
    "method": DAIS_METHOD,
    "budget": 0.5,
    "round_to": None,
    "band": 0.05,
    "min_width": 1,
    "seed": 0,
    "search": {
        "epochs": 1,
        "lr": 0.01,
        "momentum": 0.9,
        "nesterov": False,
        "weight_decay": 0.0,
    },
    "finetune": {
        "epochs": 0,
        "lr": 0.01,
        "momentum": 0.9,
        "nesterov": False,
        "weight_decay": 0.0,
        "schedule": "cosine",
        "distill": False,
        "distill_temperature": 4.0,
        "distill_weight": 0.7,
        "teacher": None,
    },
    "eval": {
        "test": True,
        "exact_subset": True,
    },
    "output": {
        "dir": "runs",
        "name": None,
    },
    "scale": None,
    "scales": {},
}

# DAISCallback keywords that come from elsewhere in the config (or the run).
_CALLBACK_FROM_CONFIG = {
    "self", "budget", "search_data", "round_to", "band", "min_width", "seed",
    "plot_dir", "verbose", "repair", "batch_size",
}


# ------------------------------------------------------------ checks


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _expect(condition, key, expected, value):
    if not condition:
        raise ValueError(f"Config key '{key}' must be {expected}; got {value!r}.")


def _check_type(key, value, kind):
    """Validates one value; `kind` is a name from `_KINDS`."""
    _KINDS[kind](key, value)


def _optional(check):
    def run(key, value):
        if value is not None:
            check(key, value)

    return run


def _string(key, value):
    _expect(isinstance(value, str) and value != "", key, "a non-empty string", value)


def _bool(key, value):
    _expect(isinstance(value, bool), key, "true or false", value)


def _pos_int(key, value):
    _expect(_is_int(value) and value >= 1, key, "an integer >= 1", value)


def _nonneg_int(key, value):
    _expect(_is_int(value) and value >= 0, key, "an integer >= 0", value)


def _pos_number(key, value):
    _expect(_is_number(value) and value > 0, key, "a number > 0", value)


def _nonneg_number(key, value):
    _expect(_is_number(value) and value >= 0, key, "a number >= 0", value)


def _open_fraction(key, value):
    _expect(_is_number(value) and 0 < value < 1, key, "a number in (0, 1)", value)


def _momentum(key, value):
    _expect(_is_number(value) and 0 <= value < 1, key, "a number in [0, 1)", value)


def _min_width(key, value):
    _expect(
        (_is_int(value) and value >= 1)
        or (isinstance(value, float) and 0 < value <= 1),
        key,
        "an integer >= 1 (channels) or a float in (0, 1] (fraction of each group)",
        value,
    )


def _mapping(key, value):
    _expect(isinstance(value, dict), key, "a mapping", value)


def _choice(options):
    def run(key, value):
        if value not in options:
            raise ValueError(
                f"Config key '{key}' must be one of {list(options)}; got {value!r}."
            )

    return run


def _budget(key, value):
    if isinstance(value, dict):
        from dais_keras.cost.budget import parse_budget

        try:
            parse_budget(value)
        except ValueError as e:
            raise ValueError(
                f"Config key '{key}' must be a number in (0, 1) (MACs) or a mapping "
                f"{{latency: fraction}} / {{latency_ms: milliseconds}} (method dais); "
                f"got {value!r}: {e}"
            ) from None
        return
    _open_fraction(key, value)


def budget_label(budget):
    """Short text for run names: `50`, `lat50`, `lat3ms`."""
    from dais_keras.cost.budget import parse_budget

    return parse_budget(budget).label()


def budget_text(budget):
    """Readable budget: `50 % of the MACs`, `50.0% of the latency`, ..."""
    from dais_keras.cost.budget import parse_budget

    return str(parse_budget(budget))


def _method(key, value):
    _choice(methods())(key, value)


_KINDS = {
    "string": _string,
    "optional_string": _optional(_string),
    "bool": _bool,
    "pos_int": _pos_int,
    "optional_pos_int": _optional(_pos_int),
    "nonneg_int": _nonneg_int,
    "pos_number": _pos_number,
    "nonneg_number": _nonneg_number,
    "open_fraction": _open_fraction,
    "budget": _budget,
    "momentum": _momentum,
    "min_width": _min_width,
    "mapping": _mapping,
    "method": _method,
    "dataset": _choice(DATASETS),
    "variant": _choice(VARIANTS),
    "finetune_schedule": _choice(FINETUNE_SCHEDULES),
    "unit_interval": lambda key, value: _expect(
        _is_number(value) and 0 <= value <= 1, key, "a number in [0, 1]", value
    ),
}

#: The kind of every leaf key (dicts are sections). `model.kwargs` and
#: `scales` are free-form mappings checked elsewhere.
SCHEMA = {
    "model": {
        "name": "string",
        "pretrained": "bool",
        "file": "optional_string",
        "zoo": "optional_string",
        "kwargs": "mapping",
    },
    "data": {
        "dataset": "dataset",
        "data_dir": "optional_string",
        "variant": "variant",
        "search_fraction": "open_fraction",
        "batch_size": "pos_int",
        "eval_batch_size": "pos_int",
        "limit": "optional_pos_int",
        "test_limit": "optional_pos_int",
        "augment": "bool",
    },
    "method": "method",
    "budget": "budget",
    "round_to": "optional_pos_int",
    "band": "open_fraction",
    "min_width": "min_width",
    "seed": "nonneg_int",
    "search": {
        "epochs": "pos_int",
        "lr": "pos_number",
        "momentum": "momentum",
        "nesterov": "bool",
        "weight_decay": "nonneg_number",
    },
    "finetune": {
        "epochs": "nonneg_int",
        "lr": "pos_number",
        "momentum": "momentum",
        "nesterov": "bool",
        "weight_decay": "nonneg_number",
        "schedule": "finetune_schedule",
        "distill": "bool",
        "distill_temperature": "pos_number",
        "distill_weight": "unit_interval",
        "teacher": "optional_string",
    },
    "eval": {"test": "bool", "exact_subset": "bool"},
    "output": {"dir": "string", "name": "optional_string"},
    "scale": "optional_string",
    "scales": "mapping",
}


def methods():
    """Valid values of `method`: `"dais"` and every registered baseline."""
    from dais_keras.select import baselines
    return [DAIS_METHOD] + baselines.available()


def search_callback_keys():
    """Keys of `search` passed to `dais_keras.DAISCallback` (its keyword
    arguments, less those taken from the top level of the config)."""
    from dais_keras.search.callback import DAISCallback

    params = inspect.signature(DAISCallback.__init__).parameters
    return sorted(
        name for name, p in params.items()
        if name not in _CALLBACK_FROM_CONFIG and p.kind != inspect.Parameter.VAR_KEYWORD
    )


def _valid_keys(section_schema, path):
    keys = list(section_schema)
    if path == "search":
        keys += search_callback_keys()
    return keys


def _unknown(key, path, valid, source=None):
    where = f"under '{path}'" if path else "at the top level"
    origin = f" (in {source})" if source else ""
    return ValueError(
        f"Unknown config key '{key}'{origin}. Valid keys {where}: "
        f"{', '.join(sorted(valid))}."
    )


def _check_section(config, schema, path, partial, source):
    if not isinstance(config, dict):
        raise ValueError(
            f"Config key '{path}' must be a mapping of keys to values; got {config!r}."
        )
    valid = _valid_keys(schema, path)
    for key, value in config.items():
        full = f"{path}.{key}" if path else str(key)
        if key not in valid:
            raise _unknown(full, path, valid, source)
        if path == "search" and key not in schema:
            continue  # DAISCallback keywords: checked by the callback itself.
        kind = schema[key]
        if isinstance(kind, dict):
            _check_section(value, kind, full, partial, source)
        else:
            _check_type(full, value, kind)
    if not partial:
        missing = [k for k in schema if k not in config]
        if missing:
            raise ValueError(
                f"Config section '{path or '<top>'}' misses keys {missing}; resolve "
                "configs with dais_keras.config.load or resolve (they fill defaults)."
            )


def _check_callback(config):
    """Builds a `DAISCallback` from the config to validate its keywords."""
    from dais_keras.search.callback import DAISCallback

    kwargs = {k: v for k, v in config["search"].items() if k not in SCHEMA["search"]}
    try:
        DAISCallback(
            budget=config["budget"], band=config["band"], round_to=config["round_to"],
            min_width=config["min_width"], verbose=0, **kwargs,
        )
    except (ValueError, TypeError) as e:
        raise ValueError(f"Config section 'search' (DAISCallback arguments): {e}") from e


def validate(config, partial=False, source=None):
    """Checks a config dict; returns it unchanged.

    Args:
        config: A config dict (resolved, or a partial file's content with
            `partial=True`).
        partial: Accept missing keys (a file or a scale preset).
        source: Where the dict came from, for messages.

    Returns:
        `config`.

    Raises:
        ValueError: Naming the first unknown key (with the valid keys) or
            bad value (with what is expected).

    Example:

    >>> dais_keras.config.validate({"budget": 0.5, "method": "uniform"}, partial=True)
    """
    config = dict(config)
    base = config.pop("base", None)
    if base is not None and not (
        isinstance(base, str) or (isinstance(base, list) and all(isinstance(b, str) for b in base))
    ):
        raise ValueError(f"Config key 'base' must be a path or a list of paths; got {base!r}.")
    _check_section(config, SCHEMA, "", partial, source)
    for name, preset in (config.get("scales") or {}).items():
        if not isinstance(preset, dict):
            raise ValueError(f"Config key 'scales.{name}' must be a mapping; got {preset!r}.")
        if "scales" in preset or "scale" in preset or "base" in preset:
            raise ValueError(
                f"Config key 'scales.{name}' may not set 'scale', 'scales' or 'base'."
            )
        _check_section(preset, SCHEMA, "", True, f"{source or 'config'}: scales.{name}")
    if not partial:
        scale = config.get("scale")
        if scale is not None and scale not in config["scales"]:
            raise ValueError(
                f"Config key 'scale' is {scale!r}, which is not one of the presets in "
                f"'scales': {sorted(config['scales']) or 'none defined'}. Define "
                f"scales.{scale} (e.g. with base: ../../scales.yaml) or pick another."
            )
        if config["model"]["file"] and config["model"]["zoo"]:
            raise ValueError(
                "Config keys 'model.file' and 'model.zoo' are exclusive; set one of them."
            )
        if config["method"] == DAIS_METHOD:
            _check_callback(config)
        elif isinstance(config["budget"], dict) and next(iter(config["budget"])) != "macs":
            raise ValueError(
                f"Config key 'budget' is a latency budget ({config['budget']!r}), which "
                f"only method '{DAIS_METHOD}' searches; method '{config['method']}' "
                "prunes to a MACs fraction (e.g. budget: 0.5)."
            )
    return config


# ------------------------------------------------------------ merging


def merge(base, override):
    """Deep-merges two config dicts: mappings merge, other values replace.

    Args:
        base: A dict (not modified).
        override: A dict whose values win (not modified).

    Returns:
        A new dict.
    """
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read(path, _seen=None):
    """Reads a config file and its `base` files (merged, `base` removed).

    Args:
        path: A YAML file.

    Returns:
        The merged partial dict, validated as partial.

    Raises:
        FileNotFoundError: If a file is missing.
        ValueError: For YAML errors, cycles, unknown keys or bad values.
    """
    path = pathlib.Path(path).expanduser().resolve()
    seen = tuple(_seen or ())
    if path in seen:
        chain = " -> ".join(str(p) for p in seen + (path,))
        raise ValueError(f"Config files include each other in a cycle: {chain}.")
    if not path.is_file():
        raise FileNotFoundError(f"No such config file '{path}'.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ValueError(f"Config file '{path}' is not valid YAML: {e}") from e
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ValueError(
            f"Config file '{path}' must hold a mapping of keys to values; got "
            f"{type(data).__name__}."
        )
    validate(data, partial=True, source=str(path))
    bases = data.pop("base", None) or []
    if isinstance(bases, str):
        bases = [bases]
    merged = {}
    for base in bases:
        merged = merge(merged, read(path.parent / base, seen + (path,)))
    return merge(merged, data)


def parse_override(text):
    """Parses `"key.sub=value"` into `(["key", "sub"], value)`.

    The value is read as YAML: `0.5`, `true`, `null`, `[1, 2]`, `cosine`.

    Raises:
        ValueError: Without `=` or with an empty key.
    """
    if not isinstance(text, str) or "=" not in text:
        raise ValueError(
            f"Override {text!r} must look like KEY=VALUE, e.g. finetune.lr=0.01 "
            "or budget=0.3."
        )
    key, _, raw = text.partition("=")
    parts = key.strip().split(".")
    if not key.strip() or any(not p for p in parts):
        raise ValueError(f"Override {text!r} has an empty key; use e.g. finetune.lr=0.01.")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as e:
        raise ValueError(f"Override {text!r}: cannot read the value as YAML: {e}") from e
    return parts, value


def apply_overrides(config, overrides):
    """Returns `config` with `"key.sub=value"` overrides applied (a copy).

    Raises:
        ValueError: For a malformed override or an unknown key.
    """
    out = copy.deepcopy(config)
    for text in overrides or ():
        parts, value = parse_override(text)
        node, schema, path = out, SCHEMA, ""
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            full = f"{path}.{part}" if path else part
            if schema is not None:
                valid = _valid_keys(schema, path) if isinstance(schema, dict) else []
                if part not in valid:
                    raise _unknown(full, path, valid, f"--set {text}")
                kind = schema.get(part) if isinstance(schema, dict) else None
                # Free-form mappings (model.kwargs, scales) accept any keys below.
                schema = kind if isinstance(kind, dict) else None
            if last:
                node[part] = value
            else:
                if not isinstance(node.get(part), dict):
                    node[part] = {}
                node = node[part]
            path = full
    return out


def resolve(config=None, overrides=(), source=None):
    """Resolves a partial config dict into a complete, validated one.

    Args:
        config: A partial config dict (e.g. `read(path)`), or `None`.
        overrides: `"key.sub=value"` strings, applied last.
        source: Where `config` came from, for messages.

    Returns:
        A complete config dict.

    Raises:
        ValueError: For unknown keys or bad values.

    Example:

    >>> cfg = dais_keras.config.resolve({"method": "uniform"}, ["budget=0.3"])
    >>> cfg["finetune"]["epochs"]
    0
    """
    partial = validate(config or {}, partial=True, source=source)
    partial.pop("base", None)
    partial = apply_overrides(partial, overrides)
    validate(partial, partial=True, source=source)
    scales = merge(DEFAULTS["scales"], partial.get("scales") or {})
    scale = partial.get("scale", DEFAULTS["scale"])
    preset = {}
    if scale is not None:
        if scale not in scales:
            raise ValueError(
                f"Config key 'scale' is {scale!r}, which is not one of the presets in "
                f"'scales': {sorted(scales) or 'none defined'}."
            )
        preset = scales[scale]
    resolved = merge(merge(DEFAULTS, preset), partial)
    resolved["scales"] = scales
    return validate(resolved, source=source)


def load(path=None, overrides=()):
    """Reads, resolves and validates a config file.

    Args:
        path: A YAML config file, or `None` for the defaults only.
        overrides: `"key.sub=value"` strings applied on top of the file.

    Returns:
        A complete config dict.

    Raises:
        FileNotFoundError: If a file is missing.
        ValueError: For YAML errors, unknown keys or bad values; the message
            names the key and the valid choices.

    Example:

    ```python
    cfg = dais_keras.config.load(
        "configs/cifar10/resnet20/l1-global-50.yaml", ["scale=cpu", "seed=1"])
    ```
    """
    data = read(path) if path is not None else {}
    return resolve(data, overrides, source=str(path) if path else None)


# ------------------------------------------------------------ run folders


def run_name(config):
    """Default run-folder name: `<model>-<method>-<budget %>[-r<round_to>]`."""
    model = config["model"]
    if model["file"]:
        base = pathlib.Path(model["file"]).stem
    elif model["zoo"]:
        base = model["zoo"].replace("@", "_v")
    else:
        base = model["name"]
    name = f"{base}-{config['method']}-{budget_label(config['budget'])}"
    if config["round_to"]:
        name += f"-r{config['round_to']}"
    return name


def make_run_dir(config, out=None):
    """Creates the run folder and returns its path.

    Args:
        config: A resolved config.
        out: An explicit folder (created if needed; files in it are
            replaced). Default: `output.dir/output.name` (or `run_name`),
            with `-2`, `-3`, ... appended if that folder is not empty.

    Returns:
        A `pathlib.Path`.
    """
    if out is not None:
        path = pathlib.Path(out).expanduser()
    else:
        parent = pathlib.Path(config["output"]["dir"]).expanduser()
        name = config["output"]["name"] or run_name(config)
        path = parent / name
        k = 1
        while path.exists() and any(path.iterdir()):
            k += 1
            path = parent / f"{name}-{k}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def dump(config):
    """The config as YAML text (keys in schema order)."""
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def write(config, run_dir, command=None, overrides=(), sources=()):
    """Writes the resolved config into `run_dir/config.yaml`.

    The header records the command, the source files and the overrides;
    `load(run_dir / "config.yaml")` gives `config` back.

    Args:
        config: A resolved config.
        run_dir: The run folder.
        command: The command line that produced it (a string).
        overrides: The overrides applied.
        sources: The config files read.

    Returns:
        The written file's path.
    """
    path = pathlib.Path(run_dir) / CONFIG_FILE
    header = [f"# Resolved dais-keras config, {datetime.datetime.now().isoformat(timespec='seconds')}"]
    if command:
        header.append(f"# command: {command}")
    for source in sources:
        header.append(f"# from: {os.fspath(source)}")
    for text in overrides:
        header.append(f"# override: {text}")
    path.write_text("\n".join(header) + "\n" + dump(config), encoding="utf-8")
    return path


def describe():
    """A readable listing of every key, its default and what it accepts."""
    lines = []

    def walk(schema, defaults, prefix):
        for key, kind in schema.items():
            full = f"{prefix}{key}"
            if isinstance(kind, dict):
                walk(kind, defaults[key], full + ".")
            else:
                lines.append(f"{full:24s} {defaults.get(key)!r:12s} ({kind})")
        if prefix == "search.":
            lines.append(f"{'search.<DAISCallback>':24s} {'':12s} ({', '.join(search_callback_keys())})")

    walk(SCHEMA, DEFAULTS, "")
    return "\n".join(lines)
