"""Top-1 accuracy of the ported akamaster CIFAR-10 ResNets.

Evaluates `dais_keras.models.pretrained(name)` for resnet20/32/44/56 on

* the first 1,017 original CIFAR-10 test images, exact pixels
  (`cifar10-exact-subset/test_first1017.npz`), where the PyTorch originals
  score 91.6 / 92.8 / 93.4 / 92.7 %; and
* the full 10,000-image test set from `dais_keras.data.cifar10("test")`, when
  that loader and its data are available. In the shared data this is the JPEG
  re-encoding (quality ~75): lossy pixels, so its accuracy is not the
  published CIFAR-10 accuracy; the eval set's name says which copy was used.

Usage: python bench/port_accuracy.py
Writes bench/results/port_accuracy.json.
"""

import time
from pathlib import Path

from dais_keras.utils.tf_logging import silence_tensorflow

silence_tensorflow()

import numpy as np  # noqa: E402

from dais_keras import models  # noqa: E402
from dais_keras.cost.macs import count_macs  # noqa: E402
from dais_keras.finetune.accuracy import predict_classes  # noqa: E402
from dais_keras.utils.io import write_json  # noqa: E402
from dais_keras.utils.machine import machine_info  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "port_accuracy.json"
EXACT_SUBSET_NAME = "cifar10-exact-subset-1017"
BATCH_SIZE = 500


def full_test_set():
    """(dataset, eval-set name, source), or (None, reason, None)."""
    try:
        from dais_keras import data
    except ImportError as e:
        return None, f"dais_keras.data not importable: {e}", None
    if not hasattr(data, "cifar10"):
        return None, "dais_keras.data.cifar10 does not exist", None
    try:
        source = data.cifar10_source(download=False)
        dataset = data.cifar10(
            "test", batch_size=BATCH_SIZE, augment=False, download=False
        )
    except FileNotFoundError as e:
        return None, f"CIFAR-10 test set not found: {e}", None
    kind = "jpeg" if source.name == "cifar10-jpeg" else "original"
    return dataset, f"cifar10-{kind}-test-10000", source


def main():
    from dais_keras.data import cifar10_exact_subset

    x, y = cifar10_exact_subset()
    dataset, full_name, source = full_test_set()
    # The full test set in the original order starts with the exact subset's
    # images: its first 1,017 predictions isolate the effect of JPEG pixels.
    same_images = (
        source is not None and source.lossy and source.test_order == "original"
    )
    if dataset is None:
        print(f"Skipping the full test set: {full_name}")
    results = {}
    for name in models.available_pretrained():
        start = time.perf_counter()
        model = models.pretrained(name)
        load_s = time.perf_counter() - start
        spec = models.PRETRAINED[name]
        row = {
            "trainable_params": sum(
                int(np.prod(w.shape)) for w in model.trainable_weights
            ),
            "macs": count_macs(model),
            "pytorch_reference_top1_exact_subset": spec[
                "reference_top1_exact_subset"
            ],
            "load_seconds": round(load_s, 2),
        }
        start = time.perf_counter()
        predicted, labels = predict_classes(model, (x, y), batch_size=BATCH_SIZE)
        row["top1_exact_subset"] = float(np.mean(predicted == labels))
        row["n_exact_subset"] = len(labels)
        row["eval_seconds_exact_subset"] = round(time.perf_counter() - start, 2)
        if dataset is not None:
            start = time.perf_counter()
            predicted, labels = predict_classes(model, dataset)
            row["top1_full_test"] = float(np.mean(predicted == labels))
            row["n_full_test"] = len(labels)
            if same_images:
                if not np.array_equal(labels[: len(y)], y):
                    raise RuntimeError(
                        f"{full_name} does not start with the exact subset's "
                        f"labels although its test order is 'original'."
                    )
                row["top1_jpeg_first1017"] = float(
                    np.mean(predicted[: len(y)] == y)
                )
            row["eval_seconds_full_test"] = round(time.perf_counter() - start, 2)
        results[name] = row
        print(
            f"{name}: {100 * row['top1_exact_subset']:.2f} % on {EXACT_SUBSET_NAME}"
            + (
                f", {100 * row['top1_full_test']:.2f} % on {full_name}"
                if dataset is not None
                else ""
            ),
            flush=True,
        )
    machine = machine_info(runtime=True)
    report = {
        "benchmark": "port_accuracy",
        "description": (
            "Top-1 of dais_keras.models.pretrained(name): exact ports of the "
            "akamaster/pytorch_resnet_cifar10 CIFAR-10 ResNets (BSD-2-Clause)."
        ),
        "eval_sets": {
            "exact_subset": EXACT_SUBSET_NAME,
            "full_test": full_name if dataset is not None else None,
        },
        "full_test_note": (
            "JPEG re-encoding (quality ~75) of the 10,000 test images: lossy "
            "pixels, not the published CIFAR-10 accuracy. top1_jpeg_first1017 "
            "is the accuracy on the JPEG copies of the same 1,017 images as "
            "the exact subset (same order, same labels): the gap to "
            "top1_exact_subset is the effect of JPEG compression alone."
            if dataset is not None and "jpeg" in full_name
            else (full_name if dataset is None else "original pixels")
        ),
        "machine": dict(machine, description=f"{machine['cpu_count']} CPU cores ({machine['cpu']})"),
        "models": results,
    }
    write_json(RESULTS, report)
    print(f"Wrote {RESULTS}")


if __name__ == "__main__":
    main()
