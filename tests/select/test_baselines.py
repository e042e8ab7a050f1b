"""Baselines: every method meets the budget band through exact surgery, on a
tiny residual CNN and on CIFAR ResNet-20, with and without round_to; channel
criteria, determinism, reports and errors."""

import functools

import numpy as np
import pytest

import keras
from keras import layers as L

import dais_keras as dk
from dais_keras.select import baselines
from dais_keras.select.baselines import methods as baselines_methods
from dais_keras import models
from dais_keras import testing

BUDGETS = (0.3, 0.5, 0.7)
ROUND_TO = (None, 8)


def tiny_residual_cnn(seed=0):
    """16x16x3 -> 10 logits: a stem, a strided conv and one residual block,
    widths multiples of 8 so that round_to=8 can meet every budget."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((16, 16, 3))
    x = L.ReLU()(L.BatchNormalization(name="bn1")(L.Conv2D(16, 3, padding="same", name="stem")(inp)))
    x = L.ReLU()(L.BatchNormalization(name="bn2")(
        L.Conv2D(48, 3, strides=2, padding="same", name="down")(x)))
    h = L.ReLU()(L.BatchNormalization(name="bn3")(L.Conv2D(40, 3, padding="same", name="block_conv1")(x)))
    h = L.BatchNormalization(name="bn4")(L.Conv2D(48, 3, padding="same", name="block_conv2")(h))
    x = L.ReLU()(L.Add()([x, h]))
    x = L.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, L.Dense(10, name="logits")(x), name="tiny_residual")
    testing.randomize_weights(model, seed=seed)
    return model


@pytest.fixture(scope="session")
def tiny():
    return tiny_residual_cnn()


@pytest.fixture(scope="session")
def resnet20():
    model = models.cifar_resnet(20)
    testing.randomize_weights(model, seed=1)
    return model


def _x(model, n=2, seed=0):
    shape = tuple(model.inputs[0].shape[1:])
    return np.random.default_rng(seed).uniform(0, 255, (n,) + shape).astype("float32")


@functools.lru_cache(maxsize=None)
def _facts(model):
    """`(MACs, channel graph)` of a fixture model, computed once."""
    return dk.count_macs(model), dk.channel_groups(model)


def _check_band(model, pruned, report, budget, round_to):
    total, graph = _facts(model)
    macs = dk.count_macs(pruned)
    assert report.feasible, report.message
    assert report.message == ""
    assert report.total_macs == total
    assert macs == report.macs
    assert (1 - 0.05) * budget * total <= macs <= budget * total
    by_id = {g["id"]: g for g in report.groups}
    assert set(by_id) == {g.id for g in graph.prunable}
    for group in graph.groups:
        if group.frozen:
            assert group.id not in report.keep
            continue
        kept = by_id[group.id]["kept"]
        assert 1 <= kept <= group.size
        if round_to:
            assert kept % round_to == 0 or kept == group.size, (group.name, kept)
        indices = report.keep.get(group.id, list(range(group.size)))
        assert len(indices) == kept
        assert indices == sorted(set(indices))


@pytest.mark.parametrize("round_to", ROUND_TO)
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("method", baselines.available())
def test_tiny_residual_cnn_meets_the_band(tiny, method, budget, round_to):
    pruned, report = baselines.prune(tiny, method, budget, round_to=round_to)
    _check_band(tiny, pruned, report, budget, round_to)
    assert report.params_after == dk.count_params(pruned) < report.params_before


@pytest.mark.parametrize("round_to", ROUND_TO)
@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("method", baselines.available())
def test_resnet20_meets_the_band(resnet20, method, budget, round_to):
    pruned, report = baselines.prune(resnet20, method, budget, round_to=round_to)
    _check_band(resnet20, pruned, report, budget, round_to)
    # The classifier's 10 outputs are frozen: never pruned.
    assert pruned.get_layer("logits").units == 10


@pytest.mark.parametrize("method", baselines.available())
def test_pruned_model_is_the_surgery_of_the_chosen_keep(tiny, method):
    pruned, report = baselines.prune(tiny, method, 0.5, round_to=8, seed=3)
    reference = dk.surgery.prune(tiny, report.keep)
    assert [w.shape for w in pruned.get_weights()] == [w.shape for w in reference.get_weights()]
    for a, b in zip(pruned.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = _x(tiny)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(pruned(x)), keras.ops.convert_to_numpy(reference(x))
    )
    keep, selected = baselines.select(tiny, method, 0.5, round_to=8, seed=3)
    assert keep == report.keep
    assert selected.params_after is None


def test_prune_does_not_change_the_model(tiny):
    before = [w.copy() for w in tiny.get_weights()]
    x = _x(tiny)
    out = keras.ops.convert_to_numpy(tiny(x))
    baselines.prune(tiny, "l1-global", 0.3)
    for a, b in zip(before, tiny.get_weights()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(out, keras.ops.convert_to_numpy(tiny(x)))


def test_uniform_keeps_first_channels_with_one_multiplier(resnet20):
    _, report = baselines.select(resnet20, "uniform", 0.5)
    for gid, kept in report.keep.items():
        assert kept == list(range(len(kept)))
    fractions = [g["kept"] / g["size"] for g in report.groups]
    # One multiplier: widths round(r * size), at most a step apart after the
    # band adjustment.
    assert max(fractions) - min(fractions) <= 2 / 16 + 1e-9


def test_l1_layer_uses_uniform_widths_and_largest_l1_filters(tiny):
    _, uniform = baselines.select(tiny, "uniform", 0.5)
    _, l1 = baselines.select(tiny, "l1-layer", 0.5)
    assert [g["kept"] for g in uniform.groups] == [g["kept"] for g in l1.groups]
    graph = _facts(tiny)[1]
    group = graph["block_conv1"]  # one producer: its kernel's output slices
    kernel = tiny.get_layer("block_conv1").get_weights()[0]
    norms = np.abs(kernel).sum(axis=(0, 1, 2))
    kept = l1.keep[group.id]
    expected = sorted(np.argsort(-norms, kind="stable")[: len(kept)].tolist())
    assert kept == expected


def test_weight_norms_sum_over_producers_and_consumers(tiny):
    graph = _facts(tiny)[1]
    write, read = baselines.channel_weight_norms(graph, p=1)
    shared = graph["down"]  # written by 'down' and 'block_conv2' (residual)
    assert sorted(shared.producers) == ["block_conv2", "down"]
    k = {n: tiny.get_layer(n).get_weights()[0] for n in ("down", "block_conv1", "block_conv2", "logits")}
    np.testing.assert_allclose(
        write[shared.id],
        np.abs(k["down"]).sum(axis=(0, 1, 2)) + np.abs(k["block_conv2"]).sum(axis=(0, 1, 2)),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        read[shared.id],
        np.abs(k["block_conv1"]).sum(axis=(0, 1, 3)) + np.abs(k["logits"]).sum(axis=1),
        rtol=1e-5,
    )
    write2, read2 = baselines.channel_weight_norms(graph, p=2)
    np.testing.assert_allclose(
        write2[shared.id],
        np.sqrt((k["down"] ** 2).sum(axis=(0, 1, 2)) + (k["block_conv2"] ** 2).sum(axis=(0, 1, 2))),
        rtol=1e-6,
    )
    with pytest.raises(ValueError, match="`p`"):
        baselines.channel_weight_norms(graph, p=3)


def test_group_norm_of_a_residual_group_sums_every_producer_and_consumer(tiny):
    graph = _facts(tiny)[1]
    shared = graph["down"]  # written by 'down', 'block_conv2'; read by 'block_conv1', 'logits'
    w = {n: [a.astype(np.float64) for a in tiny.get_layer(n).get_weights()]
         for n in ("down", "block_conv2", "bn2", "bn4", "block_conv1", "logits")}
    squares = sum((w[n][0] ** 2).sum(axis=(0, 1, 2)) + w[n][1] ** 2 for n in ("down", "block_conv2"))
    squares = squares + sum(w[n][0] ** 2 + w[n][1] ** 2 for n in ("bn2", "bn4"))  # gamma, beta
    squares = squares + (w["block_conv1"][0] ** 2).sum(axis=(0, 1, 3)) + (w["logits"][0] ** 2).sum(axis=1)
    np.testing.assert_allclose(baselines.group_norms(graph)[shared.id], np.sqrt(squares), rtol=1e-6)


def test_weight_norms_of_depthwise_separable_dense_and_flatten():
    keras.utils.set_random_seed(0)
    inp = keras.Input((6, 6, 3))
    x = L.Conv2D(8, 1, name="expand")(inp)
    x = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = L.SeparableConv2D(4, 3, padding="same", depth_multiplier=2, name="sep")(x)
    x = L.Flatten()(L.MaxPooling2D(3)(x))
    model = keras.Model(inp, L.Dense(5, name="fc")(x))
    graph = dk.channel_groups(model)
    write, read = baselines.channel_weight_norms(graph, p=1)
    expand = graph["expand"]
    dw = np.abs(model.get_layer("dw").get_weights()[0])  # (3, 3, 8, 1)
    sep_dw, sep_pw = (np.abs(w) for w in model.get_layer("sep").get_weights()[:2])
    np.testing.assert_allclose(
        write[expand.id],
        np.abs(model.get_layer("expand").get_weights()[0]).sum(axis=(0, 1, 2)) + dw.sum(axis=(0, 1, 3)),
        rtol=1e-5,
    )
    sep_in = sep_dw.sum(axis=(0, 1, 3)) + sep_pw.sum(axis=(0, 1, 3)).reshape(8, 2).sum(axis=1)
    np.testing.assert_allclose(read[expand.id], dw.sum(axis=(0, 1, 3)) + sep_in, rtol=1e-5)
    sep = graph["sep"]
    fc = np.abs(model.get_layer("fc").get_weights()[0])  # (2*2*4, 5), channels fastest
    np.testing.assert_allclose(write[sep.id], sep_pw.sum(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(read[sep.id], fc.sum(axis=1).reshape(-1, 4).sum(axis=0), rtol=1e-5)
    for method in baselines.available():
        pruned, report = baselines.prune(model, method, 0.5)
        assert report.feasible, (method, report.message)
        assert dk.count_macs(pruned) == report.macs


def test_cpmc_score_formula(tiny):
    graph = _facts(tiny)[1]
    problem = baselines.Problem(tiny, 0.5, 0.05, None, 1, 0, None)
    plan = baselines.get("cpmc").plan(problem)
    group = graph["block_conv1"]
    g = [x.id for x in problem.groups].index(group.id)
    scores = plan.scores[problem.offsets[g] : problem.offsets[g + 1]]
    k1 = tiny.get_layer("block_conv1").get_weights()[0]
    k2 = tiny.get_layer("block_conv2").get_weights()[0]
    raw = np.sqrt((k1 ** 2).sum(axis=(0, 1, 2))) * np.sqrt((k2 ** 2).sum(axis=(0, 1, 3)))
    np.testing.assert_allclose(scores, raw / raw.mean(), rtol=1e-6)
    assert plan.per_mac and plan.widths is None


def test_random_is_deterministic_per_seed(resnet20):
    keep_a, _ = baselines.select(resnet20, "random", 0.5, seed=7)
    keep_b, _ = baselines.select(resnet20, "random", 0.5, seed=7)
    keep_c, _ = baselines.select(resnet20, "random", 0.5, seed=8)
    assert keep_a == keep_b
    assert keep_a != keep_c


def test_deterministic_methods_ignore_the_seed(tiny):
    for method in ("uniform", "l1-layer", "l1-global", "cpmc", "group-norm", "group-norm-global"):
        assert baselines.select(tiny, method, 0.5, seed=0)[0] == baselines.select(tiny, method, 0.5, seed=5)[0]


def test_round_to_that_cannot_meet_the_band_is_reported(strict_then_best_effort):
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    x = L.ReLU()(L.Conv2D(8, 3, padding="same", name="a")(inp))
    x = L.ReLU()(L.Conv2D(16, 3, padding="same", name="b")(x))
    model = keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(x)))
    # Widths: 'a' in {8}, 'b' in {8, 16}: MACs ratios 1.0 or ~0.5 only.
    pruned, report = baselines.prune(model, "l1-global", 0.7, round_to=8)
    assert not report.feasible
    assert "round_to=8 cannot reach the band" in report.message
    assert "none of the 2 combinations of allowed widths" in report.message
    assert "shortfall" in report.message
    assert dk.count_macs(pruned) <= 0.7 * dk.count_macs(model)
    assert "WARNING" in report.summary()
    # Above the target: the minimum widths alone are too many MACs.
    _, report = strict_then_best_effort(
        baselines.prune, "round_to=8 keeps at least", model, "uniform", 0.2, round_to=8
    )
    assert not report.feasible and "above the target" in report.message


def test_min_width_is_respected(resnet20):
    _, report = baselines.select(resnet20, "l1-global", 0.3, min_width=0.25)
    assert report.feasible
    for g in report.groups:
        assert g["kept"] >= int(np.ceil(0.25 * g["size"]))


def test_frozen_layers_are_untouched(tiny):
    pruned, report = baselines.prune(tiny, "l1-global", 0.5, frozen_layers=["stem"])
    assert pruned.get_layer("stem").filters == 16
    assert "stem" not in [g["name"] for g in report.groups]
    assert report.feasible, report.message


def test_report_serialises_and_prints(tiny):
    import json

    _, report = baselines.prune(tiny, "cpmc", 0.5, round_to=8)
    data = json.loads(json.dumps(report.as_dict()))
    assert data["method"] == "cpmc" and data["round_to"] == 8
    assert data["macs"] == report.macs and 0.475 <= data["ratio"] <= 0.5
    assert set(data["keep"]) == {str(k) for k in report.keep}
    text = str(report)
    assert "cpmc: budget 50.0%" in text and "block_conv1" in text


@pytest.mark.parametrize("budget", [0, 1, 1.5, -0.1, "half", True, float("nan"), None])
def test_bad_budget_names_the_argument(tiny, budget):
    with pytest.raises(ValueError, match="`budget` must be a MACs fraction in \\(0, 1\\)"):
        baselines.prune(tiny, "uniform", budget)


def test_bad_arguments(tiny):
    with pytest.raises(ValueError, match="Unknown baseline `method` 'l3'.*'l1-global'"):
        baselines.prune(tiny, "l3", 0.5)
    with pytest.raises(ValueError, match="`round_to`"):
        baselines.prune(tiny, "uniform", 0.5, round_to=0)
    with pytest.raises(ValueError, match="`min_width`"):
        baselines.prune(tiny, "uniform", 0.5, min_width=0)
    with pytest.raises(ValueError, match="`seed`"):
        baselines.prune(tiny, "random", 0.5, seed=-1)
    with pytest.raises(ValueError, match="`band`"):
        baselines.prune(tiny, "random", 0.5, band=1.0)


def test_registry_lists_and_extends(tiny):
    assert baselines.available()[:5] == ["uniform", "l1-layer", "l1-global", "random", "cpmc"]
    assert set(baselines.METHODS) == set(baselines.available())

    def _reverse_index(problem):
        return baselines.Plan(scores=-problem.index_scores(), per_mac=False)

    baselines.register_method("test-last-channels", "keeps the last channels")(_reverse_index)
    try:
        model = tiny
        _, report = baselines.select(model, "test-last-channels", 0.5)
        assert report.feasible
        for gid, kept in report.keep.items():
            size = _facts(model)[1].groups[gid].size
            assert kept == list(range(size - len(kept), size))
        with pytest.raises(ValueError, match="already registered"):
            baselines.register_method("test-last-channels", "again")(lambda p: None)
    finally:
        baselines_methods._METHODS.pop("test-last-channels", None)


def test_allowed_widths():
    np.testing.assert_array_equal(baselines.allowed_widths(5), [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(baselines.allowed_widths(20, 1, 8), [8, 16, 20])
    np.testing.assert_array_equal(baselines.allowed_widths(6, 1, 8), [6])
    np.testing.assert_array_equal(baselines.allowed_widths(32, 10, 8), [16, 24, 32])


# ------------------------------------------------ never above the budget


def test_one_small_group_stays_under_the_budget():
    inp = keras.Input((8, 8, 3))
    x = L.ReLU()(L.Conv2D(3, 3, padding="same", name="a")(inp))
    model = keras.Model(inp, L.Dense(2)(L.GlobalAveragePooling2D()(x)))
    for method in baselines.available():
        _, report = baselines.select(model, method, 0.6)
        assert report.met and report.macs <= 0.6 * report.total_macs, method
        assert not report.feasible and "none of the 3 combinations" in report.message


def test_tiny_budget_raises_naming_the_frozen_groups(tiny):
    with pytest.raises(ValueError, match=r"frozen groups alone cost [\d,]+ MACs \(4\.0%\)"):
        baselines.select(tiny, "l1-global", 0.01, frozen_layers=["stem"])
    with pytest.raises(ValueError, match=r"minimum widths \(min_width=0.5\)"):
        baselines.select(tiny, "l1-global", 0.2, min_width=0.5)


def test_coarse_round_to_raises_or_warns_with_best_effort(tiny, strict_then_best_effort):
    pruned, report = strict_then_best_effort(
        baselines.prune, "round_to=64 keeps at least", tiny, "uniform", 0.5, round_to=64
    )
    assert report.macs == report.total_macs == dk.count_macs(pruned)
