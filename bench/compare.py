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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import keras  # noqa: E402

import dais_keras as dk  # noqa: E402
from _common import machine  # noqa: E402
from dais_keras import baselines  # noqa: E402
from dais_keras import data  # noqa: E402
from dais_keras import export  # noqa: E402
from dais_keras import models  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def finetune(model, train, epochs, steps, seed):
    """The fine-tuning protocol shared by every method."""
    keras.utils.set_random_seed(seed)
    lr = keras.optimizers.schedules.CosineDecay(0.01, decay_steps=max(1, epochs * steps))
    model.compile(
        optimizer=keras.optimizers.SGD(lr, momentum=0.9, nesterov=True),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    t0 = time.perf_counter()
    history = model.fit(train, epochs=epochs, verbose=0)
    return time.perf_counter() - t0, {k: [float(x) for x in v] for k, v in history.history.items()}


def accuracy(model, x, y):
    logits = model.predict(x, batch_size=500, verbose=0)
    return float(np.mean(np.argmax(logits, -1) == np.asarray(y).ravel()))


def latency_ms(run, x, runs=300, warmup=20):
    for _ in range(warmup):
        run(x)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        run(x)
        times.append(time.perf_counter() - t0)
    return 1000.0 * float(np.median(times))


def measure_latency(model, sample, tmp):
    """Batch-1, one-thread median latency in TFLite (XNNPack) and ONNX Runtime."""
    x = sample[:1].astype("float32")
    tfl = os.path.join(tmp, f"{model.name}.tflite")
    export.tflite(model, tfl, sample=sample)
    interpreter, _ = export.litert_interpreter(tfl, num_threads=1)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]
    interpreter.resize_tensor_input(inp, x.shape)
    interpreter.allocate_tensors()

    def run_tflite(v):
        interpreter.set_tensor(inp, v)
        interpreter.invoke()
        return interpreter.get_tensor(out)

    onx = os.path.join(tmp, f"{model.name}.onnx")
    export.onnx(model, onx, sample=sample)
    session, _ = export.onnx_session(onx, num_threads=1)
    name = session.get_inputs()[0].name

    def run_ort(v):
        return session.run(None, {name: v})

    return latency_ms(run_tflite, x), latency_ms(run_ort, x)


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
    keras.utils.set_random_seed(args.seed)
    t_start = time.perf_counter()

    base_name = f"resnet{args.depth}"
    train = data.cifar10("train", batch_size=args.batch_size, augment=True, limit=args.train_images,
                         seed=args.seed, drop_remainder=True)
    steps = int(train.cardinality().numpy())
    weight = data.cifar10("weight", batch_size=args.batch_size, augment=True, search_fraction=0.2,
                          limit=int(args.train_images * 0.8), seed=args.seed, drop_remainder=True)
    search = data.cifar10("search", batch_size=args.batch_size, augment=False, search_fraction=0.2,
                          limit=int(args.train_images * 0.2), seed=args.seed, drop_remainder=True)
    x_test, y_test = data.cifar10_numpy("test")
    x_exact, y_exact = data.cifar10_exact_subset()
    source = data.cifar10_source()

    original = models.pretrained(base_name)
    base_macs = dk.count_macs(original)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base_tfl, base_ort = measure_latency(original, x_exact[:64], tmp)
        candidates = {}
        for method in args.methods.split(","):
            t0 = time.perf_counter()
            if method == "dais":
                pruned, report = dk.prune(
                    original, args.budget, weight, search_data=search, epochs=args.search_epochs,
                    finetune_epochs=0, round_to=args.round_to, seed=args.seed, verbose=0,
                )
                budget_report = report.budget_report
                info = {
                    "search_macs_ratio": budget_report.ratio_before,
                    "repair_channels_changed": budget_report.channels_changed,
                }
            else:
                pruned, report = baselines.prune(original, method, args.budget, seed=args.seed,
                                                 round_to=args.round_to)
                info = {}
            candidates[method] = (pruned, time.perf_counter() - t0, info)
            print(f"{method}: pruned to {dk.count_macs(pruned) / base_macs:.3f} of MACs", flush=True)
        candidates["unpruned"] = (models.pretrained(base_name), 0.0, {})
        for method, (model, t_prune, info) in candidates.items():
            acc_before = accuracy(model, x_exact, y_exact)
            t_ft, history = finetune(model, train, args.finetune_epochs, steps, args.seed)
            tfl, ort = measure_latency(model, x_exact[:64], tmp)
            if args.save_dir:
                os.makedirs(args.save_dir, exist_ok=True)
                model.save(os.path.join(args.save_dir, f"{method}.keras"))
            macs = dk.count_macs(model)
            row = {
                "method": method,
                "macs": macs,
                "params": dk.count_params(model),
                "macs_ratio": macs / base_macs,
                "acc_jpeg_test": accuracy(model, x_test, y_test),
                "acc_exact_subset": accuracy(model, x_exact, y_exact),
                "acc_exact_subset_before_finetune": acc_before,
                "tflite_ms": tfl,
                "ort_ms": ort,
                "tflite_speedup": base_tfl / tfl,
                "ort_speedup": base_ort / ort,
                "macs_reduction": base_macs / macs,
                "round_to": args.round_to,
                "prune_seconds": t_prune,
                "finetune_seconds": t_ft,
                "final_train_accuracy": history["accuracy"][-1],
            }
            row.update(info)
            rows.append(row)
            print(json.dumps(row), flush=True)

    suffix = "" if args.round_to is None else f"_r{args.round_to}"
    stem = os.path.join(RESULTS, f"compare_{base_name}_cifar10{suffix}")
    result = {
        "machine": machine(),
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
    with open(stem + ".json", "w") as f:
        json.dump(result, f, indent=1)
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
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_plot(result, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
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
