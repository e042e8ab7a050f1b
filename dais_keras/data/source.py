"""Finding CIFAR-10: which copy is read, and what to say when there is none.

Searched in order (see `cifar10_source`):

1. the `data_dir` argument, if given (nothing else is searched then);
2. otherwise the directory in `$DAIS_DATA_DIR`, then the project's shared
   data directory `<repository>/../shared/data`, then `tensorflow_datasets`
   (`cifar10`, downloads; only if `download=True`).

In a data directory the first format of `formats.LAYOUTS` found is used:
the original pixels before the lossy JPEG copy unless `variant="jpeg"`.
"""

import dataclasses
import importlib.util
import os
from pathlib import Path

from dais_keras.data import formats
from dais_keras.data.errors import DataNotFoundError
from dais_keras.utils import checks
from dais_keras.utils import paths

DATA_DIR_ENV = "DAIS_DATA_DIR"
SHARED_ORIGIN = "shared data dir"

_VARIANT_HINT = (
    "Use None (any), 'original' (exact pixels: pickles, binary records or "
    "tfds) or 'jpeg' (the lossy JPEG copy)."
)
# What the list of searched places says of a place that is not set.
_UNSET = {
    DATA_DIR_ENV: f"${DATA_DIR_ENV}: not set",
    SHARED_ORIGIN: f"{SHARED_ORIGIN}: none (no shared/ directory beside the "
    "source checkout)",
}


@dataclasses.dataclass(frozen=True)
class CifarSource:
    """Where CIFAR-10 examples come from.

    Attributes:
        name: `"cifar10-original"` (exact pixels) or `"cifar10-jpeg"` (lossy
            JPEG re-encoding). Use it to name the evaluation set.
        format: `"python"`, `"binary"`, `"jpeg"` or `"tfds"`.
        path: The file or directory read (`None` for tfds).
        origin: How it was found: `"data_dir argument"`, `"DAIS_DATA_DIR"`,
            `"shared data dir"` or `"tensorflow_datasets"`.
        test_order: `"original"` (the order of the original test_batch),
            `"interleaved"` (JPEG without the original labels) or `"tfds"`.
    """

    name: str
    format: str
    path: str = None
    origin: str = ""
    test_order: str = "original"

    @property
    def lossy(self):
        """Whether pixels differ from the original CIFAR-10 pixels."""
        return self.format == "jpeg"


def cifar10_source(data_dir=None, variant=None, download=True):
    """Says which copy of CIFAR-10 `cifar10`/`cifar10_numpy` would read.

    Nothing is decoded or downloaded.

    Args:
        data_dir: See `cifar10`.
        variant: `None`, `"original"` or `"jpeg"`.
        download: Whether the tfds fallback counts as a source.

    Returns:
        A `CifarSource`; `source.name` is `"cifar10-original"` or
        `"cifar10-jpeg"`.

    Raises:
        ValueError: On an unknown `variant`.
        DataNotFoundError: If no copy is found (and tfds is not available).

    Example:

    ```python
    src = dais_keras.data.cifar10_source()
    print(f"top-1 on {src.name} test set")
    ```
    """
    source, searched = resolve(data_dir, variant, download)
    if source.format == "tfds" and not _tfds_installed():
        searched.append("tensorflow_datasets: not installed")
        raise DataNotFoundError(not_found_message(searched, variant))
    return source


def resolve(data_dir, variant, download):
    """Returns `(CifarSource, lines describing each place searched)`.

    Raises:
        ValueError: On an unknown `variant`.
        DataNotFoundError: If no place holds the data and tfds is not allowed.
    """
    if variant is not None:
        checks.explain(
            checks.check_choice, "variant", variant, formats.VARIANTS, hint=_VARIANT_HINT
        )
    searched = []
    for origin, path in search_dirs(data_dir, searched):
        found = _find_in(path, variant)
        if found is None:
            state = "does not exist" if not path.exists() else "none of the files below"
            searched.append(f"{origin}: {path} ({state})")
            continue
        fmt, found_path = found
        source = CifarSource(
            name="cifar10-jpeg" if fmt == "jpeg" else "cifar10-original",
            format=fmt,
            path=str(found_path),
            origin=origin,
            test_order=_test_order(fmt, found_path),
        )
        return source, searched
    if data_dir is None and download and variant in (None, "original"):
        source = CifarSource(
            name="cifar10-original",
            format="tfds",
            origin="tensorflow_datasets",
            test_order="tfds",
        )
        return source, searched
    if data_dir is not None:
        searched.append("(no other place is searched when data_dir is given)")
    elif not download:
        searched.append("tensorflow_datasets: skipped (download=False)")
    else:
        searched.append("tensorflow_datasets: skipped (variant='jpeg')")
    raise DataNotFoundError(not_found_message(searched, variant))


def shared_data_dir():
    """`<repository>/../shared/data`, the project's shared data directory.

    Returns:
        A `pathlib.Path`, or `None` where there is no `shared/` directory
        beside the source checkout (e.g. an installed package).
    """
    shared = paths.shared_dir()
    return None if shared is None else shared / "data"


def search_dirs(data_dir, searched):
    """Yields the candidate data directories as `(origin, path)`, in order.

    Args:
        data_dir: The `data_dir` argument: when given, the only candidate.
        searched: A list; a line is appended for each place that is not set.
    """
    if data_dir is not None:
        yield "data_dir argument", Path(data_dir).expanduser()
        return
    env = os.environ.get(DATA_DIR_ENV)
    for origin, path in [
        (DATA_DIR_ENV, Path(env).expanduser() if env else None),
        (SHARED_ORIGIN, shared_data_dir()),
    ]:
        if path is None:
            searched.append(_UNSET[origin])
        else:
            yield origin, path


def not_found_message(searched, variant):
    """The message of `DataNotFoundError`: where we looked, what we expected,
    how to fix it."""
    wanted = "" if variant is None else f" (variant={variant!r})"
    return (
        f"No CIFAR-10 data found{wanted}. Searched, in order:\n"
        f"{numbered(searched)}\n"
        f"Expected in a data directory, any one of:\n{formats.EXPECTED_LAYOUT}\n"
        "To fix it: put one of these in a directory and pass data_dir=<dir>, "
        f"or set the environment variable {DATA_DIR_ENV}=<dir>; or, with "
        "internet access, install tensorflow-datasets and call with "
        "download=True (the default) and no data_dir."
    )


def numbered(lines):
    """`lines` as an indented, numbered list (one string)."""
    return "\n".join(f"  {i}. {line}" for i, line in enumerate(lines, 1))


def jpeg_labels_file(tar_path):
    """The exact-subset file giving original test labels next to a JPEG tar,
    or `None`."""
    root = Path(tar_path).parent
    if root.name == "cifar10-jpeg":
        root = root.parent
    candidate = root / formats.EXACT_TEST_FILE
    return candidate if candidate.is_file() else None


def _find_in(path, variant):
    """Returns `(format, path)` of the first usable layout in `path`."""
    if path.is_file():
        for fmt, rel, kind in formats.LAYOUTS:
            if kind == "tar" and path.name == Path(rel).name:
                ok = variant in (None, formats.variant_of(fmt))
                return (fmt, path) if ok else None
        return None
    if path.is_dir():
        for fmt in ("python", "binary"):  # `path` itself is a batches dir
            if (path / formats.FORMAT_FILES[fmt][0]).is_file():
                if variant in (None, "original"):
                    return fmt, path
        for fmt, rel, kind in formats.LAYOUTS:
            if variant not in (None, formats.variant_of(fmt)):
                continue
            candidate = path / rel
            if candidate.is_dir() if kind == "dir" else candidate.is_file():
                return fmt, candidate
    return None


def _test_order(fmt, path):
    if fmt != "jpeg":
        return "original"
    return "original" if jpeg_labels_file(path) else "interleaved"


def _tfds_installed():
    try:
        return importlib.util.find_spec("tensorflow_datasets") is not None
    except ValueError:  # Imported, without a spec (e.g. a stand-in module).
        return True
