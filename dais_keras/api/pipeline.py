"""The pruning pipeline: evaluate, prune, evaluate, fine-tune, evaluate.

`run_pipeline` is the one driver of that sequence: `dais_keras.prune`, the
`dais search` / `dais prune` commands, the demo and the benchmarks all call
it, with a pruner (`dais_keras.api.pruners`) and a fine-tune recipe
(`dais_keras.finetune.recipe`).
"""

import dataclasses
import time

from dais_keras.finetune.accuracy import evaluate as evaluate_sets
from dais_keras.finetune.inputs import steps_per_epoch

STAGES = ("unpruned", "pruned", "finetuned")


@dataclasses.dataclass
class PipelineResult:
    """What `run_pipeline` did.

    Attributes:
        model: The pruned model (fine-tuned in place when a recipe ran).
        pruning: The pruner's `Pruning` (its report and search history).
        accuracy: Stage (`"unpruned"`, `"pruned"`, `"finetuned"`) ->
            evaluation set name -> top-1 accuracy.
        finetune_history: Per-epoch logs of the fine-tune (empty without).
        seconds: Wall time of `prune`, `finetune`, `evaluate` and `total`.
    """

    model: object = None
    pruning: object = None
    accuracy: dict = dataclasses.field(default_factory=dict)
    finetune_history: dict = dataclasses.field(default_factory=dict)
    seconds: dict = dataclasses.field(
        default_factory=lambda: {"prune": 0.0, "finetune": 0.0, "evaluate": 0.0})


def run_pipeline(model, pruner, *, recipe=None, finetune_data=None, teacher=None,
                 eval_data=None, eval_stages=STAGES, eval_batch_size=256, eval_verbose=0,
                 on_stage=None, log=None, **fit_kwargs):
    """Runs the pruning sequence on `model` (which is left unchanged).

    1. evaluates `model` on `eval_data` (stage `"unpruned"`);
    2. prunes it with `pruner` (stage `"pruned"`), then evaluates it;
    3. with a `recipe`, fine-tunes the pruned model on `finetune_data`
       (distilling from `teacher`, default `model`, when the recipe says so;
       stage `"finetuned"`), then evaluates it.

    Args:
        model: The Keras model to prune.
        pruner: A callable `pruner(model) -> Pruning` (`DAISSearch`,
            `BaselinePruning`).
        recipe: A `FinetuneRecipe`, or `None` for no fine-tuning.
        finetune_data: The fine-tune's data: `(x, y)` arrays, or a
            `tf.data.Dataset` or a `keras.utils.PyDataset` of batches.
        teacher: The model to distil from (default: `model`).
        eval_data: `{name: data}` evaluation sets (forms of
            `dais_keras.finetune.accuracy.accuracy`), or `None`.
        eval_stages: The stages after which `eval_data` is evaluated.
        eval_batch_size: Batch size of the evaluation (arrays).
        eval_verbose: Progress bar of the evaluation.
        on_stage: `on_stage(stage, result)`, called when the pruned and the
            fine-tuned models exist, before they are evaluated (to save
            them, log, ...).
        log: `log(text)` for one line per evaluation and the fine-tune's
            settings; `None`: silent.
        **fit_kwargs: For `FinetuneRecipe.fit` (`loss`, `metrics`,
            `batch_size`, `steps_per_epoch`, `optimizer`, `callbacks`,
            `verbose`).

    Returns:
        A `PipelineResult`.
    """
    start = time.perf_counter()
    result = PipelineResult()
    say = log or (lambda text: None)

    def evaluate(stage, candidate):
        if not eval_data or stage not in eval_stages:
            return
        t0 = time.perf_counter()
        result.accuracy[stage] = evaluate_sets(candidate, eval_data, batch_size=eval_batch_size,
                                               verbose=eval_verbose, label=stage, log=log)
        result.seconds["evaluate"] += time.perf_counter() - t0

    def reached(stage):
        if on_stage is not None:
            on_stage(stage, result)

    evaluate("unpruned", model)
    t0 = time.perf_counter()
    result.pruning = pruner(model)
    result.model = result.pruning.model
    result.seconds["prune"] = time.perf_counter() - t0
    reached("pruned")
    evaluate("pruned", result.model)
    if recipe is not None:
        t0 = time.perf_counter()
        teacher = (model if teacher is None else teacher) if recipe.distill else None
        steps = fit_kwargs.get("steps_per_epoch") or steps_per_epoch(
            finetune_data, fit_kwargs.get("batch_size", 64))
        say(recipe.describe(steps, teacher))
        result.finetune_history = recipe.fit(result.model, finetune_data, teacher=teacher,
                                             **fit_kwargs)
        result.seconds["finetune"] = time.perf_counter() - t0
        reached("finetuned")
        evaluate("finetuned", result.model)
    result.seconds["total"] = time.perf_counter() - start
    return result

