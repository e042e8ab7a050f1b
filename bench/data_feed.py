"""Benchmark: does the TensorFlow-free loader keep the training step fed?

On each Keras backend (TensorFlow, JAX, torch), each in its own process, in
one run:

* loader: images/s of `cifar10("train", format="pydataset", batch_size=128)`
  (shuffled, augmented in numpy by `random_crop_flip`), read the way `fit`
  reads it: through Keras' own PyDataset adapter, which hands every batch to
  the backend (`jax.Array`, `torch.Tensor`, `tf.data`), one worker (the
  batches are made in the training thread: the worst case);
* train_step: images/s of a plain training step (`train_on_batch`, SGD,
  sparse cross-entropy) of the CIFAR ResNet-20 (`cifar_resnet(20)`) at batch
  128 on the same backend, data already in memory.

With one worker, `fit` makes a batch, then runs the step, so the loader takes
`train_step / loader` of the step's time; the loader keeps the step fed when
that share is small (below `FED_SHARE`). More `workers` overlap the two.

Usage (the JPEG CIFAR-10 of the shared data, found by `dais_keras.data`):

    python bench/data_feed.py [--steps 20] [--batches 48]
        [--out bench/results/data_feed.json]

(with `dais_keras` importable: `pip install -e .` or `PYTHONPATH=.`).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from dais_keras.utils.io import write_json
from dais_keras.utils.machine import machine_info
from dais_keras.utils.paths import repo_root

REPOSITORY = repo_root()
BACKENDS = ("tensorflow", "jax", "torch")
BATCH_SIZE = 128
WARMUP = 3
# The loader keeps the step fed when, unoverlapped, it adds at most this
# share of the step's time.
FED_SHARE = 0.10


def _backend_iterator(ds):
    """The batches of `ds` as `fit` gets them on this backend."""
    import keras
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    adapter = PyDatasetAdapter(ds, shuffle=False)
    adapter.on_epoch_begin()
    backend = keras.backend.backend()
    if backend == "jax":
        return adapter.get_jax_iterator()
    if backend == "torch":
        return iter(adapter.get_torch_dataloader())
    return iter(adapter.get_tf_dataset())


def _ready(batch):
    """Waits for a batch to be materialised on the backend (JAX is async)."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        jax.block_until_ready(batch)
    return batch


def _images_per_second(step, count):
    """Runs `step()` `WARMUP` times, then times `count` more runs."""
    for _ in range(WARMUP):
        step()
    start = time.perf_counter()
    for _ in range(count):
        step()
    return round(count * BATCH_SIZE / (time.perf_counter() - start), 1)


def _child(steps, batches):
    import keras
    import numpy as np

    from dais_keras import data
    from dais_keras.models import cifar_resnet

    backend = keras.backend.backend()
    load_start = os.getloadavg()
    start = time.perf_counter()
    ds = data.cifar10("train", BATCH_SIZE, format="pydataset", variant="jpeg",
                      download=False)
    load_s = time.perf_counter() - start
    iterator = _backend_iterator(ds)
    loader = _images_per_second(lambda: _ready(next(iterator)), batches)
    index = iter(range(len(ds)))
    numpy_only = _images_per_second(lambda: ds[next(index)], batches)

    keras.utils.set_random_seed(0)
    model = cifar_resnet(20)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x, y = ds[0]
    step = _images_per_second(lambda: model.train_on_batch(x, y), steps)
    detail = dict(batch_size=BATCH_SIZE, warmup=WARMUP)
    rows = [
        dict(backend=backend, what="loader", images_per_second=loader,
             batches=batches, numpy_only_images_per_second=numpy_only,
             via="keras PyDataset adapter, 1 worker, augmented", **detail),
        dict(backend=backend, what="train_step", images_per_second=step,
             steps=steps, model="cifar_resnet(20)", via="train_on_batch", **detail),
    ]
    print(json.dumps(dict(
        rows=rows, source=data.cifar10_source(variant="jpeg", download=False).name,
        train_images=len(ds.y), load_s=round(load_s, 1),
        load_average_start=[round(v, 2) for v in load_start],
        load_average_end=[round(v, 2) for v in os.getloadavg()],
        versions={"keras": keras.__version__, "numpy": np.__version__,
                  backend: _version(backend)},
    )))


def _version(module):
    return getattr(sys.modules.get(module), "__version__", None)


def _run_child(backend, steps, batches):
    cmd = [sys.executable, __file__, "--child", "--steps", str(steps),
           "--batches", str(batches)]
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=str(REPOSITORY))
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = round(time.perf_counter() - start, 1)
    return result


def _conclusion(rows):
    by = {(r["backend"], r["what"]): r["images_per_second"] for r in rows}
    verdicts = {}
    for backend in sorted({r["backend"] for r in rows}):
        share = by[backend, "train_step"] / by[backend, "loader"]
        verdicts[backend] = dict(
            loader_share_of_step_time=round(share, 4),
            loader_over_step=round(by[backend, "loader"] / by[backend, "train_step"], 1),
            fed=share <= FED_SHARE,
        )
    fed = all(v["fed"] for v in verdicts.values())
    text = (
        ("The loader keeps the ResNet-20 step fed on every backend: " if fed else
         "The loader does NOT keep the step fed on every backend: ")
        + "; ".join(
            f"{b}: loader {v['loader_over_step']}x the step's images/s, "
            f"{100 * v['loader_share_of_step_time']:.1f}% of the step's time "
            "without overlap" for b, v in verdicts.items())
        + f" (threshold {100 * FED_SHARE:.0f}%). On a GPU, where a step is "
        "much faster, pass workers >= 2 to overlap loading and training."
    )
    return dict(fed=fed, per_backend=verdicts, text=text)


def _machine(load_start):
    info = machine_info(runtime=True)  # its load_average is taken at the end
    del info["backend"]  # this process's; each row names its own
    return dict(info, load_average_1_5_15_min_at_start=load_start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--batches", type=int, default=48, help="timed loader batches")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument(
        "--out", default=str(REPOSITORY / "bench" / "results" / "data_feed.json"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.steps, args.batches)
    load_start = [round(v, 2) for v in os.getloadavg()]
    children = {b: _run_child(b, args.steps, args.batches)
                for b in args.backends.split(",")}
    rows = [row for child in children.values() for row in child.pop("rows")]
    result = {
        "benchmark": "TensorFlow-free CIFAR-10 loader (format='pydataset', "
        "batch 128, augmented) against a plain ResNet-20 training step, "
        "per Keras backend",
        "rows": rows,
        "conclusion": _conclusion(rows),
        "children": children,
        "machine": _machine(load_start),
        "note": "one process per backend, run one after the other; load "
        "averages above the CPU count mean other jobs shared the CPUs, and "
        "all figures are then pessimistic",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json(args.out, result)
    print(result["conclusion"]["text"], "->", args.out)


if __name__ == "__main__":
    main()
