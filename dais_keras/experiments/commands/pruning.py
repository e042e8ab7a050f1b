"""`dais search` and `dais prune`: prune to a budget (DAIS or a baseline),
fine-tune and evaluate, through `dais_keras.api.pipeline.run_pipeline`."""

import time

from dais_keras.experiments.commands import options
from dais_keras.experiments.schema import DAIS_METHOD


class _DAISStep:
    """The DAIS search of a run: logs, histories and plots around
    `dais_keras.api.pruners.DAISSearch`."""

    def __init__(self, run):
        self.run = run
        self.selection = None

    def __call__(self, model):
        from dais_keras.api.pruners import DAISSearch
        from dais_keras.experiments import builders
        from dais_keras.experiments.plots import plot_history
        from dais_keras.experiments.schema import SCHEMA
        from dais_keras.experiments.schema import budget_text
        from dais_keras.finetune.recipe import sgd
        from dais_keras.utils.losses import classification_loss

        run, cfg = self.run, self.run.config
        section = cfg["search"]
        callback_kwargs = {k: v for k, v in section.items() if k not in SCHEMA["search"]}
        run.log(f"DAIS search: {section['epochs']} epoch(s), budget {budget_text(cfg['budget'])}")
        search = DAISSearch(
            cfg["budget"], builders.cifar(cfg, "weight"), builders.cifar(cfg, "search", augment=False),
            epochs=section["epochs"], round_to=cfg["round_to"], seed=cfg["seed"],
            optimizer=sgd(section["lr"], section["momentum"], section["nesterov"],
                          section["weight_decay"]),
            loss=classification_loss(model), callbacks=run.callbacks("search"),
            verbose=run.verbose, band=cfg["band"], min_width=cfg["min_width"],
            best_effort=cfg["on_infeasible"] == "warn", plot_dir=str(run.dir),
            **callback_kwargs,
        )
        start = time.perf_counter()
        pruning = search(model)
        history = pruning.history
        run.metrics["search"] = {k: v for k, v in history.items() if not k.startswith("dais_width/")}
        plot_history(history, run.path("search_history.png"), "DAIS search")
        report = pruning.report
        run.log(report.summary(), echo=not run.verbose)  # the callback printed it
        self.selection = dict(report.as_dict(), feasible=report.feasible,
                              seconds={"search": time.perf_counter() - start})
        return pruning


class _BaselineStep:
    """A baseline of `dais_keras.baselines` in a run: its summary and plot."""

    def __init__(self, run):
        self.run = run
        self.selection = None

    def __call__(self, model):
        from dais_keras.api.pruners import BaselinePruning
        from dais_keras.experiments.plots import plot_group_widths

        run, cfg = self.run, self.run.config
        step = BaselinePruning(cfg["method"], cfg["budget"], seed=cfg["seed"],
                               round_to=cfg["round_to"], band=cfg["band"],
                               min_width=cfg["min_width"],
                               best_effort=cfg["on_infeasible"] == "warn",
                               cost=self._latency_model(model))
        pruning = step(model)
        report = pruning.report
        run.log(report.summary())
        budget = step.budget if isinstance(step.budget, dict) else f"{step.budget:.0%}"
        plot_group_widths(report.groups, run.path("widths.png"),
                          f"{cfg['method']} at {budget}", run.log)
        self.selection = report.as_dict()
        return pruning

    def _latency_model(self, model):
        """Under a latency budget, the `LatencyModel` the baseline prunes to
        (the table of `search.latency_table`, else this machine's cache of
        `search.runtime`), as DAIS's search builds it; `None` for MACs."""
        from dais_keras.cost.budget import parse_budget

        run, cfg = self.run, self.run.config
        if not parse_budget(cfg["budget"]).is_latency:
            return None
        from dais_keras.search.target import table_latency_model

        table = cfg["search"].get("latency_table")
        runtime = cfg["search"].get("runtime", "tflite")
        run.log(f"latency model: {runtime}, " + (f"table {table}" if table else "this machine's table"))
        return table_latency_model(model, table, runtime, verbose=run.verbose)


def pruning_run(args, command, overrides):
    """Runs the pipeline a config describes and writes the run folder."""
    import keras

    from dais_keras.api.pipeline import run_pipeline
    from dais_keras.cost.macs import count_macs
    from dais_keras.cost.macs import count_params
    from dais_keras.experiments import builders
    from dais_keras.experiments.plots import plot_history
    from dais_keras.experiments.run import Run
    from dais_keras.experiments.schema import budget_text
    from dais_keras.finetune.recipe import FinetuneRecipe

    run = Run(args, command, overrides)
    cfg = run.config
    if command == "search" and cfg["method"] != DAIS_METHOD:
        raise ValueError(
            f"`dais search` runs DAIS, but the overrides ask for method '{cfg['method']}'; "
            f"run `dais prune --method {cfg['method']}` instead."
        )
    keras.utils.set_random_seed(cfg["seed"])
    model = builders.build_model(cfg)
    run.log(f"model: {builders.describe_model(cfg)}; method: {cfg['method']}; budget "
            f"{budget_text(cfg['budget'])}"
            + (f"; round_to {cfg['round_to']}" if cfg["round_to"] else ""))
    macs, params = count_macs(model), count_params(model)
    step = (_DAISStep if cfg["method"] == DAIS_METHOD else _BaselineStep)(run)
    section = cfg["finetune"]
    recipe = None
    if section["epochs"] > 0 and not args.no_finetune:
        recipe = FinetuneRecipe.from_config(section)

    def on_stage(stage, result):
        if stage == "finetuned":
            run.metrics["time_s"]["finetune"] = result.seconds["finetune"]
            run.metrics["finetune"] = result.finetune_history
            plot_history(result.finetune_history, run.path("finetune_history.png"), "fine-tune")
            run.save_model(result.model, "finetuned.keras")
            return
        pruned = result.model
        pruned_macs = count_macs(pruned)
        run.metrics["time_s"] = {"prune": result.seconds["prune"]}
        run.metrics.update({
            "method": cfg["method"], "budget": cfg["budget"], "round_to": cfg["round_to"],
            "feasible": bool(result.pruning.report.feasible),
            "macs": {"unpruned": macs, "pruned": pruned_macs, "ratio": pruned_macs / macs},
            "params": {"unpruned": params, "pruned": count_params(pruned)},
            "selection": step.selection,
        })
        run.log(f"MACs {macs:,} -> {pruned_macs:,} ({pruned_macs / macs:.2%}); params "
                f"{params:,} -> {run.metrics['params']['pruned']:,}")
        run.save_model(pruned, "pruned.keras")

    result = run_pipeline(
        model, step, recipe=recipe,
        finetune_data=builders.cifar(cfg, "train") if recipe else None,
        teacher=builders.load_teacher(cfg) if recipe and recipe.distill else None,
        eval_data=builders.eval_sets(cfg) if not args.no_eval else None,
        eval_batch_size=cfg["data"]["eval_batch_size"], eval_verbose=run.verbose,
        on_stage=on_stage, log=run.log, callbacks=run.callbacks("finetune"),
        verbose=run.verbose,
    )
    if result.accuracy:
        run.metrics["accuracy"] = result.accuracy
    run.write_metrics()
    if not result.pruning.report.feasible:
        run.log(f"dais {command}: warning: the budget band was not met: "
                f"{result.pruning.report.message}")
    return 0


def _search_arguments(parser):
    options.config_arguments(parser)
    parser.add_argument("--epochs", type=int, metavar="N", help="search epochs (config: search.epochs)")
    options.run_flags(parser)


_SEARCH_DESCRIPTION = """\
Attach channel indicators to the model, train weights and indicators with the
bi-level DAIS search on the weight/search split of CIFAR-10 (DAISCallback with
the `search` section of the config), binarise to the budget band, rebuild the
pruned model by surgery, fine-tune it (finetune.epochs > 0; --distill to
learn from the unpruned model too) and evaluate it. The same as
`dais prune --method dais`; the search itself is `dais_keras.prune`.

examples:
  dais search --config configs/cifar10/resnet20/dais-50.yaml
  dais search --config configs/cifar10/resnet56/dais-30.yaml --scale full --round-to 8
  dais search --model resnet20 --set model.pretrained=true --budget 0.5 --epochs 2
""" + options.RUN_FILES


def _search(args):
    overrides = options.flag_overrides(args, [("epochs", "search.epochs")],
                                       fixed=[f"method={DAIS_METHOD}"])
    return pruning_run(args, "search", overrides)


def _method(value):
    """`--method`: `dais` or a registered baseline (checked when given, so that
    building the parser does not import the baselines)."""
    import argparse

    from dais_keras.experiments.schema import methods

    valid = methods()
    if value not in valid:
        raise argparse.ArgumentTypeError(
            f"invalid choice: {value!r} (choose from {', '.join(map(repr, valid))})")
    return value


def _prune_arguments(parser):
    options.config_arguments(parser)
    parser.add_argument("--method", type=_method, metavar="METHOD",
                        help="dais or a baseline, listed below (config: method)")
    options.run_flags(parser)


def _prune_description():
    from dais_keras.select import baselines

    lines = "\n".join(f"  {m.name:10s} {m.description}" for m in baselines.METHODS.values())
    return f"""\
Prune a model to a MACs or latency budget with DAIS or a baseline, through the
same exact surgery, then fine-tune (finetune.epochs > 0, the same way for every
method; --distill to learn from the unpruned model too) and evaluate it. Every
method meets the band [(1 - band) * budget, budget] of the unpruned MACs (band
0.05), or of the latency its table predicts (--latency: every method reads the
same table, search.latency_table or this machine's), or says by how much it
cannot (e.g. a coarse --round-to).

methods:
  dais       the DAIS search (see `dais search --help`)
{lines}

examples:
  dais prune --config configs/cifar10/resnet20/l1-global-50.yaml
  dais prune --model resnet20 --set model.pretrained=true --method cpmc --budget 0.3 --round-to 8
  dais prune --config configs/cifar10/vgg16/uniform-50.yaml --no-finetune --no-eval
  dais prune --model resnet20 --set model.pretrained=true --method halp --latency 0.5
{options.RUN_FILES}"""


def _prune(args):
    return pruning_run(args, "prune", options.flag_overrides(args, [("method", "method")]))


COMMANDS = [
    dict(name="search", help="Run the DAIS search to a MACs budget, then fine-tune and evaluate.",
         configure=_search_arguments, run=_search, description=_SEARCH_DESCRIPTION),
    dict(name="prune",
         help="Prune to a MACs or latency budget with DAIS or a baseline (uniform, L1, "
         "random, CPMC, HALP).",
         configure=_prune_arguments, run=_prune, description=_prune_description),
]
