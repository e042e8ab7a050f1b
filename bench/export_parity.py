"""Export parity and latency: float / dynamic / int8 TFLite and ONNX vs Keras.

For each model, writes the four files with `dais_keras.export`, and records
per file: size, max absolute and relative error and top-1 agreement against
Keras on the first 1,017 exact CIFAR-10 test images (plus top-1 accuracy
against the labels), whether the exporter's own check passed, and the batch-1
single-thread latency (median and 90th percentile over `--runs` runs after
warm-up) in the runtime (LiteRT interpreter, ONNX Runtime).

Models: `resnet20` (the pretrained port, `dais_keras.models.pretrained`) and
`tinycnn` (a 3-conv CNN trained for a few seconds on the 1,102 exact training
images, as in tests/test_export.py). int8 files are calibrated on the first
`--calibration` exact training images.

Usage:
    python bench/export_parity.py                      # both models
    python bench/export_parity.py --models resnet20 --runs 300

Writes bench/results/export_parity.json (see `--out`).
"""

import argparse
import datetime
import json
import os
import pathlib
import sys
import tempfile
import time

import numpy as np

import keras

from dais_keras.deploy import export
from dais_keras.utils.machine import machine_info
from dais_keras.utils.timing import time_samples_ms

REPO = pathlib.Path(__file__).resolve().parents[1]
DATA_DIR = pathlib.Path(os.environ.get("DAIS_DATA_DIR", REPO.parent / "shared" / "data"))


def exact_cifar(name):
    data = np.load(DATA_DIR / "cifar10-exact-subset" / name)
    return data["x"].astype("float32"), data["y"]


def tinycnn(x_train, y_train, epochs=12, seed=1):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3))
    h = keras.layers.Rescaling(1 / 255.0)(inputs)
    for filters in (16, 32, 64):
        h = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")(h)
        h = keras.layers.MaxPooling2D()(h)
    net = keras.Model(inputs, keras.layers.Dense(10)(keras.layers.Flatten()(h)), name="tinycnn")
    net.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    net.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    return net


def latency_ms(run, x, runs, warmup=10):
    times = np.sort(time_samples_ms(lambda: run(x), runs=runs, warmup=warmup))
    return {
        "median": round(float(np.median(times)), 4),
        "p90": round(float(times[int(0.9 * (len(times) - 1))]), 4),
        "runs": runs,
    }


def machine():
    import tensorflow as tf

    from importlib import metadata

    versions = {}
    for dist in ("keras", "tensorflow", "numpy", "onnx", "onnxruntime", "tf2onnx", "ai-edge-litert"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return dict(machine_info(runtime=True), tf_build_cuda=tf.test.is_built_with_cuda(),
                packages=versions)


def bench_model(name, model, x_test, y_test, x_cal, runs, workdir):
    reference = np.asarray(model.predict(x_test, batch_size=128, verbose=0))
    row = {
        "model": name,
        "keras_top1_accuracy": float(np.mean(reference.argmax(-1) == y_test)),
        "eval_set": f"cifar10-exact-subset-{len(x_test)}",
        "calibration": f"first {len(x_cal)} images of data_batch_1 (exact)",
        "files": [],
    }
    variants = [
        ("tflite", None, dict()),
        ("tflite", "dynamic", dict()),
        ("tflite", "int8", dict(representative_data=x_cal)),
        ("onnx", None, dict()),
    ]
    for fmt, quantize, kwargs in variants:
        path = workdir / f"{name}-{quantize or 'float'}.{fmt}"
        start = time.perf_counter()
        try:
            if fmt == "tflite":
                result = export.tflite(model, path, quantize=quantize, sample=x_test, **kwargs)
            else:
                result = export.onnx(model, path, sample=x_test)
        except export.ExportParityError as e:
            result = e.result
        seconds = time.perf_counter() - start
        if fmt == "tflite":
            interpreter, runtime = export.litert_interpreter(path, num_threads=1)
            outputs = export.run_tflite(interpreter, x_test)

            def run(x, interpreter=interpreter):
                return export.run_tflite(interpreter, x)

        else:
            session, runtime = export.onnx_session(path, num_threads=1)
            outputs = export.run_onnx(session, x_test)

            def run(x, session=session):
                return export.run_onnx(session, x)

        entry = {
            "format": fmt,
            "quantize": quantize or "float32",
            "size_bytes": result.size_bytes,
            "max_abs_error": result.max_abs_error,
            "max_rel_error": result.max_rel_error,
            "top1_agreement": result.top1_agreement,
            "top1_accuracy": float(np.mean(outputs.argmax(-1) == y_test)),
            "check_criterion": result.criterion,
            "check_passed": result.passed,
            "runtime": runtime,
            "export_seconds": round(seconds, 2),
            "latency_ms_batch1_1thread": latency_ms(run, x_test[:1], runs),
        }
        print(f"{name:9s} {fmt:6s} {entry['quantize']:8s} {entry['size_bytes']:>10,} B  "
              f"rel err {entry['max_rel_error']:.2e}  top-1 agree {entry['top1_agreement']:.2%}  "
              f"acc {entry['top1_accuracy']:.2%}  latency {entry['latency_ms_batch1_1thread']['median']:.3f} ms",
              flush=True)
        row["files"].append(entry)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet20,tinycnn", help="comma-separated: resnet20, tinycnn")
    parser.add_argument("--calibration", type=int, default=500, help="int8 calibration images (default 500)")
    parser.add_argument("--runs", type=int, default=200, help="timed batch-1 runs per file (default 200)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "export_parity.json"))
    args = parser.parse_args(argv)

    x_test, y_test = exact_cifar("test_first1017.npz")
    x_train, y_train = exact_cifar("train_batch1_first1102.npz")
    x_cal = x_train[: args.calibration]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            if name == "resnet20":
                from dais_keras import models

                model = models.pretrained("resnet20")
            elif name == "tinycnn":
                model = tinycnn(x_train, y_train)
            else:
                parser.error(f"unknown model {name!r}; use resnet20 or tinycnn")
            results.append(bench_model(name, model, x_test, y_test, x_cal, args.runs, pathlib.Path(tmp)))
    report = {
        "benchmark": "export_parity",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([pathlib.Path(sys.argv[0]).name] + (argv if argv is not None else sys.argv[1:])),
        "notes": (
            "Errors and agreement are against the Keras model's outputs on the same images; "
            "max_rel_error = max|file - keras| / max|keras|. Latency: one image, one thread, "
            "LiteRT interpreter (XNNPACK) / ONNX Runtime CPU, median of timed runs after 10 warm-up runs; "
            "the machine is shared, so latencies are indicative."
        ),
        "machine": machine(),
        "results": results,
    }
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
