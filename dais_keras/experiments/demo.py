"""The main job: prune the pretrained CIFAR-10 ResNet-20 to 50 % of its MACs.

Run `python -m dais_keras.experiments.demo` (or `make demo`). It loads the exact port of
the pretrained ResNet-20 and CIFAR-10 (the shared copy, see
`dais_keras.data`), runs `dais_keras.prune` with a short schedule (a DAIS
search on the weight/search split of the training set, then fine-tuning
with knowledge distillation from the unpruned network), prints a
before/after table (MACs, parameters, accuracy on the full test set and on
the exact-pixel test subset) and saves, in `--out` (default `runs/demo`):

* `resnet20_dais50.keras`: the pruned plain Keras model,
* `widths.png`, `alphas.png`: widths per group and alpha trajectories,
* `tensorboard/`: the search's TensorBoard logs (loss, temperature, expected
  MACs, binarised share, widths and an alpha histogram per group, per epoch;
  `tensorboard --logdir runs/demo/tensorboard`), where TensorFlow and
  tensorboard are installed,
* `report.json`: every figure of the run, the wall time included.

The default schedule (240 search steps, 600 fine-tuning steps, batch 128,
the `mixed_bfloat16` dtype policy on TensorFlow where the CPU has bfloat16
instructions, see `dais_keras.utils.precision`) finishes in about 5
minutes on 2 idle CPU cores (bench/results/demo_tensorflow.json);
`--search-steps`, `--finetune-steps` and `--dtype-policy` change it. The
saved model is a float32 copy. It runs on every Keras backend: the data come
as a `tf.data.Dataset` on TensorFlow and as a `keras.utils.PyDataset` on
JAX and torch (`--data-format`), so `KERAS_BACKEND=torch python -m
dais_keras.experiments.demo` runs where TensorFlow is not installed.
"""

import argparse
import os
import time

from dais_keras.utils.precision import POLICIES


def _parse(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m dais_keras.experiments.demo",
        description="Prune the pretrained CIFAR-10 ResNet-20 to 50 % of its MACs with DAIS.",
    )
    parser.add_argument("--out", default=os.path.join("runs", "demo"), help="output directory")
    parser.add_argument("--budget", type=float, default=0.5, help="target MACs fraction")
    parser.add_argument("--search-steps", type=int, default=240)
    parser.add_argument("--finetune-steps", type=int, default=600)
    parser.add_argument("--steps-per-epoch", type=int, default=30,
                        help="steps per (short) epoch, for the logs")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--no-distill", action="store_true", help="fine-tune without distillation")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit-test", type=int, default=None,
                        help="evaluate on the first N test images only")
    parser.add_argument("--data-format", choices=("auto", "tf", "pydataset"), default="auto",
                        help="tf.data ('tf') or keras.utils.PyDataset input; auto: 'tf' on "
                             "the TensorFlow backend, 'pydataset' on JAX and torch")
    parser.add_argument("--dtype-policy", choices=("auto",) + POLICIES, default="auto",
                        help="Keras dtype policy of the search and the fine-tuning; auto: "
                             "mixed_bfloat16 on TensorFlow where the CPU has bfloat16 "
                             "instructions, float32 elsewhere (the saved model is float32)")
    return parser.parse_args(argv)


def search_callbacks(out):
    """The search's extra callbacks: a `keras.callbacks.TensorBoard` into
    `<out>/tensorboard`, where TensorFlow and tensorboard are installed
    (Keras' callback writes with `tf.summary` on every backend); none where
    they are not."""
    import importlib.util

    if any(importlib.util.find_spec(name) is None for name in ("tensorflow", "tensorboard")):
        return []
    import keras

    return [keras.callbacks.TensorBoard(os.path.join(out, "tensorboard"))]


def main(argv=None):
    args = _parse(argv)
    t_start = time.perf_counter()
    from dais_keras.utils.tf_logging import silence_tensorflow

    # Where TensorFlow is installed, `keras.utils.set_random_seed` imports it
    # on every backend (to seed it); where it is not, nothing needs it.
    silence_tensorflow()
    import keras

    from dais_keras import data
    from dais_keras import models
    from dais_keras.api.one_call import prune
    from dais_keras.api.report import format_table
    from dais_keras.experiments.builders import data_format
    from dais_keras.experiments.run import json_default
    from dais_keras.finetune.accuracy import accuracy
    from dais_keras.utils.io import write_json
    from dais_keras.utils.machine import machine_info
    from dais_keras.utils.precision import as_float32
    from dais_keras.utils.precision import dtype_policy
    from dais_keras.utils.precision import fastest_policy

    if args.search_steps % args.steps_per_epoch or args.finetune_steps % args.steps_per_epoch:
        raise SystemExit("--search-steps and --finetune-steps must be multiples of --steps-per-epoch")
    os.makedirs(args.out, exist_ok=True)
    keras.utils.set_random_seed(args.seed)

    policy = fastest_policy() if args.dtype_policy == "auto" else args.dtype_policy
    with dtype_policy(policy):
        print("Loading the pretrained ResNet-20 and CIFAR-10 ...", flush=True)
        t0 = time.perf_counter()
        model = models.pretrained("resnet20")
        fmt = data_format(args.data_format)
        train = data.cifar10("weight", batch_size=args.batch_size, seed=args.seed, format=fmt,
                             repeat=True)
        search = data.cifar10("search", batch_size=args.batch_size, seed=args.seed, format=fmt)
        test = data.cifar10("test", batch_size=500, limit=args.limit_test, format=fmt)
        source = data.cifar10_source().name
        x_exact, y_exact = data.cifar10_exact_subset()
        load_s = time.perf_counter() - t0

        pruned, report = prune(
            model,
            args.budget,
            train,
            search_data=search,
            epochs=args.search_steps // args.steps_per_epoch,
            finetune_epochs=args.finetune_steps // args.steps_per_epoch,
            steps_per_epoch=args.steps_per_epoch,
            distill=not args.no_distill,
            eval_data={"test": test, "exact": (x_exact.astype("float32"), y_exact)},
            seed=args.seed,
            plot_dir=args.out,
            callbacks=search_callbacks(args.out),
            verbose=2,
        )
    exact_before = report.evaluations["unpruned"]["exact"]
    exact_after = report.evaluations["finetuned"]["exact"]
    # The saved model computes in float32 wherever it is loaded; its accuracy
    # on the exact subset is measured again (bfloat16 rounding can move it).
    pruned = as_float32(pruned)
    exact_float32 = accuracy(pruned, (x_exact.astype("float32"), y_exact))
    budget_tag = int(round(100 * args.budget))
    path = os.path.join(args.out, f"resnet20_dais{budget_tag}.keras")
    pruned.save(path)
    wall = time.perf_counter() - t_start

    test_name = (f"test set, {'first ' + str(args.limit_test) if args.limit_test else '10,000'} "
                 f"images ({source})")
    table = format_table([
        ("", "ResNet-20", f"DAIS {budget_tag}%", "ratio"),
        ("MACs", f"{report.macs_before:,}", f"{report.macs_after:,}", f"{report.macs_ratio:.3f}"),
        ("params", f"{report.params_before:,}", f"{report.params_after:,}",
         f"{report.params_ratio:.3f}"),
        (f"accuracy, {test_name}", f"{100 * report.accuracy_before:.2f} %",
         f"{100 * report.accuracy_after:.2f} %", ""),
        ("accuracy, exact test subset (1,017 original images)", f"{100 * exact_before:.2f} %",
         f"{100 * exact_after:.2f} %", ""),
    ])
    print()
    print(table)
    print()
    print(f"accuracy right after the search, before fine-tuning ({test_name}): "
          f"{100 * report.accuracy_after_search:.2f} %")
    print(f"trained under the {policy} dtype policy; the saved float32 model scores "
          f"{100 * exact_float32:.2f} % on the exact subset")
    print(f"search {report.seconds['search']:.0f} s, fine-tuning {report.seconds['finetune']:.0f} s, "
          f"wall time {wall:.0f} s ({wall / 60:.1f} min)")
    print(f"saved {path}, {os.path.join(args.out, 'widths.png')}, "
          f"{os.path.join(args.out, 'alphas.png')}")

    result = {
        "table": table,
        "budget": args.budget,
        "macs": {"before": report.macs_before, "after": report.macs_after},
        "params": {"before": report.params_before, "after": report.params_after},
        "accuracy_test": {"before": report.accuracy_before, "after": report.accuracy_after,
                          "after_search": report.accuracy_after_search,
                          "images": args.limit_test or 10000, "source": source},
        "accuracy_exact_subset": {"before": exact_before, "after": exact_after,
                                  "after_float32": exact_float32, "images": len(y_exact)},
        "dtype_policy": policy,
        "search_steps": args.search_steps,
        "finetune_steps": args.finetune_steps,
        "batch_size": args.batch_size,
        "backend": keras.backend.backend(),
        "data_format": fmt,
        "distill": not args.no_distill,
        "seconds": dict(report.seconds, load=load_s, wall=wall),
        "report": report.as_dict(),
        "machine": machine_info(runtime=True),
        "model_path": path,
    }
    write_json(os.path.join(args.out, "report.json"), result, indent=1, default=json_default)
    return result


if __name__ == "__main__":
    main()
