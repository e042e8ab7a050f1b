"""Prunes a pretrained CIFAR ResNet with DAIS and publishes it to the zoo.

Usage:
    python scripts/publish_dais.py resnet56 --budget 0.5 --train-images 8000 \
        --search-epochs 1 --finetune-epochs 2

Runs `dais_keras.prune` on the JPEG CIFAR-10 training set (class-balanced
prefix of `--train-images`, 80/20 weight/search split), fine-tunes with
knowledge distillation from the unpruned model, evaluates on the full JPEG test
set and the 1,017 exact-pixel images, and publishes
`<name>-cifar10-dais<budget%>` with the exact command in the entry.
"""

import argparse
import shlex
import sys

from dais_keras.utils.tf_logging import silence_tensorflow

silence_tensorflow()

from dais_keras import data  # noqa: E402
from dais_keras import models  # noqa: E402
from dais_keras.api.one_call import prune  # noqa: E402
from dais_keras.deploy import zoo  # noqa: E402

TEST_SET = "cifar10-jpeg-test-10000"
EXACT_SET = "cifar10-exact-subset-1017"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=models.available_pretrained())
    parser.add_argument("--budget", type=float, default=0.5)
    parser.add_argument("--round-to", type=int, default=None)
    parser.add_argument("--train-images", type=int, default=8000)
    parser.add_argument("--search-epochs", type=int, default=1)
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-distill", action="store_true")
    args = parser.parse_args(argv)

    n = args.train_images
    weight = data.cifar10("weight", batch_size=args.batch_size, search_fraction=0.2,
                          limit=int(0.8 * n), seed=args.seed, drop_remainder=True)
    search = data.cifar10("search", batch_size=args.batch_size, augment=False,
                          search_fraction=0.2, limit=int(0.2 * n), seed=args.seed,
                          drop_remainder=True)
    x_test, y_test = data.cifar10_numpy("test")
    x_exact, y_exact = data.cifar10_exact_subset()
    source = data.cifar10_source()

    model = models.pretrained(args.name)
    pruned, report = prune(
        model, args.budget, weight, search_data=search, epochs=args.search_epochs,
        finetune_epochs=args.finetune_epochs, distill=not args.no_distill,
        round_to=args.round_to, seed=args.seed, verbose=1,
        eval_data={TEST_SET: (x_test, y_test), EXACT_SET: (x_exact, y_exact)},
    )
    final = report.evaluations.get("finetuned") or report.evaluations["pruned"]
    metrics = {TEST_SET: final[TEST_SET], EXACT_SET: final[EXACT_SET]}
    pct = int(round(100 * args.budget))
    entry = zoo.publish(
        pruned,
        f"{args.name}-cifar10-dais{pct}" + (f"-r{args.round_to}" if args.round_to else ""),
        metrics=metrics,
        budget=args.budget,
        base=args.name,
        dataset="cifar10",
        dataset_variant=source.name,
        licence="BSD-2-Clause",
        command="python scripts/publish_dais.py " + " ".join(shlex.quote(a) for a in argv),
        description=(
            f"{args.name} (exact port of the BSD-2-Clause pretrained weights of "
            f"akamaster/pytorch_resnet_cifar10) pruned with DAIS to {pct}% of its MACs: "
            f"{args.search_epochs} search epoch(s) and {args.finetune_epochs} fine-tune "
            f"epoch(s){' with distillation' if not args.no_distill else ''} on the first "
            f"{n} images of the {source.name} training set (CPU schedule, short: "
            "accuracy is far below what a full schedule reaches)."
        ),
        extra={
            "method": "DAIS",
            "train_images": n,
            "search_epochs": args.search_epochs,
            "finetune_epochs": args.finetune_epochs,
            "distill": not args.no_distill,
            "search_macs_ratio": report.budget_report.ratio_before,
            "repair_channels_changed": report.budget_report.channels_changed,
            "widths": {g["name"]: g["kept"] for g in report.groups},
        },
    )
    print(entry.key, metrics)


if __name__ == "__main__":
    main()
