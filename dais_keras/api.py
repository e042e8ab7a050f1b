"""`dais_keras.prune`: search, surgery and fine-tuning in one call."""

import dataclasses
import math
import time

import numpy as np

import keras

DEFAULT_SEARCH_FRACTION = 0.2


@dataclasses.dataclass
class PruneReport:
    """What `dais_keras.prune` did.

    Attributes:
        budget: The budget as given: a MACs fraction, or a dict such as
            `{"latency": 0.5}`.
        macs_before / macs_after: Exact MACs of the original and pruned
            models (one example).
        params_before / params_after: Parameters of both models.
        accuracy_before / accuracy_after: Top-1 accuracy on `eval_data`
            (`None` without it): the original model, and the pruned model
            after fine-tuning.
        accuracy_after_search: The pruned model before fine-tuning.
        groups: Per channel group: `name`, `size`, `kept`.
        budget_report: The `dais_keras.budget.BudgetReport` of the search.
        search_history / finetune_history: Per-epoch logs of both `fit`s.
        seconds: Wall time of `search`, `finetune`, `evaluate` and `total`.
        distill: Whether fine-tuning used knowledge distillation.
    """

    budget: object
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    accuracy_before: float = None
    accuracy_after: float = None
    accuracy_after_search: float = None
    groups: list = dataclasses.field(default_factory=list)
    budget_report: object = None
    search_history: dict = dataclasses.field(default_factory=dict)
    finetune_history: dict = dataclasses.field(default_factory=dict)
    seconds: dict = dataclasses.field(default_factory=dict)
    distill: bool = False

    @property
    def macs_ratio(self):
        return self.macs_after / self.macs_before

    @property
    def params_ratio(self):
        return self.params_after / self.params_before

    def as_dict(self):
        out = {
            k: v for k, v in dataclasses.asdict(self).items() if k != "budget_report"
        }
        out["budget_report"] = self.budget_report.as_dict() if self.budget_report else None
        out["macs_ratio"] = self.macs_ratio
        out["params_ratio"] = self.params_ratio
        return out

    def table(self):
        """The before/after table as text."""

        def acc(v):
            return "-" if v is None else f"{100 * v:.2f} %"

        rows = [
            ("", "original", "pruned", "ratio"),
            ("MACs", f"{self.macs_before:,}", f"{self.macs_after:,}", f"{self.macs_ratio:.3f}"),
            ("params", f"{self.params_before:,}", f"{self.params_after:,}", f"{self.params_ratio:.3f}"),
        ]
        if self.accuracy_before is not None:
            rows.append(("accuracy", acc(self.accuracy_before), acc(self.accuracy_after), ""))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = []
        for k, r in enumerate(rows):
            lines.append(
                "  ".join(
                    (c.ljust(w) if i == 0 else c.rjust(w)) for i, (c, w) in enumerate(zip(r, widths))
                )
            )
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __str__(self):
        from dais_keras.cost.budget import parse_budget

        lines = [f"DAIS pruning to {parse_budget(self.budget)}"
                 + (" (fine-tuned with distillation)" if self.distill else ""), "", self.table()]
        if self.accuracy_after_search is not None:
            lines.append(f"accuracy right after the search (before fine-tuning): "
                         f"{100 * self.accuracy_after_search:.2f} %")
        if self.budget_report is not None:
            lines += ["", self.budget_report.summary()]
        if self.groups:
            width = max(len(g["name"]) for g in self.groups)
            lines += ["", f"{'group':<{width}}  {'size':>5}  {'kept':>5}"]
            lines += [f"{g['name']:<{width}}  {g['size']:>5}  {g['kept']:>5}" for g in self.groups]
        if self.seconds:
            lines += ["", "time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())]
        return "\n".join(lines)

    __repr__ = __str__


def _all_sublayers(model):
    """`model` and every layer inside it (nested models included)."""
    return [model] + list(model._flatten_layers(include_self=False, recursive=True))


def _is_dataset(data):
    try:
        import tensorflow as tf
    except ImportError:  # pragma: no cover
        return False
    return isinstance(data, tf.data.Dataset)


def _check_arrays(name, data):
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(
            f"`{name}` must be a `tf.data.Dataset` of (x, y) batches or an "
            f"(x, y) tuple of arrays; received {type(data).__name__}."
        )
    x, y = (np.asarray(a) for a in data)
    if len(x) != len(y):
        raise ValueError(f"`{name}` has {len(x)} inputs but {len(y)} labels.")
    if len(x) == 0:
        raise ValueError(f"`{name}` holds no examples.")
    return x, y


def split_search(train_data, search_fraction=DEFAULT_SEARCH_FRACTION, seed=0):
    """Splits `train_data` into `(weight_data, search_data)` deterministically.

    Arrays: a seeded permutation, the last `search_fraction` of it for the
    search. A batched dataset: every `round(1 / search_fraction)`-th batch
    for the search (disjoint only if the dataset does not reshuffle between
    iterations; pass `search_data` yourself otherwise).
    """
    if not 0.0 < search_fraction < 1.0:
        raise ValueError(
            f"`search_fraction` must be in (0, 1); received {search_fraction!r}."
        )
    if _is_dataset(train_data):
        import tensorflow as tf

        every = max(2, int(round(1.0 / search_fraction)))
        indexed = train_data.enumerate()
        search = indexed.filter(lambda i, b: i % every == 0).map(lambda i, b: b)
        weight = indexed.filter(lambda i, b: i % every != 0).map(lambda i, b: b)
        n = int(train_data.cardinality())
        if n > 0:  # keep the length known, for `fit` and the annealing
            n_search = -(-n // every)
            if n_search >= n:
                raise ValueError(
                    f"`train_data` has {n} batches: too few to hold out search batches."
                )
            search = search.apply(tf.data.experimental.assert_cardinality(n_search))
            weight = weight.apply(tf.data.experimental.assert_cardinality(n - n_search))
        return weight, search
    x, y = _check_arrays("train_data", train_data)
    order = np.random.default_rng(seed).permutation(len(x))
    n_search = max(1, int(round(search_fraction * len(x))))
    if n_search >= len(x):
        raise ValueError(
            f"`train_data` has {len(x)} examples: too few to hold out a search split."
        )
    w, s = order[:-n_search], order[-n_search:]
    return (x[w], y[w]), (x[s], y[s])


def _default_loss(model):
    last = model.layers[-1] if model.layers else None
    activation = getattr(last, "activation", None)
    from_logits = getattr(activation, "__name__", "") != "softmax"
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)


def accuracy(model, data, batch_size=256):
    """Top-1 accuracy of `model` on `(x, y)` arrays or a dataset of batches."""
    if _is_dataset(data):
        correct = total = 0
        for x, y in data:
            pred = np.argmax(keras.ops.convert_to_numpy(model(x, training=False)), -1)
            y = np.asarray(y).reshape(-1)
            correct += int(np.sum(pred == y))
            total += y.size
        return correct / max(total, 1)
    x, y = _check_arrays("eval_data", data)
    pred = np.argmax(model.predict(x, batch_size=batch_size, verbose=0), -1)
    return float(np.mean(pred == y.reshape(-1)))


def _fit_args(data, batch_size):
    if _is_dataset(data):
        return (data,), {"shuffle": False}  # a dataset shuffles itself
    x, y = data
    return (x, y), {"batch_size": batch_size}


def _check_int(name, value, low):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"`{name}` must be an integer >= {low}; received {value!r}.")
    return int(value)


def prune(
    model,
    budget,
    train_data,
    search_data=None,
    *,
    epochs=5,
    finetune_epochs=5,
    distill=False,
    round_to=None,
    eval_data=None,
    batch_size=64,
    optimizer=None,
    finetune_optimizer=None,
    loss=None,
    metrics=("accuracy",),
    steps_per_epoch=None,
    search_fraction=DEFAULT_SEARCH_FRACTION,
    seed=0,
    frozen_layers=None,
    distill_temperature=4.0,
    distill_weight=0.7,
    callbacks=None,
    verbose=1,
    **search_kwargs,
):
    """Prunes `model` to a MACs or latency budget with DAIS and fine-tunes it.

    Attaches channel indicators, runs the DAIS search for `epochs` with a
    `dais_keras.DAISCallback` (the indicators are then binarised to the
    budget), rebuilds a smaller plain Keras model by surgery and fine-tunes
    it for `finetune_epochs`, optionally distilling from the original.
    `model` itself is not changed.

    Args:
        model: A functional (or built Sequential) Keras classifier.
        budget: Target MACs as a fraction of the original's, in (0, 1), or
            a latency budget `{"latency": fraction}` / `{"latency_ms": ms}`
            (the table of `runtime=`, default `"tflite"`, is measured or read
            from the cache; pass `latency_model=` or `latency_table=` to
            choose; see `dais_keras.DAISCallback`).
        train_data: `(x, y)` arrays or a `tf.data.Dataset` of `(x, y)`
            batches (integer class labels).
        search_data: The search split, same forms; `None` splits it off
            `train_data` (`split_search`, `search_fraction`, `seed`).
        epochs: Search epochs (weights and indicators).
        finetune_epochs: Fine-tuning epochs of the pruned model (0: none).
        distill: Fine-tune with knowledge distillation from `model`.
        round_to: Align every pruned group's width to a multiple of this.
        eval_data: Optional `(x, y)` or dataset: accuracy before and after.
        batch_size: Batch size for array data.
        optimizer: Optimizer of the weights during the search (default SGD,
            lr 0.01, momentum 0.9).
        finetune_optimizer: Optimizer of the fine-tuning (default SGD with
            momentum 0.9 and a cosine decay from 0.01 when the number of
            steps is known).
        loss: Task loss (default sparse categorical cross-entropy, from
            logits unless the model ends in a softmax).
        metrics: Metrics for both `fit`s.
        steps_per_epoch: For datasets of unknown length.
        search_fraction: Share of `train_data` held out when `search_data`
            is `None`.
        seed: Seed of the split and of the search data's shuffle.
        frozen_layers: Layers whose channels must not be pruned.
        distill_temperature: Temperature of the distillation.
        distill_weight: Weight of the distillation term (the task loss gets
            the rest).
        callbacks: Extra callbacks for the search's `fit`.
        verbose: 0 silent, 1 progress and the report.
        **search_kwargs: Passed to `dais_keras.DAISCallback` (e.g.
            `schedule`, `learning_rate`, `min_width`, `single_level`).

    Returns:
        `(pruned_model, report)`: a plain Keras model and a `PruneReport`
        (`print(report)`, `report.as_dict()`).

    Raises:
        ValueError: For a budget outside (0, 1), bad data or epochs.

    Example:

    ```python
    pruned, report = dais_keras.prune(
        model, budget=0.5, train_data=(x_train, y_train),
        eval_data=(x_test, y_test), epochs=5, finetune_epochs=5, distill=True)
    print(report)
    pruned.save("pruned.keras")
    ```
    """
    from dais_keras import surgery
    from dais_keras.cost.budget import parse_budget
    from dais_keras.search.callback import DAISCallback
    from dais_keras.cost.macs import count_macs
    from dais_keras.cost.macs import count_params
    from dais_keras.finetune.distill import Distiller
    from dais_keras.search.attach import attach_indicators

    spec = parse_budget(budget)
    epochs = _check_int("epochs", epochs, 1)
    finetune_epochs = _check_int("finetune_epochs", finetune_epochs, 0)
    batch_size = _check_int("batch_size", batch_size, 1)
    if not _is_dataset(train_data):
        train_data = _check_arrays("train_data", train_data)
    if search_data is None:
        train_data, search_data = split_search(train_data, search_fraction, seed)
    elif not _is_dataset(search_data):
        search_data = _check_arrays("search_data", search_data)
    t_start = time.perf_counter()
    seconds = {}
    report_kwargs = {}
    loss = loss or getattr(model, "loss", None) or _default_loss(model)
    metrics = list(metrics or [])

    t0 = time.perf_counter()
    if eval_data is not None:
        report_kwargs["accuracy_before"] = accuracy(model, eval_data)
    seconds["evaluate"] = time.perf_counter() - t0

    # Search.
    t0 = time.perf_counter()
    search = attach_indicators(model, frozen_layers=frozen_layers)
    search.compile(
        optimizer=optimizer or keras.optimizers.SGD(0.01, momentum=0.9),
        loss=loss,
        metrics=metrics,
    )
    cb = DAISCallback(
        budget=budget,
        search_data=search_data,
        batch_size=None if _is_dataset(search_data) else batch_size,
        round_to=round_to,
        seed=seed,
        verbose=verbose,
        **search_kwargs,
    )
    args, kwargs = _fit_args(train_data, batch_size)
    history = search.fit(
        *args, epochs=epochs, steps_per_epoch=steps_per_epoch,
        callbacks=[cb] + list(callbacks or []), verbose=verbose, **kwargs,
    )
    pruned = surgery.apply(search, name=f"{model.name}_dais{spec.label()}")
    seconds["search"] = time.perf_counter() - t0
    if eval_data is not None:
        t0 = time.perf_counter()
        report_kwargs["accuracy_after_search"] = accuracy(pruned, eval_data)
        seconds["evaluate"] += time.perf_counter() - t0

    # Fine-tuning.
    finetune_history = {}
    t0 = time.perf_counter()
    if finetune_epochs:
        steps = steps_per_epoch
        if steps is None and not _is_dataset(train_data):
            steps = math.ceil(len(train_data[0]) / batch_size)
        elif steps is None:
            card = int(train_data.cardinality())
            steps = card if card > 0 else None
        if finetune_optimizer is None:
            lr = 0.01
            if steps:
                lr = keras.optimizers.schedules.CosineDecay(0.01, finetune_epochs * steps)
            finetune_optimizer = keras.optimizers.SGD(lr, momentum=0.9)
        trainee = pruned
        # The Distiller freezes the teacher (the caller's model): give every
        # layer its own flag back afterwards, so `prune` leaves `model` as
        # it found it (and a second `prune` of it still trains).
        flags = [(layer, layer.trainable) for layer in _all_sublayers(model)]
        try:
            if distill:
                trainee = Distiller(
                    pruned, model, temperature=distill_temperature,
                    distill_weight=distill_weight,
                    from_logits=getattr(loss, "from_logits", True),
                )
            trainee.compile(optimizer=finetune_optimizer, loss=loss, metrics=metrics)
            ft = trainee.fit(
                *args, epochs=finetune_epochs, steps_per_epoch=steps_per_epoch,
                verbose=verbose, **kwargs,
            )
        finally:
            for layer, flag in flags:
                layer.trainable = flag
        finetune_history = {k: [float(v) for v in vals] for k, vals in ft.history.items()}
    seconds["finetune"] = time.perf_counter() - t0
    if eval_data is not None:
        t0 = time.perf_counter()
        report_kwargs["accuracy_after"] = accuracy(pruned, eval_data)
        seconds["evaluate"] += time.perf_counter() - t0
    seconds["total"] = time.perf_counter() - t_start

    budget_report = cb.report
    groups = [
        {"name": g["name"], "size": g["size"], "kept": g["after"]}
        for g in (budget_report.groups if budget_report else [])
    ]
    report = PruneReport(
        budget=spec.to_config(),
        macs_before=count_macs(model),
        macs_after=count_macs(pruned),
        params_before=count_params(model),
        params_after=count_params(pruned),
        groups=groups,
        budget_report=budget_report,
        search_history={
            k: [float(v) for v in vals] for k, vals in history.history.items()
        },
        finetune_history=finetune_history,
        seconds=seconds,
        distill=bool(distill),
        **report_kwargs,
    )
    if verbose:
        print(report)
    return pruned, report
