"""DAIS vs the baselines on real CIFAR-10, in one run, with one protocol.

Starting from the pretrained CIFAR ResNet port, every method prunes to the same
MACs budget; then every pruned model (and the unpruned model, as the
reference) is fine-tuned with the *same* data, epochs, optimizer and seed, and
evaluated on the full JPEG test set and the 1,017 exact-pixel test images.
Each model is exported to TFLite (XNNPack) and ONNX and timed at batch 1 on
one thread (median of many runs); speed-ups are against the unpruned model in
the same run.

Usage:
    python bench/compare.py [--depth 20] [--budget 0.5] [--round-to 8]
        [--train-images 10000] [--search-epochs 1] [--finetune-epochs 2]

Writes bench/results/compare_resnet{depth}_cifar10[_r{round_to}].json, a
markdown table and an accuracy-vs-MACs plot beside it.
"""

import argparse
import json
import os
import shlex
import sys
import tempfile
import time

from dais_keras.utils.tf_logging import silence_tensorflow

silence_tensorflow()

from dais_keras import data  # noqa: E402
from dais_keras import models  # noqa: E402
from dais_keras.api.pipeline import run_pipeline  # noqa: E402
from dais_keras.api.pruners import BaselinePruning  # noqa: E402
from dais_keras.api.pruners import DAISSearch  # noqa: E402
from dais_keras.api.pruners import Pruning  # noqa: E402
from dais_keras.cost.macs import count_macs  # noqa: E402
from dais_keras.cost.macs import count_params  # noqa: E402
from dais_keras.deploy import export  # noqa: E402
from dais_keras.finetune.accuracy import accuracy  # noqa: E402
from dais_keras.finetune.recipe import FinetuneRecipe  # noqa: E402
from dais_keras.search.plot import pyplot  # noqa: E402
from dais_keras.select import baselines  # noqa: E402
from dais_keras.utils.io import atomic_write  # noqa: E402
from dais_keras.utils.io import write_json  # noqa: E402
from dais_keras.utils.losses import classification_loss  # noqa: E402
from dais_keras.utils.machine import machine_info  # noqa: E402
from dais_keras.utils.timing import time_ms  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def measure_latency(model, sample, tmp, runs=300, warmup=20):
    """Batch-1, one-thread median latency in TFLite (XNNPack) and ONNX Runtime,
    after exporting (with the parity check) to both."""
    x = sample[:1].astype("float32")
    tfl = os.path.join(tmp, f"{model.name}.tflite")
    export.tflite(model, tfl, sample=sample)
    interpreter, _ = export.litert_interpreter(tfl, num_threads=1)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(inp, x.shape)
    interpreter.allocate_tensors()

    def run_tflite():
        interpreter.set_tensor(inp, x)
        interpreter.invoke()

    onx = os.path.join(tmp, f"{model.name}.onnx")
    export.onnx(model, onx, sample=sample)
    session, _ = export.onnx_session(onx, num_threads=1)
    feed = {session.get_inputs()[0].name: x}
    return (time_ms(run_tflite, runs=runs, warmup=warmup),
            time_ms(lambda: session.run(None, feed), runs=runs, warmup=warmup))


def pruner(method, args, original, weight, search):
    """The pruning step of `method`: DAIS, a baseline, or none (`unpruned`:
    the reference, fine-tuned like the others)."""
    if method == "unpruned":
        return lambda model: Pruning(models.pretrained(f"resnet{args.depth}"), None)
    if method == "dais":
        return DAISSearch(args.budget, weight, search, epochs=args.search_epochs,
                          loss=classification_loss(original), round_to=args.round_to,
                          seed=args.seed, verbose=0)
    return BaselinePruning(method, args.budget, seed=args.seed, round_to=args.round_to)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=20, choices=[20, 32, 44, 56])
    parser.add_argument("--budget", type=float, default=0.5)
    parser.add_argument("--round-to", type=int, default=None)
    parser.add_argument("--train-images", type=int, default=10000,
                        help="training images (JPEG train set, class-balanced prefix)")
    parser.add_argument("--search-epochs", type=int, default=1)
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default="dais," + ",".join(baselines.available()))
    parser.add_argument("--save-dir", default=None,
                        help="also save every fine-tuned model as <dir>/<method>.keras")
    args = parser.parse_args(argv)
    import keras

    keras.utils.set_random_seed(args.seed)
    t_start = time.perf_counter()

    base_name = f"resnet{args.depth}"
    train = data.cifar10("train", batch_size=args.batch_size, augment=True, limit=args.train_images,
                         seed=args.seed, drop_remainder=True)
    weight = data.cifar10("weight", batch_size=args.batch_size, augment=True, search_fraction=0.2,
                          limit=int(args.train_images * 0.8), seed=args.seed, drop_remainder=True)
    search = data.cifar10("search", batch_size=args.batch_size, augment=False, search_fraction=0.2,
                          limit=int(args.train_images * 0.2), seed=args.seed, drop_remainder=True)
    x_test, y_test = data.cifar10_numpy("test")
    x_exact, y_exact = data.cifar10_exact_subset()
    source = data.cifar10_source()
    # The same fine-tuning protocol for every method, the reference included.
    recipe = FinetuneRecipe(args.finetune_epochs, nesterov=True, seed=args.seed)

    original = models.pretrained(base_name)
    base_macs = count_macs(original)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base_tfl, base_ort = measure_latency(original, x_exact[:64], tmp)
        for method in args.methods.split(",") + ["unpruned"]:
            result = run_pipeline(
                original, pruner(method, args, original, weight, search), recipe=recipe,
                finetune_data=train, eval_data={"exact": (x_exact, y_exact)},
                eval_stages=("pruned", "finetuned"), eval_batch_size=500,
            )
            model = result.model
            macs = count_macs(model)
            print(f"{method}: pruned to {macs / base_macs:.3f} of MACs", flush=True)
            tfl, ort = measure_latency(model, x_exact[:64], tmp)
            if args.save_dir:
                os.makedirs(args.save_dir, exist_ok=True)
                model.save(os.path.join(args.save_dir, f"{method}.keras"))
            row = {
                "method": method,
                "macs": macs,
                "params": count_params(model),
                "macs_ratio": macs / base_macs,
                "acc_jpeg_test": accuracy(model, (x_test, y_test), batch_size=500),
                "acc_exact_subset": result.accuracy["finetuned"]["exact"],
                "acc_exact_subset_before_finetune": result.accuracy["pruned"]["exact"],
                "tflite_ms": tfl,
                "ort_ms": ort,
                "tflite_speedup": base_tfl / tfl,
                "ort_speedup": base_ort / ort,
                "macs_reduction": base_macs / macs,
                "round_to": args.round_to,
                "prune_seconds": result.seconds["prune"] if method != "unpruned" else 0.0,
                "finetune_seconds": result.seconds["finetune"],
                "final_train_accuracy": result.finetune_history["accuracy"][-1],
            }
            if method == "dais":
                row["search_macs_ratio"] = result.pruning.report.ratio_before
                row["repair_channels_changed"] = result.pruning.report.channels_changed
            rows.append(row)
            print(json.dumps(row), flush=True)

    suffix = "" if args.round_to is None else f"_r{args.round_to}"
    stem = os.path.join(RESULTS, f"compare_{base_name}_cifar10{suffix}")
    result = {
        "machine": machine_info(runtime=True),
        "epochs": {"search": args.search_epochs, "finetune": args.finetune_epochs},
        "train_images": args.train_images,
        "budget": args.budget,
        "data": {"train": source.name, "test": source.name + " test (10,000)",
                 "exact_subset": "cifar10-exact-subset-1017"},
        "unpruned_latency_ms": {"tflite": base_tfl, "ort": base_ort},
        "command": "python bench/compare.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "wall_seconds": time.perf_counter() - t_start,
        "rows": rows,
    }
    write_json(stem + ".json", result, indent=1)
    write_markdown(result, stem + ".md")
    write_plot(result, stem + ".png")


def write_markdown(result, path):
    lines = [
        f"# {result['command']}",
        "",
        f"Budget {result['budget']:.0%} of MACs; {result['train_images']} training images; "
        f"search {result['epochs']['search']} epoch(s), fine-tune {result['epochs']['finetune']} "
        f"epoch(s), same protocol for every method; data: {result['data']['train']}. "
        f"Latency: batch 1, one thread, median; speed-up vs the unpruned model in the same run.",
        "",
        "| method | MACs | params | acc JPEG test | acc exact subset | TFLite ms (speed-up) | ORT ms (speed-up) | MACs reduction |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['method']} | {r['macs']:,} | {r['params']:,} | {100 * r['acc_jpeg_test']:.2f} % | "
            f"{100 * r['acc_exact_subset']:.2f} % | {r['tflite_ms']:.3f} ({r['tflite_speedup']:.2f}×) | "
            f"{r['ort_ms']:.3f} ({r['ort_speedup']:.2f}×) | {r['macs_reduction']:.2f}× |"
        )
    atomic_write(path, "\n".join(lines) + "\n")


def write_plot(result, path):
    try:
        plt = pyplot()
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in result["rows"]:
        ax.scatter(r["macs"] / 1e6, 100 * r["acc_jpeg_test"])
        ax.annotate(r["method"], (r["macs"] / 1e6, 100 * r["acc_jpeg_test"]), fontsize=8)
    ax.set_xlabel("MACs (millions)")
    ax.set_ylabel("top-1 on JPEG CIFAR-10 test (%)")
    ax.set_title(os.path.basename(path).replace(".png", ""))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
