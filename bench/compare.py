"""DAIS vs the baselines on real CIFAR-10, at equal compute, one protocol.

Starting from the pretrained CIFAR ResNet port, every method prunes to the
same MACs budget and is trained the same way; the unpruned model is trained
alike as the reference. Accuracy on the full JPEG test set and the 1,017
exact-pixel test images; TFLite (XNNPack) and ONNX Runtime latency at batch
1 on one thread (median), measured together in the merge step.

Equal-compute protocol (every method, the unpruned reference included):

* the same total number of training epochs (`--search-epochs` +
  `--finetune-epochs`) over the same training images: DAIS's search epochs
  count (its search also trains the weights: the weight part of the
  weight/search split for the weights, the search part for the
  indicators), then it fine-tunes `--finetune-epochs`; every other method
  fine-tunes all the epochs on the same images (weight + search part);
* the same optimizer (SGD, `--lr`, momentum 0.9, Nesterov, `--weight-decay`)
  and one learning-rate schedule over the whole run: cosine from `--lr` to 0
  over the total epochs (DAIS's weight optimizer follows its first
  `search / total` of it during the search, its fine-tune the rest);
* the same augmentation (pad-4 random crop and flip), seed and batches:
  on TensorFlow a seeded `tf.data` pipeline, on JAX and torch the
  reproducible `PyDataset` batches (`data.cifar10(format="pydataset")`:
  batch `i` of pass `e` is a function of the seed only);
* the same distillation setting (`--distill`: knowledge distillation in
  every fine-tune epoch; DAIS's search epochs train on the labels, or, with
  `--dais-search-distill`, distil their weight step too while the
  indicator step learns from the labels) from the same teacher (`--teacher`):
  `pretrained`, the unpruned pretrained port (trained on the exact CIFAR
  pixels, 81 % on the JPEG test images), or `unpruned`, the unpruned
  reference of the same config and seed, trained on the labels of the same
  images for the same epochs; it must run first (`--method unpruned`), and,
  being the teacher, it trains without distillation;
* the budget: the baselines drop from the full model down to the target
  MACs; DAIS's search ends in the band `[0.95, 1]` of it, or, with
  `--dais-fill`, its repair then regrows its highest-alpha channels while
  they fit (`DAISCallback(fill=True)`);
* the minimum width: every method may prune a group down to 1 channel;
  `--dais-min-width` raises DAIS's floor (an int, or a fraction of each
  group: `DAISCallback(min_width=...)`), a DAIS setting the baselines do
  not share;
* the validation split (`--val-images N`, default 0: none): N of the
  training images (class-stratified, fixed by `--val-seed`, the same for
  every method and run seed; `compare_data`) never enter a training, search
  or fine-tune step; every method evaluates them after every epoch
  (`val_accuracy_by_epoch`, the soft model during DAIS's search) and right
  after pruning, and reads the test sets once, after the last epoch (no
  best-epoch picking); the run JSON records the split (`validation`: size,
  seed, sha256 of the sorted held-out indices);
* latency budgets (`--budget latency:0.5`, in a config `budget: {latency:
  0.5}`): every method prunes to the same TFLite latency (batch 1, one
  thread) predicted by this machine's measured table and one calibration
  (`compare_latency`): DAIS searches and repairs under it, the baselines
  meet it through the same band search (`baselines.prune(..., cost=)`);
  rows add `predicted_ms` and the run JSON the table's machine
  (`latency`); DAIS's band reads the search surrogate's latency, which
  lies below the table inside a channel block, or, with
  `--dais-straight-through`, the table's latency with the surrogate's
  gradient (`LatencyModel.straight_through`).

A DAIS row records these settings (`search_distilled`, `repair_fill`,
`min_width`, and under a latency budget `latency_straight_through`; rows
of runs made before the options lack them: labels only, no fill, 1
channel, the surrogate's latency).

Usage, all methods in one process (the 8,000-image comparison):

    python bench/compare.py --config configs/bench/compare_resnet20_cifar10.yaml

One method per process (long runs; each writes its own run JSON and saves
its model, so runs made at different times or by different sessions merge),
then the merge (TensorFlow: it times every model in one process and writes
the table, JSON and plot). The long run, ResNet-20 at 50 % of the MACs on
the 50,000 JPEG training images, 12 epochs, knowledge distillation for every
method, on TensorFlow, this 2-core machine's fastest backend for it (one
epoch of plain fine-tuning at batch 128: 153 s on TensorFlow, 360 s on JAX,
553 s on torch; 212 s on TensorFlow with the teacher; measured with
`--time-steps 100`, bench/results/compare_resnet20_cifar10_epoch_time.json):

    for m in dais group-norm group-norm-global l1-layer uniform unpruned; do
      KERAS_BACKEND=tensorflow python bench/compare.py \\
          --config configs/bench/compare_resnet20_cifar10_long.yaml --method $m --seed 0
    done
    KERAS_BACKEND=tensorflow python bench/compare.py \\
        --config configs/bench/compare_resnet20_cifar10_long.yaml --merge

Run JSONs go to bench/results/compare_resnet20_cifar10_long_runs/<method>_s<seed>.json
(`--out-run` to change), models to runs/compare/<stem>/ (`--models-dir`);
the merge reads every run JSON there (or the files after `--merge`) and
writes bench/results/compare_resnet20_cifar10_long.{json,md,png}.
"""

import argparse
import math
import os
import pathlib
import shlex
import subprocess
import sys
import time

from dais_keras.utils.tf_logging import silence_tensorflow

silence_tensorflow()

import keras  # noqa: E402

from dais_keras import data  # noqa: E402
from dais_keras import models  # noqa: E402
from dais_keras.api.pipeline import run_pipeline  # noqa: E402
from dais_keras.api.pruners import BaselinePruning  # noqa: E402
from dais_keras.api.pruners import DAISSearch  # noqa: E402
from dais_keras.api.pruners import Pruning  # noqa: E402
from dais_keras.cost.budget import check_min_width  # noqa: E402
from dais_keras.cost.budget import parse_budget  # noqa: E402
from dais_keras.cost.macs import count_macs  # noqa: E402
from dais_keras.cost.macs import count_params  # noqa: E402
from dais_keras.finetune.accuracy import accuracy  # noqa: E402
from dais_keras.finetune.recipe import FinetuneRecipe  # noqa: E402
from dais_keras.finetune.recipe import sgd  # noqa: E402
from dais_keras.select import baselines  # noqa: E402
from dais_keras.utils.checks import check_int  # noqa: E402
from dais_keras.utils.io import write_json  # noqa: E402
from dais_keras.utils.losses import classification_loss  # noqa: E402
from dais_keras.utils.machine import machine_info  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import compare_data  # noqa: E402
from compare_data import SEARCH_FRACTION  # noqa: E402
from compare_data import ValidationAccuracy  # noqa: E402
from compare_latency import LatencyBudget  # noqa: E402

BENCH = pathlib.Path(__file__).resolve().parent
RESULTS = BENCH / "results"
ROOT = BENCH.parent
MOMENTUM = 0.9  # SGD with Nesterov momentum, for every method
LONG_METHODS = ("dais", "group-norm", "group-norm-global", "l1-layer", "uniform", "unpruned")


@keras.saving.register_keras_serializable(package="dais_keras_bench")
class CosineSegment(keras.optimizers.schedules.LearningRateSchedule):
    """The part `[start, end]` (fractions of the run) of one cosine decay from
    `lr` to 0 over the whole run, spread over `steps` optimizer steps.

    `CosineSegment(lr, 0, 1, n)` is `keras.optimizers.schedules.CosineDecay(lr,
    n)`; a run split into a search and a fine-tune uses `[0, s]` and `[s, 1]`.
    """

    def __init__(self, lr, start, end, steps):
        self.lr, self.start, self.end, self.steps = float(lr), float(start), float(end), int(steps)

    def __call__(self, step):
        progress = keras.ops.minimum(keras.ops.cast(step, "float32") / max(self.steps, 1), 1.0)
        t = self.start + (self.end - self.start) * progress
        return 0.5 * self.lr * (1.0 + keras.ops.cos(math.pi * t))

    def get_config(self):
        return {"lr": self.lr, "start": self.start, "end": self.end, "steps": self.steps}


class Protocol:
    """The training every method gets (see the module docstring).

    Args:
        args: The parsed command line (`parse_args`).
    """

    FIELDS = ("depth", "budget", "round_to", "train_images", "search_epochs", "finetune_epochs",
              "batch_size", "lr", "weight_decay", "distill")
    TEACHERS = ("pretrained", "unpruned")

    def __init__(self, args):
        for name in self.FIELDS:
            setattr(self, name, getattr(args, name))
        self.budget_spec = parse_budget(self.budget)
        self.budget = self.budget_spec.to_config()
        self.val_images = check_int("val_images", getattr(args, "val_images", 0), low=0)
        self.val_seed = check_int("val_seed", getattr(args, "val_seed", 0), low=0)
        self.seed = args.seed
        self.teacher = getattr(args, "teacher", "pretrained")
        if self.teacher not in self.TEACHERS:
            raise ValueError(f"`teacher` must be one of {self.TEACHERS}; received "
                             f"{self.teacher!r}.")
        self.total_epochs = self.search_epochs + self.finetune_epochs
        # DAIS's own settings: recorded in its rows, not in the protocol, so
        # that the baselines' runs merge with DAIS runs of either setting.
        self.dais_search_distill = bool(getattr(args, "dais_search_distill", False))
        self.dais_fill = bool(getattr(args, "dais_fill", False))
        self.dais_min_width = check_min_width(getattr(args, "dais_min_width", 1))
        self.dais_straight_through = bool(getattr(args, "dais_straight_through", False))

    def distills(self, method):
        """Whether `method` fine-tunes with distillation: every method when
        `distill`, except the unpruned reference when it is the teacher."""
        return self.distill and not (self.teacher == "unpruned" and method == "unpruned")

    def search_distills(self, method):
        """Whether `method`'s search epochs distil their weight step."""
        return self.dais_search_distill and self.distills(method)

    def epochs(self, method):
        """`(search, fine-tune)` epochs of `method`: only a search that trains
        the weights (`TRAINING_SEARCHES`) takes epochs from the fine-tune."""
        search = self.search_epochs if method in TRAINING_SEARCHES else 0
        return search, self.total_epochs - search

    def optimizer(self, start, end, steps):
        """SGD on the `[start, end]` part of the run's cosine schedule."""
        return sgd(CosineSegment(self.lr, start, end, steps), MOMENTUM, True, self.weight_decay)

    def recipe(self, epochs, distill=None):
        """The fine-tune recipe (its optimizer is replaced by `optimizer`)."""
        distill = self.distill if distill is None else distill
        return FinetuneRecipe(epochs, lr=self.lr, momentum=MOMENTUM, nesterov=True,
                              weight_decay=self.weight_decay, distill=distill, seed=self.seed)

    def as_dict(self, data_format, source):
        """The protocol as recorded in every run JSON (runs merge only when equal)."""
        recipe = self.recipe(1)
        out = {name: getattr(self, name) for name in self.FIELDS}
        out.update(total_epochs=self.total_epochs, search_fraction=SEARCH_FRACTION,
                   optimizer=f"SGD momentum {MOMENTUM:g} nesterov",
                   schedule="cosine to 0 over total_epochs",
                   distill_temperature=recipe.distill_temperature if self.distill else None,
                   distill_weight=recipe.distill_weight if self.distill else None,
                   augment="pad-4 random crop + horizontal flip", data_format=data_format,
                   data=source)
        if self.teacher != "pretrained":  # recorded only when not the default (older runs merge)
            out["teacher"] = self.teacher
        if self.val_images:  # likewise
            out.update(val_images=self.val_images, val_seed=self.val_seed)
        return out


def steps_of(batches, batch_size):
    """Optimizer steps of one pass over `batches` (arrays, a dataset, a PyDataset)."""
    if isinstance(batches, tuple):
        return -(-len(batches[1]) // batch_size)
    return len(batches)


def _dais(protocol, original, sets, teacher=None, latency=None, callbacks=()):
    search_epochs, _ = protocol.epochs("dais")
    steps = steps_of(sets["weight"], protocol.batch_size) * search_epochs
    recipe = protocol.recipe(1)
    return DAISSearch(
        protocol.budget, sets["weight"], sets["search"], epochs=search_epochs,
        batch_size=protocol.batch_size, loss=classification_loss(original),
        optimizer=protocol.optimizer(0.0, search_epochs / protocol.total_epochs, steps),
        round_to=protocol.round_to, seed=protocol.seed, verbose=0, fill=protocol.dais_fill,
        min_width=protocol.dais_min_width,
        teacher=teacher if protocol.search_distills("dais") else None,
        distill_temperature=recipe.distill_temperature, distill_weight=recipe.distill_weight,
        latency_model=None if latency is None else latency.search, callbacks=list(callbacks),
    )


def clone(model):
    """A copy of `model` with its weights (trained without touching `model`)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _unpruned(protocol, original, sets, teacher=None, latency=None, callbacks=()):
    return lambda model: Pruning(clone(model), None)


#: How a method prunes; a name not here is a baseline of
#: `dais_keras.baselines`. The searches here train the weights.
PRUNERS = {"dais": _dais, "unpruned": _unpruned}
TRAINING_SEARCHES = ("dais",)


def pruner_for(method, protocol, original, sets, teacher=None, latency=None, callbacks=()):
    """The pruner of `method`; a search that trains the weights distils from
    `teacher` (default `original`) when the protocol distils, and passes
    `callbacks` to its `fit`. Under a latency budget, `latency` (a
    `compare_latency.LatencyBudget`) gives every method its cost model."""
    build = PRUNERS.get(method)
    if build is None:
        cost = {} if latency is None else {"cost": latency.reference}
        return BaselinePruning(baselines.get(method).name, protocol.budget, seed=protocol.seed,
                               round_to=protocol.round_to, **cost)
    return build(protocol, original, sets, original if teacher is None else teacher,
                 latency=latency, callbacks=callbacks)


def run_method(method, protocol, original, sets, evals, teacher=None, val=None, latency=None):
    """Prunes `original` with `method` and trains it under `protocol`.

    Args:
        method: `"dais"`, `"unpruned"` or a baseline's name.
        protocol: A `Protocol`.
        original: The pretrained model (left unchanged; the teacher).
        sets: `{"train", "weight", "search"}` training data (arrays or
            batches); `"train"` holds the images of the other two.
        evals: `{name: (x, y)}` test sets, evaluated once, at the end; each
            gives an `acc_<name>` column. Without `val`, the first is also
            evaluated right after pruning.
        teacher: The model to distil from (default `original`), when
            `protocol.distills(method)`.
        val: `(x, y)` of the held-out validation images, or `None`:
            evaluated right after pruning and at the end of every epoch
            (search and fine-tune), `val_accuracy_by_epoch`.
        latency: A `compare_latency.LatencyBudget` under a latency budget:
            every method prunes to its target and the row gives the
            predicted latency of the result.

    Returns:
        `(model, row)`: the trained model and its row of the table.
    """
    base_macs = count_macs(original)
    _, finetune_epochs = protocol.epochs(method)
    steps = steps_of(sets["train"], protocol.batch_size)
    first = "val" if val is not None else next(iter(evals))
    done = protocol.total_epochs - finetune_epochs
    epochs = {stage: ValidationAccuracy(val, stage) for stage in ("search", "finetune")}
    callbacks = {stage: [epochs[stage]] if val is not None else [] for stage in epochs}
    result = run_pipeline(
        original, pruner_for(method, protocol, original, sets, teacher, latency=latency,
                             callbacks=callbacks["search"]),
        recipe=protocol.recipe(finetune_epochs, protocol.distills(method)),
        teacher=teacher, finetune_data=sets["train"],
        eval_data={first: val if val is not None else evals[first]}, eval_stages=("pruned",),
        eval_batch_size=500, batch_size=protocol.batch_size, steps_per_epoch=steps,
        optimizer=protocol.optimizer(done / protocol.total_epochs, 1.0, steps * finetune_epochs),
        callbacks=callbacks["finetune"],
    )
    model = result.model
    macs = count_macs(model)
    search_history = result.pruning.history.get("loss", [])
    row = {
        "method": method,
        "seed": protocol.seed,
        "budget": 1.0 if method == "unpruned" else protocol.budget,
        "total_epochs": len(search_history) + len(result.finetune_history["loss"]),
        "search_epochs": len(search_history),
        "finetune_epochs": len(result.finetune_history["loss"]),
        "macs": macs,
        "params": count_params(model),
        "macs_ratio": macs / base_macs,
        "macs_reduction": base_macs / macs,
    }
    for name, pair in evals.items():
        row[f"acc_{name}"] = accuracy(model, pair, batch_size=500)
    row[f"acc_{first}_before_finetune"] = result.accuracy["pruned"][first]
    if val is not None:
        by_epoch = epochs["search"].accuracies + epochs["finetune"].accuracies
        row.update(acc_val=by_epoch[-1], val_accuracy_by_epoch=by_epoch,
                   val_stage_by_epoch=["search"] * len(epochs["search"].accuracies)
                   + ["finetune"] * len(epochs["finetune"].accuracies))
    if latency is not None:
        predicted = latency.predicted_ms(model)
        row.update(predicted_ms=predicted, predicted_ratio=predicted / latency.total_ms,
                   target_ms=None if method == "unpruned" else latency.target_ms)
    row.update(round_to=protocol.round_to, prune_seconds=result.seconds["prune"],
               finetune_seconds=result.seconds["finetune"],
               final_train_accuracy=result.finetune_history["accuracy"][-1],
               distilled=protocol.distills(method))
    report = result.pruning.report
    if hasattr(report, "ratio_before"):  # a DAIS search's repair
        row["search_macs_ratio"] = report.ratio_before
        row["repair_channels_changed"] = report.channels_changed
        if report.latency is not None:  # the repair's own prediction, before and after
            row["repair_latency"] = report.latency
        row["repair_fill"] = protocol.dais_fill
        row["search_distilled"] = protocol.search_distills(method)
        row["min_width"] = protocol.dais_min_width
        if latency is not None:
            row["latency_straight_through"] = protocol.dais_straight_through
    return model, row


def data_format(requested):
    """`"tf"` on TensorFlow, the reproducible `"pydataset"` elsewhere."""
    if requested != "auto":
        return requested
    return "tf" if keras.backend.backend() == "tensorflow" else "pydataset"


def training_sets(protocol, fmt):
    """The weight and search parts of the training images and their union,
    as batches of `fmt` (`"tf"` or `"pydataset"`), without the held-out
    validation images (`compare_data`)."""
    return training_data(protocol, fmt).sets


def training_data(protocol, fmt):
    """`compare_data.training_data` of CIFAR-10's training images."""
    return compare_data.training_data(protocol, fmt)


def evaluation_sets():
    """The exact-pixel subset (also evaluated right after pruning) and the
    full JPEG test set."""
    return {"exact_subset": data.cifar10_exact_subset(), "jpeg_test": data.cifar10_numpy("test")}


def stem_of(args):
    suffix = "" if args.round_to is None else f"_r{args.round_to}"
    tag = f"_{args.tag}" if args.tag else ""
    return f"compare_resnet{args.depth}_cifar10{suffix}{tag}"


def _commit():
    """The checked-out commit (with `+dirty` for uncommitted changes to the
    package), or None outside a git checkout."""
    def git(*argv):
        return subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True,
                              check=False).stdout.strip()

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return None
    return head + ("+dirty" if git("status", "--porcelain", "--", "dais_keras") else "")


def model_path_of(args, method, seed):
    """Where the run of `method` at `seed` saves its model."""
    model_dir = pathlib.Path(args.models_dir or ROOT / "runs" / "compare" / stem_of(args))
    return model_dir / f"{method}_s{seed}.keras"


def teacher_path_of(args, seed):
    """The unpruned run a `--teacher unpruned` run distils from: in
    `--teacher-dir` (the models of another config with the same protocol),
    else this config's own."""
    if getattr(args, "teacher_seed", None) is not None:
        seed = args.teacher_seed
    if getattr(args, "teacher_dir", None):
        return pathlib.Path(args.teacher_dir) / f"unpruned_s{seed}.keras"
    return model_path_of(args, "unpruned", seed)


def teacher_for(method, protocol, args, original):
    """The teacher of `method`'s fine-tune (`None` when it does not distil):
    the pretrained `original`, or the saved unpruned run of the same config
    and seed (`--teacher unpruned`)."""
    if not protocol.distills(method):
        return None
    if protocol.teacher == "pretrained":
        return original
    path = teacher_path_of(args, protocol.seed)
    if not path.exists():
        raise FileNotFoundError(
            f"--teacher unpruned: the teacher of {method!r} is the unpruned run of this config at "
            f"seed {protocol.seed}, {path}, which does not exist. Run it first: python "
            f"bench/compare.py --config ... --method unpruned --seed {protocol.seed}.")
    return keras.saving.load_model(path, compile=False)


def latency_for(args, protocol, original):
    """The `compare_latency.LatencyBudget` every method of a latency budget
    shares (its calibration kept beside the models), or `None` for a MACs
    budget."""
    if not protocol.budget_spec.is_latency:
        return None
    calibration = model_path_of(args, "unpruned", args.seed).parent / "latency_calibration.json"
    return LatencyBudget(original, protocol.budget, calibration_file=calibration,
                         straight_through=protocol.dais_straight_through)


def run_one(method, args, command, out=None):
    """Runs `method` under the protocol of `args`; writes its run JSON to
    `out` (default `<stem>_runs/<method>_s<seed>.json`) and saves its model
    for the merge's latency. Returns the JSON's path."""
    commit = _commit()  # what runs: commits made while it trains must not be recorded
    keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    protocol = Protocol(args)
    fmt = data_format(args.format)
    original = models.pretrained(f"resnet{args.depth}")
    teacher = teacher_for(method, protocol, args, original)
    # Which unpruned run taught (the merge names runs taught by another one than its table's).
    teacher_model = (str(teacher_path_of(args, args.seed).resolve())
                     if teacher is not None and protocol.teacher == "unpruned" else None)
    train = training_data(protocol, fmt)
    latency = latency_for(args, protocol, original)
    model, row = run_method(method, protocol, original, train.sets, evaluation_sets(),
                            teacher=teacher, val=train.val, latency=latency)
    stem = stem_of(args)
    out = pathlib.Path(out or RESULTS / f"{stem}_runs" / f"{method}_s{args.seed}.json")
    model_path = model_path_of(args, method, args.seed)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model.save(model_path)
    run = {
        "schema": "dais-keras/compare-run/1",
        "method": method,
        "seed": args.seed,
        "command": command,
        "commit": commit,
        "backend": keras.backend.backend(),
        "machine": machine_info(runtime=True),
        "protocol": protocol.as_dict(fmt, data.cifar10_source().name),
        "model_path": str(model_path.resolve()),
        "wall_seconds": time.perf_counter() - start,
        "row": row,
    }
    if teacher_model:
        run["teacher_model"] = teacher_model
    if train.record is not None:
        run["validation"] = train.record
    if latency is not None:
        run["latency"] = latency.record()
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, run, indent=1)
    print(f"{method}: {row}\nwrote {out}", flush=True)
    return out


def time_epoch(args, steps, command, warmup=10):
    """Times `steps` training steps of the protocol's fine-tune (with the
    teacher when `--distill`) on its training images and extrapolates one
    epoch; writes `--out-run` when given. Compiles and fits like
    `FinetuneRecipe.fit` (that takes no `PyDataset` yet)."""
    from dais_keras.finetune.distill import Distiller

    protocol = Protocol(args)
    fmt = data_format(args.format)
    train = training_sets(protocol, fmt)["train"]
    original = models.pretrained(f"resnet{args.depth}")
    student = clone(original)
    trainee = Distiller(student, original) if protocol.distill else student
    per_epoch = steps_of(train, protocol.batch_size)
    trainee.compile(optimizer=protocol.optimizer(0.0, 1.0, per_epoch),
                    loss=classification_loss(original), metrics=["accuracy"])
    marks = {}
    clock = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: marks.setdefault(batch + 1, time.perf_counter()))
    trainee.fit(train, epochs=1, steps_per_epoch=steps, shuffle=False, callbacks=[clock], verbose=0)
    per_step = (marks[steps] - marks[warmup]) / (steps - warmup)
    result = {"command": command, "backend": keras.backend.backend(), "data_format": fmt,
              "distill": protocol.distill, "batch_size": protocol.batch_size,
              "timed_steps": steps - warmup, "warmup_steps": warmup, "seconds_per_step": per_step,
              "steps_per_epoch": per_epoch, "epoch_seconds": per_step * per_epoch,
              "images_per_second": protocol.batch_size / per_step,
              "machine": machine_info(runtime=True)}
    print(result, flush=True)
    if args.out_run:
        write_json(args.out_run, result, indent=1)
    return result


def budget_arg(text):
    """`--budget`: `"0.5"` (MACs), `"latency:0.5"` or `"latency_ms:3"`."""
    kind, _, value = text.rpartition(":")
    try:
        budget = {kind: float(value)} if kind else float(value)
        return parse_budget(budget).to_config()
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def min_width_arg(text):
    """`--dais-min-width`: `"4"` is 4 channels, `"0.25"` a quarter of each group."""
    try:
        return check_min_width(int(text) if text.isdigit() else float(text))
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_options(parser):
    add = parser.add_argument
    add("--config", default=None, help="YAML file of these options (the command line wins)")
    add("--depth", type=int, default=20, choices=[20, 32, 44, 56])
    add("--budget", type=budget_arg, default=0.5, metavar="B",
        help="a MACs fraction (0.5), or latency:F (F of the unpruned model's TFLite latency "
        "predicted by this machine's table) or latency_ms:MS; YAML: budget: {latency: 0.5}")
    add("--round-to", type=int, default=None)
    add("--train-images", type=int, default=8000,
        help="training images (a seeded subset, 80 %% weight / 20 %% search part); 0: all 50,000")
    add("--search-epochs", type=int, default=1, help="DAIS's search epochs (count in the total)")
    add("--finetune-epochs", type=int, default=2, help="DAIS's fine-tune epochs; others get "
        "search + fine-tune epochs of fine-tuning")
    add("--batch-size", type=int, default=64)
    add("--lr", type=float, default=0.01)
    add("--weight-decay", type=float, default=0.0)
    add("--distill", action=argparse.BooleanOptionalAction, default=False,
        help="distil from --teacher in every fine-tune")
    add("--teacher", default="pretrained", choices=Protocol.TEACHERS,
        help="pretrained: the pretrained port; unpruned: this config's unpruned run at the same "
        "seed (run it first; it trains on the labels only)")
    add("--dais-search-distill", action=argparse.BooleanOptionalAction, default=False,
        help="with --distill: DAIS's search epochs distil their weight step too")
    add("--dais-fill", action=argparse.BooleanOptionalAction, default=False,
        help="DAIS's repair regrows its highest-alpha channels while they fit the budget")
    add("--dais-min-width", type=min_width_arg, default=1, metavar="W",
        help="DAIS's minimum kept channels per group: an int, or a fraction of each group "
        "(0.25); the baselines keep their own default of 1")
    add("--dais-straight-through", action=argparse.BooleanOptionalAction, default=False,
        help="latency budgets: DAIS's band reads the table's latency with the surrogate's "
        "gradient (default: the surrogate's latency, LatencyModel.straight_through)")
    add("--teacher-dir", default=None,
        help="with --teacher unpruned: the folder of the unpruned runs to distil from (default: "
        "--models-dir)")
    add("--teacher-seed", type=int, default=None, metavar="S",
        help="with --teacher unpruned: distil from the unpruned run of seed S (default: --seed); "
        "one teacher for every seed keeps the teacher out of the spread between seeds")
    add("--seed", type=int, default=0)
    add("--val-images", type=int, default=0, metavar="N",
        help="hold N training images out of every training/search step (class-stratified, "
        "seeded by --val-seed), evaluated after every epoch; 0: none")
    add("--val-seed", type=int, default=0, help="seed of the validation split (the same for "
        "every method and run seed)")
    add("--format", default="auto", choices=["auto", "tf", "pydataset"],
        help="training batches (auto: tf on TensorFlow, pydataset elsewhere)")
    add("--methods", default=",".join(["dais", *baselines.available(), "unpruned"]))
    add("--method", default=None, help="run this one method and write its run JSON")
    add("--out-run", default=None, help="the run JSON of --method")
    add("--models-dir", default=None, help="where models are saved (default runs/compare/<stem>)")
    add("--tag", default="", help="suffix of the output names (e.g. long)")
    add("--merge", nargs="*", default=None, metavar="RUN_JSON",
        help="merge run JSONs (default: the runs of this config) into the table")
    add("--out", default=None, help="stem of the merged outputs (default bench/results/<stem>)")
    add("--time-steps", type=int, default=None, metavar="N",
        help="only time N fine-tune steps and extrapolate one epoch (sizing long runs)")


def parse_args(argv=None):
    """The command line, on top of the `--config` file's values."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    _add_options(parser)
    first, _ = parser.parse_known_args(argv)
    if first.config:
        import yaml

        values = yaml.safe_load(pathlib.Path(first.config).read_text()) or {}
        known = {a.dest for a in parser._actions}
        values = {k.replace("-", "_"): v for k, v in values.items()}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SystemExit(f"{first.config}: unknown option(s) {unknown}; valid: {sorted(known)}")
        parser.set_defaults(**values)
    args = parser.parse_args(argv)
    try:  # a config's budget is not parsed by argparse
        args.budget = parse_budget(args.budget).to_config()
    except ValueError as e:
        raise SystemExit(f"budget: {e}") from None
    args.train_images = args.train_images or None
    if isinstance(args.methods, (list, tuple)):
        args.methods = ",".join(args.methods)
    return args


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    command = "python bench/compare.py " + " ".join(shlex.quote(a) for a in argv)
    stem = stem_of(args)
    out = args.out or str(RESULTS / stem)
    if args.merge is not None:
        import compare_merge

        files = args.merge or sorted(str(p) for p in (RESULTS / f"{stem}_runs").glob("*.json"))
        compare_merge.merge_files(files, out, command, expected=args.methods.split(","))
        return
    if args.time_steps:
        time_epoch(args, args.time_steps, command)
        return
    if args.method:
        run_one(args.method, args, command, out=args.out_run)
        return
    methods = args.methods.split(",")
    if args.teacher == "unpruned" and "unpruned" in methods:  # the teacher trains first
        methods = ["unpruned"] + [m for m in methods if m != "unpruned"]
    files = [str(run_one(m, args, command)) for m in methods]
    merge = [sys.executable, str(BENCH / "compare.py"), *argv, "--out", out, "--merge", *files]
    env = dict(os.environ, KERAS_BACKEND="tensorflow")  # TFLite timing needs TensorFlow
    subprocess.run(merge, env=env, check=True)


if __name__ == "__main__":
    main()
