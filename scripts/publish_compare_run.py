"""Publishes the model of one `bench/compare.py` run to the zoo.

Usage:
    python scripts/publish_compare_run.py \
        bench/results/compare_resnet20_cifar10_long_runs/dais_s0.json

Reads the run JSON (its `model_path`, accuracies and protocol), loads the
saved model, checks its accuracy on the 1,017 exact test images against the
run's, and publishes `resnet<depth>-cifar10-<method><budget%>` (a latency
budget: `...-<method>lat<budget%>`) as the next version, with the run's
command, commit and protocol in the entry and its model card. A run with a
validation split records its validation accuracy too. With `--latency`
(TensorFlow), the model and the unpruned architecture are timed in this
process, in turns (TFLite XNNPack and ONNX Runtime, batch 1, one thread; see
`TIMING` in bench/compare_merge.py) and the card shows the times, the
speed-ups and the machine. The run's model file must still exist (not
committed).
"""

import argparse
import json
import pathlib
import re
import sys
import tempfile

from dais_keras.utils.tf_logging import silence_tensorflow

silence_tensorflow()

import keras  # noqa: E402

from dais_keras import data  # noqa: E402
from dais_keras.deploy import zoo  # noqa: E402
from dais_keras.finetune.accuracy import accuracy  # noqa: E402

TEST_SET = "cifar10-jpeg-test-10000"
EXACT_SET = "cifar10-exact-subset-1017"


def _teacher_text(teacher_model):
    """Which unpruned run taught, from the run's `teacher_model` path
    (`<models>/unpruned_s<S>.keras`; absent before runs recorded it, when the
    teacher was the unpruned run of the run's own seed)."""
    match = re.fullmatch(r"unpruned_s(\d+)\.keras", pathlib.Path(teacher_model or "").name)
    if teacher_model is None:
        who = "the unpruned reference of the same seed"
    elif match:
        who = f"the unpruned reference of seed {match.group(1)}"
    else:
        who = f"the unpruned model {pathlib.Path(teacher_model).name}"
    return who + " (the pretrained port trained on the labels of the same images for the same epochs)"


def _protocol_text(protocol, method, teacher_model=None):
    p = protocol
    held_out = p.get("val_images") or 0
    images = (f"the first {p['train_images']:,}" if p.get("train_images")
              else f"{50000 - held_out:,} (the other {held_out:,} held out)" if held_out
              else "all 50,000")
    epochs = (f"{p['search_epochs']} search + {p['finetune_epochs']} fine-tune epochs"
              if method == "dais" else f"{p['total_epochs']} fine-tune epochs")
    return (f"{epochs} ({p['total_epochs']} in total, the same for every method of the "
            f"comparison) on {images} images of the {p['data']} training set, "
            f"{p['optimizer']}, lr {p['lr']} {p['schedule']}, weight decay "
            f"{p['weight_decay']}, batch {p['batch_size']}, {p['augment']}"
            + (f", distillation (T={p['distill_temperature']}, weight {p['distill_weight']}) "
               + ("from " + _teacher_text(teacher_model)
                  if p.get("teacher") == "unpruned" else "from the unpruned pretrained model")
               if p.get("distill") else ""))


def _measured_latency(model, depth):
    """The zoo `latency` record of `model`: it and the unpruned `resnet<depth>`
    timed in this process (bench/compare_merge.py's timing)."""
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bench"))
    import compare_merge

    from dais_keras import models
    from dais_keras.utils.machine import machine_info

    sample = data.cifar10_exact_subset()[0][:64]
    with tempfile.TemporaryDirectory() as tmp:
        base, mine = compare_merge.measure_latency([models.pretrained(f"resnet{depth}"), model],
                                                   sample, tmp)
    return _latency_record(mine, base, machine_info(runtime=True),
                           statistic=compare_merge.TIMING)


def _merged_latency(path, run):
    """The zoo `latency` record of `run` from the merge JSON at `path`."""
    with open(path) as f:
        merged = json.load(f)
    rows = [r for r in merged["rows"] if (r["method"], r["seed"]) == (run["method"], run["seed"])]
    if len(rows) != 1 or not rows[0].get("tflite_ms"):
        raise ValueError(f"{path} has no timed row of {run['method']} seed {run['seed']}; "
                         "merge the run first (bench/compare.py --merge).")
    row, base = rows[0], merged["unpruned_latency_ms"]
    return _latency_record((row["tflite_ms"], row["ort_ms"]), (base["tflite"], base["ort"]),
                           merged["latency_machine"], timed_in=path,
                           statistic=compare_merge.timing_of(merged))


def _latency_record(mine, base, info, **details):
    """The zoo `latency` record from `(tflite_ms, ort_ms)` of the model and
    of the unpruned one, timed on the machine `info` (`machine_info`)."""
    return {"tflite_ms": mine[0], "ort_ms": mine[1], "unpruned_tflite_ms": base[0],
            "unpruned_ort_ms": base[1],
            "machine": f"{info['cpu']} ({info['cpu_count']} cores), {info['system']}",
            "batch": 1, "threads": 1, "load_average": round(info["load_average"][0], 2),
            **details}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run JSON written by bench/compare.py")
    parser.add_argument("--tolerance", type=float, default=0.002,
                        help="largest allowed exact-subset accuracy difference to the run's")
    parser.add_argument("--latency", action="store_true",
                        help="time the model and the unpruned architecture here (TFLite, ORT) "
                        "and record it on the card")
    parser.add_argument("--latency-from", default=None, metavar="MERGED_JSON",
                        help="take the run's TFLite/ORT times, the unpruned model's and the "
                        "machine from a bench/compare.py merge (timed there in one process)")
    parser.add_argument("--zoo-dir", default=None, help="the zoo (default: the repository's)")
    args = parser.parse_args(argv)
    with open(args.run) as f:
        run = json.load(f)
    row, protocol = run["row"], run["protocol"]
    method = row["method"]
    model = keras.saving.load_model(run["model_path"], safe_mode=True)
    x_exact, y_exact = data.cifar10_exact_subset()
    measured = accuracy(model, (x_exact, y_exact))
    if abs(measured - row["acc_exact_subset"]) > args.tolerance:
        raise ValueError(
            f"{run['model_path']} scores {measured:.4f} on the exact subset, the run "
            f"recorded {row['acc_exact_subset']:.4f}: not the run's model? Re-run "
            f"`{run['command']}`."
        )
    budget = row["budget"]
    is_latency = isinstance(budget, dict)
    fraction = budget["latency"] if is_latency else budget
    pct = int(round(100 * fraction))
    depth = protocol["depth"]
    label = ("dais" if method == "dais" else method.replace("-", "")) + ("lat" if is_latency else "")
    metrics = {TEST_SET: row["acc_jpeg_test"], EXACT_SET: row["acc_exact_subset"]}
    validation = run.get("validation") or {}
    if row.get("acc_val") is not None and validation.get("val_images"):
        metrics[f"cifar10-jpeg-train-heldout-{validation['val_images']}-seed"
                f"{validation['val_seed']}"] = row["acc_val"]
    target = (f"{pct}% of its TFLite latency (predicted {row['predicted_ms']:.4f} ms of the "
              f"{row['target_ms']:.4f} ms target by the measured table; "
              f"{row['macs_ratio']:.3f} of its MACs)" if is_latency
              else f"{pct}% of its MACs ({row['macs_ratio']:.3f} measured)")
    entry = zoo.publish(
        model,
        f"resnet{depth}-cifar10-{label}{pct}",
        metrics=metrics,
        budget=budget,
        base=f"resnet{depth}",
        dataset="cifar10",
        dataset_variant=protocol["data"],
        licence="BSD-2-Clause",
        command=run["command"],
        description=(
            f"resnet{depth} (exact port of the BSD-2-Clause pretrained weights of "
            f"akamaster/pytorch_resnet_cifar10) pruned with {method} to {target} in the "
            f"comparison of bench/compare.py: "
            f"{_protocol_text(protocol, method, run.get('teacher_model'))}. Seed "
            f"{run['seed']}, {run['backend']} backend, commit {run.get('commit')}."
            + (f" Validation: {validation['val_images']:,} of the training images held out "
               f"of every training step (seed {validation['val_seed']}, sha256 "
               f"{validation['val_sha256'][:12]}); they were in the pretrained weights' "
               "training set, so their accuracy reads high." if validation.get("val_images")
               else "")
        ),
        latency=(_merged_latency(args.latency_from, run) if args.latency_from
                 else _measured_latency(model, depth) if args.latency else None),
        zoo_dir=args.zoo_dir,
        extra={
            "method": method,
            "seed": run["seed"],
            "protocol": protocol,
            "commit": run.get("commit"),
            "run_file": args.run,
            "search_macs_ratio": row.get("search_macs_ratio"),
            "repair_channels_changed": row.get("repair_channels_changed"),
            "acc_exact_subset_before_finetune": row.get("acc_exact_subset_before_finetune"),
            **({"predicted_ms": row["predicted_ms"], "target_ms": row["target_ms"],
                "latency_table": run.get("latency")} if is_latency else {}),
        },
    )
    print(entry.key, dict(metrics, **{EXACT_SET: measured}), entry.latency or "")


if __name__ == "__main__":
    main()
