"""End-to-end tests of the config-driven `dais` commands (search, prune,
finetune, eval, bench) on a tiny CNN and a tiny CIFAR-10 copy, in-process
through `dais_keras.cli.main`."""

import json
import pathlib
import pickle

import numpy as np
import pytest
import yaml

import keras
from keras import layers as L

import dais_keras as dk
from dais_keras.select import baselines
from dais_keras import cli
from dais_keras.experiments import config as config_lib
from dais_keras import data

TRAIN_PER_BATCH = 16  # 80 training images in all
TEST_IMAGES = 40
EXACT_IMAGES = 24


def _tiny_cnn():
    """32x32x3 -> 10 logits, with a residual block; widths multiples of 8."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((32, 32, 3))
    x = L.Rescaling(1 / 255.0)(inp)
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, strides=2, padding="same", name="stem")(x)))
    h = L.ReLU()(L.BatchNormalization()(L.Conv2D(24, 3, padding="same", name="block_conv1")(x)))
    h = L.BatchNormalization()(L.Conv2D(16, 3, padding="same", name="block_conv2")(h))
    x = L.ReLU()(L.Add()([x, h]))
    x = L.GlobalAveragePooling2D()(L.Conv2D(32, 3, strides=2, padding="same", name="head")(x))
    return keras.Model(inp, L.Dense(10, name="logits")(x), name="tiny_cnn")


def _write_cifar(root, rng):
    """A tiny CIFAR-10 copy in the python-pickle layout, plus an exact subset."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, n in [(f"data_batch_{i}", TRAIN_PER_BATCH) for i in range(1, 6)] + [
        ("test_batch", TEST_IMAGES)
    ]:
        x = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
        y = np.arange(n) % 10
        batch = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in y],
            b"data": x.transpose(0, 3, 1, 2).reshape(n, -1),
            b"filenames": [f"{name}_{i}.png".encode() for i in range(n)],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        if name == "test_batch":
            exact = root / "cifar10-exact-subset"
            exact.mkdir()
            np.savez(exact / "test_first1017.npz", x=x[:EXACT_IMAGES], y=y[:EXACT_IMAGES],
                     y_all=y)
    return root


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny data dir, a tiny model file and a config naming them."""
    root = tmp_path_factory.mktemp("cli")
    data_dir = _write_cifar(root / "data", np.random.default_rng(0))
    model_path = root / "tiny.keras"
    _tiny_cnn().save(model_path)
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        "model": {"file": str(model_path)},
        "data": {"data_dir": str(data_dir), "batch_size": 16, "eval_batch_size": 32},
        "method": "l1-global",
        "budget": 0.5,
        "search": {"epochs": 2, "lr": 0.01},
        "finetune": {"epochs": 1, "lr": 0.01},
        "output": {"dir": str(root / "runs")},
    }))
    return type("Setup", (), {"root": root, "data_dir": data_dir, "model": model_path,
                              "config": config})


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv(data.CACHE_DIR_ENV, str(tmp_path / "cache"))


def _run(argv, capsys=None):
    code = cli.main(argv)
    out = capsys.readouterr() if capsys is not None else None
    return code, out


def _metrics(run):
    return json.loads((run / "metrics.json").read_text())


# -------------------------------------------------------------------- help


def test_top_level_help_lists_every_command(capsys):
    code, out = _run(["--help"], capsys)
    assert code == 0
    for name in ("search", "prune", "finetune", "eval", "bench", "export", "zoo"):
        assert f"    {name} " in out.out


@pytest.mark.parametrize("command", ["search", "prune", "finetune", "eval", "bench"])
def test_command_help_is_complete(command, capsys):
    code, out = _run([command, "--help"], capsys)
    assert code == 0
    text = out.out
    assert f"usage: dais {command}" in text
    if command != "bench":
        assert "--config FILE" in text and "--set KEY=VALUE" in text and "--out DIR" in text
        assert "examples:" in text
    if command in ("search", "prune"):
        assert "--budget" in text and "--round-to" in text and "metrics.json" in text
    if command == "prune":
        for method in baselines.available():
            assert f"  {method} " in text


def test_bench_help_describes_compare(capsys):
    code, out = _run(["bench", "--help"], capsys)
    assert code == 0 and "bench/compare.py" in out.out and "compare" in out.out


# ------------------------------------------------------------------ prune


@pytest.fixture(scope="module")
def baseline_run(setup):
    """One `dais prune` with a baseline, fine-tuned with distillation, shared
    by the checks of the run folder and of `dais finetune --distill`."""
    out = setup.root / "run-prune"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(data.CACHE_DIR_ENV, str(setup.root / "cache"))
        code = cli.main(["prune", "--config", str(setup.config), "--method", "cpmc",
                         "--budget", "0.4", "--round-to", "8", "--seed", "2",
                         "--set", "finetune.lr=0.02", "--distill",
                         "--set", "finetune.distill_weight=0.5", "--out", str(out), "--quiet"])
    return code, out


def test_prune_with_a_baseline_writes_the_run_folder(setup, baseline_run):
    code, out = baseline_run
    assert code == 0
    for name in ("config.yaml", "log.txt", "metrics.json", "pruned.keras", "finetuned.keras",
                 "widths.png", "finetune_history.csv", "finetune_history.png"):
        assert (out / name).is_file(), name
    cfg = config_lib.load(out / "config.yaml")
    assert (cfg["method"], cfg["budget"], cfg["round_to"], cfg["seed"]) == ("cpmc", 0.4, 8, 2)
    assert cfg["finetune"]["lr"] == 0.02
    metrics = _metrics(out)
    assert metrics["command"] == "prune" and metrics["method"] == "cpmc"
    assert metrics["feasible"] is True
    unpruned = dk.count_macs(keras.saving.load_model(setup.model))
    pruned = keras.saving.load_model(out / "pruned.keras")
    assert metrics["macs"]["unpruned"] == unpruned
    assert metrics["macs"]["pruned"] == dk.count_macs(pruned)
    assert 0.95 * 0.4 * unpruned <= metrics["macs"]["pruned"] <= 0.4 * unpruned
    for group in metrics["selection"]["groups"]:
        assert group["kept"] % 8 == 0 or group["kept"] == group["size"]
    accuracy = metrics["accuracy"]
    assert set(accuracy) == {"unpruned", "pruned", "finetuned"}
    assert set(accuracy["pruned"]) == {f"cifar10-exact-subset-{EXACT_IMAGES}",
                                       f"cifar10-original-test-{TEST_IMAGES}"}
    assert len(metrics["finetune"]["loss"]) == 1
    log = (out / "log.txt").read_text()
    assert "cpmc: budget 40.0%" in log and "top-1 pruned on cifar10-exact-subset" in log


@pytest.mark.parametrize("method", baselines.available())
def test_prune_works_for_every_baseline(setup, method, capsys):
    out = setup.root / f"run-{method}"
    code, printed = _run(["prune", "--config", str(setup.config), "--method", method,
                          "--budget", "0.3", "--no-finetune", "--no-eval", "--out", str(out),
                          "--quiet"], capsys)
    assert code == 0, printed.err
    metrics = _metrics(out)
    assert metrics["method"] == method and metrics["feasible"]
    assert 0.95 * 0.3 <= metrics["macs"]["ratio"] <= 0.3
    assert "accuracy" not in metrics and not (out / "finetuned.keras").exists()
    _, report = baselines.select(keras.saving.load_model(setup.model), method, 0.3)
    assert metrics["selection"]["keep"] == {str(k): v for k, v in report.keep.items()}


def test_default_run_folders_do_not_overwrite(setup, capsys):
    argv = ["prune", "--config", str(setup.config), "--method", "uniform", "--budget", "0.7",
            "--no-finetune", "--no-eval", "--quiet"]
    assert _run(argv, capsys)[0] == 0
    assert _run(argv, capsys)[0] == 0
    runs = setup.root / "runs"
    assert (runs / "tiny-uniform-70" / "pruned.keras").is_file()
    assert (runs / "tiny-uniform-70-2" / "pruned.keras").is_file()


def test_repeating_a_run_from_its_config(setup, capsys):
    first = setup.root / "run-repeat-1"
    second = setup.root / "run-repeat-2"
    common = ["--no-finetune", "--no-eval", "--quiet"]
    assert _run(["prune", "--config", str(setup.config), "--method", "random", "--seed", "5",
                 "--out", str(first)] + common, capsys)[0] == 0
    assert _run(["prune", "--config", str(first / "config.yaml"), "--out", str(second)]
                + common, capsys)[0] == 0
    assert _metrics(first)["selection"]["keep"] == _metrics(second)["selection"]["keep"]


# ----------------------------------------------------------------- search


def test_search_runs_dais_and_meets_the_band(setup, capsys):
    out = setup.root / "run-search"
    code, printed = _run(["search", "--config", str(setup.config), "--budget", "0.5",
                          "--epochs", "2", "--set", "search.single_level=true",
                          "--out", str(out), "--quiet"], capsys)
    assert code == 0, printed.err
    metrics = _metrics(out)
    assert metrics["command"] == "search" and metrics["method"] == "dais"
    assert config_lib.load(out / "config.yaml")["method"] == "dais"
    assert metrics["feasible"] is True
    assert 0.95 * 0.5 <= metrics["macs"]["ratio"] <= 0.5
    assert len(metrics["search"]["loss"]) == 2
    for name in ("pruned.keras", "finetuned.keras", "search_history.csv", "search_history.png",
                 "widths.png", "alphas.png"):
        assert (out / name).is_file(), name
    pruned = keras.saving.load_model(out / "pruned.keras")
    assert dk.count_macs(pruned) == metrics["macs"]["pruned"]


@pytest.mark.parametrize("method, message", [
    ("bogus", "Config key 'method' must be one of ['dais', 'uniform', "),
    ("uniform", "`dais search` runs DAIS, but the overrides ask for method 'uniform'"),
])
def test_search_rejects_another_method(setup, capsys, tmp_path, method, message):
    """`dais search --set method=bogus` is an error, not silently ignored."""
    code, out = _run(["search", "--config", str(setup.config), "--set", f"method={method}",
                      "--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 1 and message in out.err


# --------------------------------------------------------------- finetune


def test_finetune_a_model_file(setup, capsys):
    out = setup.root / "run-finetune"
    code, printed = _run(["finetune", str(setup.model), "--config", str(setup.config),
                          "--epochs", "2", "--lr", "0.05", "--set", "finetune.schedule=step",
                          "--out", str(out), "--quiet"], capsys)
    assert code == 0, printed.err
    metrics = _metrics(out)
    assert len(metrics["finetune"]["loss"]) == 2
    assert set(metrics["accuracy"]) == {"before", "finetuned"}
    cfg = config_lib.load(out / "config.yaml")
    assert cfg["finetune"]["epochs"] == 2 and cfg["finetune"]["lr"] == 0.05
    tuned = keras.saving.load_model(out / "finetuned.keras")
    assert dk.count_macs(tuned) == dk.count_macs(keras.saving.load_model(setup.model))


def test_finetune_with_distillation(setup, baseline_run, capsys):
    out = setup.root / "run-distill"
    code, pruned = baseline_run
    assert code == 0
    log = (pruned / "log.txt").read_text()
    assert "distilling from 'tiny_cnn' (T=4, weight 0.5)" in log
    assert (pruned / "finetuned.keras").is_file()
    code, printed = _run(["finetune", str(pruned / "pruned.keras"), "--config", str(setup.config),
                          "--distill", "--teacher", str(setup.model), "--no-eval",
                          "--out", str(out), "--quiet"], capsys)
    assert code == 0, printed.err
    assert "distilling from 'tiny_cnn'" in (out / "log.txt").read_text()
    assert config_lib.load(out / "config.yaml")["finetune"]["teacher"] == str(setup.model)
    tuned = keras.saving.load_model(out / "finetuned.keras")
    assert dk.count_macs(tuned) == dk.count_macs(keras.saving.load_model(pruned / "pruned.keras"))
    code, printed = _run(["finetune", str(pruned / "pruned.keras"), "--config", str(setup.config),
                          "--distill", "--no-eval", "--out", str(setup.root / "run-d2"),
                          "--quiet"], capsys)
    assert code == 1 and "finetune.distill=true needs a teacher" in printed.err


def test_finetune_needs_epochs(setup, capsys):
    code, out = _run(["finetune", str(setup.model), "--config", str(setup.config),
                      "--epochs", "0", "--out", str(setup.root / "run-ft0"), "--quiet"], capsys)
    assert code == 1 and "finetune.epochs is 0" in out.err


# ------------------------------------------------------------------- eval


def test_eval_prints_accuracy_on_both_sets(setup, capsys):
    code, out = _run(["eval", str(setup.model), "--config", str(setup.config), "--on", "both",
                      "--json", "--quiet"], capsys)
    assert code == 0, out.err
    result = json.loads(out.out)
    model = keras.saving.load_model(setup.model)
    x, y = data.cifar10_exact_subset(setup.data_dir)
    expected = float(np.mean(np.argmax(model.predict(x.astype("float32"), verbose=0), -1) == y))
    assert result["accuracy"][f"cifar10-exact-subset-{EXACT_IMAGES}"] == pytest.approx(expected)
    assert f"cifar10-original-test-{TEST_IMAGES}" in result["accuracy"]
    assert result["macs"] == dk.count_macs(model)


def test_eval_exact_only_with_limit_and_run_folder(setup, capsys):
    out = setup.root / "run-eval"
    code, printed = _run(["eval", str(setup.model), "--data-dir", str(setup.data_dir),
                          "--on", "test", "--limit", "10", "--out", str(out), "--quiet"], capsys)
    assert code == 0, printed.err
    assert "top-1 on cifar10-original-test-10:" in printed.out
    metrics = _metrics(out)
    assert list(metrics["accuracy"]) == ["cifar10-original-test-10"]
    assert (out / "config.yaml").is_file() and (out / "log.txt").is_file()


def test_eval_of_a_zoo_entry(setup, capsys, tmp_path, monkeypatch):
    from dais_keras.deploy import zoo
    zoo_dir = tmp_path / "zoo"
    monkeypatch.setenv("DAIS_ZOO_DIR", str(zoo_dir))
    zoo.publish(keras.saving.load_model(setup.model), "tiny-cnn", metrics={"x": 0.1},
                budget=0.5, base="tinycnn", dataset="cifar10", licence="Apache-2.0",
                command="pytest tests/test_cli_commands.py", zoo_dir=zoo_dir)
    code, out = _run(["eval", "tiny-cnn@1", "--data-dir", str(setup.data_dir), "--on", "exact",
                      "--json", "--quiet"], capsys)
    assert code == 0, out.err
    result = json.loads(out.out)
    assert result["model"] == "tiny-cnn@1"
    assert result["macs"] == dk.count_macs(keras.saving.load_model(setup.model))


def test_eval_of_a_builder_name(setup, capsys):
    code, out = _run(["eval", "resnet20", "--data-dir", str(setup.data_dir), "--on", "exact",
                      "--json", "--quiet"], capsys)
    assert code == 0, out.err
    assert json.loads(out.out)["macs"] == 40551040


def test_model_files_load_in_safe_mode(setup, capsys, tmp_path):
    """A .keras file given to a command never runs its code, even
    after `keras.config.enable_unsafe_deserialization()`."""
    from keras.src.saving import serialization_lib

    marker = tmp_path / "ran"
    inputs = keras.Input((32, 32, 3))
    name = str(marker)
    evil = keras.Model(inputs, L.Lambda(lambda t: (open(name, "w").close(), t)[1])(inputs))
    marker.unlink()  # building it ran the lambda once
    evil.save(tmp_path / "evil.keras")
    with serialization_lib.SafeModeScope(serialization_lib.in_safe_mode()):
        keras.config.enable_unsafe_deserialization()
        code, out = _run(["eval", str(tmp_path / "evil.keras"), "--data-dir",
                          str(setup.data_dir), "--on", "exact", "--quiet"], capsys)
    assert code == 1 and "Lambda" in out.err
    assert not marker.exists()


# ----------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "argv, message",
    [
        (["prune", "--budget", "1.5"], "Config key 'budget' must be a number in (0, 1); got 1.5"),
        (["prune", "--method", "uniform", "--latency", "0.5", "--set", "search.lambda_budget=2"],
         "Config section 'search' has lambda_budget, which method 'uniform' does not use"),
        (["search", "--latency", "1.5"], "Config key 'budget' must be a number in (0, 1) (MACs) "
                                         "or a mapping {latency: fraction}"),
        (["prune", "--set", "finetune.lrr=1"], "Unknown config key 'finetune.lrr'"),
        (["prune", "--set", "budget"], "must look like KEY=VALUE"),
        (["prune", "--scale", "huge"], "Config key 'scale' is 'huge'"),
        (["prune", "--config", "/nonexistent/c.yaml"], "No such config file"),
        (["eval", "/nonexistent/m.keras"], "model.file: no such model file"),
        (["eval", "vgg16", "--set", "model.pretrained=true"], "no pretrained weights for 'vgg16'"),
        (["eval", "x.keras", "--on", "exact", "--data-dir", "/nonexistent"], "no such model file"),
    ],
)
def test_errors_exit_1_with_the_message(argv, message, capsys, tmp_path):
    code, out = _run(argv + ["--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 1
    assert message in out.err


def test_missing_data_is_reported(setup, capsys, tmp_path):
    code, out = _run(["eval", str(setup.model), "--data-dir", str(tmp_path / "empty"),
                      "--on", "exact", "--quiet"], capsys)
    assert code == 1 and "exact subset" in out.err and "not found" in out.err


def test_unknown_method_is_a_usage_error(capsys):
    code, out = _run(["prune", "--method", "l3"], capsys)
    assert code == 2 and "invalid choice: 'l3'" in out.err


def test_infeasible_round_to_is_a_warning_not_a_failure(setup, capsys, tmp_path):
    out = tmp_path / "run"
    code, printed = _run(["prune", "--config", str(setup.config), "--method", "l1-global",
                          "--budget", "0.05", "--round-to", "16", "--no-finetune", "--no-eval",
                          "--out", str(out), "--quiet"], capsys)
    assert code == 0, printed.err
    metrics = _metrics(out)
    assert metrics["feasible"] is False
    assert "the budget band was not met" in printed.out


def test_baseline_prunes_to_a_latency_budget_from_the_given_table(setup, capsys, tmp_path):
    """`dais prune --method halp --latency 0.5` reads search.latency_table
    (synthetic timings here) and predicts at most half the model's latency."""
    from dais_keras import latency as L

    def timer(one):
        c_in, c_out = int(one.inputs[0].shape[-1]), int(one.outputs[0].shape[-1])
        return 0.01 + 0.002 * c_in + 0.003 * c_out + 0.0005 * c_in * c_out

    model = keras.saving.load_model(setup.model)
    table = L.build_latency_table(model, cache_dir=str(tmp_path / "cache_t"), timer=timer,
                                  max_points=(4, 5), verbose=0)
    table_path = tmp_path / "table.json"
    table.save(table_path)
    out = tmp_path / "run"
    code, printed = _run(["prune", "--config", str(setup.config), "--method", "halp",
                          "--latency", "0.5", "--set", f"search.latency_table={table_path}",
                          "--no-finetune", "--no-eval", "--out", str(out), "--quiet"], capsys)
    assert code == 0, printed.err
    metrics = _metrics(out)
    assert metrics["budget"] == {"latency": 0.5} and metrics["feasible"] is True
    latency = metrics["selection"]["latency"]
    assert latency["lower_ms"] <= latency["after_ms"] <= latency["target_ms"]
    assert latency["target_ms"] == pytest.approx(0.5 * latency["total_ms"])
    assert metrics["macs"]["ratio"] < 0.5  # per-layer overheads: half the latency, fewer MACs


# ------------------------------------------------------------------ bench


def test_bench_compare_runs_the_script_or_says_it_is_missing(capsys, tmp_path, monkeypatch):
    from dais_keras.experiments.commands import bench

    monkeypatch.setattr(bench, "repo_root", lambda: tmp_path)
    code, out = _run(["bench", "compare", "--config", "x.yaml"], capsys)
    assert code == 1
    assert "compare.py, which does not exist (yet)" in out.err
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "compare.py").write_text(
        "import sys, pathlib\n"
        "pathlib.Path(sys.argv[0]).with_name('args.txt').write_text(' '.join(sys.argv[1:]))\n"
        "sys.exit(3)\n"
    )
    code, _ = _run(["bench", "compare", "--config", "x.yaml", "--fast"], capsys)
    assert code == 3
    assert (tmp_path / "bench" / "args.txt").read_text() == "--config x.yaml --fast"
    code, _ = _run(["bench", "compare", "--help"], capsys)
    assert (tmp_path / "bench" / "args.txt").read_text() == "--help"
    code, _ = _run(["bench", "compare", "--", "-x"], capsys)
    assert (tmp_path / "bench" / "args.txt").read_text() == "-x"
    code, out = _run(["bench", "nothing"], capsys)
    assert code == 2 and "invalid choice: 'nothing'" in out.err
