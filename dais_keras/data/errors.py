"""The two errors of the data loaders: data not found, data unreadable."""


class DataNotFoundError(FileNotFoundError):
    """No copy of the requested data was found in any searched place."""


class CorruptDataError(ValueError):
    """A data file exists but cannot be read as what it claims to be."""


def corrupt(path, what, error=None):
    """Returns the `CorruptDataError` for `path`, saying what is wrong.

    Args:
        path: The file (or `"archive (member)"`) that cannot be read.
        what: What is wrong with it.
        error: The exception that revealed it, if any (its type and message
            are appended).

    Returns:
        A `CorruptDataError` whose message names `path` and says how to fix it.
    """
    detail = f": {type(error).__name__}: {error}" if error is not None else ""
    return CorruptDataError(
        f"Could not read CIFAR-10 from {path}: {what}{detail}. The data looks "
        "truncated, corrupt or not in the CIFAR-10 layout; replace it with a "
        "fresh copy (see the dais_keras.data module docstring for the "
        "expected layouts)."
    )
