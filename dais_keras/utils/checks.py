"""Argument checks shared by the public functions.

Each raises `ValueError` that names the argument, what was expected and what
was received, and returns the value normalised (e.g. a Python int).
"""

import math
import numbers

import numpy as np


def as_scalar(value):
    """`value` as a Python number when it is a numpy scalar or a 0-d array
    (e.g. `np.float32(0.5)`, `np.array(3)`); anything else unchanged.

    Numbers computed with numpy (`np.mean(...)`, `x.max()`) are numbers to a
    user: every numeric argument accepts them.
    """
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    return value


def check_int(name, value, low=None, high=None):
    """An integer (not a bool) in `[low, high]`; numpy integers and 0-d
    integer arrays count."""
    value = as_scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"`{name}` must be an integer; received {value!r}.")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else (
            f"<= {high}" if low is None else f"in [{low}, {high}]")
        raise ValueError(f"`{name}` must be an integer {bounds}; received {value}.")
    return value


def check_seed(seed, why=""):
    """A non-negative integer seed."""
    seed = as_scalar(seed)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(
            f"`seed` must be an integer >= 0; received {seed!r}." + (f" {why}" if why else "")
        )
    return int(seed)


def check_number(name, value, low=None, high=None, low_open=False, high_open=False):
    """A finite real number within the given bounds; numpy scalars and
    0-d arrays count."""
    value = as_scalar(value)
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(float(value))):
        raise ValueError(f"`{name}` must be a finite number; received {value!r}.")
    value = float(value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low}, "
        hi = "" if high is None else f"{high}" + (")" if high_open else "]")
        interval = f"{lo or '(-inf, '}{hi or 'inf)'}"
        raise ValueError(f"`{name}` must be in {interval}; received {value!r}.")
    return value


def check_fraction(name, value, low_open=True, high=1.0):
    """A number in `(0, high]` (or `[0, high]` with `low_open=False`)."""
    return check_number(name, value, low=0.0, high=high, low_open=low_open)


def check_verbose(name, value, auto=True):
    """Keras' `verbose`: 0, 1 or 2 (or a bool), or `"auto"` where allowed."""
    value = as_scalar(value)
    if value == "auto" and auto:
        return value
    if isinstance(value, bool) or (isinstance(value, numbers.Integral) and value in (0, 1, 2)):
        return int(value)
    allowed = "0 (silent), 1 or 2" + (', or "auto"' if auto else "")
    raise ValueError(f"`{name}` must be {allowed}; received {value!r}.")


def check_names(name, value):
    """A list or tuple of layer names (or `None`: none); returns a tuple."""
    if value is None:
        return ()
    if isinstance(value, str):
        raise ValueError(
            f"`{name}` must be a list of layer names; received the str {value!r}. "
            f"Pass [{value!r}].")
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(
            isinstance(v, str) for v in value):
        raise ValueError(
            f"`{name}` must be a list of layer names (str); received {value!r}.")
    return tuple(value)


def check_choice(name, value, choices):
    """One of `choices`."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {tuple(choices)}; received {value!r}.")
    return value


def explain(check, *args, hint, **kwargs):
    """Runs `check(*args, **kwargs)`; its `ValueError` message gets `hint`
    (e.g. what each valid value means) appended.

    Example:

    ```python
    explain(check_choice, "split", split, SPLITS, hint="'test' is the test set.")
    ```
    """
    try:
        return check(*args, **kwargs)
    except ValueError as e:
        raise ValueError(f"{e} {hint}") from None
