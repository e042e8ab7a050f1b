"""The dtype policy chosen per backend and CPU, and float32 copies."""

import numpy as np
import pytest

import keras

from dais_keras.utils import machine
from dais_keras.utils import precision


@pytest.mark.parametrize(
    "backend, flags, expected",
    [
        ("tensorflow", {"avx2", "avx512_bf16"}, "mixed_bfloat16"),
        ("tensorflow", {"amx_bf16"}, "mixed_bfloat16"),
        ("tensorflow", {"avx2", "avx512f"}, "float32"),
        ("tensorflow", set(), "float32"),
        ("jax", {"avx512_bf16"}, "float32"),
        ("torch", {"avx512_bf16"}, "float32"),
    ],
)
def test_fastest_policy(backend, flags, expected):
    assert precision.fastest_policy(backend, flags) == expected


def test_cpu_flags_reads_the_flags_line(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu avx2 avx512_bf16\n")
    assert machine.cpu_flags(str(info)) == {"fpu", "avx2", "avx512_bf16"}
    assert machine.cpu_flags(str(tmp_path / "missing")) == set()


def _model():
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inp)
    x = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x)))


def test_as_float32_copies_a_mixed_bfloat16_model():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = _model()
    finally:
        keras.config.set_dtype_policy(previous)
    assert mixed.get_layer("conv").compute_dtype == "bfloat16"
    copy = precision.as_float32(mixed)
    assert copy is not mixed
    assert all(layer.compute_dtype == "float32" for layer in copy.layers)
    for a, b in zip(mixed.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).normal(size=(4, 8, 8, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(copy(x))
    assert out.dtype == np.float32
    # bfloat16 keeps ~3 significant digits: the copies agree to that.
    np.testing.assert_allclose(out, keras.ops.convert_to_numpy(mixed(x)).astype("float32"),
                               rtol=0.05, atol=0.05)


def test_as_float32_returns_a_float32_model_itself():
    model = _model()
    assert precision.as_float32(model) is model
