"""Full-schedule DAIS run for a lent GPU: the pretrained CIFAR ResNet-56 to
50 % of its MACs, on JAX (default) or torch, without TensorFlow.

The whole pipeline of `dais_keras.prune` (`run_pipeline` with `DAISSearch`
and a `FinetuneRecipe`): the bi-level DAIS search on the weight/search split
of the 50,000 CIFAR-10 training images (40,000 / 10,000), binarisation to
the budget, surgery, BatchNorm recalibration, then fine-tuning on all 50,000
training images with distillation from the unpruned model, and top-1 on the
10,000 test images after each stage. The images are decoded once (Pillow,
from the JPEG archive) and copied once to the device: every batch is
gathered, cropped and flipped there (`dais_keras.data.DeviceImageDataset`,
`keras.ops`), never by TensorFlow.

Sizing: 10 minutes on one H200 with JAX, from the ASSUMED GPU speeds below
(not measured: no GPU was lent when this was written) and the CPU-measured
ratio of the DAIS bi-level step to the plain step (`bench/backends.py`).
The script prints its estimate before it starts; `--search-epochs` and
`--finetune-epochs` change the schedule. Should the GPU be slower than
assumed, the run still ends in time: the search stops after the epoch when
the next would end past 55 % of `--time-budget` (570 s by default) and the
fine-tune after the epoch when the next would end past all of it (the JSON
says so). Every phase's measured images/s is written, to size the next run.

Writes to `--out`: `gpu_full_schedule.json` (settings, estimate, times,
throughput, accuracy, MACs; `"dry_run": true` for `--dry-run`),
`resnet56_dais50.keras` (the pruned, fine-tuned model), `widths.png` and
`alphas.png`.

On the GPU machine (see `scripts/gpu_bundle.py`, which prints the exact
command): `KERAS_BACKEND=jax DAIS_DATA_DIR=... DAIS_WEIGHTS_DIR=... python3
bench/gpu_full_schedule.py --out $OUT`. A CPU dry run of the same code path
with TensorFlow blocked:

    KERAS_BACKEND=jax python bench/gpu_full_schedule.py --dry-run \
        --block-tensorflow --train-limit 320 --test-limit 128 --batch-size 32 \
        --search-epochs 2 --finetune-epochs 1 --recalibrate-batches 2 \
        --out /tmp/gpu_dry_jax

(`bench/results/gpu_full_schedule_dry_run_{jax,torch}.json` are its JSONs
on JAX and torch: figures of 320 images, not results.)
"""

import argparse
import os
import sys
import time

# Imports nothing heavy: `--block-tensorflow` must act before Keras loads.
from dais_keras.utils.block_imports import block_tensorflow

# Assumed throughput of Keras 3 + JAX on one H200 at batch 128 (training
# images/s), NOT measured: the plain ResNet-56 step, and the DAIS bi-level
# step (two forward/backward passes, about twice the plain step's work; the
# CPU measures the ratio, `bench/results/backends.json`).
ASSUMED_PLAIN_IPS = 8000.0
ASSUMED_DAIS_IPS = 3500.0
# Fine-tuning with distillation adds the teacher's forward pass (~1/3 of a
# training step).
DISTILL_COST = 4.0 / 3.0
# Start-up, decoding, compiling and evaluating, assumed (seconds).
ASSUMED_OVERHEAD_S = 180.0
DEFAULT_SEARCH_EPOCHS = 15
DEFAULT_FINETUNE_EPOCHS = 25
# Share of `--time-budget` by which the search must end: it stops after the
# epoch when another would end later (the repair then binarises to the budget
# as at any end of the search), leaving the rest to the fine-tune.
SEARCH_SHARE = 0.55


def _parse(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("runs", "gpu_full_schedule"))
    parser.add_argument("--budget", type=float, default=0.5, help="target MACs fraction")
    parser.add_argument("--search-epochs", type=int, default=DEFAULT_SEARCH_EPOCHS)
    parser.add_argument("--finetune-epochs", type=int, default=DEFAULT_FINETUNE_EPOCHS)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--finetune-lr", type=float, default=0.01)
    parser.add_argument("--no-distill", action="store_true")
    parser.add_argument("--time-budget", type=float, default=570.0,
                        help="seconds from the start; the fine-tune stops after the epoch "
                             "that would end past it")
    parser.add_argument("--train-limit", type=int, default=None,
                        help="training images (dry runs); default all 50,000")
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--recalibrate-batches", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dry-run", action="store_true",
                        help="mark the result as a dry run (e.g. on CPU, tiny schedule)")
    parser.add_argument("--block-tensorflow", action="store_true",
                        help="make TensorFlow unimportable first (as on the GPU machine)")
    return parser.parse_args(argv)


def estimate_seconds(search_epochs, finetune_epochs, weight_images, train_images,
                     distill=True):
    """The run's wall time under the assumed GPU speeds (see the module)."""
    search = search_epochs * weight_images / ASSUMED_DAIS_IPS
    finetune = finetune_epochs * train_images * (DISTILL_COST if distill else 1.0)
    finetune /= ASSUMED_PLAIN_IPS
    return dict(search_s=round(search, 1), finetune_s=round(finetune, 1),
                overhead_s=ASSUMED_OVERHEAD_S,
                total_s=round(search + finetune + ASSUMED_OVERHEAD_S, 1),
                assumed_images_per_second={"plain": ASSUMED_PLAIN_IPS,
                                           "dais": ASSUMED_DAIS_IPS},
                distill_cost=DISTILL_COST if distill else 1.0)


def _epoch_clock(deadline=None):
    """A callback that times every epoch of `fit`; with a `deadline`
    (`time.perf_counter()` seconds) it stops `fit` after the epoch when
    another epoch as long as it would end past the deadline."""
    import keras

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.stopped = [], False

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            self.seconds.append(now - self._start)
            if deadline is not None and now + self.seconds[-1] > deadline:
                self.model.stop_training = self.stopped = True

        def images_per_second(self, images):
            """`images` per epoch over the median epoch, the first (which
            compiles) left out when there are others."""
            timed = sorted(self.seconds[1:] or self.seconds)
            return round(images / timed[len(timed) // 2], 1) if timed else None

    return EpochClock()


def _device():
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return [str(d) for d in jax.devices()]
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return ["cpu"]


def _datasets(args):
    """Weight, search, train and test sets on the device; the host arrays
    are dropped once copied."""
    from dais_keras import data

    def numpy(split, limit):
        return data.cifar10_numpy(split, limit=limit, seed=args.seed, variant="jpeg",
                                  download=False)

    limit = args.train_limit
    search_limit = None if limit is None else max(1, limit // 5)
    weight_limit = None if limit is None else limit - search_limit
    train = dict(batch_size=args.batch_size, seed=args.seed, shuffle=True, augment=True)
    return {
        "weight": data.DeviceImageDataset(*numpy("weight", weight_limit), **train),
        "search": data.DeviceImageDataset(*numpy("search", search_limit), args.batch_size,
                                          seed=args.seed, shuffle=True),
        "train": data.DeviceImageDataset(*numpy("train", limit), **train),
        "test": data.DeviceImageDataset(*numpy("test", args.test_limit), 1000),
    }


def run(args):
    """Runs the schedule; returns the result dict (also written as JSON)."""
    start = time.perf_counter()
    import keras

    from dais_keras import data
    from dais_keras import models
    from dais_keras.api.pipeline import run_pipeline
    from dais_keras.api.pruners import DAISSearch
    from dais_keras.cost.macs import count_macs
    from dais_keras.cost.macs import count_params
    from dais_keras.finetune.recipe import FinetuneRecipe
    from dais_keras.finetune.recipe import sgd
    from dais_keras.utils.io import write_json
    from dais_keras.utils.losses import classification_loss
    from dais_keras.utils.machine import machine_info

    os.makedirs(args.out, exist_ok=True)
    keras.utils.set_random_seed(args.seed)
    model = models.pretrained("resnet56")
    t0 = time.perf_counter()
    sets = _datasets(args)
    load_s = time.perf_counter() - t0
    sizes = {name: len(ds.y) for name, ds in sets.items()}
    distill = not args.no_distill
    estimate = estimate_seconds(args.search_epochs, args.finetune_epochs, sizes["weight"],
                                sizes["train"], distill)
    print(f"backend {keras.backend.backend()} on {_device()}; images {sizes}; estimated "
          f"{estimate['total_s']:.0f} s on the assumed GPU (time budget "
          f"{args.time_budget:.0f} s)", flush=True)
    search_clock = _epoch_clock(start + SEARCH_SHARE * args.time_budget)
    finetune_clock = _epoch_clock(start + args.time_budget)
    pruner = DAISSearch(
        args.budget, sets["weight"], sets["search"], epochs=args.search_epochs,
        batch_size=args.batch_size,
        optimizer=sgd(0.01, momentum=0.9, nesterov=True, weight_decay=5e-4),
        loss=classification_loss(model), seed=args.seed, verbose=2, eval_data=sets["test"],
        recalibrate_batches=args.recalibrate_batches, plot_dir=args.out,
        callbacks=[search_clock],
    )
    recipe = FinetuneRecipe(args.finetune_epochs, lr=args.finetune_lr, nesterov=True,
                            weight_decay=5e-4, distill=distill, seed=args.seed)
    result = run_pipeline(model, pruner, recipe=recipe, finetune_data=sets["train"],
                          eval_data={"test": sets["test"]}, callbacks=[finetune_clock],
                          log=lambda text: print(text, flush=True), verbose=2)
    tag = int(round(100 * args.budget))
    path = os.path.join(args.out, f"resnet56_dais{tag}.keras")
    result.model.save(path)
    seconds = dict(result.seconds, load=load_s, wall=time.perf_counter() - start)
    summary = {
        "dry_run": bool(args.dry_run),
        "what": f"pretrained CIFAR ResNet-56 pruned by DAIS to {args.budget:.0%} of its MACs, "
                "fine-tuned, without TensorFlow",
        "backend": keras.backend.backend(),
        "device": _device(),
        "tensorflow_imported": "tensorflow" in sys.modules,
        "data_source": data.cifar10_source(variant="jpeg", download=False).name,
        "images": sizes,
        "settings": {k: v for k, v in vars(args).items() if k != "out"},
        "estimate_on_assumed_gpu": estimate,
        "macs": {"unpruned": count_macs(model), "pruned": count_macs(result.model)},
        "params": {"unpruned": count_params(model), "pruned": count_params(result.model)},
        "accuracy": result.accuracy,
        "convergence": result.pruning.convergence,
        "feasible": bool(result.pruning.report.feasible),
        "search_epochs_run": len(search_clock.seconds),
        "search_stopped_by_time_budget": search_clock.stopped,
        "finetune_epochs_run": len(finetune_clock.seconds),
        "finetune_stopped_by_time_budget": finetune_clock.stopped,
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "epoch_seconds": {"search": [round(t, 2) for t in search_clock.seconds],
                          "finetune": [round(t, 2) for t in finetune_clock.seconds]},
        "images_per_second": {
            "search": search_clock.images_per_second(sizes["weight"]),
            "finetune": finetune_clock.images_per_second(sizes["train"]),
            "note": "training images per second of the median epoch (the first, "
                    "compiling, left out when there are others)",
        },
        "search_history": result.pruning.history,
        "finetune_history": result.finetune_history,
        "model_path": os.path.basename(path),
        "machine": machine_info(runtime=True),
    }
    summary["macs"]["ratio"] = summary["macs"]["pruned"] / summary["macs"]["unpruned"]
    write_json(os.path.join(args.out, "gpu_full_schedule.json"), summary, indent=1)
    print(f"top-1 {result.accuracy}; MACs ratio {summary['macs']['ratio']:.3f}; "
          f"wall {seconds['wall']:.0f} s -> {args.out}", flush=True)
    return summary


def main(argv=None):
    args = _parse(argv)
    if args.block_tensorflow:
        block_tensorflow()
    os.environ.setdefault("KERAS_BACKEND", "jax")
    return run(args)


if __name__ == "__main__":
    main()
