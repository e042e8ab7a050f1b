"""`dais_keras.prune`: search, surgery and fine-tuning in one call."""

import time

from dais_keras.api.pipeline import run_pipeline
from dais_keras.api.pruners import DAISSearch
from dais_keras.api.report import PruneReport
from dais_keras.finetune import inputs
from dais_keras.finetune.recipe import FinetuneRecipe
from dais_keras.utils.checks import check_int
from dais_keras.utils.checks import check_names
from dais_keras.utils.checks import check_number
from dais_keras.utils.checks import check_seed
from dais_keras.utils.checks import check_verbose
from dais_keras.utils.data_forms import check_data
from dais_keras.utils.fit_checks import check_fit_data
from dais_keras.utils.functional import as_functional
from dais_keras.utils.losses import check_from_logits
from dais_keras.utils.losses import classification_loss

EVAL_SET = "eval_data"


def prune(model, budget, train_data, search_data=None, *, epochs=5, finetune_epochs=5,
          distill=False, round_to=None, eval_data=None, batch_size=64, optimizer=None,
          finetune_optimizer=None, loss=None, metrics=("accuracy",), steps_per_epoch=None,
          search_fraction=inputs.DEFAULT_SEARCH_FRACTION, seed=0, frozen_layers=None,
          distill_temperature=4.0, distill_weight=0.7, best_effort=False, callbacks=None,
          recalibrate_batches=100, verbose=1, **search_kwargs):
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
        train_data: `(x, y)` arrays, or a `tf.data.Dataset` or a
            `keras.utils.PyDataset` of `(x, y)` batches (integer class
            labels). For a model with several inputs, `x` is a tuple, list
            or dict of arrays, one per input. Arrays and a `PyDataset`
            (e.g. `dais_keras.data.cifar10(..., format="pydataset")`) need
            no TensorFlow: with `KERAS_BACKEND=jax` or `torch`, search,
            surgery, BatchNorm recalibration, fine-tuning and evaluation
            run where TensorFlow is not installed.
        search_data: The search split, same forms; `None` splits it off
            `train_data` (`split_search`, `search_fraction`, `seed`).
        epochs: Search epochs (weights and indicators).
        finetune_epochs: Fine-tuning epochs of the pruned model (0: none).
        distill: Fine-tune with knowledge distillation from `model`.
        round_to: Align every pruned group's width to a multiple of this.
        eval_data: Optional `(x, y)` or dataset (a finite one): accuracy
            before and after;
            or a dict `{name: data}` of several evaluation sets (the report's
            `accuracy_*` fields then give the first one; `evaluations` all).
        batch_size: Batch size for array data.
        optimizer: Optimizer of the weights during the search (default SGD,
            lr 0.01, momentum 0.9).
        finetune_optimizer: Optimizer of the fine-tuning (default SGD with
            momentum 0.9 and a cosine decay from 0.01 when the number of
            steps is known; `dais_keras.finetune.recipe.FinetuneRecipe`).
        loss: Task loss (default: the model's compiled loss, else sparse
            categorical cross-entropy, from logits unless the model ends in
            a softmax). A loss with `from_logits=True` on a model that ends
            in a softmax is warned about: that model does not learn.
        metrics: Metrics for both `fit`s.
        steps_per_epoch: For datasets of unknown length or endless ones
            (`repeat()`).
        search_fraction: Share of `train_data` held out when `search_data`
            is `None`.
        seed: Seed of the split and of the search data's shuffle.
        frozen_layers: Layers whose channels must not be pruned.
        distill_temperature: Temperature of the distillation.
        distill_weight: Weight of the distillation term (the task loss gets
            the rest).
        best_effort: When the budget cannot be met (frozen groups,
            `round_to`, minimum widths), warn and keep the closest
            selection, as the report then says, instead of raising.
        callbacks: Extra callbacks for the search's `fit`.
        recalibrate_batches: Right after surgery, recompute the pruned
            model's BatchNorm statistics from the forward passes of this
            many training batches (no gradient step; 0: keep the search's).
        verbose: 0 silent, 1 progress and the report.
        **search_kwargs: Passed to `dais_keras.DAISCallback` (e.g.
            `schedule`, `learning_rate`, `min_width`, `single_level`).

    Returns:
        `(pruned_model, report)`: a plain Keras model and a `PruneReport`
        (`print(report)`, `report.as_dict()`). `report.seconds["total"]` is
        the wall time of the whole call.

    Raises:
        ValueError: For a budget outside (0, 1), bad or empty data, or bad
            epochs.

    Example:

    ```python
    pruned, report = dais_keras.prune(
        model, budget=0.5, train_data=(x_train, y_train),
        eval_data=(x_test, y_test), epochs=5, finetune_epochs=5, distill=True)
    print(report)
    pruned.save("pruned.keras")
    ```
    """
    from dais_keras.cost.budget import parse_budget
    from dais_keras.cost.macs import count_macs
    from dais_keras.cost.macs import count_params

    start = time.perf_counter()
    spec = parse_budget(budget)
    epochs = check_int("epochs", epochs, low=1)
    finetune_epochs = check_int("finetune_epochs", finetune_epochs, low=0)
    batch_size = check_int("batch_size", batch_size, low=1)
    seed = check_seed(seed)
    search_fraction = check_number("search_fraction", search_fraction, 0.0, 1.0,
                                   low_open=True, high_open=True)
    distill_temperature = check_number("distill_temperature", distill_temperature, low=0.0,
                                       low_open=True)
    distill_weight = check_number("distill_weight", distill_weight, 0.0, 1.0)
    recalibrate_batches = check_int("recalibrate_batches", recalibrate_batches, low=0)
    if steps_per_epoch is not None:
        steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, low=1)
    verbose = check_verbose("verbose", verbose)
    check_names("frozen_layers", frozen_layers)
    as_functional(model, argument="model")  # a functional or built Sequential model
    loss = loss or getattr(model, "loss", None) or classification_loss(model)
    check_from_logits(model, loss)
    train_data = check_data("train_data", train_data)
    check_fit_data("train_data", train_data, model, loss)
    if search_data is None:
        train_data, search_data = inputs.split_search(train_data, search_fraction, seed)
    else:
        search_data = check_data("search_data", search_data)
        check_fit_data("search_data", search_data, model, loss)
    for name, data in ({} if eval_data is None else (
            eval_data if isinstance(eval_data, dict) else {EVAL_SET: eval_data})).items():
        check_fit_data(name if name == EVAL_SET else f"eval_data['{name}']",
                       check_data(EVAL_SET, data), model, loss)
    fit = dict(batch_size=batch_size, loss=loss, metrics=metrics,
               steps_per_epoch=steps_per_epoch, verbose=verbose)
    sets = eval_data if isinstance(eval_data, dict) else (
        None if eval_data is None else {EVAL_SET: eval_data})
    pruner = DAISSearch(
        budget, train_data, search_data, epochs=epochs, optimizer=optimizer, round_to=round_to,
        seed=seed, frozen_layers=frozen_layers, callbacks=callbacks, best_effort=best_effort,
        eval_data=next(iter(sets.values())) if sets else None,
        recalibrate_batches=recalibrate_batches, measure_recalibrated=False, **fit,
        **search_kwargs,
    )
    recipe = None
    if finetune_epochs:
        recipe = FinetuneRecipe(finetune_epochs, distill=bool(distill),
                                distill_temperature=distill_temperature,
                                distill_weight=distill_weight)
    result = run_pipeline(model, pruner, recipe=recipe, finetune_data=train_data,
                          eval_data=sets, optimizer=finetune_optimizer, **fit)
    pruned, budget_report = result.model, result.pruning.report
    first = next(iter(sets)) if sets else None
    after_search = result.accuracy.get("pruned", {}).get(first)
    if after_search is not None and result.pruning.convergence.get("recalibration_batches"):
        # The pruned model after the recalibration: the pipeline's evaluation.
        result.pruning.convergence["acc_hard_recal"] = after_search
    report = PruneReport(
        budget=spec.to_config(),
        macs_before=count_macs(model),
        macs_after=count_macs(pruned),
        params_before=count_params(model),
        params_after=count_params(pruned),
        accuracy_before=result.accuracy.get("unpruned", {}).get(first),
        accuracy_after=result.accuracy.get("finetuned", {}).get(first, after_search),
        accuracy_after_search=after_search,
        convergence=result.pruning.convergence,
        evaluations=result.accuracy,
        groups=[{"name": g["name"], "size": g["size"], "kept": g["after"]}
                for g in (budget_report.groups if budget_report else [])],
        budget_report=budget_report,
        search_history=result.pruning.history,
        finetune_history=result.finetune_history,
        seconds={"evaluate": result.seconds["evaluate"], "search": result.seconds["prune"],
                 "finetune": result.seconds["finetune"]},
        distill=bool(distill),
    )
    report.seconds["total"] = time.perf_counter() - start
    if verbose:
        print(report)
    return pruned, report
