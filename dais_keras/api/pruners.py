"""The pruning step of the pipeline: DAIS or a baseline, one interface.

A pruner is a callable `pruner(model) -> Pruning`: it leaves `model` as it
is and returns a smaller plain Keras model with the report of its selection.
`DAISSearch` attaches indicators, runs the bi-level search and binarises to
the budget; `BaselinePruning` runs one of `dais_keras.baselines`. Both end
in the same exact surgery.
"""

import dataclasses

import keras

from dais_keras.finetune import inputs
from dais_keras.finetune.accuracy import accuracy
from dais_keras.finetune.batchnorm import batchnorm_layers
from dais_keras.finetune.batchnorm import recalibrate_batchnorm
from dais_keras.finetune.recipe import sgd
from dais_keras.utils.data_forms import is_batched
from dais_keras.utils.losses import check_distillation


@dataclasses.dataclass
class Pruning:
    """What a pruner returns.

    Attributes:
        model: The pruned plain Keras model.
        report: The selection's report (`BudgetReport` for DAIS,
            `BaselineReport` for a baseline): `feasible`, `summary()`,
            `as_dict()`, `groups`.
        history: Per-epoch logs of the search's `fit` (empty for baselines).
        convergence: For DAIS, how the search converged (`DAISSearch`):
            `binarized`, `search_ratio`, `repair_changed`, `repair_share`,
            `recalibration_batches` and, with `eval_data`, `acc_soft`,
            `acc_hard`, `acc_hard_recal`.
    """

    model: object
    report: object
    history: dict = dataclasses.field(default_factory=dict)
    convergence: dict = dataclasses.field(default_factory=dict)


class DAISSearch:
    """Prunes with DAIS: indicators, bi-level search, binarisation, surgery.

    Args:
        budget: A MACs fraction or a latency budget (see `dais_keras.prune`).
        train_data: The weights' data: `(x, y)` arrays or a dataset.
        search_data: The indicators' data, same forms.
        epochs: Search epochs.
        batch_size: Batch size for arrays.
        optimizer: Optimizer of the weights (default SGD, lr 0.01, momentum
            0.9).
        loss: Task loss.
        metrics: Metrics of the search's `fit`.
        steps_per_epoch: For datasets of unknown length.
        round_to: Width alignment of the binarisation.
        seed: Seed of the search data's shuffle.
        frozen_layers: Layers whose channels must not be pruned.
        callbacks: Extra callbacks of the search's `fit`.
        verbose: Verbosity of `fit` and the callback.
        best_effort: Where the budget cannot be met, warn and keep the
            closest selection instead of raising.
        eval_data: Optional `(x, y)` or dataset: the accuracy of the soft
            model at the end of the annealing and of the pruned model right
            after surgery, before and after the BatchNorm recalibration.
        recalibrate_batches: Training batches whose forward passes give the
            pruned model fresh BatchNorm statistics (0: none).
        teacher: A model to distil the search's weight step from (the
            indicator step keeps `loss`; see `DAISModel.distill_from`), or
            `None`.
        distill_temperature: Temperature of that distillation.
        distill_weight: Weight of the distillation term in [0, 1].
        recalibrate_soft: Measure the soft model at the end of the annealing
            with recalibrated BatchNorm statistics too (the same batches;
            its own statistics are put back afterwards). For models whose
            moving statistics lag their weights: a MobileNetV2 trained for a
            few hundred steps scores chance in inference mode and 22 % after
            recalibration (bench/search_convergence.py).
        measure_recalibrated: Measure the pruned model on `eval_data` after
            the recalibration too (`acc_hard_recal`). `dais_keras.prune`
            passes `False`: it evaluates the pruned model on every set
            anyway, and fills that figure in from its own evaluation.
        **search_kwargs: Passed to `dais_keras.DAISCallback`.
    """

    def __init__(self, budget, train_data, search_data, *, epochs, batch_size=64,
                 optimizer=None, loss, metrics=("accuracy",), steps_per_epoch=None,
                 round_to=None, seed=0, frozen_layers=None, callbacks=None, verbose=1,
                 best_effort=False, eval_data=None, recalibrate_batches=100,
                 recalibrate_soft=False, teacher=None, distill_temperature=4.0,
                 distill_weight=0.7, measure_recalibrated=True, **search_kwargs):
        self.teacher = teacher
        self.distill_temperature, self.distill_weight = check_distillation(
            distill_temperature, distill_weight)
        self.eval_data = eval_data
        self.recalibrate_batches = recalibrate_batches
        self.recalibrate_soft = bool(recalibrate_soft)
        self.measure_recalibrated = bool(measure_recalibrated)
        self.budget = budget
        self.train_data = train_data
        self.search_data = search_data
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = list(metrics or [])
        self.steps_per_epoch = steps_per_epoch
        self.frozen_layers = frozen_layers
        self.callbacks = list(callbacks or [])
        self.verbose = verbose
        self.search_kwargs = dict(search_kwargs, round_to=round_to, seed=seed)
        if best_effort:  # passed only when asked, for repairs that predate it
            self.search_kwargs["best_effort"] = True

    def __call__(self, model):
        from dais_keras import surgery
        from dais_keras.cost.budget import parse_budget
        from dais_keras.search.attach import attach_indicators
        from dais_keras.search.callback import DAISCallback

        search = attach_indicators(model, frozen_layers=self.frozen_layers)
        if self.teacher is not None:
            search.distill_from(self.teacher, self.distill_temperature, self.distill_weight)
        search.compile(optimizer=self.optimizer or sgd(0.01), loss=self.loss,
                       metrics=self.metrics)
        measure = self._measure_soft if self.eval_data is not None else None
        callback = DAISCallback(
            budget=self.budget, search_data=self.search_data,
            batch_size=None if is_batched(self.search_data) else self.batch_size,
            verbose=self.verbose, on_annealed=measure, **self.search_kwargs,
        )
        args, kwargs = inputs.fit_arguments(self.train_data, self.batch_size)
        history = search.fit(
            *args, epochs=self.epochs, steps_per_epoch=self.steps_per_epoch,
            callbacks=[callback] + self.callbacks, verbose=self.verbose, **kwargs,
        )
        label = parse_budget(self.budget).label()
        pruned = surgery.apply(search, name=f"{model.name}_dais{label}")
        logs = {k: [float(v) for v in values] for k, values in history.history.items()}
        return Pruning(pruned, callback.report, logs, self._converge(pruned, callback))

    def _measure_soft(self, model):
        """The soft model's accuracy on `eval_data`; with `recalibrate_soft`,
        `{"raw": ..., "recalibrated": ...}`, the model's BatchNorm statistics
        unchanged afterwards."""
        raw = accuracy(model, self.eval_data)
        if not (self.recalibrate_soft and self.recalibrate_batches):
            return raw
        layers = batchnorm_layers(model)
        saved = [[keras.ops.convert_to_numpy(v) for v in (l.moving_mean, l.moving_variance)]
                 for l in layers]
        try:
            recalibrate_batchnorm(model, self.train_data, batches=self.recalibrate_batches,
                                  batch_size=self.batch_size)
            recalibrated = accuracy(model, self.eval_data)
        finally:
            for layer, (mean, variance) in zip(layers, saved):
                layer.moving_mean.assign(mean)
                layer.moving_variance.assign(variance)
        return {"raw": raw, "recalibrated": recalibrated}

    def _converge(self, pruned, callback):
        """How the search converged; recalibrates `pruned`'s BatchNorm."""
        state = callback.search_state or {}
        report = callback.report
        kind = getattr(callback.cost, "kind", "macs")
        out = {
            "binarized": state.get("binarized"),
            "search_ratio": state.get(f"hard_{kind}_ratio"),
            "repair_changed": report.channels_changed if report else None,
            "repair_share": (report.channels_changed / callback.structure.num_channels
                             if report else None),
            "acc_soft": state.get("annealed"),
        }
        if isinstance(out["acc_soft"], dict):
            out["acc_soft_raw"] = out["acc_soft"]["raw"]
            out["acc_soft"] = out["acc_soft"]["recalibrated"]
        if self.eval_data is not None:
            out["acc_hard"] = accuracy(pruned, self.eval_data)
        out["recalibration_batches"] = 0
        if self.recalibrate_batches:
            out["recalibration_batches"] = recalibrate_batchnorm(
                pruned, self.train_data, batches=self.recalibrate_batches,
                batch_size=self.batch_size)
            if self.eval_data is not None and self.measure_recalibrated:
                out["acc_hard_recal"] = accuracy(pruned, self.eval_data)
        return out


class BaselinePruning:
    """Prunes with a baseline of `dais_keras.baselines` (no training).

    Args:
        method: A name of `dais_keras.baselines.available()`.
        budget: Target MACs as a fraction of the unpruned model's, or a
            latency budget (`{"latency": f}`), which needs `cost`.
        seed, round_to, band, min_width, frozen_layers, cost: As for
            `dais_keras.baselines.prune`.
        best_effort: Where the budget cannot be met, warn and keep the
            closest selection instead of raising.
    """

    def __init__(self, method, budget, *, best_effort=False, **settings):
        from dais_keras.cost.budget import parse_budget

        self.method = method
        self.budget = parse_budget(budget).to_config()  # {"macs": f} becomes f
        self.settings = dict(settings, best_effort=True) if best_effort else settings

    def __call__(self, model):
        from dais_keras.select import baselines

        pruned, report = baselines.prune(model, self.method, self.budget, **self.settings)
        return Pruning(pruned, report)
