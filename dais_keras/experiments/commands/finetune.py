"""`dais finetune`: fine-tune a (pruned) model on CIFAR-10 with the one
fine-tune recipe, and evaluate it."""

from dais_keras.experiments.commands import options


def configure(parser):
    parser.add_argument("model", nargs="?", metavar="MODEL",
                        help="a .keras file, zoo key or builder name (default: the config's model)")
    options.config_arguments(parser, pruning=False, positional_model=True)
    parser.add_argument("--epochs", type=int, metavar="N", help="config: finetune.epochs")
    parser.add_argument("--lr", type=float, metavar="LR", help="config: finetune.lr")
    parser.add_argument("--distill", action="store_true",
                        help="knowledge distillation from --teacher (config: finetune.distill)")
    parser.add_argument("--teacher", metavar="MODEL",
                        help="the teacher: a .keras file or zoo key (config: finetune.teacher)")
    parser.add_argument("--no-eval", action="store_true", help="skip the accuracy evaluations")


DESCRIPTION = """\
Train a model on the CIFAR-10 training set with SGD and the `finetune`
section of the config (epochs, lr, momentum, nesterov, weight_decay and a
cosine, step or constant schedule), optionally distilling from a teacher
(--distill --teacher MODEL), then evaluate it and save finetuned.keras in the
run folder. (`dais prune` and `dais search` fine-tune too, when
finetune.epochs > 0, with the unpruned model as the default teacher.)

examples:
  dais finetune runs/resnet20-l1-global-50/pruned.keras --epochs 30 --lr 0.05
  dais finetune pruned.keras --epochs 30 --distill --teacher resnet20-cifar10@1
  dais finetune pruned.keras --config configs/cifar10/resnet20/l1-global-50.yaml --scale full
""" + options.RUN_FILES


def run(args):
    import time

    import keras

    from dais_keras.experiments import builders
    from dais_keras.experiments.plots import plot_history
    from dais_keras.experiments.run import Run
    from dais_keras.finetune.accuracy import evaluate
    from dais_keras.finetune.recipe import FinetuneRecipe
    from dais_keras.finetune import inputs

    overrides = options.flag_overrides(
        args, [("epochs", "finetune.epochs"), ("lr", "finetune.lr"), ("teacher", "finetune.teacher")])
    run = Run(args, "finetune", overrides)
    cfg = run.config
    section = cfg["finetune"]
    if section["epochs"] < 1:
        raise ValueError("finetune.epochs is 0: pass --epochs N (or --set finetune.epochs=N).")
    teacher = builders.load_teacher(cfg) if section["distill"] else None
    if section["distill"] and teacher is None:
        raise ValueError(
            "finetune.distill=true needs a teacher: set finetune.teacher to a .keras "
            "file or zoo key (--teacher MODEL), or fine-tune as part of `dais prune` / "
            "`dais search`, where the unpruned model is the teacher."
        )
    keras.utils.set_random_seed(cfg["seed"])
    model = builders.build_model(cfg)
    run.log(f"model: {builders.describe_model(cfg)}")
    sets = builders.eval_sets(cfg) if not args.no_eval else {}
    accuracy = run.metrics["accuracy"] = {}

    def measure(label):
        if sets:
            accuracy[label] = evaluate(model, sets, batch_size=cfg["data"]["eval_batch_size"],
                                       verbose=run.verbose, label=label, log=run.log)

    measure("before")
    start = time.perf_counter()
    recipe = FinetuneRecipe.from_config(section)
    train = builders.cifar(cfg, "train")
    run.log(recipe.describe(inputs.steps_per_epoch(train, cfg["data"]["batch_size"]), teacher))
    history = recipe.fit(model, train, teacher=teacher, callbacks=run.callbacks("finetune"),
                         verbose=run.verbose)
    run.metrics["finetune"] = history
    run.metrics["time_s"] = {"finetune": time.perf_counter() - start}
    plot_history(history, run.path("finetune_history.png"), "fine-tune")
    run.save_model(model, "finetuned.keras")
    measure("finetuned")
    if not accuracy:
        del run.metrics["accuracy"]
    run.write_metrics()
    return 0


COMMANDS = [dict(name="finetune", help="Fine-tune a (pruned) model on CIFAR-10 and evaluate it.",
                 configure=configure, run=run, description=DESCRIPTION)]
