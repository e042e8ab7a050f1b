"""A pruned model quantized by Keras (`model.quantize("int8")`): what Keras
quantizes, and how each exporter takes it. LiteRT's converter refuses Keras'
int8 layers, and the error names them and the int8 export that works."""

import warnings

import numpy as np
import pytest

import keras

import dais_keras as dk
from dais_keras.deploy import export
from dais_keras.runtime.convert import keras_quantized_layers
from dais_keras.testing import random_half_masks


def _only_dense(layer):
    return isinstance(layer, keras.layers.Dense)


@pytest.fixture
def pruned(toy):
    search = dk.attach_indicators(toy.model())
    random_half_masks(search)
    return dk.surgery.apply(search)


def test_keras_quantizes_the_dense_layers_of_a_pruned_cnn(toy, pruned):
    x, _ = toy.data(64)
    reference = pruned.predict(x, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # no "has no `quantize`" warning
        pruned.quantize("int8", filters=_only_dense)
    assert keras_quantized_layers(pruned) == [("logits", "Dense", "int8")]
    # Conv2D has no int8 mode in Keras: the convolutions stay float.
    assert all(l.quantization_mode is None for l in pruned.layers
               if isinstance(l, keras.layers.Conv2D))
    quantized = pruned.predict(x, verbose=0)
    assert np.mean(quantized.argmax(-1) == reference.argmax(-1)) >= 0.95
    assert 0 < np.abs(quantized - reference).max() <= 0.05 * np.abs(reference).max()


def test_litert_export_of_a_keras_quantized_model_names_the_layers_and_the_fix(
        toy, pruned, tmp_path):
    pruned.quantize("int8", filters=_only_dense)
    path = tmp_path / "q.tflite"
    with pytest.raises(ValueError) as info:
        export.tflite(pruned, path, verbose=0)
    message = str(info.value)
    assert "'logits' (Dense, int8)" in message
    assert "quantize='int8'" in message and "representative_data" in message
    assert not path.exists()


def test_keras_quantized_model_exports_to_onnx_with_parity(toy, pruned, tmp_path):
    pruned.quantize("int8", filters=_only_dense)
    x, _ = toy.data(8)
    result = export.onnx(pruned, tmp_path / "q.onnx", sample=x, verbose=0)
    assert result.passed and result.max_rel_error <= 1e-4


def test_the_int8_litert_export_of_the_float_model_passes(toy, pruned, tmp_path):
    x, _ = toy.data(64)
    result = export.tflite(pruned, tmp_path / "int8.tflite", quantize="int8",
                           representative_data=x, verbose=0)
    assert result.passed and result.top1_agreement >= 0.98
