"""Budgets: parsing (MACs and latency budgets) and the argument checks shared
by the search, the repair and the baselines."""

import numpy as np
import pytest

from dais_keras.cost import budget as budget_lib


@pytest.mark.parametrize(
    "budget, kind, value",
    [
        (0.5, "macs", 0.5),
        ({"macs": 0.3}, "macs", 0.3),
        ({"latency": 0.5}, "latency", 0.5),
        ({"latency_ms": 3.0}, "latency_ms", 3.0),
    ],
)
def test_parse_budget(budget, kind, value):
    spec = budget_lib.parse_budget(budget)
    assert (spec.kind, spec.value) == (kind, value)
    assert budget_lib.parse_budget(spec.to_config()) == spec


@pytest.mark.parametrize(
    "budget",
    [1.5, 0, {"latency": 1.0}, {"latency_ms": -1}, {"speed": 0.5},
     {"latency": 0.5, "macs": 0.5}, "0.5", True, {"latency": "fast"}],
)
def test_bad_budgets_are_rejected_clearly(budget):
    with pytest.raises(ValueError, match="`budget` must be a MACs fraction"):
        budget_lib.parse_budget(budget)


def test_latency_ms_at_or_above_the_unpruned_latency_is_an_error():
    spec = budget_lib.parse_budget({"latency_ms": 5.0})
    with pytest.raises(ValueError, match="nothing to prune"):
        spec.target(4.0)
    assert spec.target(10.0) == 5.0


def test_macs_only_budgets():
    assert budget_lib.parse_budget(np.float32(0.25), kinds=("macs",)).value == 0.25
    assert budget_lib.parse_budget({"macs": 0.5}, kinds=("macs",)).kind == "macs"
    for bad in ({"latency": 0.5}, budget_lib.Budget("latency", 0.5), 1.0, None):
        with pytest.raises(ValueError, match="`budget` must be a number in \\(0, 1\\)"):
            budget_lib.parse_budget(bad, kinds=("macs",))


def test_labels_and_text():
    assert budget_lib.parse_budget(0.5).label() == "50"
    assert budget_lib.parse_budget({"latency": 0.3}).label() == "lat30"
    assert budget_lib.parse_budget({"latency_ms": 2.5}).label() == "lat2.5ms"
    assert str(budget_lib.parse_budget(0.5)) == "50.0% of the MACs"


@pytest.mark.parametrize(
    "check, good, bad",
    [
        (budget_lib.check_band, [(0.05, 0.05), (0.5, 0.5)], [0, 1, 1.5, "x", True, float("nan")]),
        (budget_lib.check_min_width, [(1, 1), (3, 3), (0.25, 0.25), (1.0, 1.0)],
         [0, -1, 1.5, 0.0, True, "1"]),
        (budget_lib.check_round_to, [(None, None), (1, 1), (8, 8), (np.int64(4), 4)],
         [0, -8, 2.5, True, "8"]),
    ],
)
def test_argument_checks_name_the_argument(check, good, bad):
    name = check.__name__[len("check_"):]
    for value, expected in good:
        assert check(value) == expected
    for value in bad:
        with pytest.raises(ValueError, match=f"`{name}`"):
            check(value)
