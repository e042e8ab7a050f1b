"""Does the DAIS search converge? One row per search.

Per case: the share of binary masks at the end of the annealing, the
search's own hard cost over the target before the repair (`search_ratio`),
the channels the repair changed (count and share of the prunable ones), and
the accuracy of the soft model at the end of the annealing, of the pruned
model right after surgery, and after recalibrating its BatchNorm statistics,
all on the same held-out images.

Cases:
    resnet20 / resnet56: the pretrained CIFAR-10 ports on the JPEG CIFAR-10
        weight/search split, evaluated on the 1,017 exact test images.
    tiny: a small CNN on synthetic data, searched 1, 2, 4, ... steps.

    mobilenetv2 / densenet121: `keras.applications` models (`weights=None`,
        32x32 and 64x64 inputs; CIFAR-10 upsampled by pixel repetition),
        trained briefly first (`--pretrain-epochs` on `--train-images`) so
        that accuracy means something, then searched at each budget from
        the same trained weights; evaluated on held-out training images.
        Their BatchNorm moving statistics lag their quickly trained weights
        (inference-mode accuracy at chance), so the trained model and the
        soft model at the end of the annealing are measured with
        recalibrated statistics too (`acc_unpruned`, `acc_soft`; the raw
        figures in `acc_unpruned_raw`, `acc_soft_raw`).

The data are `tf.data` on TensorFlow and numpy batches (`format=
"pydataset"`, or arrays) on the other backends.

Usage (one run per JSON file; rows are appended to --out):
    python bench/search_convergence.py resnet20 --steps 300 --batch 64 --budgets 0.3 0.5 0.7
    python bench/search_convergence.py mobilenetv2 --steps 300 --budgets 0.3 0.5 0.7
    python bench/search_convergence.py tiny --steps 1 2 4 8 16 32 64 128

With `--record-alphas PREFIX` every alpha and the temperature after each
step go to an `.npz` per search (the exploratory runs of
bench/results/convergence/explore_variants/ were made this way, with
`--set` overrides).
"""

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import keras  # noqa: E402

from dais_keras.api.pruners import DAISSearch  # noqa: E402
from dais_keras.indicators.state import indicator_layers  # noqa: E402
from dais_keras.search.objective import DEFAULT_HARD_FINISH  # noqa: E402
from dais_keras.search.objective import DEFAULT_BAND_GATE  # noqa: E402
from dais_keras.search.objective import DEFAULT_BAND_HOLD  # noqa: E402
from dais_keras.search.objective import DEFAULT_HARD_BAND  # noqa: E402
from dais_keras.search.objective import DEFAULT_LAMBDA_POLAR  # noqa: E402
from dais_keras.search.objective import DEFAULT_POLAR_START  # noqa: E402
from dais_keras.search.objective import DEFAULT_T_MIN  # noqa: E402
from dais_keras.testing import toy_data  # noqa: E402
from dais_keras.testing import toy_model  # noqa: E402
from dais_keras.utils.io import write_json  # noqa: E402
from dais_keras.utils.machine import machine_info  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
ARGS = argparse.Namespace(search_kwargs={}, record_alphas=None)  # the command line's, set by main()


class AlphaRecorder(keras.callbacks.Callback):
    """Every alpha and the temperature after each training step
    (`--record-alphas`: to see which masks stay undecided, and why)."""

    def __init__(self):
        super().__init__()
        self.alphas, self.temperatures = [], []

    def on_train_batch_end(self, batch, logs=None):
        values = [np.asarray(v) for v in self.model.alpha_values()]
        self.alphas.append(np.concatenate(values).astype(np.float32))
        T = indicator_layers(self.model)[0].temperature
        self.temperatures.append(float(keras.ops.convert_to_numpy(T)))

    def save(self, path):
        np.savez(path, alphas=np.stack(self.alphas), T=np.array(self.temperatures))


def tiny_model(seed):
    """Groups of 24-48 channels: one channel costs less than the band."""
    return toy_model(seed, widths=(24, 48))


def tiny_data(n, seed):
    return toy_data(n, seed, quadrants=False)


def run(model, budget, train, search, eval_data, epochs, steps, batch, **kwargs):
    kwargs = {**ARGS.search_kwargs, **kwargs}
    recorder = AlphaRecorder() if ARGS.record_alphas else None
    pruner = DAISSearch(budget, train, search, epochs=epochs, batch_size=batch, loss=LOSS,
                        callbacks=[recorder] if recorder is not None else None,
                        steps_per_epoch=steps, verbose=0, eval_data=eval_data, **kwargs)
    t0 = time.perf_counter()
    result = pruner(model)
    row = dict(result.convergence)
    if recorder is not None:
        path = f"{ARGS.record_alphas}_b{budget}_s{epochs * steps}.npz"
        recorder.save(path)
        row["alphas_file"] = path
    row["settings"] = {"lambda_polar": kwargs.get("lambda_polar", DEFAULT_LAMBDA_POLAR),
                       "hard_finish": kwargs.get("hard_finish", DEFAULT_HARD_FINISH),
                       "hard_band": kwargs.get("hard_band", DEFAULT_HARD_BAND),
                       "band_gate": kwargs.get("band_gate", DEFAULT_BAND_GATE),
                       "band_hold": kwargs.get("band_hold", DEFAULT_BAND_HOLD),
                       "polar_start": kwargs.get("polar_start", DEFAULT_POLAR_START),
                       "T_min": kwargs.get("T_min", DEFAULT_T_MIN),
                       "recalibrate_batches": pruner.recalibrate_batches, **kwargs}
    row.update(seconds=time.perf_counter() - t0, macs_ratio_after=(
        result.report.macs_after / result.report.total_macs))
    return row


def tiny(args):
    rows = []
    for steps in args.steps:
        for budget in args.budgets:
            x, y = tiny_data(max(steps, 1) * 16, seed=1)
            xs, ys = tiny_data(64, seed=2)
            xe, ye = tiny_data(256, seed=3)
            model = tiny_model(0)
            model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss=LOSS)
            model.fit(*tiny_data(512, seed=4), batch_size=32, epochs=3, verbose=0)
            row = run(model, budget, (x, y), (xs, ys), (xe, ye), epochs=max(1, steps // 8),
                      steps=min(steps, 8), batch=16)
            row.update(model="tiny", input="16x16", budget=budget, steps=steps)
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def resnet(args):
    from dais_keras import data
    from dais_keras import models

    keras.utils.set_random_seed(args.seed)
    fmt = "tf" if keras.backend.backend() == "tensorflow" else "pydataset"
    train = data.cifar10("weight", batch_size=args.batch, seed=args.seed, format=fmt)
    train = train.repeat() if fmt == "tf" else train
    search = data.cifar10("search", batch_size=args.batch, seed=args.seed, format=fmt)
    xe, ye = data.cifar10_exact_subset()
    rows = []
    for steps in args.steps:
        for budget in args.budgets:
            epochs = 10 if steps >= 10 else 1
            row = run(models.pretrained(args.case), budget, train, search,
                      (xe.astype("float32"), ye), epochs=epochs, steps=steps // epochs,
                      batch=args.batch)
            row.update(model=f"{args.case} (pretrained)", input="32x32", budget=budget,
                       steps=steps, batch=args.batch, seed=args.seed, data=data.cifar10_source().name,
                       backend=keras.backend.backend(),
                       eval="cifar10 exact test subset (1,017 images)")
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


# keras.applications cases: constructor and input size.
APPLICATIONS = {
    "mobilenetv2": ("MobileNetV2", 32),
    "densenet121": ("DenseNet121", 64),
}


def _upsampled(x, size):
    factor = size // x.shape[1]
    return np.repeat(np.repeat(x, factor, axis=1), factor, axis=2) if factor > 1 else x


def applications(args):
    """Briefly trains a `keras.applications` model on CIFAR-10, then searches
    it at every budget from those same weights."""
    from dais_keras import data

    keras.utils.set_random_seed(args.seed)
    name, size = APPLICATIONS[args.case]
    x, y = data.cifar10_numpy("weight", seed=args.seed, shuffle=True, limit=args.train_images)
    xs, ys = data.cifar10_numpy("search", seed=args.seed, shuffle=True, limit=args.train_images // 4)
    n_eval = min(1000, len(ys) // 2)
    (xe, ye), (xs, ys) = (xs[:n_eval], ys[:n_eval]), (xs[n_eval:], ys[n_eval:])
    x, xs, xe = (_upsampled(a, size).astype("float32") / 127.5 - 1.0 for a in (x, xs, xe))
    base = getattr(keras.applications, name)(
        weights=None, input_shape=(size, size, 3), classes=10, classifier_activation=None)
    # MobileNetV2's BatchNorm momentum is 0.999 (for long ImageNet runs): after
    # a few hundred steps its moving statistics are still mostly the initial
    # ones, and the trained model scored 8.9 % (chance) in inference mode
    # (bench/results/convergence/before/mobilenetv2_tf.json). Keras' default,
    # 0.99, forgets them within the pretraining.
    for layer in base.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = min(layer.momentum, 0.99)
    # Adam: SGD(0.05) left MobileNetV2 at chance (9.9 %) after 3 epochs on 10,000 images.
    base.compile(optimizer=keras.optimizers.Adam(1e-3), loss=LOSS, metrics=["accuracy"])
    t0 = time.perf_counter()
    base.fit(x, y, batch_size=args.batch, epochs=args.pretrain_epochs, verbose=0)
    pretrain_seconds = time.perf_counter() - t0
    from dais_keras.finetune.accuracy import accuracy

    base_acc_raw = accuracy(base, (xe, ye))
    # Fresh BatchNorm statistics for the trained weights (forward passes
    # only): with the moving ones, MobileNetV2 scored chance (8.9 %) after 3
    # epochs even with momentum 0.99, 22 % after recalibration (4,000 images).
    from dais_keras.finetune.batchnorm import recalibrate_batchnorm

    recalibrate_batchnorm(base, (x, y), batches=100, batch_size=args.batch)
    base_acc = accuracy(base, (xe, ye))
    weights = base.get_weights()
    rows = []
    for steps in args.steps:
        for budget in args.budgets:
            model = keras.models.clone_model(base)
            model.set_weights(weights)
            epochs = 10 if steps >= 10 else 1
            row = run(model, budget, (x, y), (xs, ys), (xe, ye), epochs=epochs,
                      steps=steps // epochs, batch=args.batch, recalibrate_soft=True)
            row.update(model=f"{name} (weights=None, trained {args.pretrain_epochs} epochs "
                       f"on {len(y)} images)", input=f"{size}x{size}", budget=budget,
                       steps=steps, batch=args.batch, seed=args.seed,
                       backend=keras.backend.backend(), acc_unpruned=base_acc,
                       acc_unpruned_raw=base_acc_raw, pretrain_seconds=pretrain_seconds,
                       bn_momentum=0.99,
                       eval=f"{len(ye)} held-out CIFAR-10 training images")
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


SHORT_BACKEND = {"tensorflow": "tf"}  # run files: <case>_tf.json, <case>_jax.json, ...


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=["tiny", "resnet20", "resnet56", *APPLICATIONS])
    parser.add_argument("--steps", type=int, nargs="+", default=[300])
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.5])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None,
                        help="run file (default bench/results/convergence/<case>_<backend>.json; "
                             "bench/convergence_table.py tabulates that folder)")
    parser.add_argument("--train-images", type=int, default=10000,
                        help="keras.applications cases: training images")
    parser.add_argument("--pretrain-epochs", type=int, default=3,
                        help="keras.applications cases: epochs of training before the search")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="DAISCallback arguments to override (numbers), e.g. T_min=1e-4")
    parser.add_argument("--record-alphas", default=None, metavar="PREFIX",
                        help="save every alpha and T after each step to PREFIX_b<budget>_s<steps>.npz")
    args = parser.parse_args()
    args.search_kwargs = {k: float(v) for k, v in (item.split("=", 1) for item in args.set)}
    ARGS.search_kwargs = args.search_kwargs
    ARGS.record_alphas = args.record_alphas
    cases = {"tiny": tiny, "resnet20": resnet, "resnet56": resnet}
    rows = cases.get(args.case, applications)(args)
    previous = {"rows": []}
    if args.out is None:
        backend = keras.backend.backend()
        args.out = os.path.join(HERE, "results", "convergence",
                                f"{args.case}_{SHORT_BACKEND.get(backend, backend)}.json")
    if os.path.exists(args.out):
        with open(args.out) as f:
            previous = json.load(f)
    previous["rows"] += [dict(r, machine=machine_info(runtime=True)) for r in rows]
    write_json(args.out, previous)


if __name__ == "__main__":
    main()
