"""Experiment configs: YAML files of plain dicts, resolved and validated.

A config says what to prune, how, and where to write the results:

```yaml
# configs/cifar10/resnet20/l1-global-50.yaml
base: base.yaml          # files merged first (paths relative to this file)
method: l1-global        # "dais" or a baseline (dais_keras.baselines.available())
budget: 0.5              # pruned MACs / unpruned MACs, in (0, 1)
```

`budget` may also be a latency budget (DAIS and every baseline):
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
* `on_infeasible`: when frozen groups, `min_width` or `round_to` make the
  budget impossible, `warn` (the default: keep the smallest model, warn and
  record `feasible: false` in `metrics.json`; `best_effort=True` of the
  library) or `error` (fail).
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
import pathlib

import yaml

from dais_keras.experiments.run_folder import CONFIG_FILE
from dais_keras.experiments.run_folder import dump
from dais_keras.experiments.run_folder import make_run_dir
from dais_keras.experiments.run_folder import run_name
from dais_keras.experiments.run_folder import write
from dais_keras.experiments.schema import DAIS_METHOD
from dais_keras.experiments.schema import DATASETS
from dais_keras.experiments.schema import DEFAULTS
from dais_keras.experiments.schema import FINETUNE_SCHEDULES
from dais_keras.experiments.schema import ON_INFEASIBLE
from dais_keras.experiments.schema import SCHEMA
from dais_keras.experiments.schema import VARIANTS
from dais_keras.experiments.schema import budget_label
from dais_keras.experiments.schema import budget_text
from dais_keras.experiments.schema import describe
from dais_keras.experiments.schema import methods
from dais_keras.experiments.schema import search_callback_keys
from dais_keras.experiments.schema import unknown_key
from dais_keras.experiments.schema import valid_keys
from dais_keras.experiments.schema import validate

__all__ = [
    "CONFIG_FILE", "DAIS_METHOD", "DATASETS", "DEFAULTS", "FINETUNE_SCHEDULES", "ON_INFEASIBLE",
    "SCHEMA", "VARIANTS", "apply_overrides", "budget_label", "budget_text", "describe", "dump", "load",
    "make_run_dir", "merge", "methods", "parse_override", "read", "resolve", "run_name",
    "search_callback_keys", "validate", "write",
]


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
                valid = valid_keys(schema, path) if isinstance(schema, dict) else []
                if part not in valid:
                    raise unknown_key(full, path, valid, f"--set {text}")
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


