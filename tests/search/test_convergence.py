"""The search converges: binary masks on budget by themselves,
and the hard finish trains exactly the architecture surgery hands over.

Runs on every backend the search supports (`make test` runs it on TensorFlow,
JAX and torch)."""

import numpy as np
import pytest

import keras

import dais_keras as dk
from dais_keras.search.callback import DAISCallback
from dais_keras.testing import toy_data
from dais_keras.testing import toy_model

BATCH = 16
STEPS_PER_EPOCH = 8


def _model(seed=0):
    """Groups of 24-48 channels: one channel costs less than the band's
    width, so the band can be met channel by channel."""
    return toy_model(seed, widths=(24, 48))


def _data(n, seed):
    return toy_data(n, seed, quadrants=False)


@pytest.fixture(scope="module")
def searched():
    """One 64-step search at 50 % of the MACs with a probe of the hard finish."""
    x, y = _data(BATCH * STEPS_PER_EPOCH, 1)
    search = dk.attach_indicators(_model())
    search.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cb = DAISCallback(0.5, search_data=_data(64, 2), batch_size=BATCH, verbose=0)

    class Probe(keras.callbacks.Callback):
        hard_steps = 0

        def on_train_batch_end(self, batch, logs=None):
            if cb._finished:
                self.hard_steps += 1

    probe = Probe()
    search.fit(x, y, batch_size=BATCH, epochs=8, shuffle=False, verbose=0,
               callbacks=[cb, probe])
    return search, cb, probe, x


def test_search_ends_binary_and_inside_the_band_by_itself(searched):
    _, cb, _, _ = searched
    state = cb.search_state
    assert state["binarized"] >= 0.99
    # The search's own alpha > 0 architecture, before the repair.
    assert 1 - cb.band - 1e-9 <= state["hard_macs_ratio"] <= 1.02
    assert cb.report.channels_changed <= 0.02 * cb.structure.num_channels
    assert cb.report.macs_after <= cb.report.target_macs


def test_hard_finish_trains_the_repaired_architecture(searched):
    search, cb, probe, x = searched
    assert cb.hard_steps == round(0.1 * cb.total_steps) == probe.hard_steps
    assert all(layer.hard for layer in dk.indicator_layers(search))
    assert cb.history["binarized"][-1] == 1.0  # the masks the network applies
    pruned = dk.surgery.apply(search)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(pruned(x[:8])),
        keras.ops.convert_to_numpy(search(x[:8])), rtol=1e-5, atol=1e-5)


def test_a_32_step_search_lands_in_the_band_by_itself():
    """The tiny case of bench/search_convergence.py at 32 steps: the
    temperature falls 28 % a step and the masks are binary within a dozen;
    without the band hold this search froze at 0.944x the target."""
    from dais_keras.api.pruners import DAISSearch

    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model = _model()
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=loss)
    model.fit(*_data(512, 4), batch_size=32, epochs=3, verbose=0)
    pruner = DAISSearch(0.5, _data(BATCH * 32, 1), _data(64, 2), epochs=4,
                        batch_size=BATCH, steps_per_epoch=8, loss=loss, verbose=0)
    state = pruner(model).convergence
    assert state["binarized"] >= 0.99
    assert 0.95 - 1e-9 <= state["search_ratio"] <= 1.02
    assert state["repair_share"] <= 0.02


def test_hard_finish_and_polarisation_round_trip_and_can_be_switched_off():
    cb = DAISCallback(0.5, single_level=True, hard_finish=0.0, lambda_polar=0.0,
                      band_hold=False)
    config = cb.get_config()
    assert config["hard_finish"] == 0.0 and config["lambda_polar"] == 0.0
    assert config["band_hold"] is False
    assert DAISCallback.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="hard_finish"):
        DAISCallback(0.5, single_level=True, hard_finish=0.9)


def test_soft_accuracy_with_recalibrated_batchnorm_leaves_the_statistics():
    """`DAISSearch(recalibrate_soft=True)` measures the soft model twice (its
    own BatchNorm statistics, then recalibrated ones) and puts its own back."""
    from dais_keras.api.pruners import DAISSearch
    from dais_keras.finetune.batchnorm import batchnorm_layers

    model = _model()
    layers = batchnorm_layers(model)
    assert layers
    before = [keras.ops.convert_to_numpy(l.moving_variance).copy() for l in layers]
    pruner = DAISSearch(0.5, _data(64, 1), _data(32, 2), epochs=1, loss="mse",
                        eval_data=_data(32, 3), recalibrate_batches=2, recalibrate_soft=True)
    out = pruner._measure_soft(model)
    assert set(out) == {"raw", "recalibrated"}
    assert all(0.0 <= v <= 1.0 for v in out.values())
    for layer, variance in zip(layers, before):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer.moving_variance), variance)
    assert DAISSearch(0.5, None, None, epochs=1, loss="mse",
                      eval_data=_data(32, 3))._measure_soft(model) == out["raw"]
