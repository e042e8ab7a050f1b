"""Cost of a DAIS search step relative to a plain training step.

CIFAR ResNet-20 (`dais_keras.models.cifar_resnet(20)`), batch 128, random
images: the median wall time of one `fit` step of

* the plain model (compiled loss and SGD with momentum),
* the indicator model in the bi-level search (indicator step on a search
  batch, then weight step on a training batch),
* the indicator model in the single-level search (one pass updates both),

measured in one process, interleaved in rounds so that any slowdown of the
machine hits all three alike. Ratios are medians of the per-round ratios.

Usage: python bench/search_overhead.py [--rounds 4] [--steps 6] [--batch 128]
Writes bench/results/search_overhead.json (keys `bilevel_ratio`,
`single_level_ratio`, `machine`, ...). Targets: <= 2.1 and <= 1.2.
"""

import argparse
import json
import os
import statistics
import time

from dais_keras.utils.tf_logging import silence_tensorflow

silence_tensorflow()

import numpy as np  # noqa: E402

import keras  # noqa: E402

import dais_keras as dk  # noqa: E402
from dais_keras import models  # noqa: E402
from dais_keras.finetune.recipe import sgd  # noqa: E402
from dais_keras.search.callback import DAISCallback  # noqa: E402
from dais_keras.utils.io import write_json  # noqa: E402
from dais_keras.utils.losses import classification_loss  # noqa: E402
from dais_keras.utils.machine import machine_info  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class StepTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_train_batch_begin(self, batch, logs=None):
        self._t = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.times.append(time.perf_counter() - self._t)


def compile_model(model):
    model.compile(optimizer=sgd(0.01), loss=classification_loss(model), metrics=["accuracy"])
    return model


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--out", default=os.path.join(HERE, "results", "search_overhead.json"))
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    n = args.batch * (args.steps + 1)
    x = rng.uniform(0, 255, (n, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, n).astype("int32")
    xs = rng.uniform(0, 255, (n, 32, 32, 3)).astype("float32")
    ys = rng.integers(0, 10, n).astype("int32")

    keras.utils.set_random_seed(0)
    plain = compile_model(models.cifar_resnet(20))
    bilevel = compile_model(dk.attach_indicators(models.cifar_resnet(20)))
    single = compile_model(dk.attach_indicators(models.cifar_resnet(20)))
    # Diagnostics: the indicator model trained plainly (weight step only),
    # and the indicator step alone (bi-level search with train_weights=False).
    dais_plain = compile_model(dk.attach_indicators(models.cifar_resnet(20)))
    indicator_only = compile_model(dk.attach_indicators(models.cifar_resnet(20)))

    def callbacks(kind):
        if kind in ("plain", "dais_plain"):
            return []
        return [
            DAISCallback(
                budget=0.5,
                search_data=None if kind == "single_level" else (xs, ys),
                batch_size=args.batch,
                single_level=kind == "single_level",
                train_weights=kind != "indicator_step_only",
                repair=False,
                log_widths=False,
                verbose=0,
            )
        ]

    runs = {
        "plain": plain,
        "bilevel": bilevel,
        "single_level": single,
        "dais_plain": dais_plain,
        "indicator_step_only": indicator_only,
    }
    per_round = {k: [] for k in runs}
    all_steps = {k: [] for k in runs}
    for r in range(args.rounds + 1):
        for kind, model in runs.items():
            timer = StepTimer()
            model.fit(
                x, y, batch_size=args.batch, epochs=1, steps_per_epoch=args.steps + 1,
                shuffle=False, verbose=0, callbacks=callbacks(kind) + [timer],
            )
            steps = timer.times[1:]  # the first step of a fit traces/compiles
            if r > 0:  # round 0 warms up every model
                per_round[kind].append(statistics.median(steps))
                all_steps[kind].extend(steps)
            print(f"round {r} {kind:<13} median step {statistics.median(steps):.3f} s", flush=True)

    bilevel_ratios = [b / p for b, p in zip(per_round["bilevel"], per_round["plain"])]
    single_ratios = [s / p for s, p in zip(per_round["single_level"], per_round["plain"])]
    diagnostics = {
        f"{k}_ratio": statistics.median(
            [a / p for a, p in zip(per_round[k], per_round["plain"])]
        )
        for k in ("dais_plain", "indicator_step_only")
    }
    result = {
        "bilevel_ratio": statistics.median(bilevel_ratios),
        "single_level_ratio": statistics.median(single_ratios),
        "bilevel_ratio_per_round": bilevel_ratios,
        "single_level_ratio_per_round": single_ratios,
        "median_step_s": {k: statistics.median(v) for k, v in all_steps.items()},
        "images_per_s": {
            k: args.batch / statistics.median(v) for k, v in all_steps.items()
        },
        "diagnostics": diagnostics,
        "model": "cifar_resnet(20)",
        "batch_size": args.batch,
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "targets": {"bilevel_ratio": 2.1, "single_level_ratio": 1.2},
        "machine": machine_info(runtime=True),
    }
    write_json(args.out, result)
    print(json.dumps({k: result[k] for k in ("bilevel_ratio", "single_level_ratio", "diagnostics", "median_step_s")}, indent=2))


if __name__ == "__main__":
    main()
