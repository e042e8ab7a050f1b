"""Publishing a model into the zoo as `name@version`.

`publish` saves the model, reloads it with safe mode pinned on (and refuses
it if that fails or the outputs change), re-saves it without optimizer
state, hashes it, writes the card, and replaces `index.json` atomically, all
under a lock on the zoo directory. A publish that crashes half-way (the
process killed) can leave the entry's weights or card without an index
entry, or temporary files: `verify()` lists them and `clean()` removes them.
"""

import contextlib
import datetime
import os
import pathlib
import shlex
import sys
import tempfile

import numpy as np

import keras

from dais_keras.cost.macs import count_macs
from dais_keras.cost.macs import count_params
from dais_keras.deploy.zoo.card import model_card
from dais_keras.deploy.zoo.entry import DATE_PATTERN
from dais_keras.deploy.zoo.entry import MAX_NAME_LENGTH
from dais_keras.deploy.zoo.entry import SCHEMA_VERSION
from dais_keras.deploy.zoo.entry import ZooEntry
from dais_keras.deploy.zoo.entry import budget_problem
from dais_keras.deploy.zoo.entry import latency_problem
from dais_keras.deploy.zoo.entry import parse_key
from dais_keras.deploy.zoo.entry import valid_name
from dais_keras.deploy.zoo.entry import validate_index
from dais_keras.deploy.zoo.index import INDEX_FILE
from dais_keras.deploy.zoo.index import locked
from dais_keras.deploy.zoo.index import read_index
from dais_keras.deploy.zoo.index import resolve_zoo_dir
from dais_keras.deploy.zoo.index import write_index
from dais_keras.deploy.zoo.store import file_digest
from dais_keras.utils import io
from dais_keras.utils.checks import as_scalar
from dais_keras.utils.saving import load_model_safely

def _library_version():
    # The package `__init__` is loaded before any of its modules: read its
    # version from there (modules never import the package).
    package = sys.modules.get(__name__.partition(".")[0])
    return getattr(package, "__version__", "unknown")


def _probe_input(model):
    shapes = [tuple(t.shape) for t in model.inputs]
    if any(d is None for s in shapes for d in s[1:]):
        return None
    rng = np.random.default_rng(0)
    arrays = [
        rng.uniform(0, 255, (2,) + s[1:]).astype("float32")
        if len(s) == 4
        else rng.standard_normal((2,) + s[1:]).astype("float32")
        for s in shapes
    ]
    return arrays[0] if len(arrays) == 1 else arrays


def _roundtrip(model, directory, key):
    """Saves `model`, reloads it safely, checks outputs, re-saves it lean.

    Returns the path of a `.keras` file without optimizer state that loads
    with `safe_mode=True` and computes what `model` computes.
    """
    first = directory / "first.keras"
    model.save(first)
    try:
        reloaded = load_model_safely(first)
    except Exception as e:
        raise ValueError(
            f"Cannot publish '{key}': the model does not load back with "
            f"keras.saving.load_model(..., safe_mode=True): {e}. Zoo models "
            "must load without running code from the file: replace Lambda "
            "layers with registered layers "
            "(@keras.saving.register_keras_serializable)."
        ) from e
    probe = _probe_input(model)
    if probe is not None:
        want = keras.ops.convert_to_numpy(model(probe, training=False))
        got = keras.ops.convert_to_numpy(reloaded(probe, training=False))
        if not np.allclose(want, got, rtol=1e-5, atol=1e-6 * max(1.0, float(np.max(np.abs(want))))):
            raise ValueError(
                f"Cannot publish '{key}': the saved and reloaded model computes "
                f"different outputs (max abs difference "
                f"{float(np.max(np.abs(want - got))):.3g}); some layer does not "
                "save all of its state (check its get_config / build)."
            )
    lean = directory / f"{key}.keras"
    reloaded.save(lean)
    return lean


def _shorten(text, limit=60):
    return text if len(text) <= limit else text[:limit] + "..."


def _check_json(value, where):
    """Raises `ValueError` naming the first field of `value` that strict JSON
    cannot hold as it is (a key that is not a str, a value that is not a
    str, bool, int, finite float, None, list or dict)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(
                    f"`{where}` has the key {key!r} ({type(key).__name__}); JSON "
                    f"keys are strings. Use {str(key)!r}.")
            _check_json(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
    elif isinstance(value, float):
        io.check_finite(value, f"`{where}`")
    elif not (value is None or isinstance(value, (str, bool, int))):
        hint = " Use `.item()` for a numpy number, `.tolist()` for an array." if (
            isinstance(value, (np.generic, np.ndarray))) else ""
        raise ValueError(
            f"`{where}` is a {type(value).__name__} ({_shorten(repr(value))}), "
            "which the zoo's JSON index cannot hold: use a str, number, bool, "
            f"None, list or dict.{hint}")


def _check_metrics(metrics):
    if not isinstance(metrics, dict) or not metrics:
        raise ValueError(
            "Expected `metrics` to be a non-empty dict mapping an evaluation "
            "set name to the top-1 accuracy measured on it, e.g. "
            "{'cifar10-exact-subset-1017': 0.92}. "
            f"Received: metrics={metrics!r}"
        )
    out = {}
    for eval_set, acc in metrics.items():
        if not isinstance(eval_set, str) or not eval_set:
            raise ValueError(f"`metrics` keys must be evaluation-set names; got {eval_set!r}.")
        acc = float(acc)
        if not 0 <= acc <= 1:
            raise ValueError(
                f"`metrics['{eval_set}']` = {acc} is not an accuracy in [0, 1] "
                "(give fractions, not percentages)."
            )
        out[eval_set] = acc
    return out


def publish(
    model,
    name,
    version=None,
    *,
    metrics,
    budget,
    base,
    dataset,
    licence,
    command=None,
    dataset_variant=None,
    description=None,
    extra=None,
    latency=None,
    zoo_dir=None,
    date=None,
):
    """Publishes a model into the zoo as `name@version`.

    Saves the model as `.keras` (without optimizer state, after checking that
    it reloads with `safe_mode=True` and computes the same outputs), records
    its sha256, size, exact MACs and params, writes a model card, and adds the
    entry to `index.json` atomically. Published versions are immutable.

    Args:
        model: The (pruned) Keras model, with fixed input dimensions.
        name: Entry name, lowercase `[a-z0-9._-]`, e.g.
            `"resnet56-cifar10-dais50"`.
        version: Integer version; the next free one (1 for a new name) when
            `None`.
        metrics: Dict of evaluation-set name to measured top-1 accuracy in
            [0, 1], e.g. `{"cifar10-jpeg-test-10000": 0.91,
            "cifar10-exact-subset-1017": 0.92}`.
        budget: The budget the model was pruned to: a fraction of the base
            model's MACs (1.0 for an unpruned model), or a latency budget
            (`{"latency": fraction}` of the base model's latency, or
            `{"latency_ms": ms}`).
        base: Base architecture, e.g. `"resnet56"`.
        dataset: Dataset, e.g. `"cifar10"`.
        licence: Licence of the weights, e.g. `"BSD-2-Clause"` for models
            derived from the pretrained CIFAR ResNets.
        command: The command that produced the model (for provenance).
            Defaults to this process's command line.
        dataset_variant: The data the model was trained on, e.g.
            `"cifar10-jpeg"`; defaults to `dataset`.
        description: Optional text for the model card.
        extra: Optional JSON-serialisable dict of further metadata.
        latency: Optional measured latency, shown on the card: a dict with
            `"<runtime>_ms"` times (e.g. `"tflite_ms"`, `"ort_ms"`, and the
            base model's `"unpruned_tflite_ms"`), the `"machine"` they were
            measured on, and any further JSON details (batch, threads).
        zoo_dir: The zoo directory (argument, `$DAIS_ZOO_DIR`, or the
            repository's `zoo/`); created if missing.
        date: Publication date `YYYY-MM-DD`; defaults to today (UTC).

    Returns:
        The new `ZooEntry`.

    Raises:
        ValueError: If `name@version` (or its weights file) already exists,
            on a malformed argument, or if the model does not reload safely.

    Example:

    ```python
    entry = dais_keras.zoo.publish(
        pruned, "resnet56-cifar10-dais50",
        metrics={"cifar10-exact-subset-1017": 0.921},
        budget=0.5, base="resnet56", dataset="cifar10",
        dataset_variant="cifar10-jpeg", licence="BSD-2-Clause",
        command="dais prune configs/resnet56.yaml")
    print(entry.key)  # resnet56-cifar10-dais50@1
    ```
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected `model` to be a keras.Model. Received: {type(model).__name__}")
    if not isinstance(name, str):
        raise TypeError(f"Expected `name` to be a str. Received: name={name!r}")
    if not valid_name(name):
        raise ValueError(
            f"Invalid zoo name {_shorten(name)!r} ({len(name)} characters): use "
            f"at most {MAX_NAME_LENGTH} lowercase letters, digits, '.', '_' and "
            "'-', starting with a letter or digit (no '@': the version is separate), "
            "e.g. 'resnet56-cifar10-dais50'."
        )
    _, version = parse_key(name, version)
    metrics = _check_metrics(metrics)
    budget = as_scalar(budget)
    if isinstance(budget, dict):
        problem = budget_problem(budget)
        if problem:
            raise ValueError(f"Invalid `budget`: {problem}.")
        budget = {str(k): float(as_scalar(v)) for k, v in budget.items()}
    elif isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 < budget <= 1:
        raise ValueError(
            "Expected `budget` to be the fraction of the base model's MACs, in "
            "(0, 1], or a latency budget such as {'latency': 0.5}. Received: "
            f"budget={budget!r}"
        )
    else:
        budget = float(budget)
    if latency is not None:
        if not isinstance(latency, dict):
            raise ValueError(
                "Expected `latency` to be a dict such as {'tflite_ms': 0.43, 'machine': "
                f"'...'}}. Received: {type(latency).__name__}.")
        _check_json(latency, "latency")
        problem = latency_problem(latency)
        if problem:
            raise ValueError(f"Invalid `latency`: {problem}.")
    texts = {"base": base, "dataset": dataset, "licence": licence}
    for arg, value in texts.items():
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"Expected `{arg}` to be a non-empty str. Received: {arg}={value!r}")
    if command is None:
        command = shlex.join([os.path.basename(sys.argv[0] or "python")] + sys.argv[1:])
    date = date or datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    if not isinstance(date, str) or not DATE_PATTERN.fullmatch(date):
        raise ValueError(f"Expected `date` as 'YYYY-MM-DD'. Received: date={date!r}")
    if extra is not None:
        if not isinstance(extra, dict):
            raise ValueError(
                f"Expected `extra` to be a dict of JSON metadata. Received: {type(extra).__name__}.")
        _check_json(extra, "extra")
    try:
        macs, params = int(count_macs(model)), int(count_params(model))
    except Exception as e:
        raise ValueError(
            f"Cannot publish '{name}': counting its MACs failed ({e}). Zoo "
            "models need fixed input dimensions; rebuild the model on a "
            "keras.Input with a full shape."
        ) from e

    zoo_dir = resolve_zoo_dir(zoo_dir)
    zoo_dir.mkdir(parents=True, exist_ok=True)
    (zoo_dir / "weights").mkdir(exist_ok=True)
    (zoo_dir / "cards").mkdir(exist_ok=True)
    with locked(zoo_dir):
        entries = read_index(zoo_dir) if (zoo_dir / INDEX_FILE).exists() else {}
        key = _free_key(entries, zoo_dir, name, version)
        weights_rel, card_rel = f"weights/{key}.keras", f"cards/{key}.md"
        written = []
        try:
            with tempfile.TemporaryDirectory(dir=zoo_dir / "weights", prefix=".publish-") as tmp:
                lean = _roundtrip(model, pathlib.Path(tmp), key)
                sha256, size = file_digest(lean)
                os.replace(lean, zoo_dir / weights_rel)
                written.append(zoo_dir / weights_rel)
            input_shape = [d for d in model.inputs[0].shape[1:]] if len(model.inputs) == 1 else None
            entry = ZooEntry(
                name=name, version=int(key.rpartition("@")[2]), base=base, dataset=dataset,
                dataset_variant=dataset_variant or dataset, budget=budget,
                macs=macs, params=params, accuracy=metrics, file=weights_rel,
                sha256=sha256, size=size, licence=licence, date=date,
                library_version=_library_version(), command=command,
                card=card_rel, description=description, input_shape=input_shape,
                extra=extra, latency=latency, zoo_dir=zoo_dir,
            )
            validate_index(
                {"schema_version": SCHEMA_VERSION, "entries": {key: entry.to_dict()}},
                source="the new entry",
            )
            io.atomic_write(zoo_dir / card_rel, model_card(entry))
            written.append(zoo_dir / card_rel)
            records = {k: e.to_dict() for k, e in entries.items()}
            records[key] = entry.to_dict()
            write_index(zoo_dir, records)
        except BaseException:
            for path in written:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            raise
    return entry


def _free_key(entries, zoo_dir, name, version):
    """The key `name@version` to publish (the next version when `None`).

    Raises:
        ValueError: If the entry exists, or a file of it is left over.
    """
    versions = sorted(e.version for e in entries.values() if e.name == name)
    if version is None:
        version = versions[-1] + 1 if versions else 1
    key = f"{name}@{version}"
    if key in entries:
        raise ValueError(
            f"Zoo entry '{key}' already exists in '{zoo_dir}' and published "
            "versions are never overwritten. Publish it as version "
            f"{versions[-1] + 1} (or omit `version` to take the next one)."
        )
    for rel in (f"weights/{key}.keras", f"cards/{key}.md"):
        if (zoo_dir / rel).exists():
            raise ValueError(
                f"Cannot publish '{key}': '{zoo_dir / rel}' already exists "
                "although the index has no such entry (a leftover of a "
                "publish that crashed?). `dais_keras.zoo.verify()` lists "
                "leftovers and `dais_keras.zoo.clean()` (`dais zoo clean`) "
                "removes them; or publish another version."
            )
    return key
