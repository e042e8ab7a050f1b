"""The schema of experiment configs: every key, its default and its check.

`SCHEMA` gives the kind of every leaf key, `DEFAULTS` its default value, and
`validate` checks a config dict against them, naming the first unknown key
(with the valid ones) or bad value (with what is expected). `describe()`
lists them all. Loading, merging and overrides are in
`dais_keras.experiments.config`.
"""

import inspect
import math

from dais_keras.finetune.recipe import SCHEDULES as FINETUNE_SCHEDULES

DAIS_METHOD = "dais"
# What a run does when the budget cannot be met: keep the smallest model and
# warn (best effort), or fail.
ON_INFEASIBLE = ("warn", "error")
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
    "on_infeasible": "warn",
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
    "plot_dir", "verbose", "repair", "batch_size", "best_effort",
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
    "on_infeasible": _choice(ON_INFEASIBLE),
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
    "on_infeasible": "on_infeasible",
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


def valid_keys(section_schema, path):
    keys = list(section_schema)
    if path == "search":
        keys += search_callback_keys()
    return keys


def unknown_key(key, path, valid, source=None):
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
    valid = valid_keys(schema, path)
    for key, value in config.items():
        full = f"{path}.{key}" if path else str(key)
        if key not in valid:
            raise unknown_key(full, path, valid, source)
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


def _check_latency_keys(config):
    """A baseline under a latency budget reads `search.runtime` and
    `search.latency_table` (as DAIS does) and no other search keyword."""
    from dais_keras.search.target import check_latency_arguments
    from dais_keras.cost.budget import parse_budget

    extra = {k: v for k, v in config["search"].items() if k not in SCHEMA["search"]}
    unused = sorted(set(extra) - {"runtime", "latency_table"})
    if unused:
        raise ValueError(
            f"Config section 'search' has {', '.join(unused)}, which method "
            f"'{config['method']}' does not use (it reads search.runtime and "
            "search.latency_table for its latency budget); remove them."
        )
    try:
        check_latency_arguments(parse_budget(config["budget"]), None,
                                extra.get("runtime", "tflite"), extra.get("latency_table"))
    except ValueError as e:
        raise ValueError(f"Config section 'search': {e}") from e


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
            _check_latency_keys(config)
    return config



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
