"""`dais eval`: top-1 accuracy of a model on the CIFAR-10 test set and/or the
exact-pixel subset."""

import json

from dais_keras.experiments.commands import options


def configure(parser):
    parser.add_argument("model", nargs="?", metavar="MODEL",
                        help="a .keras file, zoo key 'name@version' or builder name "
                        "(default: the config's model)")
    options.config_arguments(parser, pruning=False, positional_model=True)
    parser.add_argument("--on", choices=["test", "exact", "both"], default=None,
                        help="the CIFAR-10 test set, the exact-pixel subset, or both "
                        "(default: config eval.test / eval.exact_subset)")
    parser.add_argument("--limit", type=int, metavar="N",
                        help="evaluate the first N test images (config: data.test_limit)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


DESCRIPTION = """\
Evaluate a .keras file, a zoo entry or a (pretrained) builder on the CIFAR-10
test set (whichever copy dais_keras.data finds: original pixels or the lossy
JPEG copy, named in the result) and on the exact-pixel subset of the first
1,017 test images. Prints the accuracies; with --out also writes the run
folder (config.yaml, log.txt, metrics.json).

examples:
  dais eval runs/resnet20-l1-global-50/finetuned.keras
  dais eval resnet56-cifar10-dais50@1 --on exact
  dais eval resnet20 --set model.pretrained=true --on both --limit 2000 --json
"""


def run(args):
    from dais_keras.cost.macs import count_macs
    from dais_keras.cost.macs import count_params
    from dais_keras.experiments import builders
    from dais_keras.experiments.run import Run
    from dais_keras.finetune.accuracy import evaluate

    overrides = options.flag_overrides(args, [("limit", "data.test_limit")])
    if args.on is not None:
        overrides += [f"eval.test={json.dumps(args.on in ('test', 'both'))}",
                      f"eval.exact_subset={json.dumps(args.on in ('exact', 'both'))}"]
    run = Run(args, "eval", overrides, folder=args.out is not None)
    cfg = run.config
    if not (cfg["eval"]["test"] or cfg["eval"]["exact_subset"]):
        raise ValueError("Nothing to evaluate: eval.test and eval.exact_subset are both false; "
                         "pass --on test|exact|both.")
    model = builders.build_model(cfg)
    accuracy = evaluate(model, builders.eval_sets(cfg), batch_size=cfg["data"]["eval_batch_size"],
                        verbose=run.verbose)
    run.metrics.update({
        "model": builders.describe_model(cfg), "accuracy": accuracy,
        "macs": count_macs(model), "params": count_params(model),
    })
    if args.json:
        print(json.dumps(run.metrics, indent=2))
    else:
        run.log(f"{run.metrics['model']}: {run.metrics['macs']:,} MACs, "
                f"{run.metrics['params']:,} params")
        for name, value in accuracy.items():
            run.log(f"  top-1 on {name}: {value:.2%}")
    if run.dir is not None:
        run.write_metrics()
    return 0


COMMANDS = [dict(
    name="eval", help="Top-1 accuracy of a model on the CIFAR-10 test set and/or the exact subset.",
    configure=configure, run=run, description=DESCRIPTION,
)]
