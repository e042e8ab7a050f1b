"""The merge step of bench/compare.py: run JSONs -> one table, JSON and plot.

Every run JSON (`compare.py --method M --out-run FILE`) holds one method's
row, its protocol, command, seed, backend, machine and wall time. The merge
checks that all runs share one protocol (same total epochs, images,
optimizer, schedule, distillation, data format, budget), times every saved
model in this one process (TFLite with XNNPack and ONNX Runtime, batch 1,
one thread: TensorFlow is needed, whatever backend trained the models), and
summarises each method over its seeds: mean, sample standard deviation and
min-max.

Model files are not committed (`runs/`): a run whose model is gone by the
time of a later merge keeps the latency an earlier merge measured (read
from the merged JSON this merge replaces, matched by method, seed and wall
time, so a re-run is never given an old run's figure), marked as such.

Run it through compare.py: `python bench/compare.py --config FILE --merge
[RUN_JSON ...]`.
"""

import json
import os
import pathlib
import tempfile

import numpy as np

from dais_keras.deploy import export
from dais_keras.search.plot import pyplot
from dais_keras.utils.io import atomic_write
from dais_keras.utils.io import write_json
from dais_keras.utils.machine import machine_info
from dais_keras.utils.timing import time_in_turns

RUN_SCHEMA = "dais-keras/compare-run/1"
REPO = pathlib.Path(__file__).resolve().parents[1]
#: What each data format guarantees about the batches every method sees.
BATCHES = {
    "tf": "the same seeded image order per epoch (tf.data; the augmentation is drawn from "
          "the same distribution, not replayed draw for draw)",
    "pydataset": "identical batches (the reproducible PyDataset: order and augmentation are "
                 "a function of the seed)",
}
SPREAD_KEYS = ("acc_jpeg_test", "acc_exact_subset", "macs", "params", "tflite_ms", "ort_ms",
               "acc_val", "predicted_ms")


def budget_text(budget, short=False):
    """A budget in words: a MACs fraction (`0.5`) or a latency budget
    (`{"latency": 0.5}`, `{"latency_ms": 3.0}`); `short` for titles."""
    if not isinstance(budget, dict):
        return f"{budget:.0%} of " + ("MACs" if short else "the unpruned MACs")
    kind, value = next(iter(budget.items()))
    if kind == "latency_ms":
        return f"{value:g} ms of " + ("latency" if short else "predicted TFLite latency")
    if short:
        return f"{value:.0%} of latency"
    return (f"{value:.0%} of the unpruned model's TFLite latency (batch 1, one thread) as this "
            "machine's latency table predicts it, the same target for every method")


#: The merge times its models in turns: `ROUNDS` rounds, each timing every
#: model `RUNS` times in each runtime; a model's figure is the median of its
#: round medians, so a slow phase of a shared machine hits every model alike.
ROUNDS, RUNS = 5, 100
TIMING = f"median of {ROUNDS} round medians of {RUNS} runs, the models timed in turns"
#: How merges before `TIMING` timed their models (each once, one after the other).
OLD_TIMING = "median of 300 runs"


def timing_of(merged):
    """How the merge `merged` timed its models (`TIMING`, or `OLD_TIMING`
    for a merge that predates the record)."""
    return merged.get("latency_timing") or OLD_TIMING


def latency_runners(model, sample, tmp, stem=None):
    """`(run_tflite, run_ort)`: callables that run `model` once at batch 1
    on one thread in TFLite (XNNPack) and ONNX Runtime, after exporting
    (with the parity check) to both, as `<tmp>/<stem>.tflite` and `.onnx`
    (default stem: the model's name)."""
    x = sample[:1].astype("float32")
    stem = stem or model.name
    tfl = os.path.join(tmp, f"{stem}.tflite")
    export.tflite(model, tfl, sample=sample)
    interpreter, _ = export.litert_interpreter(tfl, num_threads=1)
    inp = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(inp, x.shape)
    interpreter.allocate_tensors()

    def run_tflite():
        interpreter.set_tensor(inp, x)
        interpreter.invoke()

    onx = os.path.join(tmp, f"{stem}.onnx")
    export.onnx(model, onx, sample=sample)
    session, _ = export.onnx_session(onx, num_threads=1)
    feed = {session.get_inputs()[0].name: x}
    return run_tflite, lambda: session.run(None, feed)


def measure_latency(models, sample, tmp, rounds=ROUNDS, runs=RUNS):
    """`[(tflite_ms, ort_ms)]` of `models`, timed in turns
    (`dais_keras.utils.timing.time_in_turns`) after exporting each (with the
    parity check) to both runtimes."""
    runners = [latency_runners(model, sample, tmp, f"model_{k}") for k, model in enumerate(models)]
    ms = time_in_turns([lambda run=run: run for pair in runners for run in pair], rounds,
                       runs=runs, warmup=20)
    return list(zip(ms[0::2], ms[1::2]))


def load_runs(files):
    """The run JSONs of `files`, each with its `file`.

    Raises:
        ValueError: For no files, or a file that is not a compare run.
    """
    if not files:
        raise ValueError("No run JSONs to merge: pass them after --merge, or run "
                         "`compare.py --method M` first (it writes <stem>_runs/M_s<seed>.json).")
    runs = []
    for f in files:
        run = json.loads(pathlib.Path(f).read_text())
        if run.get("schema") != RUN_SCHEMA:
            raise ValueError(f"{f} is not a compare run (schema {run.get('schema')!r}, "
                             f"expected {RUN_SCHEMA!r}); pass the files compare.py --method writes.")
        run["file"] = str(f)
        runs.append(run)
    return runs


def common_protocol(runs):
    """The protocol every run shares.

    Raises:
        ValueError: Naming the field and the two runs that differ, or the
            methods whose total epochs differ (not equal compute).
    """
    first = runs[0]
    for run in runs[1:]:
        for key in sorted(set(first["protocol"]) | set(run["protocol"])):
            a, b = first["protocol"].get(key), run["protocol"].get(key)
            if a != b:
                raise ValueError(f"Runs with different protocols cannot be merged: {key!r} is "
                                 f"{a!r} in {first['file']} but {b!r} in {run['file']}.")
    totals = {run["row"]["total_epochs"] for run in runs}
    if len(totals) > 1:
        raise ValueError(f"Not equal compute: the runs trained {sorted(totals)} epochs "
                         f"({[(r['method'], r['row']['total_epochs']) for r in runs]}).")
    return first["protocol"]


def spread(values):
    """`{"n", "mean", "std", "min", "max"}` of the non-`None` values (`std`:
    sample standard deviation, `None` for one value); `None` if there are none."""
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    if not v.size:
        return None
    return {"n": int(v.size), "mean": float(v.mean()),
            "std": float(v.std(ddof=1)) if v.size > 1 else None,
            "min": float(v.min()), "max": float(v.max())}


def summarise(rows):
    """One entry per method (in the order of `rows`) over its seeds."""
    methods = list(dict.fromkeys(r["method"] for r in rows))
    out = []
    for method in methods:
        mine = [r for r in rows if r["method"] == method]
        entry = {"method": method, "runs": len(mine), "seeds": sorted(r["seed"] for r in mine),
                 "budget": mine[0]["budget"], "total_epochs": mine[0]["total_epochs"]}
        for key in SPREAD_KEYS:
            entry[key] = spread([r.get(key) for r in mine])
        # Each row's speed-up is against the unpruned model timed in the same process
        # (a latency carried from an earlier merge keeps that merge's).
        speedups = [r["tflite_speedup"] for r in mine if r.get("tflite_speedup")]
        entry["tflite_speedup"] = float(np.mean(speedups)) if speedups else None
        out.append(entry)
    return out


LATENCY_KEYS = ("tflite_ms", "ort_ms", "tflite_speedup", "ort_speedup")
EARLIER = "earlier merge"


def _run_key(method, seed, wall_seconds):
    return method, seed, round(float(wall_seconds), 3)


def earlier_latencies(path):
    """The latencies an earlier merge measured: `{(method, seed, wall
    seconds): {tflite_ms, ort_ms, tflite_speedup, ort_speedup}}` from the
    merged JSON at `path` (`{}` when there is none)."""
    path = pathlib.Path(path)
    if not path.is_file():
        return {}
    rows = json.loads(path.read_text()).get("rows", [])
    return {_run_key(r["method"], r["seed"], r["wall_seconds"]): {k: r.get(k) for k in LATENCY_KEYS}
            for r in rows if r.get("tflite_ms")}


def carry_latency(run, earlier):
    """Gives `run` (whose model file is gone) the latency an earlier merge
    measured for this very run; returns whether there was one."""
    found = earlier.get(_run_key(run["method"], run["seed"], run["wall_seconds"]))
    if not found:
        return False
    run["row"].update(found, latency_measured=EARLIER)
    return True


def time_models(runs, depth, earlier=None):
    """Times every run's saved model and the unpruned architecture in this
    process; sets `tflite_ms`/`ort_ms` of the rows and their speed-ups
    against the unpruned model timed here (a run whose model is gone keeps
    the latency and speed-ups of `earlier`, see `carry_latency`). Returns
    the unpruned model's `(tflite_ms, ort_ms)`."""
    import keras

    from dais_keras import data
    from dais_keras import models

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("The merge times the models in TFLite, which needs TensorFlow: run it "
                           "with KERAS_BACKEND=tensorflow (the runs may use any backend).")
    sample = data.cifar10_exact_subset()[0][:64]
    timed_runs = []
    for run in runs:
        path = pathlib.Path(run.get("model_path") or "")
        if path.is_file():
            timed_runs.append(run)
        elif carry_latency(run, earlier or {}):
            print(f"{run['file']}: no model at {path}; latency of the earlier merge", flush=True)
        else:
            print(f"{run['file']}: no model at {path}; not timed", flush=True)
    models_ = [models.pretrained(f"resnet{depth}")] + [
        keras.saving.load_model(run["model_path"], compile=False) for run in timed_runs]
    with tempfile.TemporaryDirectory() as tmp:
        timed = measure_latency(models_, sample, tmp)
    base = dict(zip(("tflite", "ort"), timed[0]))
    for run, ms in zip(timed_runs, timed[1:]):
        for kind, value in zip(("tflite", "ort"), ms):  # speed-up against the unpruned model timed here
            run["row"][f"{kind}_ms"] = value
            run["row"][f"{kind}_speedup"] = base[kind] / value if base[kind] and value else None
        run["row"]["latency_measured"] = "merge"
    return base["tflite"], base["ort"]


def _own_teachers(runs):
    """`{seed: resolved path}` of the unpruned runs in `runs`."""
    return {run["seed"]: str(pathlib.Path(run["model_path"]).resolve())
            for run in runs if run["method"] == "unpruned" and run.get("model_path")}


def foreign_teachers(runs):
    """`[(method, seed, teacher_model)]` of the runs that distilled from an
    unpruned model that is no unpruned run in `runs` (`--teacher-dir`, e.g.
    the same protocol trained again). Runs that do not record their teacher
    (`teacher_model`, absent before it was recorded) distilled from their
    config's own unpruned run and are not listed; nor are the runs taught by
    the unpruned run of another seed in `runs` (`shared_teachers`)."""
    own = _own_teachers(runs)
    return [(run["method"], run["seed"], run["teacher_model"]) for run in runs
            if run.get("teacher_model")
            and str(pathlib.Path(run["teacher_model"]).resolve()) not in own.values()]


def shared_teachers(runs):
    """`[(method, seed, teacher_seed)]` of the runs that distilled from the
    unpruned run of another seed in `runs` (`--teacher-seed`)."""
    seed_of = {path: seed for seed, path in _own_teachers(runs).items()}
    out = []
    for run in runs:
        teacher = run.get("teacher_model")
        if not teacher:
            continue
        seed = seed_of.get(str(pathlib.Path(teacher).resolve()))
        if seed is not None and seed != run["seed"]:
            out.append((run["method"], run["seed"], seed))
    return out


def _shown(path):
    """`path` relative to the repository when inside it (for the markdown)."""
    path = pathlib.Path(path)
    try:
        return str(path.relative_to(REPO))
    except ValueError:
        return str(path)


def merge(runs, command, timer=None, expected=()):
    """The merged result of `runs` (see the module docstring).

    Args:
        runs: Run dicts (`load_runs`).
        command: The merge command, recorded.
        timer: `timer(runs, depth) -> (tflite_ms, ort_ms)` of the unpruned
            architecture, setting the rows' latencies and speed-ups (`time_models`);
            `None`: keep the latencies the rows carry.
        expected: The methods the comparison is meant to hold (the config's
            `methods`); those without a run are listed as `missing_methods`
            so a partial merge says what it lacks.
    """
    protocol = common_protocol(runs)
    base = timer(runs, protocol["depth"]) if timer else (None, None)
    rows = [dict(run["row"], backend=run["backend"], wall_seconds=run["wall_seconds"])
            for run in runs]
    ran = {row["method"] for row in rows}
    return {
        "protocol": protocol,
        "merge_command": command,
        "latency_machine": machine_info(runtime=True) if timer else None,
        "latency_timing": TIMING if timer else None,
        "unpruned_latency_ms": {"tflite": base[0], "ort": base[1]},
        "summary": summarise(rows),
        "missing_methods": [m for m in expected if m not in ran],
        "foreign_teachers": [list(t) for t in foreign_teachers(runs)],
        "shared_teachers": [list(t) for t in shared_teachers(runs)],
        "rows": rows,
        "runs": [{k: run[k] for k in ("file", "method", "seed", "command", "backend", "machine",
                                      "wall_seconds", "model_path")}
                 | {"teacher_model": run.get("teacher_model")} for run in runs],
    }


def _pct(s):
    if s is None:
        return "-"
    text = f"{100 * s['mean']:.2f}"
    if s["std"] is None:
        return text + " %"
    return f"{text} ± {100 * s['std']:.2f} % ({100 * s['min']:.2f}–{100 * s['max']:.2f})"


def dais_search_text(rows):
    """How the merged DAIS runs' search epochs trained and their repair chose
    (`rows`: the merged rows), from what each recorded: runs made before the
    options lack `search_distilled` / `repair_fill` / `min_width` /
    `latency_straight_through` (labels only, no fill, 1 channel, the
    surrogate's latency)."""
    dais = [r for r in rows if r["method"] == "dais"]

    def where(chosen):  # None: no run; "": every run; else which seeds
        seeds = sorted(r["seed"] for r in dais if chosen(r))
        if not seeds:
            return None
        return "" if len(seeds) == len(dais) else f" in the runs of seed(s) {', '.join(map(str, seeds))}"

    distilled = where(lambda r: r.get("search_distilled"))
    filled = where(lambda r: r.get("repair_fill"))
    if distilled is None:
        text = "DAIS's search epochs train on the labels only"
    elif distilled:
        text = (f"DAIS's search epochs distil their weight step{distilled} and train on the labels "
                "only in the others")
    else:
        text = ("DAIS's search epochs distil their weight step too (its indicator step learns "
                "from the labels)")
    if filled is not None:
        text += f", and its repair fills the budget with the highest-alpha channels{filled}"
    straight = where(lambda r: r.get("latency_straight_through"))
    if straight is not None:
        text += (f"; DAIS's band reads the latency table's value with the surrogate's gradient "
                 f"(straight-through){straight}")
    for width in sorted({r.get("min_width", 1) for r in dais} - {1}, key=float):
        floor = (f"{width:.0%} of each group's channels" if isinstance(width, float)
                 else f"{width} channels per group")
        text += (f"; DAIS keeps at least {floor}{where(lambda r: r.get('min_width', 1) == width)}"
                 " (the baselines at least 1)")
    return text


def protocol_text(p, dais_search="DAIS's search epochs train on the labels only",
                  timing=OLD_TIMING):
    """The protocol of the merged runs, in words, for the markdown;
    `dais_search`: how DAIS's search epochs trained (`dais_search_text`);
    `timing`: how the merge timed the models (`timing_of`)."""
    images = p["train_images"] or 50000 - p.get("val_images", 0)
    search = int(round(images * p["search_fraction"]))
    total, s = p["total_epochs"], p["search_epochs"]
    kd = "no distillation"
    if p["distill"] and p.get("teacher") == "unpruned":
        kd = (f"knowledge distillation (T={p['distill_temperature']:g}, weight "
              f"{p['distill_weight']:g}) in every fine-tune epoch of every pruned method from "
              "the unpruned reference of the same seed unless noted below (the pretrained port trained on the "
              "labels of the same images for the same epochs; the teacher itself is trained "
              f"without distillation); {dais_search}")
    elif p["distill"]:
        kd = (f"knowledge distillation from the unpruned pretrained model "
              f"(T={p['distill_temperature']:g}, weight {p['distill_weight']:g}) in every "
              f"fine-tune epoch of every method; {dais_search}")
    budget = budget_text(p["budget"]) + (
        f", round_to={p['round_to']}" if p["round_to"] else "")
    sentences = [
        f"**Equal compute.** Every method, and the unpruned reference, trains {total} epochs "
        f"over the same {images:,} training images ({p['data']}: {images - search:,} weight + "
        f"{search:,} search part): DAIS searches {s} epoch(s) (the search trains the weights on "
        f"the weight part and the indicators on the search part) and fine-tunes {total - s}; "
        f"every other method fine-tunes {total} epochs on all {images:,} images.",
        f"Same optimizer ({p['optimizer']}, lr {p['lr']:g}, weight decay {p['weight_decay']:g}), "
        f"one schedule ({p['schedule']}; DAIS's search follows its first {s}/{total}), same "
        f"augmentation ({p['augment']}), batch size {p['batch_size']}, seed per run and "
        f"{BATCHES.get(p['data_format'], p['data_format'])}; {kd}.",
        f"ResNet-{p['depth']} pretrained port pruned to {budget}.",
        "Accuracy: top-1 on the 10,000 JPEG test images and the 1,017 exact-pixel test images.",
    ]
    if p.get("val_images"):
        sentences.append(
            f"Validation: {p['val_images']:,} of the 50,000 training images (class-stratified, "
            f"seed {p['val_seed']}, the same for every run) are held out of every training, "
            "search and fine-tune step and evaluated after every epoch; the test sets are read "
            "once, after the last epoch (no best-epoch picking).")
    sentences += [
        f"Latency: batch 1, one thread, {timing}, every model timed in the merge "
        "process; speed-up against the unpruned architecture timed there.",
        "Spread over seeds: mean ± sample standard deviation (min–max).",
    ]
    return " ".join(sentences)


def write_markdown(merged, path):
    p = merged["protocol"]
    # A latency budget: the latency each model was pruned to, predicted by the shared table.
    is_latency = isinstance(p["budget"], dict) and "latency" in p["budget"]
    predicted_head = " predicted ms |" if is_latency else ""

    def predicted(stats):
        if not is_latency:
            return ""
        return " - |" if stats is None else f" {stats['mean']:.4f} |"
    lines = [f"# ResNet-{p['depth']} on CIFAR-10 at {budget_text(p['budget'], True)}: DAIS vs "
             "baselines, equal compute", "",
             protocol_text(p, dais_search_text(merged["rows"]), timing_of(merged)), "",
             f"| method | runs (seeds) | total epochs | MACs |{predicted_head} params | acc val | "
             "acc JPEG test | acc exact subset | TFLite ms (speed-up) |",
             "|---|---|---|---|---|---|---|---|---|" + "---|" * bool(predicted_head)]
    for e in merged["summary"]:
        tfl = e["tflite_ms"]
        notes = [f"{e['tflite_speedup']:.2f}×"] if tfl and e["tflite_speedup"] else []
        if tfl and tfl["n"] < e["runs"]:  # models gone at the merge are not timed
            notes.append(f"{tfl['n']} of {e['runs']} models")
        latency = "-" if tfl is None else f"{tfl['mean']:.3f}" + (
            f" ({'; '.join(notes)})" if notes else "")
        lines.append(
            f"| {e['method']} | {e['runs']} ({', '.join(map(str, e['seeds']))}) | "
            f"{e['total_epochs']} | {e['macs']['mean']:,.0f} |{predicted(e['predicted_ms'])} "
            f"{e['params']['mean']:,.0f} | {_pct(e['acc_val'])} | "
            f"{_pct(e['acc_jpeg_test'])} | {_pct(e['acc_exact_subset'])} | {latency} |")
    if merged.get("missing_methods"):
        lines += ["", "**Partial:** no run yet for " + ", ".join(merged["missing_methods"]) +
                  " (the config's other methods); this table is not the full comparison."]
    if merged.get("foreign_teachers"):
        lines += ["", "**Teacher:** " + "; ".join(
            f"{method} seed {seed}" for method, seed, _ in merged["foreign_teachers"]) +
            " distilled from an unpruned run other than this table's (`--teacher-dir`; the "
            "file names the seed it was trained with): " + ", ".join(
            sorted({f"`{_shown(path)}`" for *_, path in merged["foreign_teachers"]})) + "."]
    if merged.get("shared_teachers"):
        by_teacher = {}
        for method, seed, teacher in merged["shared_teachers"]:
            by_teacher.setdefault(teacher, []).append(f"{method} seed {seed}")
        lines += ["", "**Teacher:** " + "; ".join(
            f"{', '.join(runs)} distilled from the unpruned run of seed {teacher} "
            f"(`--teacher-seed {teacher}`)" for teacher, runs in sorted(by_teacher.items())) + "."]
    lines += ["", "Runs:", "", "| method | seed | backend | epochs (search + fine-tune) |"
              f"{predicted_head} acc val | acc JPEG test | acc exact subset | TFLite ms | ORT ms | "
              "wall s | command |",
              "|---|---|---|---|---|---|---|---|---|---|---|" + "---|" * bool(predicted_head)]
    for r, run in zip(merged["rows"], merged["runs"]):
        ms = [f"{r[k]:.3f}" if r.get(k) else "-" for k in ("tflite_ms", "ort_ms")]
        lines.append(
            f"| {r['method']} | {r['seed']} | {r['backend']} | {r['search_epochs']} + "
            f"{r['finetune_epochs']} |{predicted(r.get('predicted_ms') and {'mean': r['predicted_ms']})} "
            f"{'-' if r.get('acc_val') is None else format(100 * r['acc_val'], '.2f') + ' %'} | "
            f"{100 * r['acc_jpeg_test']:.2f} % | "
            f"{100 * r['acc_exact_subset']:.2f} % | {ms[0]} | {ms[1]} | {r['wall_seconds']:.0f} | "
            f"`{run['command']}` |")
    machines = {f"{m['cpu']} ({m['cpu_count']} cores)" for m in (r["machine"] for r in merged["runs"])}
    lines += ["", f"Training machine(s): {'; '.join(sorted(machines))}."]
    untimed = [f"{r['method']} seed {r['seed']}" for r in merged["rows"] if not r.get("tflite_ms")]
    carried = [f"{r['method']} seed {r['seed']}" for r in merged["rows"]
               if r.get("latency_measured") == EARLIER]
    if carried:
        lines.append(f"Timed in an earlier merge (its process; the model file was gone at this "
                     f"one): {', '.join(carried)}; their speed-ups are against the unpruned model "
                     "timed in that merge.")
    if merged["latency_machine"] and untimed:
        lines.append(f"Not timed (no model file at the merge): {', '.join(untimed)}; their "
                     "methods' latency is the mean over the models that were timed.")
    if merged["latency_machine"]:
        m = merged["latency_machine"]
        lines.append(f"Latency machine: {m['cpu']} ({m['cpu_count']} cores), load average "
                     f"{m['load_average'][0]:.1f} at the merge.")
    atomic_write(path, "\n".join(lines) + "\n")


def write_plot(merged, path):
    """Accuracy vs MACs and accuracy vs measured TFLite latency, one marker
    per method (mean over seeds, bars: min-max)."""
    try:
        plt = pyplot()
    except ImportError:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    panels = (("macs", 1e-6, "MACs (millions)"), ("tflite_ms", 1.0, "TFLite latency, batch 1 (ms)"))
    for ax, (key, scale, label) in zip(axes, panels):
        for e in merged["summary"]:
            x, acc = e[key], e["acc_jpeg_test"]
            if x is None:
                continue
            y = 100 * acc["mean"]
            err = [[y - 100 * acc["min"]], [100 * acc["max"] - y]]
            ax.errorbar(x["mean"] * scale, y, yerr=err, fmt="o", capsize=3, label=e["method"])
            ax.annotate(e["method"], (x["mean"] * scale, y), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("top-1 on JPEG CIFAR-10 test (%)")
    fig.suptitle(os.path.basename(str(path)).replace(".png", ""))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def merge_files(files, out, command, expected=()):
    """Merges the run JSONs `files` into `out`.json, .md and .png (timing
    the models; needs TensorFlow). `expected`: see `merge`. Returns the
    merged dict."""
    earlier = earlier_latencies(f"{out}.json")  # before it is replaced
    merged = merge(load_runs(files), command, expected=expected,
                   timer=lambda runs, depth: time_models(runs, depth, earlier))
    write_json(f"{out}.json", merged, indent=1)
    write_markdown(merged, f"{out}.md")
    write_plot(merged, f"{out}.png")
    print(f"wrote {out}.json, .md, .png", flush=True)
    return merged
