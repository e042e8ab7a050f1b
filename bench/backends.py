"""Benchmark: the plain and the DAIS training step on every Keras backend.

Images per second of one training step at batch 128 of the CIFAR ResNet-20
and ResNet-56 (`dais_keras.models.cifar_resnet`), on TensorFlow, JAX and
torch, in one run: each backend in its own process, one after the other
(never in parallel). Per backend and model, two steps:

* `plain`: the plain model, compiled loss and SGD with momentum;
* `dais`: the same model with channel indicators in the bi-level DAIS search
  (`DAISCallback`, search data as arrays): an indicator step on a search
  batch, then a weight step on the training batch.

Each row runs `fit` on random images in memory for `warmup + steps` steps
and times every step (from the end of the step before; Keras turns the logs
into Python numbers at every step, so JAX's asynchronous steps are waited
for; the time of the callbacks' per-step work is included); `images_per_second` is the batch size over the median of the timed
steps (`mean_images_per_second` over their mean). Per backend one more row,
`step = "loader"`: images/s of the TensorFlow-free CIFAR-10 loader
(`cifar10("train", format="pydataset")`, shuffled and augmented in numpy) as
`fit` reads it (`bench/data_feed.py`), with its share of the ResNet-20 DAIS
step's time (`share_of_dais_step`: below 0.1, it keeps the step fed).

Usage (about 10 minutes on 2 CPU cores; run it alone: with another process
busy on one of the 2 cores, torch's steps were 10 times slower here):

    python bench/backends.py [--warmup 3] [--steps 12] [--steps-56 5]
        [--backends tensorflow,jax,torch] [--wait-quiet SECONDS]
        [--out bench/results/backends.json]

TensorFlow's options, each against TensorFlow's default in the same run
(`--tf-variants`; one process per variant, written to its own JSON):

    python bench/backends.py --backends tensorflow \
        --tf-variants default,xla,onednn-off,bf16 \
        --out bench/results/backends_tf_variants.json

* `default`: what Keras does on a CPU-only machine (no XLA: `jit_compile`
  "auto" resolves to False there; oneDNN on, TensorFlow's default on x86);
* `xla`: `compile(jit_compile=True)`;
* `onednn-off`: `TF_ENABLE_ONEDNN_OPTS=0`;
* `bf16`: `keras.mixed_precision.set_global_policy("mixed_bfloat16")`
  (this CPU's avx512_bf16; variables stay float32).

JAX's and torch's `bf16` (`--other-variants default,bf16`), each against
that backend's default in the same run:

    python bench/backends.py --backends jax,torch --other-variants default,bf16 \
        --out bench/results/backends_bf16_jax_torch.json

A variant that fails records its error in its row instead of a figure.

Each row records the machine before it (`machine_before`: whether it was
quiet, the busy processes) and the busy processes after it (other processes
busy during a row make its figure pessimistic). The loader row runs last.

(with `dais_keras` importable: `pip install -e .` or `PYTHONPATH=.`).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from data_feed import _backend_iterator
from data_feed import _images_per_second
from data_feed import _machine
from data_feed import _ready
from data_feed import _version

from dais_keras.utils.io import write_json
from dais_keras.utils.paths import repo_root

REPOSITORY = repo_root()
BACKENDS = ("tensorflow", "jax", "torch")
DEPTHS = {"resnet20": 20, "resnet56": 56}
STEPS = ("plain", "dais")
TF_VARIANTS = ("default", "xla", "onednn-off", "bf16")
OTHER_VARIANTS = ("default", "bf16")  # JAX always compiles (jit); torch runs eagerly
BATCH_SIZE = 128
LOADER_BATCHES = 48
FED_SHARE = 0.10  # as in bench/data_feed.py


def _step_clock():
    """A callback noting when `fit` starts and when every step ends; the
    step times are the intervals (a step's callbacks and batch included)."""
    import keras

    class StepClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.ends = [time.perf_counter()]

        def on_train_batch_end(self, batch, logs=None):
            self.ends.append(time.perf_counter())

        @property
        def times(self):
            return [b - a for a, b in zip(self.ends, self.ends[1:])]

    return StepClock()


def _time_steps(name, step, warmup, steps, data, variant="default"):
    """Row of `fit` on `data` for `warmup + steps` steps of `step`."""
    import keras

    from dais_keras import models
    from dais_keras.finetune.recipe import sgd
    from dais_keras.search.attach import attach_indicators
    from dais_keras.search.callback import DAISCallback
    from dais_keras.utils.losses import classification_loss

    keras.utils.set_random_seed(0)
    model = models.cifar_resnet(DEPTHS[name])
    callbacks = []
    if step == "dais":
        model = attach_indicators(model)
        callbacks.append(DAISCallback(
            budget=0.5, search_data=data["search"], batch_size=BATCH_SIZE, repair=False,
            log_widths=False, record_every=10**6, verbose=0))
    jit = {"jit_compile": True} if variant == "xla" else {}
    model.compile(optimizer=sgd(0.01), loss=classification_loss(model), metrics=["accuracy"],
                  **jit)
    timer = _step_clock()
    x, y = data["train"]
    start = time.perf_counter()
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=1, steps_per_epoch=warmup + steps,
              shuffle=False, verbose=0, callbacks=callbacks + [timer])
    timed = timer.times[warmup:]
    return dict(
        backend=keras.backend.backend(), model=name, step=step, variant=variant,
        images_per_second=round(BATCH_SIZE / statistics.median(timed), 2),
        mean_images_per_second=round(BATCH_SIZE / statistics.mean(timed), 2),
        warmup_steps=warmup, timed_steps=steps, batch_size=BATCH_SIZE,
        first_step_s=round(timer.times[0], 2), fit_wall_s=round(time.perf_counter() - start, 1),
        step_s=[round(t, 4) for t in timed],
    )


def _loader_row():
    import keras

    from dais_keras import data

    ds = data.cifar10("train", BATCH_SIZE, format="pydataset", variant="jpeg", download=False)
    iterator = _backend_iterator(ds)
    return dict(
        backend=keras.backend.backend(), model=None, step="loader",
        images_per_second=_images_per_second(lambda: _ready(next(iterator)), LOADER_BATCHES),
        timed_steps=LOADER_BATCHES, batch_size=BATCH_SIZE,
        via="cifar10('train', format='pydataset'), augmented, keras PyDataset adapter, 1 worker",
        source=data.cifar10_source(variant="jpeg", download=False).name,
    )


def _child(warmup, steps, steps_56, wait_quiet=0.0, variant="default"):
    import keras
    import numpy as np

    if variant == "bf16":
        keras.mixed_precision.set_global_policy("mixed_bfloat16")

    rng = np.random.default_rng(0)
    n = BATCH_SIZE * (warmup + max(steps, steps_56))

    def images(count):
        return (rng.uniform(0, 255, (count, 32, 32, 3)).astype("float32"),
                rng.integers(0, 10, count).astype("int32"))

    arrays = {"train": images(n), "search": images(4 * BATCH_SIZE)}
    load_start = [round(v, 2) for v in os.getloadavg()]
    rows = []
    for name in DEPTHS:
        for step in STEPS:
            before = _wait_until_quiet(wait_quiet)
            try:
                rows.append(_time_steps(name, step, warmup,
                                        steps_56 if name == "resnet56" else steps, arrays,
                                        variant))
            except Exception as e:  # a variant that does not run is a result too
                rows.append(dict(backend=keras.backend.backend(), model=name, step=step,
                                 variant=variant, images_per_second=None,
                                 error=f"{type(e).__name__}: {str(e)[:500]}"))
            rows[-1].update(machine_before=before, busy_processes_after=_busy_processes())
            print(json.dumps({k: rows[-1][k] for k in ("backend", "model", "step",
                                                       "images_per_second")}),
                  file=sys.stderr, flush=True)
    if variant == "default":
        rows.append(_loader_row())
    backend = keras.backend.backend()
    print(json.dumps(dict(
        rows=rows, load_average_start=load_start,
        load_average_end=[round(v, 2) for v in os.getloadavg()],
        versions={"keras": keras.__version__, "numpy": np.__version__,
                  backend: _version(backend)},
    )))


def _busy_processes():
    """Other processes using more than 20 % of a CPU (ps' average over
    their lifetime), as `pid command` lines."""
    out = subprocess.run(["ps", "-eo", "pid,ppid,pcpu,args", "--no-headers"],
                         capture_output=True, text=True).stdout
    mine = {os.getpid(), os.getppid()}
    busy = []
    for line in out.splitlines():
        pid, ppid, pcpu, command = line.split(None, 3)
        if float(pcpu) > 20 and int(pid) not in mine and int(ppid) not in mine:
            busy.append(f"{pid} {command[:80]}")
    return busy


def _wait_until_quiet(max_wait_s):
    """Waits (up to `max_wait_s`) until no other process is busy and the
    1-minute load average is below 1.5; returns what it saw."""
    start = time.perf_counter()
    while True:
        busy, load = _busy_processes(), os.getloadavg()[0]
        quiet = not busy and load < 1.5
        waited = time.perf_counter() - start
        if quiet or waited >= max_wait_s:
            return dict(quiet=quiet, waited_s=round(waited), load_1min=round(load, 2),
                        busy_processes=busy)
        time.sleep(15)


def _run_child(backend, args, variant="default"):
    before = _wait_until_quiet(args.wait_quiet)
    cmd = [sys.executable, __file__, "--child", "--warmup", str(args.warmup),
           "--steps", str(args.steps), "--steps-56", str(args.steps_56),
           "--wait-quiet", str(args.wait_quiet), "--variant", variant]
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=str(REPOSITORY))
    if variant == "onednn-off":
        env["TF_ENABLE_ONEDNN_OPTS"] = "0"
    start = time.perf_counter()
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = round(time.perf_counter() - start, 1)
    result["machine_before"] = before
    return result


def _summary(rows):
    """Ratios of the figures, and whether the loader keeps the step fed."""
    speed = {(r["backend"], r["model"], r["step"]): r["images_per_second"] for r in rows
             if r.get("variant", "default") == "default"}
    out = {}
    for model in DEPTHS:
        for step in STEPS:
            tf = speed.get(("tensorflow", model, step))
            for backend in ("jax", "torch"):
                other = speed.get((backend, model, step))
                if tf and other:
                    out[f"{backend}_over_tensorflow/{model}/{step}"] = round(other / tf, 2)
    variants = {(r["backend"], r["model"], r["step"], r.get("variant", "default")):
                r["images_per_second"] for r in rows}
    for (backend, model, step, variant), value in sorted(variants.items(), key=str):
        default = variants.get((backend, model, step, "default"))
        if variant != "default" and value and default:
            out[f"{backend}_{variant}_over_default/{model}/{step}"] = round(value / default, 2)
    for backend in {r["backend"] for r in rows}:
        loader, step = speed.get((backend, None, "loader")), speed.get((backend, "resnet20", "dais"))
        if loader and step:
            # Unoverlapped, the loader adds step / loader of the step's time.
            out[f"{backend}_loader_share_of_dais_step/resnet20"] = round(step / loader, 4)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per row")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per ResNet-20 row")
    parser.add_argument("--steps-56", type=int, default=5, help="timed steps per ResNet-56 row")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                        help="before each row, wait up to this long for no other busy "
                             "process (torch's CPU threads slow down many times when "
                             "another process takes a core)")
    parser.add_argument("--out", default=str(REPOSITORY / "bench" / "results" / "backends.json"))
    parser.add_argument("--tf-variants", default="default",
                        help="TensorFlow variants to time, comma-separated: default, xla, "
                             "onednn-off, bf16 (see the module docstring)")
    parser.add_argument("--other-variants", default="default",
                        help="JAX and torch variants to time, comma-separated: default, bf16")
    parser.add_argument("--variant", default="default", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.warmup, args.steps, args.steps_56, args.wait_quiet, args.variant)
    variants = args.tf_variants.split(",")
    unknown = set(variants) - set(TF_VARIANTS)
    if unknown:
        parser.error(f"unknown --tf-variants {sorted(unknown)}; choose from {TF_VARIANTS}")
    others = args.other_variants.split(",")
    unknown = set(others) - set(OTHER_VARIANTS)
    if unknown:
        parser.error(f"unknown --other-variants {sorted(unknown)}; choose from {OTHER_VARIANTS}")
    load_start = [round(v, 2) for v in os.getloadavg()]
    start = time.perf_counter()
    children = {}
    for backend in args.backends.split(","):
        for variant in (variants if backend == "tensorflow" else others):
            key = backend if variant == "default" else f"{backend}[{variant}]"
            children[key] = _run_child(backend, args, variant)
    rows = [row for child in children.values() for row in child.pop("rows")]
    result = {
        "benchmark": "images/s of a plain and a DAIS bi-level training step, CIFAR "
        "ResNet-20 and ResNet-56, batch 128, per Keras backend; and of the "
        "TensorFlow-free loader",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _machine(load_start),
        "wall_s": round(time.perf_counter() - start, 1),
        "note": "one process per backend, run one after the other; random images in "
        "memory for the steps; images_per_second = batch / median step time; load "
        "averages above the CPU count mean other jobs shared the CPUs",
        "summary": _summary(rows),
        "fed_share": FED_SHARE,
        "rows": rows,
        "children": children,
    }
    write_json(args.out, result)
    print(json.dumps(result["summary"], indent=1), "->", args.out)


if __name__ == "__main__":
    main()
