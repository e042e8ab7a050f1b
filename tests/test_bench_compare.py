"""bench/compare.py: every method trains the same total epochs (DAIS's
search counts), one cosine schedule across search and fine-tune, configs,
and the merge of run JSONs into one table (mean, std, min-max per method)."""

import copy
import importlib
import json
import pathlib
import sys
import warnings

import numpy as np
import pytest

import keras

import dais_keras as dk
from dais_keras import testing

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
compare = importlib.import_module("compare")
compare_merge = importlib.import_module("compare_merge")

METHODS = ("dais", "group-norm-global", "unpruned")


@pytest.fixture(scope="module")
def tiny_runs():
    """Each method on a toy model and 96 toy images, 1 search + 1 fine-tune
    epoch, distilling, DAIS keeping at least 60 % of each group; the
    original's weights before and after, the rows and the pruned models."""
    x, y = testing.toy_data(96, seed=0)
    original = testing.toy_model()
    before = [w.copy() for w in original.get_weights()]
    args = compare.parse_args(["--search-epochs", "1", "--finetune-epochs", "1",
                               "--batch-size", "32", "--distill", "--dais-search-distill",
                               "--dais-fill", "--dais-min-width", "0.6"])
    protocol = compare.Protocol(args)
    sets = {"weight": (x[:64], y[:64]), "search": (x[64:], y[64:]), "train": (x, y)}
    evals = {"exact_subset": (x[:32], y[:32]), "jpeg_test": (x[32:], y[32:])}
    with warnings.catch_warnings():  # a 2-step search cannot finish its annealing
        warnings.filterwarnings("ignore", message="The DAIS search has 2 steps")
        runs = {m: compare.run_method(m, protocol, original, sets, evals) for m in METHODS}
    rows = {m: row for m, (_, row) in runs.items()}
    return original, before, rows, {m: model for m, (model, _) in runs.items()}


def test_every_method_trains_the_same_total_epochs(tiny_runs):
    original, before, rows, _ = tiny_runs
    assert {r["total_epochs"] for r in rows.values()} == {2}
    assert (rows["dais"]["search_epochs"], rows["dais"]["finetune_epochs"]) == (1, 1)
    # DAIS's search epochs distil too, and its repair fills the budget.
    assert rows["dais"]["search_distilled"] and rows["dais"]["repair_fill"]
    for method in METHODS[1:]:
        assert (rows[method]["search_epochs"], rows[method]["finetune_epochs"]) == (0, 2), method
    # Every method starts from (and distils from) the same, unchanged model.
    for a, b in zip(before, original.get_weights()):
        np.testing.assert_array_equal(a, b)
    total = dk.count_macs(original)
    assert rows["unpruned"]["macs"] == total and rows["unpruned"]["budget"] == 1.0
    for method in METHODS[:-1]:
        assert rows[method]["macs"] <= 0.5 * total and rows[method]["budget"] == 0.5
    for row in rows.values():
        for key in ("method", "seed", "params", "acc_jpeg_test", "acc_exact_subset",
                    "acc_exact_subset_before_finetune"):
            assert key in row
        assert row["distilled"] is True  # the pretrained teacher: every method distils


def test_dais_min_width_is_the_floor_of_its_groups_and_recorded(tiny_runs):
    original, _, rows, models = tiny_runs
    assert rows["dais"]["min_width"] == 0.6 and "min_width" not in rows["group-norm-global"]
    widths = {l.name: l.filters for l in models["dais"].layers if isinstance(l, keras.layers.Conv2D)}
    full = {l.name: l.filters for l in original.layers if isinstance(l, keras.layers.Conv2D)}
    assert set(widths) == set(full)
    # 5 of 8 channels, 10 of 16 (without the floor this search keeps 7 of 16 in conv2)
    for name, width in widths.items():
        assert width >= int(np.ceil(0.6 * full[name])), (name, width, full[name])
    assert compare.parse_args(["--dais-min-width", "4"]).dais_min_width == 4
    assert compare.parse_args([]).dais_min_width == 1
    for bad in ("0", "1.5", "a quarter"):
        with pytest.raises(SystemExit):
            compare.parse_args(["--dais-min-width", bad])
    text = compare_merge.dais_search_text([{"method": "dais", "seed": 0, "min_width": 0.25},
                                           {"method": "dais", "seed": 1},
                                           {"method": "uniform", "seed": 0}])
    assert text.endswith("; DAIS keeps at least 25% of each group's channels in the runs of "
                         "seed(s) 0 (the baselines at least 1)")
    assert "keeps at least" not in compare_merge.dais_search_text([{"method": "dais", "seed": 0}])


def test_dais_straight_through_option_and_its_label():
    assert compare.parse_args([]).dais_straight_through is False
    assert compare.parse_args(["--dais-straight-through"]).dais_straight_through is True
    rows = [{"method": "dais", "seed": 0, "latency_straight_through": True},
            {"method": "dais", "seed": 1, "latency_straight_through": False},
            {"method": "dais", "seed": 2}]
    assert compare_merge.dais_search_text(rows).endswith(
        "; DAIS's band reads the latency table's value with the surrogate's gradient "
        "(straight-through) in the runs of seed(s) 0")
    assert "straight-through" not in compare_merge.dais_search_text(rows[1:])


def test_search_and_finetune_follow_one_cosine_schedule():
    lr, n = 0.01, 10  # 1 search epoch of n steps + 2 fine-tune epochs of n steps
    whole = keras.optimizers.schedules.CosineDecay(lr, 3 * n)
    search = compare.CosineSegment(lr, 0.0, 1 / 3, n)
    finetune = compare.CosineSegment(lr, 1 / 3, 1.0, 2 * n)
    for step in range(0, 3 * n + 1, 5):
        part = search(step) if step < n else finetune(step - n)
        np.testing.assert_allclose(float(part), float(whole(step)), rtol=1e-5, atol=1e-9)
    assert float(finetune(10 * n)) == pytest.approx(0.0, abs=1e-9)  # stays at the end
    again = compare.CosineSegment.from_config(search.get_config())
    assert float(again(3)) == float(search(3))


def test_protocol_epochs_and_shipped_configs():
    long = compare.parse_args(["--config", str(ROOT / "configs/bench/compare_resnet20_cifar10_long.yaml")])
    protocol = compare.Protocol(long)
    assert long.train_images is None and long.distill  # all 50,000 images, KD for all
    assert tuple(long.methods.split(",")) == compare.LONG_METHODS
    assert compare.stem_of(long) == "compare_resnet20_cifar10_long"
    search, finetune = protocol.epochs("dais")
    assert search >= 1 and search + finetune == protocol.total_epochs
    assert 10 <= protocol.total_epochs <= 15
    assert protocol.epochs("group-norm") == (0, protocol.total_epochs)
    short = compare.parse_args(["--config", str(ROOT / "configs/bench/compare_resnet20_cifar10.yaml"),
                                "--seed", "3"])
    assert short.train_images == 8000 and short.seed == 3 and not short.distill
    assert compare.stem_of(short) == "compare_resnet20_cifar10"


def test_unpruned_teacher_trains_first_on_labels_and_teaches_the_others(tmp_path):
    config = str(ROOT / "configs/bench/compare_resnet20_cifar10_long_kd.yaml")
    args = compare.parse_args(["--config", config, "--models-dir", str(tmp_path)])
    protocol = compare.Protocol(args)
    assert args.teacher == "unpruned" and compare.stem_of(args) == "compare_resnet20_cifar10_long_kd"
    assert not protocol.distills("unpruned")  # the teacher cannot distil from itself
    assert all(protocol.distills(m) for m in compare.LONG_METHODS if m != "unpruned")
    assert protocol.as_dict("tf", "jpeg")["teacher"] == "unpruned"
    # long_kd's DAIS searches on the labels and keeps its in-band architecture; long_kd2's
    # distils its search and fills the budget, from long_kd's teachers.
    assert not protocol.search_distills("dais") and not protocol.dais_fill
    kd2 = compare.parse_args(["--config", config.replace("long_kd", "long_kd2")])
    assert compare.Protocol(kd2).search_distills("dais") and compare.Protocol(kd2).dais_fill
    assert compare.Protocol(kd2).as_dict("tf", "jpeg") == protocol.as_dict("tf", "jpeg")
    assert compare.teacher_path_of(kd2, 1) == pathlib.Path(
        "runs/compare/compare_resnet20_cifar10_long_kd/unpruned_s1.keras")
    # long_kd_b30 is long_kd at 30 % of the MACs, with its own teacher (no --teacher-dir).
    b30 = compare.parse_args(["--config", config.replace("long_kd", "long_kd_b30")])
    assert compare.stem_of(b30) == "compare_resnet20_cifar10_long_kd_b30" and b30.budget == 0.3
    assert compare.Protocol(b30).as_dict("tf", "jpeg") == dict(
        protocol.as_dict("tf", "jpeg"), budget=0.3)
    assert compare.teacher_path_of(b30, 0) == compare.model_path_of(b30, "unpruned", 0)
    # The default teacher is not recorded, so runs made before the option still merge.
    default = compare.Protocol(compare.parse_args(["--distill"]))
    assert "teacher" not in default.as_dict("tf", "jpeg")
    original = testing.toy_model()
    assert compare.teacher_for("unpruned", protocol, args, original) is None
    with pytest.raises(FileNotFoundError, match=r"unpruned_s0\.keras.*--method unpruned --seed 0"):
        compare.teacher_for("dais", protocol, args, original)
    trained = testing.toy_model(seed=1)
    trained.save(compare.model_path_of(args, "unpruned", 0))
    teacher = compare.teacher_for("dais", protocol, args, original)
    for a, b in zip(teacher.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert compare.teacher_for("dais", default, args, original) is original
    # Another folder's unpruned runs (--teacher-dir) teach as well.
    elsewhere = copy.copy(args)
    elsewhere.models_dir, elsewhere.teacher_dir = str(tmp_path / "new"), str(tmp_path)
    teacher = compare.teacher_for("dais", protocol, elsewhere, original)
    for a, b in zip(teacher.get_weights(), trained.get_weights()):
        np.testing.assert_array_equal(a, b)
    # --teacher-seed: every seed distils from the unpruned run of one seed.
    one_teacher = compare.parse_args(["--config", config, "--models-dir", str(tmp_path),
                                      "--seed", "2", "--teacher-seed", "0"])
    assert compare.teacher_path_of(one_teacher, 2) == compare.model_path_of(args, "unpruned", 0)
    assert compare.teacher_path_of(args, 2) == compare.model_path_of(args, "unpruned", 2)
    bad = copy.copy(args)
    bad.teacher = "best"
    with pytest.raises(ValueError, match=r"`teacher` must be one of .*'best'"):
        compare.Protocol(bad)


def _no_training_data(protocol, fmt):
    return compare.compare_data.TrainingData(None, None, {}, None)


def test_run_records_the_commit_it_started_from(tmp_path, monkeypatch):
    head = {"commit": "aaaaaaa"}

    def train(*args, **kwargs):  # a commit lands while the run trains
        head["commit"] = "bbbbbbb"
        return testing.toy_model(), {"method": "uniform"}

    monkeypatch.setattr(compare, "_commit", lambda: head["commit"])
    monkeypatch.setattr(compare.models, "pretrained", lambda name: testing.toy_model())
    monkeypatch.setattr(compare, "training_data", _no_training_data)
    monkeypatch.setattr(compare, "evaluation_sets", lambda: None)
    monkeypatch.setattr(compare, "run_method", train)
    args = compare.parse_args(["--models-dir", str(tmp_path)])
    path = compare.run_one("uniform", args, "cmd", out=tmp_path / "run.json")
    assert json.loads(pathlib.Path(path).read_text())["commit"] == "aaaaaaa"


def test_config_with_an_unknown_option_is_refused(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("budget: 0.5\nepochs: 3\n")
    with pytest.raises(SystemExit, match=r"unknown option\(s\) \['epochs'\]"):
        compare.parse_args(["--config", str(path)])


PROTOCOL = {"depth": 20, "budget": 0.5, "round_to": None, "train_images": None,
            "search_epochs": 2, "finetune_epochs": 10, "total_epochs": 12, "batch_size": 128,
            "lr": 0.01, "weight_decay": 0.0005, "distill": True, "search_fraction": 0.2,
            "optimizer": "SGD", "schedule": "cosine", "distill_temperature": 4.0,
            "distill_weight": 0.7, "augment": "crop+flip", "data_format": "pydataset",
            "data": "cifar10-jpeg"}


def _run(tmp_path, method, seed, acc, tflite, search=0, protocol=PROTOCOL):
    row = {"method": method, "seed": seed, "budget": 0.5, "total_epochs": 12,
           "search_epochs": search, "finetune_epochs": 12 - search, "macs": 20_000_000 + seed,
           "params": 150_000, "acc_jpeg_test": acc, "acc_exact_subset": acc + 0.05,
           "tflite_ms": tflite, "ort_ms": None}
    run = {"schema": compare_merge.RUN_SCHEMA, "method": method, "seed": seed,
           "command": f"python bench/compare.py --method {method} --seed {seed}",
           "backend": "torch", "machine": {"cpu": "test cpu", "cpu_count": 2},
           "protocol": protocol, "model_path": None, "wall_seconds": 100.0 + seed, "row": row}
    path = tmp_path / f"{method}_s{seed}.json"
    path.write_text(json.dumps(run))
    return str(path)


def test_merge_gives_mean_std_and_range_per_method(tmp_path):
    files = [_run(tmp_path, "dais", 0, 0.80, 0.6, search=2), _run(tmp_path, "dais", 1, 0.82, 0.7, search=2),
             _run(tmp_path, "dais", 2, 0.81, None, search=2), _run(tmp_path, "uniform", 0, 0.75, 0.5)]
    merged = compare_merge.merge(compare_merge.load_runs(files), "merge",
                                 expected=["dais", "l1-layer", "uniform", "unpruned"])
    assert merged["missing_methods"] == ["l1-layer", "unpruned"]
    dais, uniform = merged["summary"]
    assert (dais["method"], dais["runs"], dais["seeds"], dais["total_epochs"]) == ("dais", 3, [0, 1, 2], 12)
    acc = dais["acc_jpeg_test"]
    assert acc["mean"] == pytest.approx(0.81) and acc["std"] == pytest.approx(0.01)
    assert (acc["min"], acc["max"], acc["n"]) == (0.80, 0.82, 3)
    # Seed 2's model was not timed: the latency is the mean of the two that were.
    assert dais["tflite_ms"]["mean"] == pytest.approx(0.65) and dais["tflite_ms"]["n"] == 2
    assert dais["macs"]["mean"] == 20_000_001
    assert uniform["acc_jpeg_test"]["std"] is None and uniform["ort_ms"] is None
    assert [r["method"] for r in merged["rows"]] == ["dais", "dais", "dais", "uniform"]
    assert merged["protocol"] == PROTOCOL
    compare_merge.write_markdown(merged, tmp_path / "m.md")
    text = (tmp_path / "m.md").read_text()
    assert "| dais | 3 (0, 1, 2) | 12 | 20,000,001 |" in text  # mean MACs
    assert "81.00 ± 1.00 % (80.00–82.00)" in text and "| 75.00 % |" in text
    assert "| 0.650 (2 of 3 models) |" in text and "| 0.500 |" in text
    timed = dict(merged, latency_machine={"cpu": "test cpu", "cpu_count": 2, "load_average": [0.1]})
    compare_merge.write_markdown(timed, tmp_path / "t.md")
    assert "Not timed (no model file at the merge): dais seed 2;" in (tmp_path / "t.md").read_text()
    assert "**Equal compute.** Every method, and the unpruned reference, trains 12 epochs" in text
    assert "DAIS searches 2 epoch(s)" in text and "knowledge distillation" in text
    assert "`python bench/compare.py --method uniform --seed 0`" in text
    assert "**Partial:** no run yet for l1-layer, unpruned" in text
    assert compare_merge.merge(compare_merge.load_runs(files), "merge")["missing_methods"] == []
    compare_merge.write_plot(merged, tmp_path / "m.png")
    assert "from the unpruned pretrained model" in compare_merge.protocol_text(PROTOCOL)
    kd = compare_merge.protocol_text(dict(PROTOCOL, teacher="unpruned"))
    assert "from the unpruned reference of the same seed" in kd and "pretrained model" not in kd
    assert "search epochs train on the labels only" in kd
    rows = [{"method": "dais", "seed": 0}, {"method": "dais", "seed": 1, "search_distilled": True,
                                             "repair_fill": True}, {"method": "uniform", "seed": 0}]
    assert "distil their weight step in the runs of seed(s) 1 and train on the labels only" in (
        compare_merge.dais_search_text(rows))
    both = compare_merge.dais_search_text(rows[1:])
    assert "distil their weight step too" in both and "fills the budget" in both
    assert both in compare_merge.protocol_text(dict(PROTOCOL, teacher="unpruned"), both)
    # The two options are independent: a fill without search distillation is said too.
    fill_only = compare_merge.dais_search_text([{"method": "dais", "seed": 0, "repair_fill": True}])
    assert "train on the labels only, and its repair fills the budget" in fill_only
    assert (tmp_path / "m.png").stat().st_size > 1000


def test_merge_keeps_the_latency_an_earlier_merge_measured(tmp_path):
    runs = compare_merge.load_runs([_run(tmp_path, "dais", 0, 0.80, None, search=2),
                                    _run(tmp_path, "uniform", 0, 0.75, None)])
    earlier = {"rows": [dict(runs[0]["row"], wall_seconds=100.0, tflite_ms=0.55, ort_ms=0.6,
                             tflite_speedup=1.4, ort_speedup=1.0, latency_measured="merge"),
                        # the same method and seed, but another run (a re-run): not carried
                        dict(runs[1]["row"], wall_seconds=99.0, tflite_ms=0.7)]}
    (tmp_path / "old.json").write_text(json.dumps(earlier))
    found = compare_merge.earlier_latencies(tmp_path / "old.json")
    assert compare_merge.earlier_latencies(tmp_path / "none.json") == {}
    assert compare_merge.carry_latency(runs[0], found)
    assert not compare_merge.carry_latency(runs[1], found)

    def timer(runs, depth):  # the unpruned model of this merge times at 1.0 ms
        return 1.0, 1.0

    merged = compare_merge.merge(runs, "merge", timer=timer)
    dais, uniform = merged["rows"]
    # The carried row keeps its own speed-up (against the earlier merge's unpruned model).
    assert (dais["tflite_ms"], dais["tflite_speedup"], dais["latency_measured"]) == (0.55, 1.4, "earlier merge")
    assert uniform["tflite_ms"] is None and "tflite_speedup" not in uniform
    # A method's speed-up is the mean of its rows' (each against its own merge's unpruned model).
    assert merged["summary"][0]["tflite_speedup"] == pytest.approx(1.4)
    merged["latency_machine"] = {"cpu": "test cpu", "cpu_count": 2, "load_average": [0.1]}
    compare_merge.write_markdown(merged, tmp_path / "m.md")
    text = (tmp_path / "m.md").read_text()
    assert "Timed in an earlier merge (its process; the model file was gone at this one): dais seed 0;" in text
    assert "Not timed (no model file at the merge): uniform seed 0;" in text
    assert merged["latency_timing"] == compare_merge.TIMING
    assert f"Latency: batch 1, one thread, {compare_merge.TIMING}, every model" in text
    # A merge made before the models were timed in turns says how it timed them.
    del merged["latency_timing"]
    compare_merge.write_markdown(merged, tmp_path / "m.md")
    assert "Latency: batch 1, one thread, median of 300 runs, every model" in (tmp_path / "m.md").read_text()


def test_time_models_times_the_saved_models_with_the_unpruned_one(tmp_path, monkeypatch):
    toy = testing.toy_model()
    toy.save(tmp_path / "dais_s0.keras")
    timed = []

    def fake_measure(models, sample, tmp):
        timed.append([m.count_params() for m in models])
        return [(1.0, 2.0), (0.5, 1.6)]

    monkeypatch.setattr(compare.models, "pretrained", lambda name: testing.toy_model())
    monkeypatch.setattr(compare_merge, "measure_latency", fake_measure)
    runs = [{"file": f"{m}_s0.json", "method": m, "seed": 0, "wall_seconds": 1.0, "row": {},
             "model_path": str(tmp_path / f)}
            for m, f in (("dais", "dais_s0.keras"), ("uniform", "gone.keras"))]
    assert compare_merge.time_models(runs, 20) == (1.0, 2.0)
    assert timed == [[toy.count_params()] * 2]  # the unpruned architecture first, then the file
    assert runs[0]["row"] == {"tflite_ms": 0.5, "tflite_speedup": 2.0, "ort_ms": 1.6,
                              "ort_speedup": 1.25, "latency_measured": "merge"}
    assert runs[1]["row"] == {}  # no model file and no earlier merge: not timed


def test_merge_names_runs_taught_by_another_unpruned_run(tmp_path):
    def run(method, seed, model, teacher=None):
        data = json.loads(pathlib.Path(_run(tmp_path, method, seed, 0.8, None)).read_text())
        data.update(model_path=str(tmp_path / model))
        if teacher:
            data["teacher_model"] = str(tmp_path / teacher)
        path = tmp_path / f"{method}_s{seed}.json"
        path.write_text(json.dumps(data))
        return str(path)

    files = [run("unpruned", 0, "unpruned_s0.keras"), run("unpruned", 1, "unpruned_s1.keras"),
             run("dais", 0, "dais_s0.keras", "unpruned_s0.keras"),
             run("dais", 1, "dais_s1.keras", "unpruned_s1.keras"),
             run("uniform", 1, "uniform_s1.keras", "again/unpruned_s1.keras"),
             run("l1-layer", 0, "l1-layer_s0.keras"),  # made before runs recorded their teacher
             run("dais", 2, "dais_s2.keras", "unpruned_s0.keras"),  # --teacher-seed 0
             run("uniform", 2, "uniform_s2.keras", "unpruned_s0.keras")]
    merged = compare_merge.merge(compare_merge.load_runs(files), "merge")
    assert merged["foreign_teachers"] == [["uniform", 1, str(tmp_path / "again/unpruned_s1.keras")]]
    assert merged["shared_teachers"] == [["dais", 2, 0], ["uniform", 2, 0]]
    assert [r["teacher_model"] for r in merged["runs"]][4] == str(tmp_path / "again/unpruned_s1.keras")
    compare_merge.write_markdown(merged, tmp_path / "m.md")
    text = (tmp_path / "m.md").read_text()
    assert ("**Teacher:** uniform seed 1 distilled from an unpruned run other than this table's "
            "(`--teacher-dir`; the file names the seed it was trained with): "
            f"`{tmp_path / 'again/unpruned_s1.keras'}`.") in text
    assert ("**Teacher:** dais seed 2, uniform seed 2 distilled from the unpruned run of seed 0 "
            "(`--teacher-seed 0`).") in text
    # Without the unpruned run of its seed in the merge, the teacher is not this table's either.
    alone = compare_merge.merge(compare_merge.load_runs(files[2:3]), "merge")
    assert alone["foreign_teachers"] == [["dais", 0, str(tmp_path / "unpruned_s0.keras")]]
    assert compare_merge._shown(compare_merge.REPO / "runs" / "x.keras") == "runs/x.keras"


def test_run_records_the_unpruned_run_it_distilled_from(tmp_path, monkeypatch):
    monkeypatch.setattr(compare.models, "pretrained", lambda name: testing.toy_model())
    monkeypatch.setattr(compare, "training_data", _no_training_data)
    monkeypatch.setattr(compare, "evaluation_sets", lambda: None)
    monkeypatch.setattr(compare, "run_method",
                        lambda method, *a, teacher=None, **kw: (testing.toy_model(),
                                                                 {"method": method}))
    (tmp_path / "teachers").mkdir()
    testing.toy_model(seed=1).save(tmp_path / "teachers" / "unpruned_s0.keras")
    args = compare.parse_args(["--distill", "--teacher", "unpruned", "--models-dir",
                               str(tmp_path), "--teacher-dir", str(tmp_path / "teachers")])
    path = compare.run_one("uniform", args, "cmd", out=tmp_path / "run.json")
    recorded = json.loads(pathlib.Path(path).read_text())
    assert recorded["teacher_model"] == str((tmp_path / "teachers" / "unpruned_s0.keras").resolve())
    # The teacher itself, and a run distilling from the pretrained port, record none.
    path = compare.run_one("unpruned", args, "cmd", out=tmp_path / "teacher.json")
    assert "teacher_model" not in json.loads(pathlib.Path(path).read_text())
    args.teacher = "pretrained"
    path = compare.run_one("uniform", args, "cmd", out=tmp_path / "pretrained.json")
    assert "teacher_model" not in json.loads(pathlib.Path(path).read_text())


def test_merge_refuses_mixed_protocols_and_unequal_epochs(tmp_path):
    other = dict(PROTOCOL, data_format="tf")
    files = [_run(tmp_path, "dais", 0, 0.8, 0.6), _run(tmp_path, "uniform", 0, 0.7, 0.5, protocol=other)]
    with pytest.raises(ValueError, match="'data_format' is 'pydataset' in .*dais_s0.json but 'tf'"):
        compare_merge.merge(compare_merge.load_runs(files), "merge")
    runs = compare_merge.load_runs([_run(tmp_path, "dais", 0, 0.8, 0.6), _run(tmp_path, "l1-layer", 0, 0.7, 0.5)])
    bad = copy.deepcopy(runs)
    bad[1]["row"]["total_epochs"] = 10
    with pytest.raises(ValueError, match=r"Not equal compute: the runs trained \[10, 12\] epochs"):
        compare_merge.merge(bad, "merge")
    (tmp_path / "x.json").write_text(json.dumps({"schema": "other"}))
    with pytest.raises(ValueError, match="is not a compare run"):
        compare_merge.load_runs([str(tmp_path / "x.json")])
    with pytest.raises(ValueError, match="No run JSONs to merge"):
        compare_merge.load_runs([])


LATENCY_METHODS = ("unpruned", "dais", "group-norm-global", "halp", "uniform")


def _indexed_images(n):
    """16x16 images whose every pixel holds the image's index (channel 0:
    `i % 256`, channel 1: `i // 256`), so that any crop or flip of it still
    says which image it is; labels `i % 4`."""
    i = np.arange(n)
    x = np.zeros((n, 16, 16, 3), np.uint8)
    x[..., 0] = (i % 256)[:, None, None]
    x[..., 1] = (i // 256)[:, None, None]
    return x, (i % 4).astype("int32")


def _batch_indices(batches):
    """The image indices of every batch of a `PyDataset` of `_indexed_images`."""
    out = []
    for k in range(len(batches)):
        images, _ = batches[k]
        centre = np.asarray(images)[:, 8, 8, :2].astype(np.int64)  # inside every crop
        out.append(centre[:, 0] + 256 * centre[:, 1])
    return np.concatenate(out)


@pytest.fixture(scope="module")
def latency_runs(tmp_path_factory):
    """`run_one` of every method of the latency configs on the toy model:
    200 indexed images of which 40 are held out (seed 3), 1 search + 1
    fine-tune epoch, a latency budget of half the toy's latency predicted by
    a synthetic table; the run JSONs, the training data each run read, the
    table and the calls of `accuracy` on the test sets."""
    from dais_keras import latency as L

    tmp = tmp_path_factory.mktemp("latency_runs")
    x, y = _indexed_images(200)
    test_sets = {"exact_subset": (x[:16], y[:16]), "jpeg_test": (x[16:48], y[16:48])}

    def timer(one):
        c_in, c_out = int(one.inputs[0].shape[-1]), int(one.outputs[0].shape[-1])
        return 0.01 + 0.002 * c_in + 0.003 * c_out + 0.0005 * c_in * c_out

    table = L.build_latency_table(testing.toy_model(), cache_dir=str(tmp / "table"), timer=timer,
                                  max_points=(4, 5), verbose=0)
    read, test_reads = {}, []

    def training_data(protocol, fmt):
        read[protocol.seed, len(read)] = compare.compare_data.training_data(
            protocol, fmt, arrays=(x, y), source="indexed toy images")
        return read[protocol.seed, len(read) - 1]

    def counted_accuracy(model, pair, **kwargs):
        test_reads.append(next(name for name, s in test_sets.items() if s is pair))
        return accuracy(model, pair, **kwargs)

    accuracy = compare.accuracy
    args = compare.parse_args([
        "--budget", "latency:0.5", "--val-images", "40", "--val-seed", "3", "--train-images", "0",
        "--search-epochs", "1", "--finetune-epochs", "1", "--batch-size", "32",
        "--format", "pydataset", "--models-dir", str(tmp / "models")])
    runs = {}
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The DAIS search has")
        patch.setattr(compare.models, "pretrained", lambda name: testing.toy_model())
        patch.setattr(compare, "training_data", training_data)
        patch.setattr(compare, "evaluation_sets", lambda: test_sets)
        patch.setattr(compare, "accuracy", counted_accuracy)
        patch.setattr(compare, "latency_for", lambda args, protocol, original:
                      compare.LatencyBudget(original, protocol.budget, table=table,
                                            measured=[0.7, 0.4],
                                            straight_through=protocol.dais_straight_through))
        for method in LATENCY_METHODS:
            path = compare.run_one(method, args, "cmd", out=tmp / f"{method}.json")
            runs[method] = json.loads(pathlib.Path(path).read_text())
    return runs, list(read.values()), table, test_reads


def test_latency_run_records_the_validation_split_and_never_trains_on_it(latency_runs):
    runs, reads, _, test_reads = latency_runs
    first = reads[0]
    held = first.indices["val"]
    assert len(held) == 40 and np.bincount(first.val[1]).tolist() == [10, 10, 10, 10]
    for data in reads:  # the same split for every method
        np.testing.assert_array_equal(data.indices["val"], held)
        trained = set()
        for part in ("weight", "search", "train"):
            seen = _batch_indices(data.sets[part])
            assert not set(seen.tolist()) & set(held.tolist()), part
            trained |= set(seen.tolist())
        # 128 weight + 32 search images: whole batches of 32, every one trained on.
        assert trained == set(range(200)) - set(held.tolist())
    for method, run in runs.items():
        split = run["validation"]
        assert split["val_images"] == 40 and split["val_seed"] == 3
        assert split["val_sha256"] == compare.compare_data.indices_sha256(held)
        assert split["val_per_class"] == {"0": 10, "1": 10, "2": 10, "3": 10}
        assert run["protocol"]["val_images"] == 40 and run["protocol"]["val_seed"] == 3
        row = run["row"]
        # Validation after every epoch (DAIS: its search epoch, then its fine-tune epoch),
        # right after pruning, and the last epoch's figure is the one reported.
        assert len(row["val_accuracy_by_epoch"]) == row["total_epochs"] == 2, method
        expected = ["search", "finetune"] if method == "dais" else ["finetune", "finetune"]
        assert row["val_stage_by_epoch"] == expected
        assert row["acc_val"] == row["val_accuracy_by_epoch"][-1]
        assert "acc_val_before_finetune" in row and "acc_exact_subset_before_finetune" not in row
    # The test sets are read once per run, at the end.
    assert sorted(test_reads) == sorted(["exact_subset", "jpeg_test"] * len(runs))


def test_latency_run_prunes_every_method_to_the_predicted_target(latency_runs):
    runs, _, table, _ = latency_runs
    total = runs["unpruned"]["latency"]["unpruned_predicted_ms"]
    for method, run in runs.items():
        record, row = run["latency"], run["row"]
        assert record["table_machine"] == table.machine and record["runtime"] == table.runtime
        assert record["budget"] == run["protocol"]["budget"] == {"latency": 0.5}
        assert record["unpruned_predicted_ms"] == pytest.approx(total)
        assert record["target_ms"] == pytest.approx(0.5 * total)
        if method == "unpruned":
            assert row["predicted_ms"] == pytest.approx(total) and row["target_ms"] is None
            continue
        assert row["budget"] == {"latency": 0.5}
        assert row["predicted_ms"] <= row["target_ms"] == pytest.approx(0.5 * total), method
        assert row["macs_ratio"] < 1.0
    # DAIS's repair predicts, with the latency model of its indicator model, what the
    # baselines' model predicts for its widths: one calibration, one target.
    assert runs["dais"]["row"]["latency_straight_through"] is False
    assert all("latency_straight_through" not in runs[m]["row"] for m in runs if m != "dais")
    repair = runs["dais"]["row"]["repair_latency"]
    assert repair["after_ms"] == pytest.approx(runs["dais"]["row"]["predicted_ms"])
    assert repair["target_ms"] == pytest.approx(0.5 * total)


def test_latency_merge_shows_predicted_latency_and_validation_accuracy(latency_runs, tmp_path):
    runs = latency_runs[0]
    files = []
    for method, run in runs.items():
        path = tmp_path / f"{method}.json"
        path.write_text(json.dumps(dict(run, file=str(path))))
        files.append(str(path))
    merged = compare_merge.merge(compare_merge.load_runs(files), "merge")
    compare_merge.write_markdown(merged, tmp_path / "m.md")
    text = (tmp_path / "m.md").read_text()
    head = "| method | runs (seeds) | total epochs | MACs | predicted ms | params | acc val |"
    assert head in text
    dais = runs["dais"]["row"]
    line = next(l for l in text.splitlines() if l.startswith("| dais | 1 (0) |"))
    cells = [c.strip() for c in line.split("|")[1:-1]]
    assert cells[4] == f"{dais['predicted_ms']:.4f}"
    assert cells[6] == f"{100 * dais['acc_val']:.2f} %"
    assert len(cells) == len(head.split("|")) - 2 + 3  # + JPEG test, exact subset, TFLite


def test_shipped_latency_configs_share_one_protocol_but_budget_and_depth():
    kd = compare.Protocol(compare.parse_args(
        ["--config", str(ROOT / "configs/bench/compare_resnet20_cifar10_long_kd.yaml")]))
    protocols = {}
    for depth in (20, 56):
        for target in (50, 35):
            name = f"compare_resnet{depth}_cifar10_lat{target}"
            args = compare.parse_args(["--config", str(ROOT / f"configs/bench/{name}.yaml")])
            assert compare.stem_of(args) == name
            assert set(args.methods.split(",")) == {"dais", "group-norm-global", "halp", "uniform",
                                                    "unpruned"}
            protocol = compare.Protocol(args)
            assert protocol.budget == {"latency": target / 100} and protocol.val_images == 5000
            assert protocol.teacher == "unpruned" and protocol.distill
            assert not protocol.search_distills("dais") and not protocol.dais_fill
            # Every method trains the same epochs: DAIS's search counts in its total.
            assert sum(protocol.epochs("dais")) == sum(protocol.epochs("halp")) == \
                protocol.total_epochs
            protocols[depth, target] = protocol.as_dict("tf", "jpeg")
    # ResNet-20: long_kd's protocol, at a latency target, with the validation split.
    assert protocols[20, 50] == dict(kd.as_dict("tf", "jpeg"), budget={"latency": 0.5},
                                     val_images=5000, val_seed=0)
    # ResNet-56: a shorter schedule (same search epochs), the same for every method.
    assert protocols[56, 50] == dict(protocols[20, 50], depth=56, finetune_epochs=4,
                                     total_epochs=6)
    for depth in (20, 56):
        assert protocols[depth, 35] == dict(protocols[depth, 50], budget={"latency": 0.35})


def test_validation_split_is_stratified_seeded_and_checked():
    labels = np.repeat(np.arange(10), 5000)
    held = compare.compare_data.holdout_indices(labels, 5000, 0)
    assert np.bincount(labels[held]).tolist() == [500] * 10
    np.testing.assert_array_equal(held, compare.compare_data.holdout_indices(labels, 5000, 0))
    assert not np.array_equal(held, compare.compare_data.holdout_indices(labels, 5000, 1))
    uneven = np.array([0] * 6 + [1] * 3 + [2] * 1)
    assert np.bincount(uneven[compare.compare_data.holdout_indices(uneven, 3, 0)],
                       minlength=3).tolist() == [2, 1, 0]
    assert compare.compare_data.indices_sha256([3, 1, 2]) == \
        __import__("hashlib").sha256(b"1,2,3").hexdigest()
    with pytest.raises(ValueError, match="`val_images`=9 would hold out every training image"):
        compare.compare_data.holdout_indices(uneven, 9, 0)
    with pytest.raises(ValueError, match="`val_images` must be an integer in"):
        compare.compare_data.holdout_indices(uneven, 10, 0)
    with pytest.raises(ValueError, match="`val_seed` must be an integer >= 0"):
        compare.compare_data.holdout_indices(uneven, 3, -1)
    with pytest.raises(ValueError, match="`val_images` must be an integer >= 0"):
        compare.Protocol(compare.parse_args(["--val-images", "-1"]))
    with pytest.raises(SystemExit):
        compare.parse_args(["--budget", "latency:1.5"])
    assert compare.parse_args(["--budget", "latency_ms:2.5"]).budget == {"latency_ms": 2.5}


def test_allocation_splits_macs_and_predicted_latency_by_stage(tmp_path):
    from dais_keras import latency as L
    from dais_keras import models

    allocation = importlib.import_module("compare_allocation")
    latency = importlib.import_module("compare_latency")
    assert [allocation.stage_of(n) for n in ("stem_conv", "stage2_block1_conv2",
                                             "Conv2D 'stage3_block0_conv1' 32->64", "logits")] == \
        ["stage1", "stage2", "stage3", "head"]
    original = models.get("resnet20")

    def timer(one):
        c_in, c_out = int(one.inputs[0].shape[-1]), int(one.outputs[0].shape[-1])
        return 0.001 * c_in * c_out

    table = L.build_latency_table(original, cache_dir=str(tmp_path), timer=timer,
                                  max_points=(3, 3), verbose=0)
    budget = compare.LatencyBudget(original, {"latency": 0.5}, table=table, measured=[0.9, 0.4])
    full = allocation.allocation(original, budget, np.ones(budget.problem.num_channels))
    # The stem and six 3x3 16->16 convolutions at 32x32; the classifier 64->10.
    assert full["macs"]["stage1"] == 9 * 3 * 16 * 1024 + 6 * 9 * 16 * 16 * 1024
    assert full["macs"]["head"] == 64 * 10
    keep = {name: list(range(max(1, w // 2))) for name, w in latency.cut_widths(original).items()}
    pruned = dk.surgery.prune(original, keep)
    mask = latency.widths_mask(budget.problem, latency.group_widths(pruned))
    out = allocation.allocation(pruned, budget, mask)
    assert sum(out["macs"].values()) == dk.count_macs(pruned)
    assert out["macs"]["stage1"] > 0 and out["macs"]["stage3"] > 0
    a, b = budget.reference.overhead
    overhead = a + b * budget.reference.volume(mask)
    assert sum(out["predicted_ms"].values()) + overhead == pytest.approx(out["total_ms"])
    assert out["total_ms"] == pytest.approx(budget.predicted_ms(pruned))
