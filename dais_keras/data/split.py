"""The weight/search split of a training set, stratified per class."""

import numpy as np

from dais_keras.utils import checks

DEFAULT_SEARCH_FRACTION = 0.2

_FRACTION_HINT = (
    "Pass a number strictly between 0 and 1, e.g. 0.2 for an 80/20 "
    "weight/search split."
)
_SEED_WHY = "The weight/search split and the shuffle must be reproducible."


def check_search_fraction(value):
    """`value` as a float in (0, 1), else a `ValueError` naming `search_fraction`."""
    return checks.explain(
        checks.check_number, "search_fraction", value, low=0.0, high=1.0,
        low_open=True, high_open=True, hint=_FRACTION_HINT,
    )


def check_split_seed(seed):
    """`seed` as a non-negative int, else a `ValueError` naming `seed`."""
    return checks.check_seed(seed, why=_SEED_WHY)


def split_indices(labels, search_fraction=DEFAULT_SEARCH_FRACTION, seed=0):
    """Splits example indices into a weight part and a search part.

    Stratified: in every class, `round(search_fraction * n_class)` examples,
    drawn with `numpy.random.default_rng(seed)`, go to the search part. The
    result depends only on `labels`, `search_fraction` and `seed`.

    Args:
        labels: 1-D array of integer class ids.
        search_fraction: Fraction in (0, 1) held out for the search part.
        seed: Integer seed.

    Returns:
        `(weight_indices, search_indices)`: sorted, disjoint int64 arrays that
        together cover `range(len(labels))`.

    Raises:
        ValueError: If `search_fraction` is not in (0, 1) or leaves a part
            empty, or `seed` is not a non-negative integer.

    Example:

    ```python
    w, s = split_indices(np.repeat(np.arange(10), 5), 0.2, seed=0)
    assert len(w) == 40 and len(s) == 10
    ```
    """
    search_fraction = check_search_fraction(search_fraction)
    seed = check_split_seed(seed)
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    search = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        n_search = int(round(search_fraction * len(idx)))
        search.append(idx[rng.permutation(len(idx))[:n_search]])
    search = np.sort(np.concatenate(search)) if search else np.zeros(0, int)
    is_search = np.zeros(len(labels), bool)
    is_search[search] = True
    weight = np.flatnonzero(~is_search)
    if len(search) == 0 or len(weight) == 0:
        raise ValueError(
            f"search_fraction={search_fraction} leaves the "
            f"{'search' if len(search) == 0 else 'weight'} part empty for "
            f"{len(labels)} examples; choose a value in (0, 1) such that every "
            "part gets at least one example per class."
        )
    return weight.astype(np.int64), search.astype(np.int64)
