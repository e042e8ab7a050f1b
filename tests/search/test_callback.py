"""DAISCallback: arguments, logs, plots, data forms, reuse."""

import numpy as np
import pytest

import keras

import dais_keras as dk
from dais_keras.search import schedules
from dais_keras.search.callback import DAISCallback
from dais_keras.search.objective import DEFAULT_T_MIN

BATCH = 32


def _fit(toy, cb, epochs=2, model=None, x=None, y=None, **fit_kwargs):
    if x is None:
        x, y = toy.data(128, seed=1)
    model = model or toy.compile(dk.attach_indicators(toy.model()))
    fit_kwargs.setdefault("batch_size", BATCH)
    history = model.fit(x, y, epochs=epochs, verbose=0, callbacks=[cb], **fit_kwargs)
    return model, history


def _search_data(toy, n=64):
    return toy.data(n, seed=2)


@pytest.mark.parametrize("budget", [0, 1, 1.5, -0.2, True, "half", float("nan")])
def test_budget_outside_unit_interval_is_rejected(toy, budget):
    with pytest.raises(ValueError, match="`budget` must be a MACs fraction in \\(0, 1\\)"):
        DAISCallback(budget=budget, search_data=_search_data(toy))


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"learning_rate": -1.0}, "learning_rate"),
        ({"learning_rate": "fast"}, "learning_rate"),
        ({"schedule": "quadratic"}, "quadratic"),
        ({"T0": 0.01, "T_min": 1.0}, "T_min"),
        ({"warmup_epochs": -1}, "warmup_epochs"),
        ({"min_width": 0}, "min_width"),
        ({"round_to": 2.5}, "round_to"),
        ({"band": 1.0}, "band"),
        ({"lambda_budget": -1}, "lambda_budget"),
        ({"record_every": 0}, "record_every"),
        ({"single_level": True, "train_weights": False}, "train_weights"),
        ({"beta_1": 1.0}, "beta_1"),
    ],
)
def test_bad_arguments_name_themselves(toy, kwargs, name):
    with pytest.raises(ValueError, match=name):
        DAISCallback(budget=0.5, search_data=_search_data(toy), **kwargs)


def test_search_data_of_wrong_form_or_shape(toy):
    with pytest.raises(ValueError, match="`search_data` must be a `tf.data.Dataset`"):
        DAISCallback(0.5, search_data=np.zeros((4, 16, 16, 3)))
    xs, ys = _search_data(toy)
    with pytest.raises(ValueError, match="`search_data` has 64 inputs but 10"):
        DAISCallback(0.5, search_data=(xs, ys[:10]))
    cb = DAISCallback(0.5, search_data=(np.zeros((8, 12, 12, 3), "float32"), np.zeros(8, "int32")))
    with pytest.raises(ValueError, match=r"`search_data` has examples of shape \(12, 12, 3\).*takes \(16, 16, 3\)"):
        _fit(toy, cb)
    with pytest.raises(ValueError, match="needs `search_data`"):
        _fit(toy, DAISCallback(0.5))


def test_needs_an_indicator_model_and_known_steps(toy):
    plain = toy.compile(toy.model())
    with pytest.raises(ValueError, match="needs a `dais_keras.DAISModel`.*attach_indicators"):
        _fit(toy, DAISCallback(0.5, search_data=_search_data(toy)), model=plain)
    import tensorflow as tf

    x, y = toy.data(64)
    unknown = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda a, b: True).batch(BATCH)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        _fit(toy, DAISCallback(0.5, search_data=_search_data(toy)), x=unknown, batch_size=None)


def test_config_round_trip(toy):
    cb = DAISCallback(
        0.4, search_data=_search_data(toy), schedule=schedules.StepSchedule(2.0, 0.05, 3),
        learning_rate=0.02, lambda_l1=0.1, min_width=0.25, round_to=4, warmup_epochs=1,
        seed=7, plot_dir="plots",
    )
    config = cb.get_config()
    again = DAISCallback.from_config(config, search_data=_search_data(toy))
    assert again.get_config() == config
    assert again.schedule == cb.schedule
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(cb))
    assert isinstance(restored, DAISCallback) and restored.get_config() == config


def test_logs_history_plots_and_dataset_search_data(toy, tmp_path):
    import tensorflow as tf

    xs, ys = _search_data(toy)
    search = tf.data.Dataset.from_tensor_slices((xs, ys)).batch(16)
    cb = DAISCallback(0.5, search_data=search, plot_dir=str(tmp_path), verbose=0)
    model, history = _fit(toy, cb, epochs=3)
    logs = history.history
    for key in ("dais_T", "dais_macs", "dais_hard_macs", "dais_binarized"):
        assert len(logs[key]) == 3
    widths = [k for k in logs if k.startswith("dais_width/")]
    assert len(widths) == len(dk.indicator_layers(model))
    assert cb.history["T"] == logs["dais_T"]
    assert len(cb.alpha_trace) >= 3
    for name in ("widths.png", "alphas.png"):
        with open(tmp_path / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_warmup_epochs_train_weights_only(toy):
    x, y = toy.data(128, seed=1)
    model = toy.compile(dk.attach_indicators(toy.model()))
    seen = {}

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen[epoch] = np.concatenate(model.alpha_values())

    cb = DAISCallback(0.5, search_data=_search_data(toy), warmup_epochs=1, verbose=0)
    history = model.fit(x, y, batch_size=BATCH, epochs=3, verbose=0, callbacks=[cb, Spy()])
    np.testing.assert_array_equal(seen[0], 2.0)  # alpha_init: untouched in warm-up
    assert history.history["dais_T"][0] == pytest.approx(1.0)
    assert history.history["dais_T"][-1] == pytest.approx(DEFAULT_T_MIN, rel=1e-4)
    assert not np.array_equal(seen[2], seen[0])


@pytest.mark.parametrize("schedule", ["linear", "cosine", "step"])
def test_every_schedule_reaches_T_min_and_binarises(toy, schedule):
    cb = DAISCallback(0.5, search_data=_search_data(toy), schedule=schedule, T_min=0.02, verbose=0)
    model, history = _fit(toy, cb, epochs=2)
    assert history.history["dais_T"][-1] == pytest.approx(0.02, rel=1e-4)
    assert cb.report.feasible
    assert all(layer.hard for layer in dk.indicator_layers(model))


def test_callback_is_reusable_across_fits(toy):
    cb = DAISCallback(0.5, search_data=_search_data(toy), verbose=0)
    model, _ = _fit(toy, cb, epochs=2)
    first = cb.report
    assert all(layer.hard for layer in dk.indicator_layers(model))
    model, history = _fit(toy, cb, epochs=2, model=model)
    assert history.history["dais_T"][-1] == pytest.approx(DEFAULT_T_MIN, rel=1e-4)
    assert cb.report is not first and cb.report.feasible
    assert model.search_mode is None
    # A plain fit afterwards trains weights only.
    before = model.alpha_values()
    x, y = toy.data(64)
    model.fit(x, y, epochs=1, verbose=0)
    for a, b in zip(before, model.alpha_values()):
        np.testing.assert_array_equal(a, b)


def _tiny_model():
    """Two 4-channel convolutions on 8x8x3 inputs: 16,136 MACs."""
    L = keras.layers
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    x = L.ReLU()(L.Conv2D(4, 3, padding="same", name="c1")(inp))
    x = L.ReLU()(L.Conv2D(4, 3, padding="same", name="c2")(x))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(2, name="out")(x), name="tiny")


@pytest.fixture(scope="module")
def tiny():
    """A compiled `DAISModel` of `_tiny_model` and 32 examples (one batch)."""
    model = dk.attach_indicators(_tiny_model())
    model.compile(
        optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8, 8, 3)).astype("float32")
    y = (x[..., 0].mean((1, 2)) > 0).astype("int32")
    return model, x, y


@pytest.mark.parametrize("steps", [1, 2, 4])
def test_short_search_with_defaults_is_finite_and_warns(tiny, steps):
    # A very short search takes large steps: without the cap on the auto
    # rate (6.29 uncapped at 4 steps) every mask would underflow to 0 and
    # the log band be infinite.
    model, x, y = tiny
    for layer in dk.indicator_layers(model):  # a fresh search: alpha_init
        layer.alpha.assign(np.full(layer.units, 2.0, "float32"))
    cb = DAISCallback(0.5, search_data=(x, y), verbose=0)
    with pytest.warns(UserWarning, match=f"has {steps} steps, too few for the annealing"):
        model.fit(x, y, batch_size=BATCH, epochs=steps, verbose=0, callbacks=[cb])
    assert cb.effective_learning_rate == pytest.approx(2.0)  # capped at alpha_init
    assert np.isfinite(np.concatenate(model.alpha_values())).all()
    assert len(cb.history["macs_ratio"]) == steps
    assert np.isfinite(cb.history["macs_ratio"]).all()
    assert cb.report is not None and cb.report.macs_after > 0


def test_budget_below_the_smallest_reachable_cost_is_an_error(tiny):
    model, x, y = tiny
    cb = DAISCallback(1e-12, search_data=(x, y), verbose=0)
    # One output channel per convolution: 8*8*9*3 + 8*8*9*1 + 1*2 MACs.
    with pytest.raises(
        ValueError,
        match=r"budget cannot be met.*minimum widths \(min_width=1\) keep 2,306 MACs",
    ):
        model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[cb])
    assert model.search_mode is None


def test_search_says_what_it_does_before_the_first_step(tiny, capsys):
    """A line before the (slow) first step, and its time after."""
    model, x, y = tiny
    cb = DAISCallback(0.5, search_data=(x, y), verbose=1)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[cb])
    out = capsys.readouterr().out
    assert "tracing the first step" in out and "first step done in" in out
    assert out.index("tracing the first step") < out.index("first step done in")
