"""Where each method of a latency comparison put its channels.

For the run JSONs of `bench/compare.py` under a latency budget (their saved
models), per stage of the CIFAR ResNet: the MACs kept and the latency the
run's own table and calibration predict (the same `compare_latency`
reference every method was pruned against), next to the run's validation
accuracy. Nothing is trained or timed: it reads the models and the table.

    python bench/compare_allocation.py RUN_JSON ... --out bench/results/NAME

writes `NAME.json` and `NAME.md`. The stem convolution counts in stage 1
(it writes stage 1's residual channels), the classifier in "head".
"""

import argparse
import collections
import json
import pathlib
import sys

from dais_keras.utils.tf_logging import silence_tensorflow

silence_tensorflow()

import keras  # noqa: E402
import numpy as np  # noqa: E402

from dais_keras import models  # noqa: E402
from dais_keras.cost.macs import macs_table  # noqa: E402
from dais_keras.utils.io import atomic_write  # noqa: E402
from dais_keras.utils.io import write_json  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import compare_latency  # noqa: E402

STAGES = ("stage1", "stage2", "stage3", "head")


def stage_of(name):
    """The stage a layer (or a latency call, by its description) belongs to."""
    for stage in ("stage1", "stage2", "stage3"):
        if stage in name:
            return stage
    return "stage1" if "stem" in name else "head"


def allocation(model, budget, mask):
    """`{"macs": {stage: MACs}, "predicted_ms": {stage: ms}, "total_ms"}` of
    `model`, whose widths in `budget.problem`'s layout are `mask`."""
    macs = collections.Counter()
    for row in macs_table(model).rows:
        macs[stage_of(row["layer"])] += int(row["macs"])
    ms = collections.Counter()
    reference = budget.reference
    for description, value in zip(reference.descriptions, reference.per_call(mask)):
        ms[stage_of(description)] += float(value)
    return {"macs": {s: macs[s] for s in STAGES},
            "predicted_ms": {s: ms[s] for s in STAGES},
            "total_ms": float(reference.exact(mask))}


def analyse(files):
    """One row per run JSON (see the module docstring)."""
    rows, budgets = [], {}
    for f in files:
        run = json.loads(pathlib.Path(f).read_text())
        record = run.get("latency")
        if record is None:
            raise ValueError(f"{f}: not a latency-budget run (no `latency` record).")
        depth = run["protocol"]["depth"]
        key = (depth, json.dumps(record["budget"]), tuple(record["calibration_measured_ms"]))
        if key not in budgets:
            original = models.pretrained(f"resnet{depth}")
            budgets[key] = compare_latency.LatencyBudget(
                original, record["budget"], measured=record["calibration_measured_ms"])
        budget = budgets[key]
        path = pathlib.Path(run["model_path"])
        if not path.is_file():
            raise FileNotFoundError(f"{f}: its model {path} is gone; re-run it to analyse it.")
        model = keras.saving.load_model(path, compile=False)
        widths = compare_latency.group_widths(model)
        mask = compare_latency.widths_mask(budget.problem, widths)
        row = run["row"]
        rows.append({
            "file": str(f), "method": run["method"], "seed": run["seed"],
            "widths": {g.name: int(widths[g.name]) for g in budget.problem.groups if g},
            "acc_val": row.get("acc_val"), "macs_ratio": row.get("macs_ratio"),
            "params": row.get("params"), "target_ms": budget.target_ms,
            "dais": {k: row[k] for k in ("latency_straight_through", "repair_fill", "min_width",
                                         "search_distilled") if k in row},
            **allocation(model, budget, mask),
        })
    return rows


def markdown(rows):
    head = ("| run | acc val | MACs (M): stage 1 / 2 / 3 | predicted ms: stage 1 / 2 / 3 | "
            "ms per MMAC: stage 1 / 2 / 3 | widths |")
    lines = [head, "|" + "---|" * 6]
    for r in rows:
        macs = [r["macs"][s] / 1e6 for s in STAGES[:3]]
        ms = [r["predicted_ms"][s] for s in STAGES[:3]]
        label = f"{pathlib.Path(r['file']).stem} ({r['method']}, seed {r['seed']})"
        acc = "-" if r["acc_val"] is None else f"{100 * r['acc_val']:.2f} %"
        lines.append(
            f"| {label} | {acc} | {' / '.join(f'{v:.2f}' for v in macs)} | "
            f"{' / '.join(f'{v:.3f}' for v in ms)} | "
            f"{' / '.join(f'{t / m:.4f}' if m else '-' for t, m in zip(ms, macs))} | "
            f"{' '.join(str(w) for w in r['widths'].values())} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="run JSONs of bench/compare.py --method")
    parser.add_argument("--out", required=True, help="stem of the JSON and markdown written")
    args = parser.parse_args(argv)
    rows = analyse(args.runs)
    command = "python bench/compare_allocation.py " + " ".join(sys.argv[1:] if argv is None
                                                                else argv)
    write_json(args.out + ".json", {"command": command, "rows": rows}, indent=1)
    text = markdown(rows)
    atomic_write(args.out + ".md", f"`{command}`\n\n" + text)
    print(text)


if __name__ == "__main__":
    main()
