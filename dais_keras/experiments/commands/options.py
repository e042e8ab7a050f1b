"""Options shared by the config-driven commands (`search`, `prune`,
`finetune`, `eval`), and their translation into config overrides.

Flags override `--config`; `--set KEY=VALUE` overrides both.
"""

import json
import pathlib

RUN_FILES = """
run folder:
  config.yaml        the resolved config (pass it back with --config to repeat the run)
  log.txt            what was printed
  metrics.json       MACs, params, budget band, accuracies, timings, the selection
  pruned.keras       the pruned model (plain Keras; loads without dais_keras)
  finetuned.keras    after the fine-tune (when finetune.epochs > 0)
  *_history.csv/png  per-epoch losses and metrics; widths.png (kept channels per group)
"""


def config_arguments(parser, model=True, pruning=True, positional_model=False):
    """Adds the arguments shared by the config-driven commands."""
    group = parser.add_argument_group("configuration (flags override --config; --set overrides both)")
    group.add_argument("--config", metavar="FILE",
                       help="YAML experiment config (see configs/README.md); default: built-in defaults")
    group.add_argument("--set", metavar="KEY=VALUE", action="append", default=[], dest="overrides",
                       help="override any config key, value read as YAML (repeatable), "
                       "e.g. --set finetune.lr=0.01 --set data.limit=null")
    if model and not positional_model:
        group.add_argument("--model", metavar="MODEL",
                           help="a model builder name (resnet20, resnet56, vgg16, mobilenet_v2, ...), "
                           "a .keras file or a zoo key 'name@version' (config: model.*)")
    if pruning:
        budget = group.add_mutually_exclusive_group()
        budget.add_argument("--budget", type=float, metavar="F",
                            help="target MACs as a fraction of the unpruned model's, in (0, 1)")
        budget.add_argument("--latency", type=float, metavar="F",
                            help="target latency as a fraction of the unpruned model's, "
                            "measured on this machine (config: budget={latency: F})")
        budget.add_argument("--latency-ms", type=float, metavar="MS",
                            help="target latency in milliseconds (config: "
                            "budget={latency_ms: MS})")
        group.add_argument("--round-to", type=int, metavar="N",
                           help="make every pruned group's width a multiple of N (e.g. 8)")
    group.add_argument("--scale", metavar="NAME",
                       help="schedule preset from the config's `scales` (cpu: minutes; full: paper-like)")
    group.add_argument("--seed", type=int, metavar="N", help="random seed (config: seed)")
    group.add_argument("--data-dir", metavar="DIR",
                       help="CIFAR-10 directory (default: $DAIS_DATA_DIR, ../shared/data, tfds)")
    output = parser.add_argument_group("output")
    output.add_argument("--out", metavar="DIR",
                        help="run folder (default: <output.dir>/<output.name>, e.g. "
                        "runs/resnet20-l1-global-50; a new folder with -2, -3, ... if it is not empty)")
    output.add_argument("--quiet", action="store_true", help="no progress bars")


def run_flags(parser):
    """`--no-finetune`, `--distill` and `--no-eval` of `search` and `prune`."""
    parser.add_argument("--no-finetune", action="store_true",
                        help="skip the fine-tune even if finetune.epochs > 0")
    parser.add_argument("--distill", action="store_true",
                        help="fine-tune with knowledge distillation from the unpruned model "
                        "(config: finetune.distill, distill_temperature, distill_weight)")
    parser.add_argument("--no-eval", action="store_true", help="skip the accuracy evaluations")


def model_override(spec):
    """`--model` / a positional MODEL as config overrides."""
    from dais_keras import models

    quoted = json.dumps(spec)  # a JSON string is a YAML string
    path = pathlib.Path(spec)
    if path.suffix == ".keras" or path.is_file():
        return [f"model.file={quoted}", "model.zoo=null"]
    if spec in models.available():
        return [f"model.name={quoted}", "model.file=null", "model.zoo=null"]
    return [f"model.zoo={quoted}", "model.file=null"]


def flag_overrides(args, extra=(), fixed=()):
    """The flags of `config_arguments` as `--set` strings.

    Args:
        args: The parsed command line.
        extra: `(flag attribute, config key)` pairs of the command's own flags.
        fixed: Overrides the command imposes, applied before the user's
            `--set` strings (which the command then checks).
    """
    out = []
    if getattr(args, "model", None):
        out += model_override(args.model)
    if getattr(args, "distill", False):
        out.append("finetune.distill=true")
    for flag, kind in [("latency", "latency"), ("latency_ms", "latency_ms")]:
        value = getattr(args, flag, None)
        if value is not None:
            out.append(f"budget={json.dumps({kind: value})}")
    for flag, key in [("budget", "budget"), ("round_to", "round_to"), ("scale", "scale"),
                      ("seed", "seed"), ("data_dir", "data.data_dir"), *extra]:
        value = getattr(args, flag, None)
        if value is not None:
            out.append(f"{key}={json.dumps(value)}")
    return out + list(fixed) + list(args.overrides)
