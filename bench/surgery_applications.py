"""Surgery guarantee and timings on every keras.applications model.

For each architecture (weights=None, classifier_activation=None, small input):
channel groups, indicators, random masks keeping about half of every
prunable group, surgery; parity with the hard indicator model, exact MACs vs
the cost model, .keras round-trip. Then the speed targets at full size:
attach_indicators and surgery.apply on ResNet50 (224x224), channel_groups on
EfficientNetB7 (600x600).

Usage: python bench/surgery_applications.py [NAME ... | --speed-only]
Writes bench/results/surgery_applications.json.
"""

import gc
import json
import os
import sys
import time

from dais_keras.utils.tf_logging import silence_tensorflow

silence_tensorflow()

import keras  # noqa: E402

import dais_keras as dk  # noqa: E402
from dais_keras import testing  # noqa: E402
from dais_keras.utils.io import write_json  # noqa: E402
from dais_keras.utils.machine import machine_info  # noqa: E402


def speed():
    out = {}
    model = keras.applications.ResNet50(weights=None)
    t0 = time.perf_counter()
    search = dk.attach_indicators(model)
    out["resnet50_attach_s"] = time.perf_counter() - t0
    testing.random_half_masks(search)
    t0 = time.perf_counter()
    dk.surgery.apply(search)
    out["resnet50_surgery_s"] = time.perf_counter() - t0
    del model, search
    keras.backend.clear_session()
    model = keras.applications.EfficientNetB7(weights=None)
    t0 = time.perf_counter()
    graph = dk.channel_groups(model)
    out["efficientnetb7_channel_groups_s"] = time.perf_counter() - t0
    out["efficientnetb7_groups"] = len(graph.groups)
    return out


def speed_only():
    """Re-measures only the speed targets (best of 3) into the JSON."""
    path = os.path.join(os.path.dirname(__file__), "results", "surgery_applications.json")
    with open(path) as f:
        result = json.load(f)
    runs = [speed() for _ in range(3)]
    best = {k: min(r[k] for r in runs) for k in runs[0]}
    best["runs"] = runs
    best["note"] = "best of 3 runs, measured separately from the per-model rows"
    result["speed"] = best
    result["speed_machine"] = machine_info(runtime=True)
    write_json(path, result, indent=1)
    print(best)


def main(names):
    if names == ["--speed-only"]:
        return speed_only()
    rows = []
    for name in names or testing.application_names():
        t0 = time.perf_counter()
        model = testing.build_application(name)
        t_build = time.perf_counter() - t0
        row = {"model": name, "input_shape": list(model.inputs[0].shape[1:])}
        row.update(testing.check_surgery(model))
        row["time_build_s"] = t_build
        row["time_total_s"] = time.perf_counter() - t0
        rows.append(row)
        print(
            f"{name:20s} share={row['prunable_share']:.3f} "
            f"err={row['rel_error']:.1e} macs={row['macs']:,}->{row['pruned_macs']:,} "
            f"cm_ok={row['cost_model_macs'] == row['pruned_macs']} "
            f"attach={row['time_attach_s']:.2f}s surgery={row['time_surgery_s']:.2f}s "
            f"total={row['time_total_s']:.1f}s",
            flush=True,
        )
        del model
        keras.backend.clear_session()
        gc.collect()
    result = {"machine": machine_info(runtime=True), "rows": rows}
    if not names:
        result["speed"] = speed()
        print(result["speed"])
    write_json(os.path.join(os.path.dirname(__file__), "results", "surgery_applications.json"),
               result, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
