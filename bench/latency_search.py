"""DAIS under a MACs budget vs DAIS under a measured-latency budget.

For a pretrained CIFAR-10 ResNet (20 or 56) this script

1. builds (or reads from its cache) the TFLite latency table of the model on
   this machine and calibrates the `LatencyModel` (timing the table build),
2. prunes it with `dais_keras.prune` three times, each with the same
   schedule (search on the weight/search split, then fine-tuning with
   distillation):
   * `dais-macs`: `budget=B` (default 0.5 of the MACs),
   * `dais-latency`: `budget={"latency": T}` (default 0.5 of the latency),
   * `dais-latency-eqlat`: a latency budget equal to the latency that
     `dais-macs` reached (its predicted ratio, or `--eqlat-target`): the
     accuracy-at-equal-latency comparison,
   * optionally `dais-macs-eqlat`: a MACs budget scaled by how far
     `dais-macs` landed from `T`, `B * T / predicted_latency_ratio(dais-macs)`,
3. times the unpruned and the pruned models in turns (TFLite with XNNPack,
   batch 1, one thread; 9 rounds, median of round medians; ONNX Runtime too)
   and writes one row per model to `bench/results/latency_search_<model>.json`
   (`method`, `target`, `predicted_ms`, `measured_ms`, `macs`,
   `acc_jpeg_test`, ...) plus the latency-search targets evaluated on them
   (`evaluate_targets`).

Run `python bench/latency_search.py --depth 20`, then `--depth 56` (with a
shorter schedule on 2 CPU cores), then `--merge`, which writes
`bench/results/latency_search.json` from the per-model files.
"""

import argparse
import json
import os
import shlex
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def mask_of(report, structure):
    """The 0/1 mask vector (indicator layout) of a prune report's widths.

    A latency model depends on the kept counts only, so the first `kept`
    channels of every group stand for the kept ones."""
    widths = {g["name"]: g["after"] for g in report.budget_report.groups}
    parts = []
    for name, size in zip(structure.names, structure.sizes):
        part = np.zeros(int(size))
        part[: widths[name]] = 1.0
        parts.append(part)
    return np.concatenate(parts)


def _latest(rows, method):
    found = [r for r in rows if r["method"] == method]
    return found[-1] if found else None


def evaluate_targets(rows, macs_budget):
    """The latency search's targets on the rows: each latency budget met
    within 10 %, a latency budget at least 1.2x the speed-up of a MACs budget
    of the same number, and accuracy at equal measured latency at least the
    MACs search's. Ratios and speed-ups are against the
    unpruned model timed in the same run (`timing_run`)."""
    targets = {}
    for method in ("dais-latency", "dais-latency-eqlat"):
        row = _latest(rows, method)
        if row is not None:
            deviation = row["measured_ratio"] / row["target"] - 1.0
            targets[f"latency_within_10pct/{method}"] = {
                "target_ratio": row["target"],
                "predicted_ratio": row["predicted_ratio"],
                "measured_ratio": row["measured_ratio"],
                "deviation": deviation,
                "met": abs(deviation) <= 0.10,
            }
    mac, lat = _latest(rows, "dais-macs"), _latest(rows, "dais-latency")
    if mac and lat:
        ratio = lat["speedup"] / mac["speedup"]
        targets["speedup_vs_dais_macs_same_budget"] = {
            "budget": macs_budget,
            "dais_latency_speedup": lat["speedup"],
            "dais_macs_speedup": mac["speedup"],
            "ratio": ratio,
            "met": ratio >= 1.2,
        }
    eq = _latest(rows, "dais-latency-eqlat")
    if mac and eq:
        targets["accuracy_at_equal_latency"] = {
            "dais_macs": {"measured_ratio": mac["measured_ratio"], "acc": mac["acc_jpeg_test"],
                          "macs_ratio": mac["macs_ratio"]},
            "dais_latency_eqlat": {"measured_ratio": eq["measured_ratio"],
                                   "acc": eq["acc_jpeg_test"], "macs_ratio": eq["macs_ratio"]},
            "latency_difference": eq["measured_ratio"] / mac["measured_ratio"] - 1.0,
            "met": eq["acc_jpeg_test"] >= mac["acc_jpeg_test"],
        }
    # DAIS-latency against the MACs search's accuracy-latency curve, read
    # at the same measured latency (linear between the two MACs runs that
    # bracket it; none when no pair does).
    curve = sorted(
        (r["measured_ratio"], r["acc_jpeg_test"], r["budget"])
        for r in rows if r["method"] in ("dais-macs", "dais-macs-eqlat")
    )
    for method in ("dais-latency", "dais-latency-eqlat"):
        row = _latest(rows, method)
        if row is None:
            continue
        x = row["measured_ratio"]
        pairs = [(a, b) for a, b in zip(curve, curve[1:]) if a[0] <= x <= b[0]]
        if not pairs:
            continue
        (x0, y0, b0), (x1, y1, b1) = pairs[0]
        acc = y0 + (x - x0) / (x1 - x0) * (y1 - y0) if x1 > x0 else y0
        targets[f"accuracy_at_equal_latency_interpolated/{method}"] = {
            "measured_ratio": x,
            "acc": row["acc_jpeg_test"],
            "dais_macs_acc_interpolated": acc,
            "between_macs_budgets": [b0, b1],
            "difference_points": 100 * (row["acc_jpeg_test"] - acc),
            "met": row["acc_jpeg_test"] >= acc,
        }
    meq = _latest(rows, "dais-macs-eqlat")
    if lat and meq:
        targets["accuracy_vs_smaller_macs_budget"] = {
            "dais_latency": {"measured_ratio": lat["measured_ratio"], "acc": lat["acc_jpeg_test"]},
            "dais_macs_eqlat": {"measured_ratio": meq["measured_ratio"],
                                "acc": meq["acc_jpeg_test"], "macs_budget": meq["budget"]},
            "latency_difference": meq["measured_ratio"] / lat["measured_ratio"] - 1.0,
        }
    return targets


def merge():
    rows, parts = [], {}
    for depth in (20, 56):
        path = os.path.join(RESULTS, f"latency_search_resnet{depth}.json")
        if os.path.exists(path):
            with open(path) as f:
                part = json.load(f)
            part["targets"] = evaluate_targets(part["rows"], 0.5)
            parts[f"resnet{depth}"] = part
            rows += [dict(r, model=f"resnet{depth}") for r in part["rows"]]
    result = {
        "description": (
            "DAIS with a MACs budget vs DAIS with a TFLite latency budget on the "
            "pretrained CIFAR-10 ResNets; per-model details in "
            "latency_search_resnet<depth>.json"
        ),
        "rows": rows,
        "targets": {k: v["targets"] for k, v in parts.items()},
        "machine": {k: v["machine"] for k, v in parts.items()},
        "commands": {k: v["command"] for k, v in parts.items()},
    }
    with open(os.path.join(RESULTS, "latency_search.json"), "w") as f:
        json.dump(result, f, indent=1)
    lines = [
        "| model | method | budget | predicted ms | measured ms (ratio) | TFLite speed-up "
        "| ORT speed-up | MACs | acc JPEG test | timing run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        budget = r["budget"]
        budget = "-" if budget is None else (
            f"latency {budget['latency']:g}" if isinstance(budget, dict) else f"MACs {budget:g}"
        )
        lines.append(
            f"| {r['model']} | {r['method']} | {budget} | {r['predicted_ms']:.3f} "
            f"| {r['measured_ms']:.3f} ({r['measured_ratio']:.3f}) | {r['speedup']:.2f}x "
            f"| {r['speedup_ort']:.2f}x | {r['macs']:,} ({r['macs_ratio']:.3f}) "
            f"| {100 * r['acc_jpeg_test']:.2f} % | {r.get('timing_run', 0)} |"
        )
    with open(os.path.join(RESULTS, "latency_search.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(json.dumps(result["targets"], indent=1))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=20, choices=[20, 32, 44, 56])
    parser.add_argument("--macs-budget", type=float, default=0.5)
    parser.add_argument("--latency-target", type=float, default=0.5)
    parser.add_argument("--search-steps", type=int, default=300)
    parser.add_argument("--finetune-steps", type=int, default=900)
    parser.add_argument("--steps-per-epoch", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--round-to", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=9, help="timing rounds")
    parser.add_argument("--cache-dir", default=None,
                        help="latency table cache (default: a fresh one, to time the build)")
    parser.add_argument("--methods", default="dais-macs,dais-latency,dais-latency-eqlat")
    parser.add_argument("--eqlat-target", type=float, default=None,
                        help="latency target of dais-latency-eqlat (default: the predicted "
                        "latency ratio of dais-macs in this run)")
    parser.add_argument("--eqlat-macs-budget", type=float, default=None,
                        help="MACs budget of dais-macs-eqlat (default: scaled from dais-macs)")
    parser.add_argument("--append", action="store_true",
                        help="add the rows of this run to the existing result file (each row "
                        "keeps the speed-up against the unpruned model timed in its own run; "
                        "the targets read the latest row of each method)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--merge", action="store_true", help="only merge the per-model results")
    args = parser.parse_args(argv)
    if args.merge:
        return merge()

    import keras

    import dais_keras as dk
    from dais_keras.utils.machine import machine_info
    from dais_keras import api
    from dais_keras import data
    from dais_keras import latency as L
    from dais_keras import models

    keras.utils.set_random_seed(args.seed)
    t_start = time.perf_counter()
    name = f"resnet{args.depth}"
    original = models.pretrained(name)
    train = data.cifar10("weight", batch_size=args.batch_size, seed=args.seed).repeat()
    search_data = data.cifar10("search", batch_size=args.batch_size, seed=args.seed)
    test = data.cifar10("test", batch_size=500)

    # 1. The latency table and model.
    cache_dir = args.cache_dir or tempfile.mkdtemp(prefix="dais_latency_bench_")
    t0 = time.perf_counter()
    table = L.build_latency_table(original, cache_dir=cache_dir, verbose=1)
    table_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    probe = dk.attach_indicators(original)
    lm = L.latency_model(probe, table=table, verbose=1)
    calibration_seconds = time.perf_counter() - t0
    structure = probe.search_structure()
    print(lm.summary(), flush=True)

    def run(method, budget):
        t0 = time.perf_counter()
        keras.utils.set_random_seed(args.seed)
        extra = {"latency_model": lm} if isinstance(budget, dict) else {}
        pruned, report = dk.prune(
            original, budget, train, search_data=search_data,
            epochs=args.search_steps // args.steps_per_epoch,
            finetune_epochs=args.finetune_steps // args.steps_per_epoch,
            steps_per_epoch=args.steps_per_epoch, distill=True, eval_data=test,
            round_to=args.round_to, seed=args.seed, verbose=0, **extra,
        )
        mask = mask_of(report, structure)
        info = {
            "method": method,
            "budget": report.budget,
            "predicted_ms": lm.exact(mask),
            "predicted_ratio": lm.exact(mask) / lm.total,
            "macs": report.macs_after,
            "macs_ratio": report.macs_ratio,
            "params": report.params_after,
            "acc_jpeg_test": report.accuracy_after,
            "acc_jpeg_test_after_search": report.accuracy_after_search,
            "widths": [g["kept"] for g in report.groups],
            "repair": report.budget_report.summary(),
            "seconds": report.seconds,
            "wall_seconds": time.perf_counter() - t0,
        }
        print(json.dumps({k: v for k, v in info.items() if k != "repair"}), flush=True)
        print(info["repair"], flush=True)
        return pruned, info

    methods = args.methods.split(",")
    done = {}
    if "dais-macs" in methods:
        done["dais-macs"] = run("dais-macs", args.macs_budget)
    if "dais-latency" in methods:
        done["dais-latency"] = run("dais-latency", {"latency": args.latency_target})
    if "dais-latency-eqlat" in methods:
        target = args.eqlat_target
        if target is None:
            if "dais-macs" not in done:
                raise SystemExit("dais-latency-eqlat needs dais-macs in --methods or --eqlat-target")
            target = round(done["dais-macs"][1]["predicted_ratio"], 4)
        print(f"equal-latency latency target: {target}", flush=True)
        done["dais-latency-eqlat"] = run("dais-latency-eqlat", {"latency": target})
    if "dais-macs-eqlat" in methods:
        budget = args.eqlat_macs_budget
        if budget is None:
            if "dais-macs" not in done:
                raise SystemExit("dais-macs-eqlat needs dais-macs in --methods or "
                                 "--eqlat-macs-budget")
            ratio = done["dais-macs"][1]["predicted_ratio"]
            budget = round(args.macs_budget * args.latency_target / ratio, 3)
        print(f"equal-latency MACs budget: {budget}", flush=True)
        done["dais-macs-eqlat"] = run("dais-macs-eqlat", budget)

    # 3. Timing, all models in turns.
    names = ["unpruned"] + list(done)
    nets = [original] + [done[k][0] for k in done]
    tflite = L.measure_latency(nets, "tflite", rounds=args.rounds)
    ort = L.measure_latency(nets, "onnxruntime", rounds=args.rounds)
    base_macs = dk.count_macs(original)
    base_acc = api.accuracy(original, test)
    rows = [{
        "method": "unpruned", "budget": None, "target": None, "target_ms": None,
        "predicted_ms": lm.total, "measured_ms": tflite[0], "measured_ms_ort": ort[0],
        "measured_ratio": 1.0, "speedup": 1.0, "speedup_ort": 1.0,
        "macs": base_macs, "macs_ratio": 1.0, "acc_jpeg_test": base_acc,
    }]
    for k, (method, tfl, onx) in enumerate(zip(names[1:], tflite[1:], ort[1:])):
        info = dict(done[method][1])
        is_latency = isinstance(info["budget"], dict)
        target = info["budget"]["latency"] if is_latency else None
        info.update(
            target=target,
            target_ms=None if target is None else target * tflite[0],
            measured_ms=tfl,
            measured_ms_ort=onx,
            measured_ratio=tfl / tflite[0],
            speedup=tflite[0] / tfl,
            speedup_ort=ort[0] / onx,
        )
        rows.append(info)

    path = os.path.join(RESULTS, f"latency_search_{name}.json")
    previous = None
    if args.append and os.path.exists(path):
        with open(path) as f:
            previous = json.load(f)
        run_index = 1 + max(r.get("timing_run", 0) for r in previous["rows"])
        for r in rows:
            r["timing_run"] = run_index
        rows = previous["rows"] + rows
    else:
        for r in rows:
            r["timing_run"] = 0
    targets = evaluate_targets(rows, args.macs_budget)
    result = {
        "model": name,
        "machine": machine_info(runtime=True),
        "runtime": {"tflite": L.runtime_id("tflite"), "onnxruntime": L.runtime_id("onnxruntime")},
        "latency_table": {
            "configurations": len(table),
            "points": int(sum(np.size(e["ms"]) for e in table.entries.values())),
            "build_seconds": table_seconds,
            "calibration_seconds": calibration_seconds,
            "calibration": lm.calibration,
            "overhead": lm.overhead,
            "fresh_cache": args.cache_dir is None,
        },
        "schedule": {
            "search_steps": args.search_steps, "finetune_steps": args.finetune_steps,
            "batch_size": args.batch_size, "distill": True, "round_to": args.round_to,
        },
        "timing": {"rounds": args.rounds, "runs_per_round": 200, "batch": 1, "threads": 1},
        "data": data.cifar10_source().name + " test (10,000)",
        "command": "python bench/latency_search.py "
        + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])),
        "wall_seconds": time.perf_counter() - t_start,
        "rows": rows,
        "targets": targets,
    }
    if previous is not None:
        result["previous_runs"] = previous.get("previous_runs", []) + [
            {k: previous[k] for k in ("command", "wall_seconds", "latency_table", "schedule")}
        ]
    os.makedirs(RESULTS, exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1, default=float)
    print(json.dumps(targets, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
