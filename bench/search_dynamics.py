"""How the DAIS search evolves, to choose its defaults.

Two studies, each written to its own results file:

* `tiny` (bench/results/search_dynamics_tiny.json): a small CNN with a
  residual block (16x16 inputs, 8-16 channels), 256 training and 96 search
  images, 4 epochs of 8 steps; several seeds, budgets, bi-level and
  single-level, and a few settings of the indicators' Adam. Per run: the
  per-step temperature, expected MACs / target and hard MACs / target, the
  MACs of the `alpha > 0` architecture before the repair, and how many
  channels the repair changed.
* `resnet20` (bench/results/search_dynamics_resnet20.json): the pretrained
  CIFAR ResNet-20 searched to 50 % of its MACs on the CIFAR-10 weight/search
  split, with the default settings; per (short) epoch: temperature,
  expected MACs / target, share of binarised indicators, hard MACs / target,
  per-group widths; then the repair report and the accuracy of the pruned
  model before fine-tuning on the exact CIFAR-10 test subset (1,017 images),
  next to a uniform pruning of the same MACs.

Usage:
    python bench/search_dynamics.py tiny
    python bench/search_dynamics.py resnet20 [--steps 300] [--epochs 10] [--batch 128]
"""

import argparse
import json
import os
import time

from dais_keras.utils.tf_logging import silence_tensorflow

silence_tensorflow()

import numpy as np  # noqa: E402

import keras  # noqa: E402

import dais_keras as dk  # noqa: E402
from dais_keras.testing import toy_data  # noqa: E402
from dais_keras.testing import toy_model  # noqa: E402
from dais_keras.finetune.accuracy import accuracy  # noqa: E402
from dais_keras.finetune.recipe import sgd  # noqa: E402
from dais_keras.search.callback import DAISCallback  # noqa: E402
from dais_keras.select import baselines  # noqa: E402
from dais_keras.utils.io import write_json  # noqa: E402
from dais_keras.utils.losses import classification_loss  # noqa: E402
from dais_keras.utils.machine import machine_info  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


class StepLog(keras.callbacks.Callback):
    """Per search step: T, E[MACs]/target, hard MACs/target."""

    def __init__(self, dais):
        super().__init__()
        self.dais = dais
        self.rows = []

    def on_train_batch_end(self, batch, logs=None):
        if not logs or "dais_macs" not in logs:
            return
        alphas = np.concatenate(self.model.alpha_values())
        hard = self.dais.structure.cost.exact(alphas > 0) / self.dais.target
        self.rows.append(
            {
                "T": float(logs["dais_T"]),
                "macs_ratio": float(logs["dais_macs"]),
                "hard_macs_ratio": float(hard),
            }
        )


def compile_model(model, lr):
    model.compile(optimizer=sgd(lr), loss=classification_loss(model), metrics=["accuracy"])
    return model


def tiny(out):
    x, y = toy_data(256, seed=1)
    settings = {
        "default": {},
        "beta_1=0.9": {"beta_1": 0.9},
        "lr_power=0 (constant lr)": {"lr_power": 0.0},
    }
    runs = []
    for name, extra in settings.items():
        for single in (False, True):
            for budget in (0.3, 0.5, 0.7):
                for seed in range(5):
                    xs, ys = toy_data(96, seed=2 + seed)
                    model = compile_model(dk.attach_indicators(toy_model(seed)), 0.05)
                    cb = DAISCallback(
                        budget=budget, search_data=(xs, ys), batch_size=32,
                        single_level=single, verbose=0, **extra,
                    )
                    log = StepLog(cb)
                    t0 = time.perf_counter()
                    model.fit(x, y, batch_size=32, epochs=4, shuffle=False, verbose=0,
                              callbacks=[cb, log])
                    report = cb.report
                    runs.append(
                        {
                            "setting": name,
                            "single_level": single,
                            "budget": budget,
                            "seed": seed,
                            "learning_rate": cb.effective_learning_rate,
                            "alpha_arch_over_target": report.macs_before / report.target_macs,
                            "channels_changed": report.channels_changed,
                            "final_binarized": cb.history["binarized"][-1],
                            "steps": log.rows,
                            "seconds": time.perf_counter() - t0,
                        }
                    )
                    print(name, single, budget, seed,
                          f"{runs[-1]['alpha_arch_over_target']:.3f}",
                          report.channels_changed, flush=True)
    summary = {}
    for name in settings:
        for single in (False, True):
            sel = [r for r in runs if r["setting"] == name and r["single_level"] == single]
            ratios = np.array([r["alpha_arch_over_target"] for r in sel])
            summary[f"{name} / {'single' if single else 'bilevel'}"] = {
                "runs": len(sel),
                "within_10pct": int(np.sum(np.abs(ratios - 1) <= 0.10)),
                "within_band": int(np.sum((ratios <= 1) & (ratios >= 0.95))),
                "min": float(ratios.min()),
                "max": float(ratios.max()),
                "mean_channels_changed": float(np.mean([r["channels_changed"] for r in sel])),
            }
    result = {"summary": summary, "runs": runs, "machine": machine_info(runtime=True)}
    write_json(out, result, indent=1)
    print(json.dumps(summary, indent=2))


def resnet20(out, steps, epochs, batch, budget, seed, callback_kwargs=None):
    from dais_keras import data
    from dais_keras import models

    keras.utils.set_random_seed(seed)
    train = data.cifar10("weight", batch_size=batch, seed=seed).repeat()
    search = data.cifar10("search", batch_size=batch, seed=seed)
    x_exact, y_exact = data.cifar10_exact_subset()
    x_exact = x_exact.astype("float32")
    base = models.pretrained("resnet20")
    search_model = dk.attach_indicators(base)
    compile_model(search_model, 0.01)
    cb = DAISCallback(budget=budget, search_data=search, verbose=1, **(callback_kwargs or {}))
    per_epoch = steps // epochs
    t0 = time.perf_counter()
    history = search_model.fit(train, epochs=epochs, steps_per_epoch=per_epoch, verbose=2,
                               callbacks=[cb])
    seconds = time.perf_counter() - t0
    report = cb.report
    pruned = dk.surgery.apply(search_model)
    uniform, _ = baselines.prune(base, "uniform", budget)
    result = {
        "model": "resnet20 (pretrained)",
        "callback_kwargs": callback_kwargs or {},
        "budget": budget,
        "search_steps": per_epoch * epochs,
        "batch_size": batch,
        "learning_rate": cb.effective_learning_rate,
        "epochs": {k: [float(v) for v in vals] for k, vals in history.history.items()},
        "callback_history": {k: v for k, v in cb.history.items()},
        "group_names": cb.group_names,
        "group_sizes": [int(s) for s in cb.structure.sizes],
        "report": report.as_dict(),
        "search_seconds": seconds,
        "data_source": data.cifar10_source().name,
        "exact_subset_accuracy": {
            "unpruned": accuracy(base, (x_exact, y_exact)),
            "dais_before_finetune": accuracy(pruned, (x_exact, y_exact)),
            "uniform_same_macs_no_finetune": accuracy(uniform, (x_exact, y_exact)),
        },
        "macs": {
            "unpruned": dk.count_macs(base),
            "dais": dk.count_macs(pruned),
            "uniform": dk.count_macs(uniform),
        },
        "machine": machine_info(runtime=True),
    }
    write_json(out, result, indent=1)
    print(report)
    print(json.dumps(result["exact_subset_accuracy"], indent=2))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("study", choices=["tiny", "resnet20"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--budget", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None)
    parser.add_argument("--callback", default="{}",
                        help="JSON dict of extra DAISCallback arguments (resnet20)")
    args = parser.parse_args()
    out = args.out or os.path.join(HERE, "results", f"search_dynamics_{args.study}.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    if args.study == "tiny":
        tiny(out)
    else:
        resnet20(out, args.steps, args.epochs, args.batch, args.budget, args.seed,
                 json.loads(args.callback))


if __name__ == "__main__":
    main()
