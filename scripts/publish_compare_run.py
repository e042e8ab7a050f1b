"""Publishes the model of one `bench/compare.py` run to the zoo.

Usage:
    python scripts/publish_compare_run.py \
        bench/results/compare_resnet20_cifar10_long_runs/dais_s0.json

Reads the run JSON (its `model_path`, accuracies and protocol), loads the
saved model, checks its accuracy on the 1,017 exact test images against the
run's, and publishes `resnet<depth>-cifar10-<method><budget%>` as the next
version, with the run's command, commit and protocol in the entry and its
model card. The run's model file must still exist (`runs/compare/...`, not
committed).
"""

import argparse
import json
import sys

from dais_keras.utils.tf_logging import silence_tensorflow

silence_tensorflow()

import keras  # noqa: E402

from dais_keras import data  # noqa: E402
from dais_keras.deploy import zoo  # noqa: E402
from dais_keras.finetune.accuracy import accuracy  # noqa: E402

TEST_SET = "cifar10-jpeg-test-10000"
EXACT_SET = "cifar10-exact-subset-1017"


def _protocol_text(protocol, method):
    p = protocol
    images = "all 50,000" if not p.get("train_images") else f"the first {p['train_images']:,}"
    epochs = (f"{p['search_epochs']} search + {p['finetune_epochs']} fine-tune epochs"
              if method == "dais" else f"{p['total_epochs']} fine-tune epochs")
    return (f"{epochs} ({p['total_epochs']} in total, the same for every method of the "
            f"comparison) on {images} images of the {p['data']} training set, "
            f"{p['optimizer']}, lr {p['lr']} {p['schedule']}, weight decay "
            f"{p['weight_decay']}, batch {p['batch_size']}, {p['augment']}"
            + (f", distillation (T={p['distill_temperature']}, weight {p['distill_weight']}) "
               + ("from the unpruned reference of the same seed (the pretrained port trained on "
                  "the labels of the same images for the same epochs)"
                  if p.get("teacher") == "unpruned" else "from the unpruned pretrained model")
               if p.get("distill") else ""))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a run JSON written by bench/compare.py")
    parser.add_argument("--tolerance", type=float, default=0.002,
                        help="largest allowed exact-subset accuracy difference to the run's")
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
    pct = int(round(100 * row["budget"]))
    depth = protocol["depth"]
    label = "dais" if method == "dais" else method.replace("-", "")
    entry = zoo.publish(
        model,
        f"resnet{depth}-cifar10-{label}{pct}",
        metrics={TEST_SET: row["acc_jpeg_test"], EXACT_SET: row["acc_exact_subset"]},
        budget=row["budget"],
        base=f"resnet{depth}",
        dataset="cifar10",
        dataset_variant=protocol["data"],
        licence="BSD-2-Clause",
        command=run["command"],
        description=(
            f"resnet{depth} (exact port of the BSD-2-Clause pretrained weights of "
            f"akamaster/pytorch_resnet_cifar10) pruned with {method} to {pct}% of its "
            f"MACs ({row['macs_ratio']:.3f} measured) in the long comparison of "
            f"bench/compare.py: {_protocol_text(protocol, method)}. Seed {run['seed']}, "
            f"{run['backend']} backend, commit {run.get('commit')}."
        ),
        extra={
            "method": method,
            "seed": run["seed"],
            "protocol": protocol,
            "commit": run.get("commit"),
            "run_file": args.run,
            "search_macs_ratio": row.get("search_macs_ratio"),
            "repair_channels_changed": row.get("repair_channels_changed"),
            "acc_exact_subset_before_finetune": row.get("acc_exact_subset_before_finetune"),
        },
    )
    print(entry.key, {TEST_SET: row["acc_jpeg_test"], EXACT_SET: measured})


if __name__ == "__main__":
    main()
