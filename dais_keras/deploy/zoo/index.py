"""The zoo directory and its `index.json`: where they are, reading and
writing the index, the lock that serialises writers, and looking entries up.

The zoo directory is, in order of precedence: the `zoo_dir` argument, the
`DAIS_ZOO_DIR` environment variable, or the repository's `zoo/` directory.
Downloads of URL entries are cached in `cache_dir("zoo")` of
`dais_keras.utils.paths` (`$DAIS_KERAS_CACHE/zoo`; `$DAIS_CACHE_DIR/zoo`
with the older variable; `~/.cache/dais_keras/zoo` by default).
"""

import contextlib
import dataclasses
import json
import os
import pathlib

from dais_keras.deploy.zoo.entry import SCHEMA_VERSION
from dais_keras.deploy.zoo.entry import parse_key
from dais_keras.deploy.zoo.entry import sort_key
from dais_keras.deploy.zoo.entry import validate_index
from dais_keras.deploy.zoo.errors import ZooSchemaError
from dais_keras.utils import io
from dais_keras.utils import paths

INDEX_FILE = "index.json"
ZOO_DIR_ENV = "DAIS_ZOO_DIR"
CACHE_DIR_ENV = paths.CACHE_ENV


def default_zoo_dir():
    """The repository's `zoo/` directory (next to the `dais_keras` package)."""
    root = paths.repo_root() or pathlib.Path(__file__).resolve().parents[3]
    return root / "zoo"


def resolve_zoo_dir(zoo_dir=None):
    """Returns `zoo_dir`, else `$DAIS_ZOO_DIR`, else `default_zoo_dir()`."""
    if zoo_dir is None:
        zoo_dir = os.environ.get(ZOO_DIR_ENV) or default_zoo_dir()
    return pathlib.Path(zoo_dir).expanduser().resolve()


def resolve_cache_dir(cache_dir=None):
    """Returns `cache_dir`, else the library's zoo cache (`cache_dir("zoo")`)."""
    return paths.cache_dir("zoo", override=cache_dir).expanduser().resolve()


def _reject_constant(name):
    raise ValueError(f"{name} is not a JSON number (the index is strict JSON)")


def read_index(zoo_dir=None):
    """Reads and validates `index.json` of a zoo directory.

    Args:
        zoo_dir: The zoo directory (see the module docstring for defaults).

    Returns:
        A dict `key -> ZooEntry`.

    Raises:
        FileNotFoundError: If the directory has no `index.json`.
        ZooSchemaError: If the index is not UTF-8 strict JSON or does not
            follow the schema.
    """
    zoo_dir = resolve_zoo_dir(zoo_dir)
    path = zoo_dir / INDEX_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"No zoo index at '{path}'. Pass zoo_dir= (or set {ZOO_DIR_ENV}) "
            "to a zoo directory; `publish()` creates the index in a new one."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as e:
        raise ZooSchemaError(
            f"Zoo index '{path}' is not UTF-8 text (byte {e.start}: "
            f"{e.object[e.start:e.start + 1]!r}); it is damaged or not an index. "
            "Restore it (e.g. from git)."
        ) from None
    except ValueError as e:  # json.JSONDecodeError, or NaN / Infinity.
        raise ZooSchemaError(f"Zoo index '{path}' is not valid JSON: {e}") from None
    entries = validate_index(data, source=f"'{path}'")
    return {k: dataclasses.replace(e, zoo_dir=zoo_dir) for k, e in entries.items()}


def write_index(zoo_dir, records):
    """Writes `records` (key -> record dict) as the index, sorted, atomically."""
    records = dict(sorted(records.items(), key=lambda kv: sort_key(kv[0])))
    io.write_json(
        pathlib.Path(zoo_dir) / INDEX_FILE,
        {"schema_version": SCHEMA_VERSION, "entries": records},
    )


@contextlib.contextmanager
def locked(directory):
    """Holds an exclusive advisory lock on a directory (POSIX; no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # Windows: no locking; publishes must not overlap.
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def list_entries(zoo_dir=None, name=None):
    """Lists the zoo's entries, sorted by name and version.

    Also available as `dais_keras.zoo.list()`.

    Args:
        zoo_dir: The zoo directory (see the module docstring for defaults).
        name: Only the versions of this name.

    Returns:
        A list of `ZooEntry`.
    """
    entries = read_index(zoo_dir).values()
    return sorted(
        (e for e in entries if name is None or e.name == name),
        key=lambda e: (e.name, e.version),
    )


def get(name, version=None, zoo_dir=None):
    """Returns the `ZooEntry` for `name` (latest version) or `name@version`.

    Args:
        name: Entry name, or a key `"name@version"`.
        version: Integer version; the latest when `None`.
        zoo_dir: The zoo directory (see the module docstring for defaults).

    Returns:
        A `ZooEntry`.

    Raises:
        ValueError: For an unknown name (the message lists the names) or an
            unknown version (it lists the versions).
    """
    name, version = parse_key(name, version)
    zoo_dir = resolve_zoo_dir(zoo_dir)
    entries = read_index(zoo_dir)
    versions = sorted(e.version for e in entries.values() if e.name == name)
    if not versions:
        names = sorted({e.name for e in entries.values()})
        raise ValueError(
            f"Unknown zoo model {name!r} in '{zoo_dir}'. Available: "
            f"{', '.join(names) if names else '(none; the zoo is empty)'}."
        )
    if version is None:
        version = versions[-1]
    if version not in versions:
        raise ValueError(
            f"Zoo model '{name}' has no version {version}. Available versions: "
            f"{', '.join(map(str, versions))} (use '{name}@{versions[-1]}' or "
            "omit the version for the latest)."
        )
    return entries[f"{name}@{version}"]
