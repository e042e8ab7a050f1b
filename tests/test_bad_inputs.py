"""Bad input gets a clear error, before any work, and leaves no file behind.

A table of bad inputs to every public entry point (types, shapes, NaN/Inf,
empty), each asserting a `ValueError` or `TypeError` whose message names the
argument; the heavy work (training, conversion, timing, saving) is replaced
by a function that fails the test, so a check that comes after the work is
caught, and the working directory must be left empty. Then the cases a
hostile user found one by one: a plain model given to `surgery.apply`, numpy
budgets, long zoo names, non-JSON zoo metadata, unbatched datasets, and an
export that cannot write its file.
"""

import os
import pathlib
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras

import dais_keras as dk
from dais_keras.testing import toy_data
from dais_keras.testing import toy_model

X, Y = toy_data(32)
NAN = float("nan")
INF = float("inf")


@pytest.fixture(scope="module")
def model():
    return toy_model()


@pytest.fixture(scope="module")
def search(model):
    return dk.attach_indicators(model)


def _heavy(*args, **kwargs):
    raise AssertionError("heavy work started before the arguments were checked")


@pytest.fixture
def no_work(monkeypatch, tmp_path):
    """Fails on any training, inference, conversion, timing or saving, and
    runs the test in an empty directory (checked empty afterwards)."""
    import dais_keras.deploy.zoo.publish  # noqa: F401 (the module, not the function)
    from dais_keras.latency import measure
    from dais_keras.latency import table
    from dais_keras.runtime import convert

    publish = sys.modules["dais_keras.deploy.zoo.publish"]
    for owner, name in [(keras.Model, "fit"), (keras.Model, "predict"),
                        (keras.Model, "__call__"), (keras.Model, "save"),
                        (convert, "write_tflite"), (convert, "write_onnx"),
                        (table, "_measure"), (measure, "compile_runner"),
                        (publish, "_roundtrip")]:
        monkeypatch.setattr(owner, name, _heavy)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert sorted(os.listdir(tmp_path)) == [], "a failed call left files behind"


def _publish(model, **overrides):
    kwargs = dict(name="toy", metrics={"test": 0.5}, budget=0.5, base="toy", dataset="toy",
                  licence="MIT", zoo_dir="zoo")
    kwargs.update(overrides)
    return dk.zoo.publish(model, **kwargs)


def _prune(model, **overrides):
    kwargs = dict(budget=0.5, train_data=(X, Y), epochs=1, finetune_epochs=0, verbose=0)
    kwargs.update(overrides)
    return dk.prune(model, **kwargs)


# (case id, call(model, search), argument the message must name)
CASES = [
    ("prune-model-none", lambda m, s: _prune(None), "model"),
    ("prune-model-path", lambda m, s: _prune("model.keras"), "model"),
    ("prune-budget-nan", lambda m, s: _prune(m, budget=NAN), "budget"),
    ("prune-budget-inf", lambda m, s: _prune(m, budget=INF), "budget"),
    ("prune-budget-str", lambda m, s: _prune(m, budget="half"), "budget"),
    ("prune-budget-vector", lambda m, s: _prune(m, budget=np.array([0.5])), "budget"),
    ("prune-budget-one", lambda m, s: _prune(m, budget=1.0), "budget"),
    ("prune-budget-dict", lambda m, s: _prune(m, budget={"flops": 0.5}), "budget"),
    ("prune-train-none", lambda m, s: _prune(m, train_data=None), "train_data"),
    ("prune-train-empty", lambda m, s: _prune(m, train_data=(X[:0], Y[:0])), "train_data"),
    ("prune-train-ragged", lambda m, s: _prune(m, train_data=(X, Y[:5])), "train_data"),
    ("prune-train-nan", lambda m, s: _prune(m, train_data=(X * NAN, Y)), "train_data"),
    ("prune-train-shape", lambda m, s: _prune(m, train_data=(X[:, :8], Y)), "train_data"),
    ("prune-search-empty", lambda m, s: _prune(m, search_data=(X[:0], Y[:0])), "search_data"),
    ("prune-eval-empty", lambda m, s: _prune(m, eval_data=(X[:0], Y[:0])), "eval_data"),
    ("prune-epochs-zero", lambda m, s: _prune(m, epochs=0), "epochs"),
    ("prune-epochs-float", lambda m, s: _prune(m, epochs=1.5), "epochs"),
    ("prune-finetune-negative", lambda m, s: _prune(m, finetune_epochs=-1), "finetune_epochs"),
    ("prune-batch-nan", lambda m, s: _prune(m, batch_size=NAN), "batch_size"),
    ("prune-fraction-str", lambda m, s: _prune(m, search_fraction="a"), "search_fraction"),
    ("prune-fraction-one", lambda m, s: _prune(m, search_fraction=1.0), "search_fraction"),
    ("prune-seed-negative", lambda m, s: _prune(m, seed=-1), "seed"),
    ("prune-round-zero", lambda m, s: _prune(m, round_to=0), "round_to"),
    ("prune-frozen-int", lambda m, s: _prune(m, frozen_layers=5), "frozen_layers"),
    ("prune-frozen-unknown", lambda m, s: _prune(m, frozen_layers=["nope"]), "frozen_layers"),
    ("prune-distill-t", lambda m, s: _prune(m, distill_temperature=-1), "distill_temperature"),
    ("prune-distill-w", lambda m, s: _prune(m, distill_weight=2), "distill_weight"),
    ("prune-recalibrate", lambda m, s: _prune(m, recalibrate_batches=-1), "recalibrate_batches"),
    ("prune-steps", lambda m, s: _prune(m, steps_per_epoch=0), "steps_per_epoch"),
    ("prune-verbose", lambda m, s: _prune(m, verbose="loud"), "verbose"),
    ("attach-none", lambda m, s: dk.attach_indicators(None), "model"),
    ("attach-alpha-nan", lambda m, s: dk.attach_indicators(m, alpha_init=NAN), "alpha_init"),
    ("attach-temperature-inf", lambda m, s: dk.attach_indicators(m, temperature=INF),
     "temperature"),
    ("attach-frozen-str", lambda m, s: dk.attach_indicators(m, frozen_layers="conv1"),
     "frozen_layers"),
    ("callback-budget-nan", lambda m, s: dk.DAISCallback(NAN, (X, Y)), "budget"),
    ("callback-search-str", lambda m, s: dk.DAISCallback(0.5, "data"), "search_data"),
    ("callback-search-empty", lambda m, s: dk.DAISCallback(0.5, (X[:0], Y[:0])), "search_data"),
    ("callback-t0-nan", lambda m, s: dk.DAISCallback(0.5, (X, Y), T0=NAN), "T0"),
    ("callback-tmin-above", lambda m, s: dk.DAISCallback(0.5, (X, Y), T0=0.1, T_min=1.0),
     "T_min"),
    ("callback-batch-zero", lambda m, s: dk.DAISCallback(0.5, (X, Y), batch_size=0),
     "batch_size"),
    ("callback-lr-negative", lambda m, s: dk.DAISCallback(0.5, (X, Y), learning_rate=-1),
     "learning_rate"),
    ("callback-lambda-nan", lambda m, s: dk.DAISCallback(0.5, (X, Y), lambda_budget=NAN),
     "lambda_budget"),
    ("callback-runtime", lambda m, s: dk.DAISCallback({"latency": 0.5}, (X, Y), runtime="trt"),
     "runtime"),
    ("callback-verbose", lambda m, s: dk.DAISCallback(0.5, (X, Y), verbose="x"), "verbose"),
    ("surgery-apply-none", lambda m, s: dk.surgery.apply(None), "indicator_model"),
    ("surgery-apply-plain", lambda m, s: dk.surgery.apply(m), "indicator_model"),
    ("surgery-prune-list", lambda m, s: dk.surgery.prune(m, [1, 2]), "keep"),
    ("surgery-prune-nan", lambda m, s: dk.surgery.prune(m, {"conv1": [NAN]}), "conv1"),
    ("surgery-prune-empty", lambda m, s: dk.surgery.prune(m, {"conv1": []}), "conv1"),
    ("groups-none", lambda m, s: dk.channel_groups(None), "model"),
    ("groups-frozen-str", lambda m, s: dk.channel_groups(m, frozen_layers="conv1"),
     "frozen_layers"),
    ("macs-str", lambda m, s: dk.count_macs("model"), "model"),
    ("params-none", lambda m, s: dk.count_params(None), "model"),
    ("temperature-str", lambda m, s: dk.set_temperature(s, "hot"), "temperature"),
    ("temperature-zero", lambda m, s: dk.set_temperature(s, 0), "temperature"),
    ("binarize-plain", lambda m, s: dk.binarize(m), "binarize"),
    ("tflite-path-none", lambda m, s: dk.export.tflite(m, None), "path"),
    ("tflite-path-suffix", lambda m, s: dk.export.tflite(m, "m.onnx"), "path"),
    ("tflite-quantize", lambda m, s: dk.export.tflite(m, "m.tflite", quantize="int4"),
     "quantize"),
    ("tflite-int8-no-data", lambda m, s: dk.export.tflite(m, "m.tflite", quantize="int8"),
     "representative_data"),
    ("tflite-int8-inf", lambda m, s: dk.export.tflite(
        m, "m.tflite", quantize="int8", representative_data=X * INF), "representative_data"),
    ("tflite-sample-nan", lambda m, s: dk.export.tflite(m, "m.tflite", sample=X * NAN),
     "sample"),
    ("tflite-sample-shape", lambda m, s: dk.export.tflite(m, "m.tflite", sample=X[:, :8]),
     "sample"),
    ("tflite-sample-empty", lambda m, s: dk.export.tflite(m, "m.tflite", sample=X[:0]),
     "sample"),
    ("tflite-rtol-nan", lambda m, s: dk.export.tflite(m, "m.tflite", rtol=NAN), "rtol"),
    ("tflite-batch-zero", lambda m, s: dk.export.tflite(m, "m.tflite", batch_size=0),
     "batch_size"),
    ("tflite-model-none", lambda m, s: dk.export.tflite(None, "m.tflite"), "model"),
    ("onnx-opset-bool", lambda m, s: dk.export.onnx(m, "m.onnx", opset=True), "opset"),
    ("onnx-sample-inf", lambda m, s: dk.export.onnx(m, "m.onnx", sample=X * INF), "sample"),
    ("onnx-batch-negative", lambda m, s: dk.export.onnx(m, "m.onnx", batch_size=-1),
     "batch_size"),
    ("export-format", lambda m, s: dk.export.export(m, "m.pb"), "format"),
    ("zoo-load-none", lambda m, s: dk.zoo.load(None), "name"),
    ("zoo-load-version", lambda m, s: dk.zoo.load("resnet20-cifar10@0"), "version"),
    ("zoo-publish-model", lambda m, s: _publish("model"), "model"),
    ("zoo-publish-long-name", lambda m, s: _publish(m, name="a" * 300), "zoo name"),
    ("zoo-publish-name-none", lambda m, s: _publish(m, name=None), "name"),
    ("zoo-publish-metric-nan", lambda m, s: _publish(m, metrics={"test": NAN}), "metrics"),
    ("zoo-publish-metrics-empty", lambda m, s: _publish(m, metrics={}), "metrics"),
    ("zoo-publish-budget-nan", lambda m, s: _publish(m, budget=NAN), "budget"),
    ("zoo-publish-extra-numpy", lambda m, s: _publish(m, extra={"a": {"b": np.float32(1)}}),
     "extra['a']['b']"),
    ("zoo-publish-extra-set", lambda m, s: _publish(m, extra={"tags": {1, 2}}),
     "extra['tags']"),
    ("zoo-publish-extra-key", lambda m, s: _publish(m, extra={1: "a"}), "extra"),
    ("zoo-publish-extra-inf", lambda m, s: _publish(m, extra={"x": [INF]}), "extra"),
    ("zoo-publish-date", lambda m, s: _publish(m, date="7/12/2026"), "date"),
    ("latency-table-none", lambda m, s: dk.build_latency_table(None), "model"),
    ("latency-table-runtime", lambda m, s: dk.build_latency_table(m, runtime="trt"), "runtime"),
    ("latency-table-runs", lambda m, s: dk.build_latency_table(m, runs=0), "runs"),
    ("measure-empty", lambda m, s: dk.measure_latency([]), "models"),
    ("measure-none", lambda m, s: dk.measure_latency(None), "models"),
    ("measure-runs", lambda m, s: dk.measure_latency(m, runs=-1), "runs"),
    ("measure-warmup-nan", lambda m, s: dk.measure_latency(m, warmup_s=NAN), "warmup_s"),
    ("recalibrate-none", lambda m, s: dk.recalibrate_batchnorm(m, None), "data"),
    ("recalibrate-nan", lambda m, s: dk.recalibrate_batchnorm(m, X * NAN), "data"),
    ("recalibrate-shape", lambda m, s: dk.recalibrate_batchnorm(m, X[:, :8]), "data"),
    ("recalibrate-batches", lambda m, s: dk.recalibrate_batchnorm(m, X, batches=0), "batches"),
]


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_bad_input_is_refused_naming_the_argument(case, model, search, no_work):
    _, call, argument = next(c for c in CASES if c[0] == case)
    with pytest.raises((ValueError, TypeError)) as info:
        call(model, search)
    assert argument in str(info.value), str(info.value)


def test_every_public_entry_point_is_in_the_table():
    named = {c[0].split("-")[0] for c in CASES}
    assert named >= {"prune", "attach", "callback", "surgery", "groups", "macs", "params",
                     "temperature", "binarize", "tflite", "onnx", "export", "zoo",
                     "latency", "measure", "recalibrate"}


def test_numpy_numbers_are_numbers(tmp_path):
    from dais_keras.cost.budget import parse_budget

    for value in (np.array(0.5), np.float32(0.5), np.float64(0.5)):
        assert parse_budget(value).value == 0.5
        assert parse_budget({"latency": value}).value == 0.5
    assert parse_budget({"latency_ms": np.array(3)}).value == 3.0
    entry = _publish(toy_model(), budget=np.array(0.5), zoo_dir=tmp_path / "zoo",
                     extra={"seed": 3})
    assert entry.budget == 0.5 and isinstance(entry.budget, float)
    assert dk.zoo.load(entry.key, zoo_dir=tmp_path / "zoo").count_params() == toy_model(
        ).count_params()


def test_unbatched_dataset_is_named_with_the_fix(model):
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((X, Y))
    with pytest.raises(ValueError, match=r"`train_data` is a tf.data.Dataset of single "
                                         r"examples.*train_data.batch\("):
        _prune(model, train_data=data)
    # Batched, a bad label in its first batch is found before training.
    with pytest.raises(ValueError, match=r"`train_data` \(its first batch\) has a label out"):
        _prune(model, train_data=tf.data.Dataset.from_tensor_slices((X, Y + 4)).batch(8))


def test_export_refuses_a_destination_that_is_not_a_regular_file(model, tmp_path):
    # Run as root, replacing `/dev/full` (what one tries for a full disk) or
    # any device, pipe or directory with the exported file would break it.
    pipe = tmp_path / "pipe.tflite"
    os.mkfifo(pipe)
    (tmp_path / "folder.onnx").mkdir()
    with pytest.raises(ValueError, match="`path` .*pipe.tflite' exists and is not a regular file"):
        dk.export.tflite(model, pipe)
    with pytest.raises(ValueError, match="not a regular file"):
        dk.export.onnx(model, tmp_path / "folder.onnx")
    with pytest.raises(ValueError, match="end in '.tflite'"):
        dk.export.tflite(model, "/dev/full")
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.onnx", "pipe.tflite"]


_FULL_DISK = textwrap.dedent("""
    import pathlib, resource, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    import dais_keras as dk
    from dais_keras.deploy.export import ExportWriteError
    from dais_keras.testing import toy_model
    model, out = toy_model(), pathlib.Path(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))
    for fmt in ("tflite", "onnx"):
        try:
            getattr(dk.export, fmt)(model, out / f"model.{fmt}")
            print(fmt, "wrote")
        except ExportWriteError as e:
            print(fmt, "ExportWriteError", str(e).replace(chr(10), " "))
""")


def test_export_to_a_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path):
    # Files over 4 KiB cannot be written in the child (RLIMIT_FSIZE): the
    # converters' temporary files and the exported file fail as on a full disk.
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.onnx").write_bytes(b"previous")
    result = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(out)], capture_output=True, text=True,
        timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    lines = [l for l in result.stdout.splitlines() if l.startswith(("tflite ", "onnx "))]
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(lines) == 2, result.stdout + result.stderr[-2000:]
    for line in lines:
        assert "ExportWriteError" in line and "File too large" in line, line
        assert "Nothing was written at the destination" in line, line
    # No partial file, no staging directory; the previous file is untouched.
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx"]
    assert (out / "model.onnx").read_bytes() == b"previous"
