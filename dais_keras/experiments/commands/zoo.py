"""`dais zoo list|show|verify|clean`: the versioned model zoo."""

import argparse
import dataclasses
import json


def configure(parser):
    actions = parser.add_subparsers(dest="zoo_action", metavar="ACTION")
    actions.required = True
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--zoo-dir", help="zoo directory (default: $DAIS_ZOO_DIR or the repository's zoo/)")
    common.add_argument("--json", action="store_true", help="print JSON")
    actions.add_parser("list", parents=[common], help="list the entries",
                       description="List the zoo's entries (latest versions last).")
    verify = actions.add_parser(
        "verify", parents=[common], help="check every weights file's size and sha256",
        description="Check that every entry's weights file exists with the recorded size "
        "and sha256, and that its model card exists, and list files no entry owns (orphans "
        "and leftovers of interrupted writes). Exit code 1 on any failure.",
    )
    clean = actions.add_parser(
        "clean", parents=[common], help="remove files no entry owns (leftovers of a crashed publish)",
        description="Remove the weights and cards of no index entry and the temporary files of "
        "interrupted writes (what `dais zoo verify` lists as orphan / leftover). Holds the zoo's "
        "lock; never touches a file the index names.")
    clean.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    verify.add_argument("--download", action="store_true",
                        help="download URL entries that are not cached and check them")
    verify.add_argument("--cache-dir", help="download cache")
    show = actions.add_parser("show", parents=[common], help="show one entry",
                              description="Show an entry's record (and its model card).")
    show.add_argument("key", help="'name' (latest version) or 'name@version'")
    show.add_argument("--card", action="store_true", help="print the model card (markdown)")


def _accuracy_text(accuracy):
    return ", ".join(f"{name} {value:.2%}" for name, value in sorted(accuracy.items()))


def _budget_text(budget):
    """`0.5` for a MACs budget, `latency 0.5` / `latency_ms 3` for latency."""
    if isinstance(budget, dict):
        return " ".join(f"{kind} {value:g}" for kind, value in budget.items())
    return f"{budget:g}"


def run(args):
    from dais_keras.deploy import zoo
    if args.zoo_action == "list":
        entries = zoo.list_entries(zoo_dir=args.zoo_dir)
        if args.json:
            print(json.dumps({e.key: e.to_dict() for e in entries}, indent=2))
        elif not entries:
            print(f"(no entries in {zoo.resolve_zoo_dir(args.zoo_dir)})")
        else:
            rows = [("KEY", "BASE", "DATASET", "BUDGET", "MACS", "PARAMS", "ACCURACY")]
            rows += [
                (e.key, e.base, e.dataset_variant, _budget_text(e.budget), f"{e.macs:,}",
                 f"{e.params:,}", _accuracy_text(e.accuracy))
                for e in entries
            ]
            widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
            for row in rows:
                print("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
        return 0
    if args.zoo_action == "verify":
        report = zoo.verify(args.zoo_dir, strict=False, download=args.download, cache_dir=args.cache_dir)
        if args.json:
            print(json.dumps({"zoo_dir": report.zoo_dir, "ok": report.ok,
                              "checks": [dataclasses.asdict(c) for c in report.checks]}, indent=2))
        else:
            print(report)
        return 0 if report.ok else 1
    if args.zoo_action == "clean":
        removed = zoo.clean(args.zoo_dir, dry_run=args.dry_run)
        if args.json:
            print(json.dumps([dataclasses.asdict(c) for c in removed], indent=2))
        else:
            verb = "would remove" if args.dry_run else "removed"
            for c in removed:
                print(f"{verb} {c.status:8s} {c.path}")
            print(f"{len(removed)} file(s): {verb}")
        return 0
    entry = zoo.get(args.key, zoo_dir=args.zoo_dir)
    if args.card:
        if not entry.card_path.is_file():
            raise FileNotFoundError(f"The model card of '{entry.key}' is missing: '{entry.card_path}'.")
        print(entry.card_path.read_text(encoding="utf-8"))
    elif args.json:
        print(json.dumps({entry.key: entry.to_dict()}, indent=2))
    else:
        for field, value in entry.to_dict().items():
            if field == "accuracy":
                value = _accuracy_text(value)
            elif field in ("macs", "params", "size"):
                value = f"{value:,}"
            print(f"{field:16s} {value}")
        print(f"{'key':16s} {entry.key}")
    return 0


COMMANDS = [dict(name="zoo", help="List, show, verify and clean the model zoo.", configure=configure,
                 run=run, description="Work with the versioned model zoo (see zoo/README.md).")]
