"""ChannelIndicator: soft/hard masks, offsets, index maps, serialisation."""

import numpy as np
import pytest

import keras

import dais_keras as dk


def test_soft_and_hard_masks():
    ind = dk.ChannelIndicator(3, alpha_init=1.0, temperature=0.5)
    ind.alpha.assign(np.array([1.0, -0.5, 0.0], "float32"))
    x = np.ones((2, 3), "float32")
    soft = keras.ops.convert_to_numpy(ind(x))
    np.testing.assert_allclose(soft[0], 1 / (1 + np.exp(-np.array([1.0, -0.5, 0.0]) / 0.5)), rtol=1e-6)
    ind.hard = True
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ind(x))[0], [1.0, 0.0, 0.0])


def test_low_temperature_approaches_hard_mask():
    ind = dk.ChannelIndicator(4)
    ind.alpha.assign(np.array([0.3, -0.3, 2.0, -2.0], "float32"))
    ind.temperature.assign(0.01)
    soft = keras.ops.convert_to_numpy(ind.mask())
    np.testing.assert_allclose(soft, [1, 0, 1, 0], atol=1e-6)


def test_offset_and_index_calls_touch_only_their_channels():
    ind = dk.ChannelIndicator(2)
    ind.alpha.assign(np.array([5.0, -5.0], "float32"))
    ind.hard = True
    x = np.arange(1, 6, dtype="float32")[None]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(ind(x, offset=2)), [[1, 2, 3, 0, 5]])
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(ind(x, index=[0, 0, 1, 1, -1])), [[1, 2, 0, 0, 5]]
    )
    with pytest.raises(ValueError, match="offset 4"):
        ind(x, offset=4)


def test_config_round_trip_and_saving(tmp_path):
    ind = dk.ChannelIndicator(3, alpha_init=0.7, temperature=0.3, hard=True, group_id=5, name="ind")
    clone = dk.ChannelIndicator.from_config(ind.get_config())
    assert clone.get_config() == ind.get_config()
    inp = keras.Input((3,))
    model = keras.Model(inp, ind(inp))
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = np.ones((1, 3), "float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("kwargs, message", [({"units": 0}, "units"), ({"units": 3, "temperature": 0}, "temperature")])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        dk.ChannelIndicator(**kwargs)
