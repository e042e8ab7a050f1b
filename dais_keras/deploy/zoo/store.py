"""Getting an entry's weights and loading them: checksums, downloads into
the cache, and the safe load.

Loading checks the size and sha256 of the weights before anything else
reads them and loads exactly the verified bytes with safe mode pinned on
(`dais_keras.utils.saving.load_model_safely`), so no code from a zoo file
runs, whatever `keras.config.enable_unsafe_deserialization()` said.
"""

import contextlib
import hashlib
import importlib
import pathlib
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings

from dais_keras.deploy import export as export_lib
from dais_keras.deploy.zoo.entry import URL_SCHEMES
from dais_keras.deploy.zoo.entry import ZooEntry
from dais_keras.deploy.zoo.errors import ZooDownloadError
from dais_keras.deploy.zoo.errors import ZooIntegrityError
from dais_keras.deploy.zoo.index import get
from dais_keras.deploy.zoo.index import resolve_cache_dir
from dais_keras.utils import io
from dais_keras.utils.saving import load_model_safely

DOWNLOAD_TIMEOUT = 60.0
_CHUNK = 1 << 20

# The modules whose layers zoo models use (importing them registers them).
_LAYER_MODULES = ("dais_keras.models.layers", "dais_keras.indicators.layer")


def file_digest(path):
    """Returns `(sha256 hex digest, size in bytes)` of a file."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def integrity_error(entry, path, actual, size, what):
    """The `ZooIntegrityError` of a file whose sha256 or size differ."""
    return ZooIntegrityError(
        f"Zoo entry '{entry.key}': {what} '{path}' has sha256 {actual} and "
        f"{size} bytes; expected sha256 {entry.sha256} and {entry.size} bytes. "
        "The file is corrupt or was modified; nothing was loaded or cached. "
        "Restore the file (e.g. from git or its URL) or publish a new version.",
        key=entry.key,
        expected=entry.sha256,
        actual=actual,
        path=str(path),
    )


def cache_path(entry, cache_dir=None):
    """Where a URL entry's verified download is cached."""
    return resolve_cache_dir(cache_dir) / f"{entry.key}-{entry.sha256[:16]}.keras"


def _too_large(entry, read):
    return ZooIntegrityError(
        f"Zoo entry '{entry.key}': the download of '{entry.url}' is larger "
        f"than the recorded {entry.size} bytes (stopped after {read} bytes); "
        f"expected sha256 {entry.sha256}. The file at the URL is not the "
        "published one; nothing was cached.",
        key=entry.key, expected=entry.sha256, actual=None, path=entry.url,
    )


def download(entry, dest, timeout=None):
    """Downloads `entry.url` to `dest`, atomically, only if it verifies.

    Raises:
        ZooDownloadError: If the URL cannot be read (an `OSError` naming
            the entry).
        ZooIntegrityError: If the download is not the recorded file.
    """
    scheme = urllib.parse.urlparse(entry.url).scheme
    if scheme not in URL_SCHEMES:
        raise ValueError(
            f"Zoo entry '{entry.key}' has url {entry.url!r}; only "
            f"{', '.join(URL_SCHEMES)} URLs are allowed."
        )
    with io.atomic_path(dest) as tmp:
        digest, size = hashlib.sha256(), 0
        try:
            with open(tmp, "wb") as out, urllib.request.urlopen(
                entry.url, timeout=timeout or DOWNLOAD_TIMEOUT
            ) as response:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    size += len(chunk)
                    if size > entry.size:
                        raise _too_large(entry, size)
                    digest.update(chunk)
                    out.write(chunk)
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", None) or e
            if getattr(e, "code", None):
                reason = f"HTTP {e.code}: {reason}"
            raise ZooDownloadError(
                f"Zoo entry '{entry.key}': downloading its weights from "
                f"'{entry.url}' failed ({reason}). Check "
                "the URL and the network, or publish the entry with a local file.",
                key=entry.key, url=entry.url,
            ) from e
        if size != entry.size or digest.hexdigest() != entry.sha256:
            raise integrity_error(entry, entry.url, digest.hexdigest(), size, "the download of")


def local_weights(entry, cache_dir=None):
    """The local path of an entry's weights, downloading a URL entry into
    the cache when it has no matching copy there."""
    if entry.file is not None:
        path = entry.weights_path
        if not path.is_file():
            raise ZooIntegrityError(
                f"Zoo entry '{entry.key}': weights file '{path}' is missing. "
                "Restore it (e.g. `git lfs pull` / `git checkout`) or re-publish.",
                key=entry.key, expected=entry.sha256, path=str(path),
            )
        return path
    path = cache_path(entry, cache_dir)
    if path.is_file():
        actual, size = file_digest(path)
        if (actual, size) == (entry.sha256, entry.size):
            return path
        warnings.warn(
            f"Zoo entry '{entry.key}': the cached copy '{path}' does not match "
            "its sha256; removing it and downloading again.",
            stacklevel=3,
        )
        path.unlink()
    download(entry, path)
    return path


def fetch(name, version=None, zoo_dir=None, cache_dir=None):
    """Returns the local path of an entry's verified weights.

    A `file` entry's path is returned after its checksum is verified; a
    `url` entry is downloaded into the cache first unless a verified copy is
    there. A download is written to a temporary file, verified, and only then
    moved into place, so a failed verification leaves nothing in the cache.

    Args:
        name: Entry name, `"name@version"`, or a `ZooEntry`.
        version: Integer version; the latest when `None`.
        zoo_dir: The zoo directory.
        cache_dir: The download cache directory.

    Returns:
        A `pathlib.Path`.

    Raises:
        ZooIntegrityError: If the file is missing or does not match.
        ZooDownloadError: If a URL entry cannot be downloaded.
    """
    entry = name if isinstance(name, ZooEntry) else get(name, version, zoo_dir)
    path = local_weights(entry, cache_dir)
    actual, size = file_digest(path)
    if (actual, size) != (entry.sha256, entry.size):
        raise integrity_error(entry, path, actual, size, "the weights file")
    return path


def _verified_bytes(entry, cache_dir):
    """Reads the weights once; checks them; returns the verified bytes."""
    path = local_weights(entry, cache_dir)
    payload = path.read_bytes()
    actual = hashlib.sha256(payload).hexdigest()
    if (actual, len(payload)) != (entry.sha256, entry.size):
        if entry.file is None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # Never keep a bad copy in the cache.
        raise integrity_error(entry, path, actual, len(payload), "the weights file")
    return payload


def load(name, version=None, *, zoo_dir=None, cache_dir=None, compile=False, custom_objects=None):
    """Loads a zoo model after checking its checksum.

    The weights are read once, their size and sha256 compared with the
    index, and only these verified bytes are loaded, with safe mode pinned
    on: no code from the file runs, even after
    `keras.config.enable_unsafe_deserialization()`. URL entries are
    downloaded into the cache first (see `fetch`).

    Args:
        name: Entry name (latest version) or key `"name@version"`.
        version: Integer version; the latest when `None`.
        zoo_dir: The zoo directory (argument, `$DAIS_ZOO_DIR`, or the
            repository's `zoo/`).
        cache_dir: Download cache (argument, else
            `$DAIS_KERAS_CACHE/zoo`, see `resolve_cache_dir`).
        compile: Whether to compile the model on load. Zoo files are saved
            without an optimizer; defaults to `False`.
        custom_objects: Passed to `keras.saving.load_model` for entries
            with registered custom layers.

    Returns:
        A `keras.Model`.

    Raises:
        ValueError: For an unknown name or version (the message lists what
            exists), or a file that needs code to load (a `Lambda` layer).
        ZooIntegrityError: If the weights are missing, corrupt or tampered
            with.
        ZooDownloadError: If a URL entry cannot be downloaded.

    Example:

    ```python
    model = dais_keras.zoo.load("resnet56-cifar10-dais50@1")
    ```
    """
    entry = get(name, version, zoo_dir)
    payload = _verified_bytes(entry, cache_dir)
    for module in _LAYER_MODULES:
        importlib.import_module(module)
    with tempfile.TemporaryDirectory(prefix="dais-zoo-") as tmp:
        path = pathlib.Path(tmp) / f"{entry.key}.keras"
        path.write_bytes(payload)
        return load_model_safely(path, custom_objects=custom_objects, compile=compile)


def export(name, path, format=None, *, version=None, zoo_dir=None, cache_dir=None, **kwargs):
    """Exports a zoo entry to TFLite or ONNX in one call.

    Args:
        name: Entry name (latest version) or key `"name@version"`.
        path: Output path; the format follows its suffix (`.tflite`,
            `.onnx`) unless `format` is given.
        format: `"tflite"` or `"onnx"`.
        version: Integer version; the latest when `None`.
        zoo_dir: The zoo directory.
        cache_dir: The download cache.
        **kwargs: Passed to `dais_keras.export.tflite` / `onnx` (e.g.
            `quantize="int8", representative_data=x`).

    Returns:
        The `dais_keras.export.ExportResult`.

    Example:

    ```python
    dais_keras.zoo.export("resnet56-cifar10-dais50@1", "m.tflite")
    ```
    """
    model = load(name, version, zoo_dir=zoo_dir, cache_dir=cache_dir)
    return export_lib.export(model, path, format=format, **kwargs)
