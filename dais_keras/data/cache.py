"""The cache of decoded CIFAR-10 arrays.

One uncompressed `.npz` per source, holding both splits, keyed by the source
files' path, size and modification time (a changed file is decoded again).
It lives in the `cache_dir` argument, else `<cache root>/data`, the root being
`$DAIS_KERAS_CACHE`, else the older `$DAIS_CACHE_DIR`, else
`~/.cache/dais_keras` (`dais_keras.utils.paths`). Files are written
atomically, so a crash or a corrupt archive never leaves a partial file; a
damaged cache file is rebuilt, never trusted.
"""

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np

from dais_keras.data import formats
from dais_keras.utils import paths
from dais_keras.utils.io import atomic_path

# The environment variable that sets the cache root (`DAIS_CACHE_DIR`, the
# older name, is read when it is not set).
CACHE_DIR_ENV = paths.CACHE_ENV

# Bump when the layout or content of cache files changes.
_CACHE_VERSION = 2


def cache_path(source, cache_dir=None):
    """Returns the cache file used for `source` (it may not exist yet).

    Args:
        source: A `CifarSource` (see `cifar10_source`).
        cache_dir: See `cifar10`.

    Returns:
        A `pathlib.Path`.
    """
    name = f"cifar10-{source.format}-{_source_key(source)}.npz"
    return paths.cache_dir("data", cache_dir) / name


def read_cache(path, part):
    """Returns the cached `(x, y)` of `part`, or `None` (missing or damaged)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            x, y = data[f"x_{part}"], data[f"y_{part}"]
    except Exception:  # A missing or damaged cache file is rebuilt.
        return None
    if x.dtype != np.uint8 or x.shape[1:] != formats.IMAGE_SHAPE or y.shape != x.shape[:1]:
        return None
    return x, y


def write_cache(path, arrays, source):
    """Writes the decoded `arrays` of `source` to `path`, atomically."""
    meta = json.dumps({"source": dataclasses.asdict(source), "version": _CACHE_VERSION})
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, meta=np.array(meta), **arrays)


def _source_key(source):
    """A hash of the source files' identity (path, size, mtime)."""
    parts = [f"v{_CACHE_VERSION}", source.format]
    if source.path is not None:
        path = Path(source.path).resolve()
        files = [path]
        if path.is_dir():
            files = [path / name for name in formats.FORMAT_FILES[source.format]]
        for f in files:
            try:
                st = f.stat()
            except OSError:
                parts.append(f"{f}:missing")  # reported by the decoder
                continue
            parts.append(f"{f}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]
