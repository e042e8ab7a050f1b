"""Benchmark: `make demo` runs side by side (wall time, phases, accuracy).

Each run is one `python -m dais_keras.experiments.demo` (or `make demo`)
whose `report.json` is read here; the result puts their figures in one table
with each run's wall time as a ratio to a named baseline run (runs taken one
after the other on the same idle machine, so ratios are the comparable
figure). Typical use, after the runs:

    python bench/demo_runs.py --baseline float32_300_900 \
        --run float32_300_900=runs/a/report.json --run bf16_240_600=runs/b/report.json \
        --out bench/results/demo_runs.json
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dais_keras.utils.io import write_json  # noqa: E402


def _row(name, report):
    seconds = report["seconds"]
    test, exact = report["accuracy_test"], report["accuracy_exact_subset"]
    return {
        "run": name,
        "dtype_policy": report.get("dtype_policy", "float32"),
        "search_steps": report["search_steps"],
        "finetune_steps": report["finetune_steps"],
        "wall_s": round(seconds["wall"], 1),
        "search_s": round(seconds["search"], 1),
        "finetune_s": round(seconds["finetune"], 1),
        "evaluate_s": round(seconds["evaluate"], 1),
        "macs_ratio": round(report["macs"]["after"] / report["macs"]["before"], 4),
        "test_after_search": test["after_search"],
        "test_final": test["after"],
        "exact_final": exact["after"],
        "widths": [g["kept"] for g in report["report"]["groups"]],
        "load_average": report["machine"].get("load_average"),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, metavar="NAME=REPORT_JSON")
    parser.add_argument("--baseline", required=True, help="the NAME the ratios are against")
    parser.add_argument("--note", default="")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    rows = []
    for item in args.run:
        name, _, path = item.partition("=")
        with open(path) as f:
            rows.append(_row(name, json.load(f)))
    base = [r for r in rows if r["run"] == args.baseline]
    if len(base) != 1:
        raise SystemExit(f"--baseline {args.baseline!r} must name exactly one --run")
    for r in rows:
        r["wall_ratio_to_baseline"] = round(base[0]["wall_s"] / r["wall_s"], 2)
    machine = json.load(open(args.run[0].partition("=")[2]))["machine"]
    write_json(args.out, {"benchmark": "make demo runs", "note": args.note,
                          "baseline": args.baseline, "machine": machine, "runs": rows},
               indent=1)
    for r in rows:
        print(f"{r['run']:28s} {r['wall_s']:7.1f} s  x{r['wall_ratio_to_baseline']:.2f}  "
              f"test {100 * r['test_final']:.2f} %  exact {100 * r['exact_final']:.2f} %")


if __name__ == "__main__":
    main()
