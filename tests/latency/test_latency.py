"""Tests of `dais_keras.latency`: the measured table (build, cache,
interpolation), the latency model and latency budgets in the search."""

import json
import os
import re

import numpy as np
import pytest

import keras
from keras import ops

import dais_keras as dk
from dais_keras.select import repair as repair_lib
from dais_keras import latency as L
from dais_keras.latency import model as model_lib
from dais_keras.latency import probes as probes_lib
from dais_keras.latency import table as table_lib


def tiny_model(name="tiny"):
    x = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(12, 3, padding="same", name="c1")(x)
    y = keras.layers.BatchNormalization(name="bn1")(y)
    y = keras.layers.ReLU()(y)
    y = keras.layers.Conv2D(16, 3, padding="same", name="c2")(y)
    y = keras.layers.ReLU()(y)
    y = keras.layers.GlobalAveragePooling2D()(y)
    y = keras.layers.Dense(4, name="logits")(y)
    return keras.Model(x, y, name=name)


def _shape_timer(fn):
    """A timer reading the one-layer model's channel counts: `fn(c_in, c_out)`."""

    def timer(model):
        return fn(int(model.inputs[0].shape[-1]), int(model.outputs[0].shape[-1]))

    return timer


def bilinear(c_in, c_out):
    return 0.01 + 0.002 * c_in + 0.003 * c_out + 0.0005 * c_in * c_out


def synthetic_table(model, tmp_path, fn=bilinear):
    return L.build_latency_table(
        model, cache_dir=str(tmp_path), timer=_shape_timer(fn), max_points=(4, 5)
    )


# ------------------------------------------------------------------ grids


@pytest.mark.parametrize(
    "size, fixed, granularity, max_points, expected",
    [
        (64, 0, 4, 9, [1, 8, 16, 24, 32, 40, 48, 56, 64]),
        (64, 0, 4, 17, [1] + list(range(4, 65, 4))),
        (16, 0, 4, 9, [1, 4, 8, 12, 16]),
        (10, 0, 4, 9, [1, 4, 8, 10]),
        (3, 3, 4, 9, [3]),
        (32, 5, 8, 9, [5, 8, 16, 24, 32]),
    ],
)
def test_axis_grid(size, fixed, granularity, max_points, expected):
    assert L.axis_grid(size, fixed, granularity, max_points) == expected


def test_axis_grid_edges_measure_both_sides_of_every_block():
    assert L.axis_grid(16, 0, 4, 9, edges=True) == [1, 4, 5, 8, 9, 12, 13, 16]
    assert L.axis_grid(64, 0, 4, 9, edges=True) == [1, 8, 9, 16, 17, 24, 25, 32, 33, 40, 41,
                                                    48, 49, 56, 57, 64]


def test_hat_weights_interpolate_linearly():
    grid = [1, 4, 8, 16]
    x = np.array([0.0, 1.0, 2.5, 4.0, 6.0, 12.0, 16.0, 20.0])
    w = table_lib.hat(x, grid, np)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    # Linear functions are reproduced exactly inside the grid; clamped outside.
    np.testing.assert_allclose(w @ np.array(grid, float), np.clip(x, 1, 16))


# ------------------------------------------------------------------ table


def test_build_table_measures_each_configuration_once(tmp_path):
    model = tiny_model()
    calls = []

    def fn(c_in, c_out):
        calls.append((c_in, c_out))
        return bilinear(c_in, c_out)

    table = synthetic_table(model, tmp_path, fn)
    # c1 (3 -> 12), c2 (12 -> 16), logits (16 -> 4): three configurations.
    assert len(table) == 3
    grids = {e["description"].split("'")[1]: (e["c_in"], e["c_out"]) for e in table.entries.values()}
    assert grids == {
        "c1": ([3], [1, 4, 5, 8, 9, 12]),
        "c2": ([1, 4, 8, 12], [1, 4, 5, 8, 9, 12, 13, 16]),
        "logits": ([1, 8, 16], [4]),  # 4 points at most: the step doubles to 8
    }
    assert len(calls) == 6 + 32 + 3
    for e in table.entries.values():
        expected = [[bilinear(a, b) for b in e["c_out"]] for a in e["c_in"]]
        np.testing.assert_allclose(e["ms"], expected, atol=1e-6)


def test_table_cache_is_reused_and_keyed_by_runtime_and_machine(tmp_path):
    model = tiny_model()
    table = synthetic_table(model, tmp_path)
    path = L.cache_path("tflite", str(tmp_path))
    assert os.path.exists(path)
    assert L.machine_id() in os.path.basename(path)
    assert L.cache_path("onnxruntime", str(tmp_path)) != path

    def fail(model):
        raise AssertionError("measured again instead of reading the cache")

    again = L.build_latency_table(model, cache_dir=str(tmp_path), timer=fail, max_points=(4, 5))
    assert again.entries == table.entries
    # A second model with one new configuration measures only that one.
    x = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(12, 3, padding="same", name="c1")(x)
    y = keras.layers.Conv2D(8, 1, name="pointwise")(y)
    other = keras.Model(x, keras.layers.Dense(4)(keras.layers.Flatten()(y)))
    seen = []
    grown = L.build_latency_table(
        other, cache_dir=str(tmp_path),
        timer=_shape_timer(lambda a, b: seen.append((a, b)) or 1.0), max_points=(4, 5),
    )
    assert len(grown) == 5  # c1 re-used, pointwise and the new Dense added
    new = [e for k, e in grown.entries.items() if k not in table.entries]
    assert len(seen) == sum(len(e["c_in"]) * len(e["c_out"]) for e in new)
    assert len(L.LatencyTable.load(path)) == 5


def test_unreadable_cache_names_the_file(tmp_path):
    path = L.cache_path("tflite", str(tmp_path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("{not json")
    with pytest.raises(ValueError, match="latency cache .* unreadable.*delete it"):
        synthetic_table(tiny_model(), tmp_path)


def test_table_save_load_round_trip(tmp_path):
    table = synthetic_table(tiny_model(), tmp_path)
    path = table.save(str(tmp_path / "t.json"))
    loaded = L.LatencyTable.load(path)
    assert loaded.get_config() == table.get_config()
    key = next(iter(table.entries))
    e = table.entries[key]
    assert loaded.lookup(key, e["c_in"][-1], e["c_out"][-1]) == pytest.approx(e["ms"][-1][-1])
    with open(path) as f:
        config = json.load(f)
    config["format"] = "something/else"
    with pytest.raises(ValueError, match="format"):
        L.LatencyTable.from_config(config)


def test_lookup_interpolates_bilinearly_between_grid_points(tmp_path):
    table = synthetic_table(tiny_model(), tmp_path)
    key = next(k for k, e in table.entries.items() if "'c2'" in e["description"])
    # The bilinear test function is reproduced exactly off the grid.
    for c_in, c_out in [(5, 3), (9.5, 14), (12, 16), (1, 1)]:
        assert table.lookup(key, c_in, c_out) == pytest.approx(bilinear(c_in, c_out))
    with pytest.raises(KeyError, match="build_latency_table"):
        table.lookup("Conv2D-nope", 1, 1)


def test_lookup_follows_steps_of_a_measured_function(tmp_path):
    # Output channels in blocks of 4: widths between multiples cost the next one.
    def blocks(c_in, c_out):
        return 0.001 * c_in * 4 * np.ceil(c_out / 4)

    table = synthetic_table(tiny_model(), tmp_path, blocks)
    key = next(k for k, e in table.entries.items() if "'c2'" in e["description"])
    for c_out in (4, 8, 12, 16):
        assert table.lookup(key, 12, c_out) == pytest.approx(blocks(12, c_out))


# ------------------------------------------------------------------ model


def _search_model(model):
    search = dk.attach_indicators(model)
    return search


def test_latency_model_matches_table_and_is_differentiable(tmp_path):
    model = tiny_model()
    table = synthetic_table(model, tmp_path)
    search = _search_model(model)
    lm = L.latency_model(search, table=table, calibrate=[(np.ones(28), 1.0)])
    assert lm.num_channels == 12 + 16
    ones = np.ones(lm.num_channels)
    layers = bilinear(3, 12) + bilinear(12, 16) + bilinear(16, 4)
    assert lm.layers(ones) == pytest.approx(layers)
    assert lm.total == pytest.approx(1.0)  # calibrated to the measured point
    rng = np.random.default_rng(0)
    soft = rng.uniform(0.2, 1.0, lm.num_channels)
    tensor = ops.convert_to_tensor(soft.astype("float32"))
    assert float(lm.expected(tensor)) == pytest.approx(lm.exact(soft), rel=1e-5)
    # Removing channels of c1's group: c1 output and c2 input shrink.
    c_in = 12 - 3
    mask = ones.copy()
    mask[:3] = 0
    expected = bilinear(3, c_in) + bilinear(c_in, 16) + bilinear(16, 4)
    assert lm.layers(mask) == pytest.approx(expected)
    # marginal = the exact saving of removing one channel alone (bilinear
    # table: finite differences are exact).
    marginal = lm.marginal(ones)
    for j in (0, 20):
        one = ones.copy()
        one[j] = 0
        assert marginal[j] == pytest.approx(lm.exact(ones) - lm.exact(one), rel=1e-6)


def test_gradient_of_expected_latency_is_finite(tmp_path):
    import tensorflow as tf

    model = tiny_model()
    lm = L.latency_model(_search_model(model), table=synthetic_table(model, tmp_path),
                         calibrate=False)
    m = tf.Variable(np.full(lm.num_channels, 0.7, "float32"))
    with tf.GradientTape() as tape:
        value = lm.expected(m)
    grad = tape.gradient(value, m).numpy()
    assert np.all(np.isfinite(grad)) and np.all(grad > 0)


def test_calibration_fits_overhead_to_activation_volume(tmp_path):
    model = tiny_model()
    lm = L.latency_model(model, table=synthetic_table(model, tmp_path), calibrate=False)
    ones = np.ones(lm.num_channels)
    half = ones.copy()
    half[6:12] = 0
    half[20:] = 0
    a, b = 0.2, 1e-3
    points = [(m, lm.layers(m) + a + b * lm.volume(m)) for m in (ones, half)]
    lm.calibrate(points)
    assert lm.overhead == pytest.approx((a, b))
    for m, ms in points:
        assert lm.exact(m) == pytest.approx(ms)
    with pytest.raises(ValueError, match="at least one"):
        lm.calibrate([])


def test_calibration_never_predicts_a_latency_of_zero_or_less(tmp_path):
    """Measured latencies below the table's layers (noise on a model of a few
    microseconds) made the overhead so negative that small masks predicted a
    negative latency, and the search's log of it NaN."""
    model = tiny_model()
    lm = L.latency_model(_search_model(model), table=synthetic_table(model, tmp_path),
                         calibrate=[(np.ones(28), 0.05)])
    smallest = (bilinear(3, 1) + bilinear(1, 1) + bilinear(1, 4))  # Every call at 1 channel.
    assert lm.overhead == (pytest.approx(model_lib.MIN_MS - smallest), 0.0)
    zeros = np.zeros(lm.num_channels)
    assert lm.exact(zeros) == pytest.approx(model_lib.MIN_MS)
    assert float(lm.expected(ops.convert_to_tensor(zeros.astype("float32")))) > 0
    assert lm.calibration[0]["measured_ms"] == 0.05 < lm.calibration[0]["predicted_ms"]
    sane = L.latency_model(model, table=synthetic_table(model, tmp_path),
                           calibrate=[(np.ones(28), 1.0)])
    assert sane.total == pytest.approx(1.0)  # A sane fit is untouched.


def test_missing_table_entries_are_an_error(tmp_path):
    model = tiny_model()
    empty = L.LatencyTable("tflite-test", L.machine_info())
    with pytest.raises(ValueError, match="lacks 3 layer configuration.*build_latency_table"):
        L.latency_model(model, table=empty, calibrate=False)


@pytest.fixture(scope="module")
def tflite_table(tmp_path_factory):
    """The TFLite latency table of `tiny_model()`, measured once."""
    return L.build_latency_table(
        tiny_model(), cache_dir=str(tmp_path_factory.mktemp("latency")), max_points=(3, 3),
        runs=10, rounds=1,
    )


def test_latency_model_measures_and_calibrates_in_tflite(tflite_table):
    model = tiny_model()
    table = tflite_table
    assert table.runtime.startswith("tflite-xnnpack")
    assert all(np.min(e["ms"]) >= 0 for e in table.entries.values())
    lm = L.latency_model(model, table=table)
    assert lm.total > 0
    assert len(lm.calibration) == 2
    assert lm.overhead[1] >= 0


def test_onnxruntime_runtime_measures(tmp_path):
    x = keras.Input((4, 4, 2))
    y = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 1, name="pw")(x))
    model = keras.Model(x, keras.layers.Dense(3, name="out")(y))
    table = L.build_latency_table(
        model, runtime="onnxruntime", cache_dir=str(tmp_path), max_points=(2, 2), runs=5,
        rounds=1,
    )
    assert table.runtime.startswith("onnxruntime")
    grids = sorted((e["c_in"], e["c_out"]) for e in table.entries.values())
    assert grids == [([1, 4], [3]), ([2], [1, 4])]
    assert L.measure_latency(model, "onnxruntime", runs=5, rounds=1) > 0


def test_unknown_runtime_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="`runtime` must be one of"):
        L.build_latency_table(tiny_model(), runtime="tensorrt", cache_dir=str(tmp_path))


# ------------------------------------------------------------------ budgets


# Budget parsing is tested in tests/cost/test_budget.py.


def test_latency_budget_guarantee(tmp_path):
    model = tiny_model()
    table = synthetic_table(model, tmp_path)
    for round_to in (None, 4):
        search = _search_model(model)
        search.compile(optimizer=keras.optimizers.SGD(0.01),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        # 0.334 ms of layers + 0.066 ms overhead; with round_to=4 the band
        # [0.2375, 0.25] holds widths (4, 12) and (12, 4) only.
        lm = L.latency_model(search, table=table, calibrate=[(np.ones(28), 0.4)])
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 8, 8, 3)).astype("float32")
        y = rng.integers(0, 4, 64)
        cb = dk.DAISCallback(budget={"latency": 0.625}, latency_model=lm, round_to=round_to,
                             single_level=True, verbose=0)
        history = search.fit(x, y, epochs=2, batch_size=16, callbacks=[cb], verbose=0)
        assert "dais_latency" in history.history and "dais_macs" not in history.history
        report = cb.report
        target = 0.625 * lm.total
        assert report.latency["target_ms"] == pytest.approx(target)
        assert report.feasible, report.message
        assert 0.95 * target <= report.latency["after_ms"] <= target
        pruned = dk.surgery.apply(search)
        # The guarantee is the table's latency of the surgery result.
        hard = np.concatenate(search.alpha_values()) > 0
        assert lm.exact(hard) == pytest.approx(report.latency["after_ms"])
        assert dk.count_macs(pruned) == report.macs_after
        if round_to:
            for g in report.groups:
                assert g["after"] == g["size"] or g["after"] % round_to == 0


def test_latency_budget_errors():
    model = tiny_model()
    search = _search_model(model)
    with pytest.raises(ValueError, match="needs `cost=`.*LatencyModel"):
        repair_lib.repair(search, {"latency": 0.5})
    with pytest.raises(ValueError, match="MACs budget; use budget=\\{'latency'"):
        dk.DAISCallback(budget=0.5, latency_model=_FakeLatency(), single_level=True)
    with pytest.raises(ValueError, match="`latency_model` must be"):
        dk.DAISCallback(budget={"latency": 0.5}, latency_model=search.search_structure().cost,
                        single_level=True)
    with pytest.raises(ValueError, match="`runtime` must be one of"):
        dk.DAISCallback(budget={"latency": 0.5}, runtime="tvm", single_level=True)


class _FakeLatency:
    kind = "latency"


def test_callback_config_round_trips_latency_budget(tmp_path):
    cb = dk.DAISCallback(budget={"latency_ms": 2.5}, single_level=True,
                         latency_table=str(tmp_path / "t.json"), runtime="onnxruntime")
    config = cb.get_config()
    assert config["budget"] == {"latency_ms": 2.5}
    again = dk.DAISCallback.from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config


def test_efficient_points_are_the_block_ends():
    values = [23.0, 23.2, 22.9, 46.0, 46.3, 45.8, 91.0, 90.7, 91.2]
    assert L.efficient_points(values) == [2, 5, 8]
    assert L.efficient_points([1.0, 2.0, 3.0]) == [0, 1, 2]
    assert L.efficient_points([5.0]) == [0]


def _blocks(c_in, c_out):
    # Input channels in blocks of 4, output channels in blocks of 8.
    return 0.001 * 4 * np.ceil(c_in / 4) * 8 * np.ceil(c_out / 8)


def test_step_table_search_surrogate_and_exact_agree_at_block_ends(tmp_path):
    model = tiny_model()
    search = _search_model(model)
    lm = L.latency_model(search, table=synthetic_table(model, tmp_path, _blocks),
                         calibrate=False)
    for widths in [(8, 8), (8, 16), (12, 16)]:
        m = np.zeros(lm.num_channels)
        m[: widths[0]] = 1
        m[12: 12 + widths[1]] = 1
        soft = float(lm.expected(ops.convert_to_tensor(m.astype("float32"))))
        assert soft == pytest.approx(lm.exact(m), rel=1e-5)
    # Inside a block (c2's output axis is measured on both sides of every
    # block edge) the table is flat and the surrogate below it.
    ones = np.ones(lm.num_channels)
    m = ones.copy()
    m[12:12 + 3] = 0  # c2 keeps 13 of 16: the same output block as 16
    c2 = lm.descriptions.index(next(d for d in lm.descriptions if "'c2'" in d))
    assert lm.per_call(m)[c2] == pytest.approx(lm.per_call(ones)[c2])
    assert lm.per_call(m, soft=True)[c2] < lm.per_call(m)[c2]


def test_search_reads_the_table_latency_with_the_surrogate_gradient(tmp_path):
    """Inside a channel block the surrogate lies below the table: a search
    that reads its value (the default) ends over the target by the table,
    and the repair cuts the rest. `straight_through` gives the band the
    table's value and keeps the surrogate's gradient."""
    import tensorflow as tf

    model = tiny_model()
    table = synthetic_table(model, tmp_path, _blocks)
    lm = L.latency_model(_search_model(model), table=table, calibrate=[(np.ones(28), 1.0)],
                         straight_through=True)
    surrogate = L.latency_model(_search_model(model), table=table,
                                calibrate=[(np.ones(28), 1.0)])
    assert lm.straight_through and not surrogate.straight_through
    m = np.ones(lm.num_channels, "float32")
    m[[0, 1, 2, 12, 13, 14]] = 0.0  # c1 keeps 9 of 12, c2 13 of 16: both inside a block
    m[3] = 0.4  # and one soft mask
    values, grads = [], []
    for cost in (lm, surrogate):
        v = tf.Variable(m)
        with tf.GradientTape() as tape:
            value = cost.expected(v)
        values.append(float(value))
        grads.append(tape.gradient(value, v).numpy())
    assert values[0] == pytest.approx(lm.exact(m), rel=1e-5)
    assert values[1] < values[0] - 1e-3  # the surrogate's value is below the table here
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)
    assert np.all(grads[0] > 0)


def test_latency_repair_widens_groups_inside_free_blocks(tmp_path):
    model = tiny_model()

    def out_blocks(c_in, c_out):
        # Output channels in blocks of 8, input channels for free.
        return 0.001 * 8 * np.ceil(c_out / 8)

    table = synthetic_table(model, tmp_path, out_blocks)
    search = _search_model(model)
    lm = L.latency_model(search, table=table, calibrate=False)
    # alpha: c1 keeps 5 of 12, c2 keeps 9 of 16 (both inside a block).
    layers = search.search_structure().layers
    alphas = [np.where(np.arange(l.units) < k, 1.0, -1.0) for l, k in zip(layers, (5, 9))]
    for layer, a in zip(layers, alphas):
        layer.alpha.assign(a.astype("float32"))
    report = repair_lib.repair(search, {"latency": 0.99}, cost=lm, band=0.9)
    assert report.feasible, report.message
    widths = [g["after"] for g in report.groups]
    # 5 -> 8 and 9 -> 16 stay in their output blocks: they cost nothing.
    assert widths == [8, 16]
    assert report.latency["after_ms"] == pytest.approx(report.latency["before_ms"])
    assert report.channels_regrown == 3 + 7


def _layer_for(cls):
    """A small instance of every layer class with a latency probe."""
    name = cls.__name__
    rank = 1 if "1D" in name else 3 if "3D" in name else 2
    if cls is keras.layers.Dense:
        return keras.layers.Dense(6, name="probe_me"), (5,)
    if "Depthwise" in name:
        return cls(3, padding="same", name="probe_me"), (6,) * rank + (4,)
    return cls(6, 3, padding="same", name="probe_me"), (6,) * rank + (4,)


@pytest.mark.parametrize("cls", sorted((c for c, _ in probes_lib.PROBES.items()), key=lambda c: c.__name__),
                         ids=lambda c: c.__name__)
def test_every_registered_probe_builds_its_one_layer_models(cls, tmp_path):
    layer, shape = _layer_for(cls)
    x = keras.Input(shape)
    y = keras.layers.Conv1D(4, 1, name="pre")(x) if len(shape) == 2 else x
    y = layer(keras.layers.ReLU()(x) if len(shape) != 2 else y)
    y = keras.layers.Flatten()(y) if len(shape) > 1 else y
    model = keras.Model(x, keras.layers.Dense(3, name="head")(y))
    seen = []

    def timer(one):
        (inner,) = [l for l in one.layers if l.name.startswith("probe_")]
        seen.append((inner.name, int(one.inputs[0].shape[-1]), int(one.outputs[0].shape[-1])))
        return 1.0

    table = L.build_latency_table(model, cache_dir=str(tmp_path), timer=timer)
    probed = [e for e in table.entries.values() if "'probe_me'" in e["description"]]
    assert len(probed) == 1
    entry = probed[0]
    measured = {(a, b) for n, a, b in seen if n == "probe_probe_me"}
    if entry["depthwise"]:
        assert measured == {(c, c) for c in entry["c_in"]}
    else:
        assert measured == {(a, b) for a in entry["c_in"] for b in entry["c_out"]}


def test_callback_builds_and_calibrates_the_latency_model_from_a_saved_table(
    tmp_path, tflite_table
):
    model = tiny_model()
    path = tflite_table.save(str(tmp_path / "table.json"))
    search = _search_model(model)
    search.compile(optimizer=keras.optimizers.SGD(0.01),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 4, 32)
    cb = dk.DAISCallback(budget={"latency": 0.8}, latency_table=path, single_level=True,
                         verbose=0)
    search.fit(x, y, epochs=1, batch_size=16, callbacks=[cb], verbose=0)
    lm = cb.latency_model
    assert lm is not None and lm.kind == "latency"
    # Calibrated on two models measured in TFLite now: their predictions
    # are exact (two points, two parameters) unless the fit was clamped.
    assert len(lm.calibration) == 2 and lm.overhead[1] >= 0
    report = cb.report.latency
    assert report["total_ms"] == pytest.approx(lm.total)
    assert report["target_ms"] == pytest.approx(0.8 * lm.total)
    # Either in the band, or the report says by how much it misses (a tiny
    # model's few microseconds are mostly fixed cost and timer noise).
    if cb.report.feasible:
        assert report["lower_ms"] <= report["after_ms"] <= report["target_ms"]
    else:
        assert re.search(r"\d+\.\d% (above|below) the target", cb.report.message)


def test_long_phases_report_progress(tmp_path, monkeypatch, capsys):
    """A build over ~10 s is never silent; a quick one is."""
    from dais_keras.utils import progress

    clock = [0.0]
    monkeypatch.setattr(progress, "_clock", lambda: clock[0])

    def slow(one):  # Every grid point takes half a (fake) second.
        clock[0] += 0.5
        return 1.0

    model = tiny_model()
    table = L.build_latency_table(model, cache_dir=str(tmp_path), timer=slow, max_points=(4, 5))
    lines = capsys.readouterr().out.splitlines()
    # c1: 6 points (3 s), c2: 32 points (16 s), logits: 3 points (1.5 s).
    assert len(lines) == 2, lines
    assert re.fullmatch(r"\[latency table .*\] 2/3 ━{13}─{7} 19s, about 10s left: "
                        r"Conv2D 'c2' 12->16 at 8x8: 32 points, .* ms", lines[0])
    assert re.fullmatch(r"\[latency table .*\] done in 20\.5 s: measured 3 layer "
                        r"configurations of 'tiny'", lines[1])

    L.build_latency_table(model, cache_dir=str(tmp_path / "quiet"), timer=slow, max_points=(4, 5),
                          verbose=0)
    L.build_latency_table(model, cache_dir=str(tmp_path / "fast"), timer=lambda one: 1.0,
                          max_points=(4, 5))
    assert capsys.readouterr().out == ""

    def slow_measure(models, runtime):
        clock[0] += 12.0
        return [1.0, 0.6]

    monkeypatch.setattr(model_lib, "measure_latency", slow_measure)
    L.latency_model(model, table=table)
    [line] = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"\[latency calibration\] done in 12\.0 s: 1\.000 ms measured / "
                        r".* predicted, 0\.600 ms measured / .* predicted", line)
