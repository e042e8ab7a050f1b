"""Zoo entries as data: the schema of an index record, its validation, and
the `name@version` keys.

An index record is a JSON object whose fields are listed in `FIELDS` (see
`zoo/README.md`). Validation checks the fields' presence and types, then
applies the value rules of `_RULES` in order; the first rule a record breaks
is reported, naming the entry, the field and what was expected.
"""

import dataclasses
import pathlib
import re
import urllib.parse

from dais_keras.deploy.zoo.errors import ZooSchemaError
from dais_keras.utils import io

SCHEMA_VERSION = 1
URL_SCHEMES = ("http", "https", "file")

NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")
# Longest entry name: its files (`weights/<name>@<version>.keras` and the
# temporary names beside them) must fit the 255-byte file names of common
# file systems.
MAX_NAME_LENGTH = 128
_SHA_PATTERN = re.compile(r"[0-9a-f]{64}")
DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_VERSION_PATTERN = re.compile(r"[0-9]+")

# field -> (python types, required, description). The order is the order of
# `ZooEntry`'s fields and of the JSON written by `publish`.
FIELDS = {
    "name": (str, True, "entry name, lowercase [a-z0-9._-], no '@'"),
    "version": (int, True, "integer version >= 1"),
    "base": (str, True, "base architecture, e.g. 'resnet56'"),
    "dataset": (str, True, "dataset, e.g. 'cifar10'"),
    "dataset_variant": (str, True, "data the model was trained on, e.g. 'cifar10-jpeg'"),
    "budget": ((int, float, dict), True, "target fraction of the base model's MACs, in (0, 1], "
               "or a latency budget {'latency': fraction} / {'latency_ms': milliseconds}"),
    "macs": (int, True, "exact MACs of one forward pass (batch 1)"),
    "params": (int, True, "learnable parameters"),
    "accuracy": (dict, True, "evaluation-set name -> top-1 accuracy in [0, 1]"),
    "latency": (dict, False, "measured latency: '<runtime>_ms' -> milliseconds (> 0) and "
                "'machine' -> where it was measured, plus free-form JSON details"),
    "file": (str, False, "weights path relative to the zoo directory"),
    "url": (str, False, "weights URL (http, https or file)"),
    "sha256": (str, True, "sha256 of the weights file, 64 lowercase hex digits"),
    "size": (int, True, "size of the weights file in bytes"),
    "licence": (str, True, "licence of the weights"),
    "date": (str, True, "publication date, YYYY-MM-DD"),
    "library_version": (str, True, "dais-keras version that published it"),
    "command": (str, True, "command that produced the model"),
    "card": (str, True, "model card path relative to the zoo directory"),
    "description": (str, False, "one-paragraph description"),
    "input_shape": (list, False, "input shape without the batch axis"),
    "extra": (dict, False, "free-form metadata (strict JSON: no NaN or infinity)"),
}
REQUIRED_FIELDS = tuple(k for k, (_, required, _) in FIELDS.items() if required)


@dataclasses.dataclass(frozen=True)
class ZooEntry:
    """One published model: its provenance, cost, accuracy and checksum.

    The fields are those of the index (see `zoo/README.md`); `key` is
    `"name@version"` and `zoo_dir` the directory the entry was read from.
    """

    name: str
    version: int
    base: str
    dataset: str
    dataset_variant: str
    budget: object
    macs: int
    params: int
    accuracy: dict
    sha256: str
    size: int
    licence: str
    date: str
    library_version: str
    command: str
    card: str
    file: object = None
    url: object = None
    description: object = None
    input_shape: object = None
    extra: object = None
    latency: object = None
    zoo_dir: object = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def key(self):
        """The entry's key, `"name@version"`."""
        return f"{self.name}@{self.version}"

    @property
    def weights_path(self):
        """Absolute path of a `file` entry's weights (`None` for a URL)."""
        return None if self.file is None else pathlib.Path(self.zoo_dir) / self.file

    @property
    def card_path(self):
        """Absolute path of the model card."""
        return pathlib.Path(self.zoo_dir) / self.card

    def to_dict(self):
        """Returns the entry as stored in the index (no `None` fields)."""
        out = {}
        for field in FIELDS:
            value = getattr(self, field)
            if value is not None:
                out[field] = value
        return out

    @classmethod
    def from_dict(cls, key, data, zoo_dir=None, source="index"):
        """Validates an index record and returns the `ZooEntry`.

        Raises:
            ZooSchemaError: If a field is missing, unknown or malformed.
        """
        validate_entry(key, data, source)
        values = {k: data.get(k) for k in FIELDS}
        return cls(**values, zoo_dir=None if zoo_dir is None else pathlib.Path(zoo_dir))


def valid_name(name):
    """Whether `name` is a valid entry name (the whole string matches, at
    most `MAX_NAME_LENGTH` characters)."""
    return (isinstance(name, str) and len(name) <= MAX_NAME_LENGTH
            and NAME_PATTERN.fullmatch(name) is not None)


def _relative_inside(value):
    path = pathlib.PurePosixPath(value)
    return not (path.is_absolute() or ".." in path.parts or "\\" in value)


def _extra_problem(extra):
    try:
        io.check_finite(extra, "'extra'")
    except ValueError as e:
        return str(e)
    return None


def budget_problem(budget):
    """What is wrong with a zoo `budget` (a MACs fraction in (0, 1] or a
    latency budget), or None."""
    if isinstance(budget, dict):
        from dais_keras.cost.budget import parse_budget

        try:
            parsed = parse_budget(budget)
        except (ValueError, TypeError) as e:
            return f"'budget' {budget!r} is not a budget: {e}"
        if not parsed.is_latency:
            return f"'budget' {budget!r}: write a MACs budget as a number, e.g. 0.5"
        return None
    return None if 0 < budget <= 1 else f"'budget' must be in (0, 1], got {budget}"


def latency_problem(latency):
    """What is wrong with a zoo `latency` record, or None."""
    if not isinstance(latency.get("machine"), str) or not latency["machine"].strip():
        return "'latency' must name the 'machine' it was measured on"
    times = {k: v for k, v in latency.items() if k.endswith("_ms")}
    if not times:
        return "'latency' must hold at least one '<runtime>_ms' time, e.g. 'tflite_ms'"
    for k, v in times.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v < float("inf"):
            return f"'latency' {k!r} must be a positive number of milliseconds, got {v!r}"
    try:
        io.check_finite(latency, "'latency'")
    except ValueError as e:
        return str(e)
    return None


def _accuracy_problem(accuracy):
    for eval_set, acc in accuracy.items():
        if isinstance(acc, bool) or not isinstance(acc, (int, float)) or not 0 <= acc <= 1:
            return f"accuracy on '{eval_set}' must be a number in [0, 1], got {acc!r}"
    return None


# The value rules of a record whose fields have the right types: each
# returns the problem in words, or None.
_RULES = (
    lambda d, key: None if valid_name(d["name"]) else (
        f"'name' {d['name']!r} must match {NAME_PATTERN.pattern} (the whole name)"),
    lambda d, key: None if d["version"] >= 1 else f"'version' must be >= 1, got {d['version']}",
    lambda d, key: None if key == f"{d['name']}@{d['version']}" else (
        f"the key must be 'name@version' = '{d['name']}@{d['version']}'"),
    lambda d, key: budget_problem(d["budget"]),
    lambda d, key: latency_problem(d["latency"]) if "latency" in d else None,
    lambda d, key: None if d["macs"] >= 0 else f"'macs' must be >= 0, got {d['macs']}",
    lambda d, key: None if d["params"] >= 0 else f"'params' must be >= 0, got {d['params']}",
    lambda d, key: None if d["size"] > 0 else f"'size' must be > 0, got {d['size']}",
    lambda d, key: None if d["accuracy"] else "'accuracy' is empty; record at least one evaluation set",
    lambda d, key: _accuracy_problem(d["accuracy"]),
    lambda d, key: None if _SHA_PATTERN.fullmatch(d["sha256"]) else (
        f"'sha256' must be 64 lowercase hex digits, got {d['sha256']!r}"),
    lambda d, key: None if DATE_PATTERN.fullmatch(d["date"]) else (
        f"'date' must be YYYY-MM-DD, got {d['date']!r}"),
    lambda d, key: None if ("file" in d) != ("url" in d) else (
        "exactly one of 'file' and 'url' must be given"),
    lambda d, key: next((
        f"'{f}' must be a relative path inside the zoo directory, got {d[f]!r}"
        for f in ("file", "card") if f in d and not _relative_inside(d[f])), None),
    lambda d, key: None if "url" not in d or urllib.parse.urlparse(d["url"]).scheme in URL_SCHEMES
    else f"'url' must use one of {', '.join(URL_SCHEMES)}, got {d['url']!r}",
    lambda d, key: _extra_problem(d["extra"]) if "extra" in d else None,
)


def _shape_problem(data):
    """The first problem with the presence or types of the fields, or None."""
    if not isinstance(data, dict):
        return f"expected a JSON object, got {type(data).__name__}"
    missing = [k for k in REQUIRED_FIELDS if k not in data]
    if missing:
        return (
            f"missing required field(s) {', '.join(missing)}; required fields "
            f"are {', '.join(REQUIRED_FIELDS)}"
        )
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        return (
            f"unknown field(s) {', '.join(unknown)}; known fields are "
            f"{', '.join(FIELDS)} (put free-form metadata under 'extra')"
        )
    for field, value in data.items():
        types, _, text = FIELDS[field]
        if not isinstance(value, types) or (isinstance(value, bool) and types is not bool):
            return f"field '{field}' must be the {text}, got {value!r}"
    return None


def validate_entry(key, data, source="index"):
    """Checks one index record.

    Raises:
        ZooSchemaError: Naming the entry, the field and what was expected.
    """
    problem = _shape_problem(data)
    for rule in _RULES:
        if problem is not None:
            break
        problem = rule(data, key)
    if problem is not None:
        raise ZooSchemaError(
            f"Zoo entry '{key}' in {source}: {problem}. See zoo/README.md for "
            "the index schema."
        )


def validate_index(data, source="index"):
    """Validates a parsed index and returns its entries.

    Args:
        data: The parsed JSON of `index.json`.
        source: Where the data came from, for error messages.

    Returns:
        A dict `key -> ZooEntry` (without `zoo_dir`).

    Raises:
        ZooSchemaError: On an unknown `schema_version` or a malformed entry.
    """
    if not isinstance(data, dict) or "schema_version" not in data:
        raise ZooSchemaError(
            f"{source} is not a zoo index: expected a JSON object with "
            "'schema_version' and 'entries'."
        )
    if data["schema_version"] != SCHEMA_VERSION or isinstance(data["schema_version"], bool):
        raise ZooSchemaError(
            f"{source} has schema_version {data['schema_version']!r}; this "
            f"dais-keras reads schema_version {SCHEMA_VERSION}. Upgrade "
            "dais-keras (pip install -U dais-keras) or use a zoo written for "
            "this version."
        )
    unknown = sorted(set(data) - {"schema_version", "entries"})
    if unknown or not isinstance(data.get("entries"), dict):
        raise ZooSchemaError(
            f"{source}: expected exactly the keys 'schema_version' and "
            f"'entries' (an object keyed 'name@version'); got keys "
            f"{sorted(data)}."
        )
    return {key: ZooEntry.from_dict(key, rec, source=source) for key, rec in data["entries"].items()}


def _version_number(text, where):
    if not _VERSION_PATTERN.fullmatch(text):
        raise ValueError(
            f"Invalid zoo version {text!r} in {where}: the version must be a "
            "positive integer written with the digits 0-9, e.g. "
            "'resnet56-cifar10-dais50@1'."
        )
    return int(text)


def parse_key(name, version=None):
    """Splits `"name@version"` (or `name` and `version`) into `(name, version)`.

    Args:
        name: Entry name, or a key `"name@version"`.
        version: Integer version (or its digits), or `None` for the latest.

    Returns:
        `(name, version or None)`.

    Raises:
        TypeError: If `name` is not a string.
        ValueError: For a version that is not a positive integer written
            in the digits 0-9, or two different versions.
    """
    if not isinstance(name, str):
        raise TypeError(f"Expected `name` to be a str. Received: name={name!r}")
    if isinstance(version, str):
        version = _version_number(version, "`version`")
    if "@" in name:
        name, _, text = name.partition("@")
        number = _version_number(text, f"the zoo key '{name}@{text}'")
        if version is not None and version != number:
            raise ValueError(
                f"Conflicting versions: key '{name}@{text}' and version={version!r}. "
                "Give the version once."
            )
        version = number
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise ValueError(f"Expected `version` to be a positive int. Received: version={version!r}")
    return name, version


def sort_key(key):
    """Sort order of index keys: by name, then by version number."""
    name, _, version = key.rpartition("@")
    return name, int(version)
