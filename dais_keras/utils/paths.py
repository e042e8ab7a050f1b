"""Where the library keeps files: one cache root, the repository root.

Every cache (decoded datasets, zoo downloads, latency tables) lives under one
root: `$DAIS_KERAS_CACHE`, else `~/.cache/dais_keras`. `DAIS_CACHE_DIR`, the
older name, is still read when `DAIS_KERAS_CACHE` is not set.
"""

import os
import pathlib

CACHE_ENV = "DAIS_KERAS_CACHE"
OLD_CACHE_ENV = "DAIS_CACHE_DIR"


def cache_root():
    """The root of every cache of the library (a `pathlib.Path`)."""
    root = os.environ.get(CACHE_ENV) or os.environ.get(OLD_CACHE_ENV)
    if root:
        return pathlib.Path(root).expanduser()
    return pathlib.Path.home() / ".cache" / "dais_keras"


def cache_dir(kind, override=None):
    """The cache directory of one kind of file (`"data"`, `"zoo"`, `"latency"`).

    Args:
        kind: Sub-directory under `cache_root()`.
        override: A directory passed by the caller; used as is when given.
    """
    if override is not None:
        return pathlib.Path(override).expanduser()
    return cache_root() / kind


def repo_root():
    """The source checkout holding the package (where `zoo/`, `configs/` and
    `bench/` are), or `None` for an installed package without them."""
    root = pathlib.Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").exists() else None


def shared_dir():
    """`<repository>/../shared`: the project's shared data and weights, or
    `None` where there is no such directory."""
    root = repo_root()
    if root is None:
        return None
    shared = root.parent / "shared"
    return shared if shared.is_dir() else None
