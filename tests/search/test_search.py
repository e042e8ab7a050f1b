"""The DAIS search: DAISModel's train step driven by DAISCallback.

Runs on the TensorFlow, JAX and PyTorch backends (`KERAS_BACKEND=torch
pytest tests/search/test_search.py`; the distributed search on TF and JAX). Tiny models (16x16 inputs, 8-16 channels) and a few
hundred images.
"""

import numpy as np
import pytest

import keras

import dais_keras as dk
from dais_keras import surgery
from dais_keras.search.callback import DAISCallback
from dais_keras.search.objective import DEFAULT_T_MIN
from dais_keras.search.model import DAISModel

BACKEND = keras.backend.backend()
EPOCHS = 4
BATCH = 32


def _variables(model):
    return {v.path: keras.ops.convert_to_numpy(v) for v in model.variables}


def _search(toy, seed=0, epochs=EPOCHS, callbacks=(), fit_kwargs=None, model=None, **kwargs):
    """A fresh toy search: returns (indicator model, callback, history)."""
    x, y = toy.data(256, seed=1)
    xs, ys = toy.data(96, seed=2)
    if model is None:
        model = toy.compile(dk.attach_indicators(toy.model(seed=seed)))
    kwargs.setdefault("batch_size", BATCH)
    kwargs.setdefault("verbose", 0)
    cb = DAISCallback(budget=kwargs.pop("budget", 0.5), search_data=(xs, ys), **kwargs)
    history = model.fit(
        x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0,
        callbacks=list(callbacks) + [cb], **(fit_kwargs or {}),
    )
    return model, cb, history


@pytest.fixture(scope="module")
def searches():
    """`searches(toy, **kwargs)`: `_search(toy, **kwargs)`, run once per
    module for the same arguments (the tests below only read the result)."""
    done = {}

    def run(toy, **kwargs):
        key = tuple(sorted(kwargs.items()))
        if key not in done:
            done[key] = _search(toy, **kwargs)
        return done[key]

    return run


def _architecture(model):
    return [a > 0 for a in model.alpha_values()]


def _assert_same_architecture(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def _check_guarantee(toy, model, cb, budget=0.5, band=0.05):
    report = cb.report
    total = report.total_macs
    pruned = surgery.apply(model)
    macs = dk.count_macs(pruned)
    assert macs == report.macs_after
    assert (1 - band) * budget * total <= macs <= budget * total
    # The architecture the indicators chose is already near the target.
    assert 0.9 <= report.macs_before / report.target_macs <= 1.1, report.summary()
    # Hard masks, and the pruned model computes what the hard model computes.
    for layer in dk.indicator_layers(model):
        assert layer.hard
    x, _ = toy.data(8, seed=5)
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    got = keras.ops.convert_to_numpy(pruned(x, training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    return pruned


def test_plain_fit_trains_weights_and_keeps_indicators(toy):
    model = dk.attach_indicators(toy.model())
    model.compile(
        optimizer=keras.optimizers.AdamW(0.01, weight_decay=0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = _variables(model)
    x, y = toy.data(64)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    after = _variables(model)
    for path, value in before.items():
        if path.endswith("/alpha") or path.endswith("/temperature"):
            np.testing.assert_array_equal(after[path], value, err_msg=path)
    assert not np.allclose(after["conv1/kernel"], before["conv1/kernel"])
    assert model.search_mode is None


def test_indicator_step_leaves_weights_untouched(toy):
    model = toy.compile(dk.attach_indicators(toy.model()))
    x, y = toy.data(64)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)  # builds the optimizer
    before = _variables(model)
    opt_before = [keras.ops.convert_to_numpy(v) for v in model.optimizer.variables]
    _search(toy, model=model, epochs=1, train_weights=False, repair=False)
    after = _variables(model)
    changed = [p for p in before if not np.array_equal(before[p], after[p])]
    assert any(p.endswith("/alpha") for p in changed)
    weights = [p for p in changed if not (
        p.endswith("/alpha") or p.endswith("/temperature") or "/dais_" in "/" + p.split("/")[-1]
    )]
    assert weights == [], f"the indicator step changed {weights}"
    for v, old in zip(model.optimizer.variables, opt_before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), old)


def test_distill_from_changes_the_weight_loss_only(toy):
    model = toy.compile(dk.attach_indicators(toy.model(seed=0)))
    teacher = toy.model(seed=5)
    model.distill_from(teacher, temperature=2.0, distill_weight=0.75)
    x, y = toy.data(32)
    y_pred = model(x)
    task = float(model.compute_loss(x, y, y_pred, training=False))
    t = keras.ops.convert_to_numpy(teacher(x)) / 2.0
    s = keras.ops.convert_to_numpy(y_pred) / 2.0
    log_t = t - np.log(np.exp(t).sum(-1, keepdims=True))
    log_s = s - np.log(np.exp(s).sum(-1, keepdims=True))
    kl = (np.exp(log_t) * (log_t - log_s)).sum(-1).mean() * 4.0
    loss = float(model.compute_loss(x, y, y_pred, training=True))
    np.testing.assert_allclose(loss, 0.25 * task + 0.75 * kl, rtol=1e-5)
    assert model.distillation["teacher"] is teacher
    model.distill_from(None)
    np.testing.assert_allclose(float(model.compute_loss(x, y, y_pred, training=True)), task,
                               rtol=1e-6)


@pytest.mark.parametrize("train_weights", [False, True])
def test_search_distils_the_weight_step_and_not_the_indicator_step(toy, train_weights):
    """Same search with and without a teacher: the indicator step alone
    (`train_weights=False`) moves alpha identically; with the weight step,
    the weights differ."""
    runs = []
    for distil in (False, True):
        model = toy.compile(dk.attach_indicators(toy.model(seed=0)))
        if distil:
            model.distill_from(toy.model(seed=5), distill_weight=1.0)
        _search(toy, model=model, epochs=1, train_weights=train_weights, repair=False)
        runs.append(_variables(model))
    plain, distilled = runs
    alphas = [p for p in plain if p.endswith("/alpha")]
    if train_weights:
        assert not np.allclose(plain["conv1/kernel"], distilled["conv1/kernel"])
    else:
        for path in alphas:
            np.testing.assert_allclose(distilled[path], plain[path], rtol=1e-5, atol=1e-6,
                                       err_msg=path)
        initial = _variables(dk.attach_indicators(toy.model(seed=0)))
        assert any(not np.allclose(plain[p], initial[p]) for p in alphas)


def test_distill_from_rejects_a_teacher_of_another_task(toy):
    model = dk.attach_indicators(toy.model())
    other = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Flatten(),
                              keras.layers.Dense(7)])
    with pytest.raises(ValueError, match="same task"):
        model.distill_from(other)
    with pytest.raises(ValueError, match="distill_weight"):
        model.distill_from(toy.model(seed=5), distill_weight=1.5)
    with pytest.raises(ValueError, match="teacher"):
        model.distill_from("resnet20")
    assert model.distillation is None


def test_bilevel_search_anneals_binarizes_and_meets_budget(toy, searches):
    model, cb, history = searches(toy)
    logs = history.history
    assert logs["dais_T"][-1] == pytest.approx(DEFAULT_T_MIN, rel=1e-4)
    assert np.all(np.diff(logs["dais_T"]) < 0)
    for layer in dk.indicator_layers(model):
        assert float(keras.ops.convert_to_numpy(layer.temperature)) == pytest.approx(DEFAULT_T_MIN)
    # Soft masks at T_min are (nearly) binary already before the repair.
    assert logs["dais_binarized"][-1] >= 0.9
    _check_guarantee(toy, model, cb)
    assert set(logs) >= {"dais_macs", "dais_hard_macs", "loss", "accuracy"}
    assert any(k.startswith("dais_width/") for k in logs)


def test_single_level_search_meets_budget(toy):
    x, y = toy.data(256, seed=1)
    model = toy.compile(dk.attach_indicators(toy.model()))
    cb = DAISCallback(budget=0.5, single_level=True, verbose=0)
    history = model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, verbose=0, callbacks=[cb])
    assert history.history["dais_T"][-1] == pytest.approx(DEFAULT_T_MIN, rel=1e-4)
    _check_guarantee(toy, model, cb)


def test_same_seed_gives_same_architecture(toy, searches):
    _, cb, _ = searches(toy)
    a = cb.alpha_trace[-1][1]  # the alphas when the search ended, before the repair
    _, cb_b, _ = _search(toy)  # the same search again (same seed, same schedule)
    b = cb_b.alpha_trace[-1][1]
    _assert_same_architecture([a > 0], [b > 0])
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


def test_resume_with_backup_and_restore_reaches_same_architecture(toy, searches, tmp_path):
    reference, _, _ = searches(toy)
    model = toy.compile(dk.attach_indicators(toy.model(seed=0)))
    backup = str(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="interrupted"):
        _search(
            toy, model=model,
            callbacks=[keras.callbacks.BackupAndRestore(backup), _Interrupt(1)],
        )
    # A new process would rebuild the model from scratch: so do we.
    model = toy.compile(dk.attach_indicators(toy.model(seed=99)))
    _, cb, history = _search(
        toy, model=model, callbacks=[keras.callbacks.BackupAndRestore(backup)]
    )
    assert len(history.history["loss"]) == EPOCHS - 2
    _assert_same_architecture(_architecture(model), _architecture(reference))
    assert cb.report.macs_after == surgery_macs(reference)


def surgery_macs(model):
    return dk.count_macs(surgery.apply(model))


def test_nan_in_search_loss_stops_with_clear_error_and_keeps_state(toy):
    model = toy.compile(dk.attach_indicators(toy.model()))
    x, y = toy.data(64, seed=1)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    before = _variables(model)
    xs, ys = toy.data(64, seed=2)
    # Finite inputs (NaN/Inf ones are refused before the first step) whose
    # convolutions overflow: the search loss is not finite.
    xs[:] = np.finfo("float32").max
    cb = DAISCallback(budget=0.5, search_data=(xs, ys), batch_size=BATCH, verbose=0)
    with pytest.raises(FloatingPointError, match="search .*NaN/Inf.*step 0"):
        model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[cb])
    after = _variables(model)
    for path, value in before.items():
        if "/dais_" in "/" + path.split("/")[-1]:
            continue  # the search's own counters
        np.testing.assert_array_equal(after[path], value, err_msg=path)
    # The stopped search left the model in plain training mode.
    assert model.search_mode is None
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    for a, b in zip(model.alpha_values(), [after[l.alpha.path] for l in dk.indicator_layers(model)]):
        np.testing.assert_array_equal(a, b)


def test_nan_in_training_loss_stops_and_keeps_finite_state(toy):
    x, y = toy.data(256, seed=1)
    x[3 * BATCH:4 * BATCH] = np.finfo("float32").max  # the 4th batch overflows in conv1
    model = toy.compile(dk.attach_indicators(toy.model()))
    before = _variables(model)
    xs, ys = toy.data(64, seed=2)
    cb = DAISCallback(budget=0.5, search_data=(xs, ys), batch_size=BATCH, verbose=0)
    with pytest.raises(FloatingPointError, match="training loss.*step 3"):
        model.fit(x, y, batch_size=BATCH, epochs=2, shuffle=False, verbose=0, callbacks=[cb])
    after = _variables(model)
    assert all(np.isfinite(v).all() for v in after.values())
    assert not np.array_equal(after["conv1/kernel"], before["conv1/kernel"])


# Keras' torch trainer runs one step per call (`steps_per_execution` must be 1).
STEPS_PER_EXECUTION = 1 if BACKEND == "torch" else 2


def test_steps_per_execution_and_save_reload(toy, tmp_path):
    x, y = toy.data(256, seed=1)
    xs, ys = toy.data(64, seed=2)
    model = dk.attach_indicators(toy.model())
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    cb = DAISCallback(budget=0.5, search_data=(xs, ys), batch_size=BATCH, verbose=0)
    model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[cb])
    # 16 steps: the annealing's search steps, then the hard finish's weight steps.
    assert cb.anneal_steps + cb.hard_steps == 16
    assert int(keras.ops.convert_to_numpy(model.search_variables["step"])) == cb.anneal_steps
    assert cb.report.feasible
    path = str(tmp_path / "search.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, DAISModel)
    for a, b in zip(loaded.alpha_values(), model.alpha_values()):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(xs[:4])),
        keras.ops.convert_to_numpy(model(xs[:4])),
        rtol=1e-5, atol=1e-5,
    )
    clone = DAISModel.from_config(model.get_config())
    assert isinstance(clone, DAISModel)
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]


def _two_devices():
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_logical_devices("CPU")) >= 2
    import jax

    return len(jax.devices()) >= 2


@pytest.mark.skipif(BACKEND not in ("tensorflow", "jax"), reason="TF or JAX only")
def test_distributed_search_finds_same_architecture(toy):
    assert _two_devices(), "tests/conftest.py should provide two CPU devices"
    # Without batch norm the per-replica batches give the same gradients.
    reference = toy.compile(dk.attach_indicators(toy.model(seed=6, batch_norm=False)))
    _search(toy, model=reference, repair=False)
    if BACKEND == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            model = toy.compile(dk.attach_indicators(toy.model(seed=6, batch_norm=False)))
        _search(toy, model=model, repair=False)
    else:
        import jax

        distribution = keras.distribution.DataParallel(devices=jax.devices()[:2])
        keras.distribution.set_distribution(distribution)
        try:
            model = toy.compile(dk.attach_indicators(toy.model(seed=6, batch_norm=False)))
            _search(toy, model=model, repair=False)
        finally:
            keras.distribution.set_distribution(None)
    _assert_same_architecture(_architecture(model), _architecture(reference))
    for x, y in zip(model.alpha_values(), reference.alpha_values()):
        np.testing.assert_allclose(x, y, atol=1e-3)
