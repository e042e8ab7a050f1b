"""Helpers to check the surgery guarantee on any model (used by tests and
benchmarks)."""

import os
import tempfile
import time

import numpy as np

import keras

from dais_keras.cost.macs import count_macs
from dais_keras.groups.graph import channel_groups
from dais_keras.indicators.state import binarize
from dais_keras.indicators.state import indicator_layers
from dais_keras.search.attach import attach_indicators
from dais_keras.surgery.rebuild import apply


def toy_model(seed=0, residual=True, batch_norm=True, widths=(8, 16)):
    """A small CNN (16x16x3 -> 4 logits) with an optional residual block:
    the tests' and benchmarks' model. `widths` are the stem's and the
    stage's channels."""
    L = keras.layers
    keras.utils.set_random_seed(seed)
    norm = (lambda name: L.BatchNormalization(name=name)) if batch_norm else (
        lambda name: L.Identity(name=name))
    stem, stage = widths
    inp = keras.Input((16, 16, 3))
    x = L.ReLU()(norm("bn1")(L.Conv2D(stem, 3, padding="same", name="conv1")(inp)))
    x = L.ReLU()(norm("bn2")(L.Conv2D(stage, 3, strides=2, padding="same", name="conv2")(x)))
    if residual:
        h = L.ReLU()(norm("bn3")(L.Conv2D(stage, 3, padding="same", name="block_conv1")(x)))
        h = norm("bn4")(L.Conv2D(stage, 3, padding="same", name="block_conv2")(h))
        x = L.ReLU()(L.Add()([x, h]))
    x = L.GlobalAveragePooling2D()(x)
    return keras.Model(inp, L.Dense(4, name="logits")(x), name="toy")


def toy_data(n=256, seed=0, quadrants=True):
    """Images and 4 labels from the signs of two channel means: of two
    quadrants (`quadrants=True`), or of the whole image."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 16, 16, 3)).astype("float32")
    a, b = (x[:, :8, :8, 0], x[:, 8:, 8:, 1]) if quadrants else (x[..., 0], x[..., 1])
    y = (a.mean((1, 2)) > 0).astype("int32") + 2 * (b.mean((1, 2)) > 0).astype("int32")
    return x, y


def application_names():
    """Names of every `keras.applications` architecture (40 in Keras 3.15)."""
    apps = keras.applications
    return sorted(
        n for n, f in vars(apps).items() if callable(f) and n[:1].isupper()
    )


def small_input_shape(name):
    """A small input size each `keras.applications` model accepts."""
    if name.startswith("NASNet"):
        return (96, 96, 3)
    if name.startswith(("Inception", "Xception")):
        return (75, 75, 3)
    return (32, 32, 3)


def build_application(name, input_shape=None, classes=1000):
    """`keras.applications.<name>(weights=None, classifier_activation=None)`."""
    fn = getattr(keras.applications, name)
    shape = input_shape or small_input_shape(name)
    return fn(
        weights=None,
        input_shape=shape,
        classes=classes,
        classifier_activation=None,
    )


def random_half_masks(model, seed=0):
    """Sets every indicator's alpha to +-1 keeping about half of each group
    (at least one channel) and switches to hard mode."""
    rng = np.random.default_rng(seed)
    for layer in indicator_layers(model):
        alpha = np.where(rng.random(layer.units) < 0.5, 1.0, -1.0)
        if not (alpha > 0).any():
            alpha[rng.integers(layer.units)] = 1.0
        layer.alpha.assign(alpha.astype("float32"))
    binarize(model, hard=True)


def randomize_weights(model, seed=0):
    """Replaces constant-initialised weights with random values, in place.

    Fresh models have BN beta = 0, moving mean = 0, variance = 1 and
    ConvNeXt LayerScale = 1e-6, which hide exactly the mistakes a surgery
    check must catch (e.g. `BN(0) != 0` downstream of a removed channel).
    Variances get U(0.5, 2), other constant weights U(0.5, 1.5) when they
    were scales (all values > 0) and N(0, 0.2) otherwise.
    """
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if getattr(layer, "_dais_indicator", False):
            continue
        for v in layer._trainable_variables + layer._non_trainable_variables:
            value = keras.ops.convert_to_numpy(v)
            if value.size == 0 or not np.issubdtype(value.dtype, np.floating):
                continue
            if value.size > 1 and not np.all(value == value.flat[0]):
                continue
            if "variance" in v.name:
                new = rng.uniform(0.5, 2.0, value.shape)
            elif value.flat[0] > 0:
                new = rng.uniform(0.5, 1.5, value.shape)
            else:
                new = rng.normal(0.0, 0.2, value.shape)
            v.assign(new.astype(value.dtype))


def check_surgery(model, seed=0, batch=2, save=True, randomize=True):
    """Runs the surgery guarantee on `model` and returns the figures.

    Attaches indicators, keeps a random half of every prunable group, and
    compares the surgery result with the hard indicator model. With
    `randomize`, constant-initialised weights of `model` are first replaced
    by random ones (see `randomize_weights`; this changes `model`).

    Returns:
        A dict with `rel_error` (max |diff| / max |reference|), `macs`,
        `pruned_macs`, `cost_model_macs` (CostModel on the hard masks),
        `prunable_share`, timings, and `reload_rel_error` when `save`.
    """
    if randomize:
        randomize_weights(model, seed=seed)
    t0 = time.perf_counter()
    graph = channel_groups(model)
    t_groups = time.perf_counter() - t0
    t0 = time.perf_counter()
    search = attach_indicators(model)
    t_attach = time.perf_counter() - t0
    random_half_masks(search, seed=seed)
    t0 = time.perf_counter()
    pruned = apply(search)
    t_surgery = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    shape = tuple(model.inputs[0].shape[1:])
    x = rng.uniform(0.0, 255.0, size=(batch,) + shape).astype("float32")
    reference = keras.ops.convert_to_numpy(search(x, training=False))
    out = keras.ops.convert_to_numpy(pruned(x, training=False))
    scale = float(np.abs(reference).max()) or 1.0
    search_graph = channel_groups(search)
    layers, slots = search_graph.indicator_slots()
    m = np.concatenate(
        [keras.ops.convert_to_numpy(l.mask(hard=True)) for l in layers]
    )
    result = {
        "rel_error": float(np.abs(out - reference).max() / scale),
        "macs": count_macs(model),
        "pruned_macs": count_macs(pruned),
        "cost_model_macs": int(round(search_graph.cost_model(slots).exact(m))),
        "prunable_share": graph.prunable_macs_share(),
        "groups": len(graph.groups),
        "prunable_groups": len(graph.prunable),
        "time_channel_groups_s": t_groups,
        "time_attach_s": t_attach,
        "time_surgery_s": t_surgery,
    }
    if save:
        with tempfile.TemporaryDirectory() as tmp:
            # Keras' own format, unzipped: the same config.json and
            # model.weights.h5 as a .keras file, without compressing hundreds
            # of MB for the largest applications (8.7 s -> 5.1 s for a pruned
            # ConvNeXtXLarge here).
            path = os.path.join(tmp, "pruned")
            pruned.save(path, zipped=False)
            reloaded = keras.saving.load_model(path, safe_mode=True)
            again = keras.ops.convert_to_numpy(reloaded(x, training=False))
        result["reload_rel_error"] = float(np.abs(again - out).max() / scale)
    return result
