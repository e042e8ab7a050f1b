"""Binarisation with the budget guarantee (dais_keras.budget.repair)."""

import numpy as np
import pytest

import keras

import dais_keras as dk
from dais_keras.select import repair as repair_lib
from dais_keras.select.guarantee import check_reachable
from dais_keras import surgery

# One toy model and its indicator model for the whole module: the repair
# changes only the indicators' alpha and mode, which `_model` resets.
_SHARED = {}


@pytest.fixture
def shared(toy):
    if not _SHARED:
        _SHARED["search"] = dk.attach_indicators(toy.model())
        _SHARED["macs"] = dk.count_macs(toy.model())
    return _SHARED


def _model(shared, alphas):
    """The toy indicator model with the given alpha per indicator (callables
    of the group size or arrays), in soft mode."""
    model = shared["search"]
    for layer, a in zip(dk.indicator_layers(model), alphas):
        value = a(layer.units) if callable(a) else np.asarray(a, "float32")
        layer.alpha.assign(np.asarray(value, "float32"))
    dk.binarize(model, hard=False)
    return model


def _widths(model):
    return [int((keras.ops.convert_to_numpy(l.alpha) > 0).sum()) for l in dk.indicator_layers(model)]


def _check(model, report, budget=0.5, band=0.05):
    pruned = surgery.apply(model)
    macs = dk.count_macs(pruned)
    assert macs == report.macs_after
    assert report.feasible, report.message
    assert (1 - band) * budget * report.total_macs <= macs <= budget * report.total_macs
    assert all(l.hard for l in dk.indicator_layers(model))
    assert [g["after"] for g in report.groups] == _widths(model)
    return pruned


def test_architecture_in_band_is_left_alone(shared):
    # conv1 8/8, stage 8/16, block 8/16: find a choice near 50 % by hand.
    model = _model(shared, [np.ones(8), np.r_[np.ones(11), -np.ones(5)], np.r_[np.ones(11), -np.ones(5)]])
    ratio = dk.count_macs(surgery.apply(model)) / shared["macs"]
    report = repair_lib.repair(model, ratio + 0.01)
    assert report.channels_changed == 0
    assert report.macs_before == report.macs_after


def _exact(model, masks):
    return model.search_structure().cost.exact(np.concatenate(masks))


@pytest.mark.parametrize("round_to", [None, 4])
def test_fill_regrows_highest_alpha_channels_while_they_fit(shared, round_to):
    # In the band but below the target, with distinct alphas everywhere.
    rng = np.random.default_rng(2)
    alphas = [np.linspace(0.5, 2, 8)] + [
        rng.permutation(np.r_[np.linspace(0.5, 2, 8), -np.linspace(0.1, 2, 8)]) for _ in range(2)]
    model = _model(shared, alphas)
    ratio = dk.count_macs(surgery.apply(model)) / shared["macs"]
    budget = ratio + 0.1  # in the band of 0.3, with room for more channels
    report = repair_lib.repair(model, budget, band=0.3, round_to=round_to, fill=True)
    assert report.macs_before >= 0.7 * budget * shared["macs"]  # in the band already
    _check(model, report, budget=budget, band=0.3)
    assert report.channels_regrown > 0 and report.channels_dropped == 0
    assert report.macs_before < report.macs_after <= budget * shared["macs"]
    kept = [keras.ops.convert_to_numpy(l.alpha) > 0 for l in dk.indicator_layers(model)]
    # The regrown channels of a group are its highest-alpha removed ones.
    for a, k in zip(alphas, kept):
        grown = k & (a <= 0)
        if grown.any() and (~k).any():
            assert a[grown].min() > a[~k].max()
    # No allowed step up fits any more.
    for g, (layer, k) in enumerate(zip(dk.indicator_layers(model), kept)):
        if k.all():
            continue
        step = 1 if round_to is None else round_to - int(k.sum()) % round_to
        missing = np.flatnonzero(~k)
        more = list(kept)
        more[g] = k.copy()
        more[g][missing[:step]] = True
        assert _exact(model, more) > budget * shared["macs"], layer.name


def test_fill_keeps_an_architecture_that_uses_the_whole_budget(shared):
    model = _model(shared, [np.ones(8), np.r_[np.ones(11), -np.ones(5)], np.r_[np.ones(11), -np.ones(5)]])
    ratio = dk.count_macs(surgery.apply(model)) / shared["macs"]
    report = repair_lib.repair(model, ratio, fill=True)
    assert report.channels_changed == 0


def test_too_many_macs_drops_lowest_alpha_per_mac(shared):
    rng = np.random.default_rng(0)
    alphas = [rng.uniform(0.1, 3.0, n) for n in (8, 16, 16)]
    model = _model(shared, alphas)
    report = repair_lib.repair(model, 0.5)
    _check(model, report)
    assert report.channels_dropped > 0 and report.channels_regrown == 0
    assert report.macs_before == shared["macs"]
    # Within a group, the dropped channels are the lowest-alpha ones.
    for layer, a in zip(dk.indicator_layers(model), alphas):
        kept = keras.ops.convert_to_numpy(layer.alpha) > 0
        if kept.any() and (~kept).any():
            assert a[kept].min() > a[~kept].max()
    # Kept channels keep their alpha; removed ones become negative, in order.
    for layer, a in zip(dk.indicator_layers(model), alphas):
        new = keras.ops.convert_to_numpy(layer.alpha)
        kept = new > 0
        np.testing.assert_allclose(new[kept], a[kept], rtol=1e-6)
        assert np.all(np.argsort(new[~kept]) == np.argsort(a[~kept]))


def test_too_few_macs_regrows_and_never_empties_a_group(shared):
    model = _model(shared, [lambda n: -np.linspace(1, 2, n)] * 3)
    report = repair_lib.repair(model, 0.5)
    _check(model, report)
    assert report.channels_regrown > 0 and report.channels_dropped == 0
    assert report.macs_before == 0 or min(g["before"] for g in report.groups) == 0
    assert min(_widths(model)) >= 1


def test_min_width_fraction_is_kept(shared):
    model = _model(shared, [lambda n: -np.ones(n)] * 3)
    report = repair_lib.repair(model, 0.5, min_width=0.5)
    _check(model, report)
    assert all(g["after"] >= g["size"] // 2 for g in report.groups)


def test_round_to_aligns_every_pruned_group(shared):
    rng = np.random.default_rng(1)
    model = _model(shared, [lambda n: rng.normal(size=n)] * 3)
    report = repair_lib.repair(model, 0.5, round_to=4, band=0.15)
    _check(model, report, band=0.15)
    for g in report.groups:
        assert g["after"] == g["size"] or g["after"] % 4 == 0


def test_impossible_round_to_says_so_and_by_how_much(shared, strict_then_best_effort):
    # Groups of 8 and 16 channels cannot be pruned to a multiple of 16.
    model = _model(shared, [lambda n: np.ones(n)] * 3)
    report = strict_then_best_effort(repair_lib.repair, "round_to=16", model, 0.5, round_to=16)
    assert not report.feasible
    assert "round_to=16" in report.message and "100.0% above the target" in report.message
    assert report.macs_after == report.total_macs
    assert "WARNING" in report.summary()


def test_impossible_min_width_says_so(shared, strict_then_best_effort):
    model = _model(shared, [lambda n: np.ones(n)] * 3)
    report = strict_then_best_effort(repair_lib.repair, "min_width=1.0", model, 0.3, min_width=1.0)
    assert not report.feasible
    assert "above the target" in report.message
    assert report.macs_after == report.total_macs


def test_report_is_readable_and_serialisable(shared):
    model = _model(shared, [lambda n: np.linspace(-1, 1, n)] * 3)
    report = repair_lib.repair(model, 0.5)
    d = report.as_dict()
    assert d["channels_changed"] == report.channels_changed
    assert {"macs_before", "macs_after", "target_macs", "groups"} <= set(d)
    text = str(report)
    assert "alpha > 0 architecture" in text and "conv1" in text


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"budget": 1.5}, "budget"),
        ({"budget": 0.0}, "budget"),
        ({"budget": 0.5, "round_to": 0}, "round_to"),
        ({"budget": 0.5, "min_width": 0}, "min_width"),
        ({"budget": 0.5, "min_width": 1.5}, "min_width"),
        ({"budget": 0.5, "band": 1.0}, "band"),
    ],
)
def test_bad_arguments_name_themselves(shared, kwargs, name):
    model = _model(shared, [lambda n: np.ones(n)] * 3)
    with pytest.raises(ValueError, match=f"`{name}`"):
        repair_lib.repair(model, **kwargs)


# ------------------------------------------------ never above the budget


def test_one_small_group_stays_under_the_budget():
    # One 3-channel group: widths 1, 2, 3 cost 1/3, 2/3, 1 of the MACs, so
    # no width lies in the band [0.57, 0.6]; the repair keeps 1 channel
    # (under the budget) rather than 2 (11 % above it).
    inp = keras.Input((8, 8, 3))
    x = keras.layers.ReLU()(keras.layers.Conv2D(3, 3, padding="same", name="a")(inp))
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x)))
    search = dk.attach_indicators(model)
    report = repair_lib.repair(search, 0.6)
    assert report.met and report.macs_after <= 0.6 * report.total_macs
    assert dk.count_macs(surgery.apply(search)) == report.macs_after
    assert not report.feasible and "below the target" in report.message


def test_residual_model_ends_at_or_below_the_target(shared):
    # The stage and block groups (16 channels) step by 8: the band at 0.5
    # cannot be reached, and the closest choice above it (56.5 %) is not
    # taken: widths 8/8/8 (39 %) are.
    model = _model(shared, [lambda n: np.linspace(-1, 1, n)] * 3)
    report = repair_lib.repair(model, 0.5, round_to=8)
    assert report.met and report.macs_after <= 0.5 * report.total_macs
    assert dk.count_macs(surgery.apply(model)) == report.macs_after
    assert [g["after"] for g in report.groups] == [8, 8, 8]


def test_tiny_budget_raises_naming_the_minimum_widths(shared):
    model = _model(shared, [lambda n: np.ones(n)] * 3)
    with pytest.raises(ValueError, match=r"minimum widths \(min_width=1\) keep [\d,]+ MACs \(2\.0%\)"):
        repair_lib.repair(model, 0.01)
    # Nothing was changed.
    assert not any(l.hard for l in dk.indicator_layers(model))
    assert all((keras.ops.convert_to_numpy(l.alpha) > 0).all() for l in dk.indicator_layers(model))


def test_tiny_budget_raises_naming_the_frozen_groups(toy, strict_then_best_effort):
    # conv1 (reading the image) frozen: it alone costs 13 % of the MACs.
    search = dk.attach_indicators(toy.model(), frozen_layers=["conv1"])
    report = strict_then_best_effort(
        repair_lib.repair, r"frozen groups alone cost [\d,]+ MACs \(13\.0%\)", search, 0.05
    )
    assert report.macs_after > 0.05 * report.total_macs


def test_coarse_round_to_raises_naming_round_to(shared, strict_then_best_effort):
    model = _model(shared, [lambda n: np.ones(n)] * 3)
    report = strict_then_best_effort(
        repair_lib.repair, "round_to=64 keeps at least 424,000 MACs", model, 0.5, round_to=64
    )
    assert report.macs_after == report.total_macs


def test_reachability_is_checked_before_a_search(shared):
    structure = shared["search"].search_structure()
    assert check_reachable(structure, 0.5) == ""
    with pytest.raises(ValueError, match="round_to=64"):
        check_reachable(structure, 0.5, round_to=64)
    with pytest.warns(UserWarning, match="minimum widths"):
        assert "minimum widths" in check_reachable(structure, 0.01, best_effort=True)
