"""Atomic files: a reader sees the old file or the new one, never a part.

Every file the library writes (zoo index and weights, caches, latency tables,
exports, run results) goes through `atomic_write` or `atomic_path`.
"""

import contextlib
import json
import math
import os
import pathlib
import tempfile


@contextlib.contextmanager
def atomic_path(path, mode=0o644):
    """Yields a temporary path beside `path`; moves it into place on success.

    The temporary file is in the same directory (so the final `os.replace` is
    atomic) and is removed if the block raises. Nothing is replaced then.

    Args:
        path: The destination file.
        mode: Permissions of the final file (`mkstemp` makes 0600 files).

    Example:

    ```python
    with atomic_path("model.tflite") as tmp:
        pathlib.Path(tmp).write_bytes(payload)
    ```
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write(path, payload, mode=0o644):
    """Writes `payload` (bytes or str) to `path` atomically, with fsync.

    Returns:
        `path` as a `pathlib.Path`.
    """
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    with atomic_path(path, mode) as tmp:
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
    return pathlib.Path(path)


def _reject_non_finite(value, where="$"):
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(
            f"{where} is {value!r}; JSON has no NaN or infinity. Pass a finite "
            "number or None."
        )
    if isinstance(value, dict):
        for k, v in value.items():
            _reject_non_finite(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _reject_non_finite(v, f"{where}[{i}]")


def write_json(path, data, indent=2, sort_keys=False, default=None):
    """Writes `data` as strict JSON (no NaN / infinity) to `path`, atomically.

    Raises:
        ValueError: if `data` holds a non-finite float (named by its path).
    """
    _reject_non_finite(data)
    text = json.dumps(
        data, indent=indent, sort_keys=sort_keys, ensure_ascii=False,
        allow_nan=False, default=default,
    )
    return atomic_write(path, text + "\n")


def check_finite(data, name="data"):
    """Raises a `ValueError` naming the first NaN or infinity in `data`
    (nested dicts and lists), which strict JSON cannot hold."""
    _reject_non_finite(data, name)
