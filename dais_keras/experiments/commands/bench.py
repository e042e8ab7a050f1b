"""`dais bench`: run a benchmark script of the repository's `bench/` folder."""

import sys

from dais_keras.utils.paths import repo_root


def configure(parser):
    actions = parser.add_subparsers(dest="bench_action", metavar="ACTION")
    actions.required = True
    # `+` as the option prefix: every `-x`/`--xx` after `compare` is passed on
    # to the script, including --help.
    compare = actions.add_parser(
        "compare", help="run bench/compare.py (DAIS against the baselines, equal compute); every "
        "argument after `compare` goes to the script", prefix_chars="+", add_help=False,
    )
    compare.add_argument("script_args", nargs="*", metavar="ARGS")


DESCRIPTION = """\
Benchmarks live in the repository's bench/ folder (they need a source
checkout). `dais bench compare ARGS` runs bench/compare.py ARGS with this
Python and returns its exit code; every argument after `compare` (--config
FILE, --help, ...) goes to the script.

actions:
  compare    DAIS against the baselines at the same budget and equal compute
             (bench/compare.py): every method, and the unpruned model, trains
             the same total epochs over the same images (DAIS's search
             epochs count), with one optimizer, schedule, augmentation,
             distillation setting (--distill) and seed

examples:
  dais bench compare --help
  dais bench compare --config configs/bench/compare_resnet20_cifar10.yaml
  dais bench compare --config configs/bench/compare_resnet20_cifar10_long.yaml --method dais
  dais bench compare --config configs/bench/compare_resnet20_cifar10_long.yaml --merge
"""


def run(args):
    import subprocess

    root = repo_root()
    script = None if root is None else root / "bench" / f"{args.bench_action}.py"
    if script is None or not script.is_file():
        raise FileNotFoundError(
            f"`dais bench {args.bench_action}` runs "
            f"{script or 'bench/' + args.bench_action + '.py'}, which does not exist (yet): "
            "the comparison benchmark has not been written, or this is an installed copy "
            "without the repository's bench/ folder. Run it from a source checkout that "
            f"has bench/{args.bench_action}.py."
        )
    passed = list(args.script_args)
    if passed[:1] == ["--"]:
        passed = passed[1:]
    return subprocess.run([sys.executable, str(script), *passed], check=False).returncode


COMMANDS = [dict(name="bench", help="Run a benchmark script of the repository (bench compare).",
                 configure=configure, run=run, description=DESCRIPTION)]
