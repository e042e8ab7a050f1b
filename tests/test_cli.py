"""Tests of the `dais` command line (dais_keras.cli.main)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras

from dais_keras import cli
from dais_keras.deploy import export
from dais_keras.deploy import zoo
def tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Conv2D(4, 3, padding="same")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3)(x))


@pytest.fixture
def keras_file(tmp_path):
    path = tmp_path / "tiny.keras"
    tiny_model().save(path)
    return path


@pytest.fixture
def zoo_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DAIS_CACHE_DIR", str(tmp_path / "cache"))
    directory = tmp_path / "zoo"
    zoo.publish(
        tiny_model(), "tiny-cnn", metrics={"cifar10-exact-subset-1017": 0.4}, budget=0.5,
        base="tinycnn", dataset="cifar10", licence="Apache-2.0",
        command="pytest tests/test_cli.py", zoo_dir=directory,
    )
    return directory


# ------------------------------------------------------------------- help


def test_top_level_help_lists_the_commands(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: dais" in out and "export" in out and "zoo" in out


@pytest.mark.parametrize(
    "argv",
    [[name, "--help"] for name in cli.registered_commands()]
    + [["zoo", action, "--help"] for action in ("list", "show", "verify")],
)
def test_every_command_help_completes(argv, capsys):
    assert cli.main(argv) == 0
    assert f"usage: dais {' '.join(argv[:-1])}" in capsys.readouterr().out


def test_usage_errors_exit_2(capsys):
    assert cli.main([]) == 2
    assert cli.main(["no-such-command"]) == 2
    assert cli.main(["export", "m.keras"]) == 2  # --out is required.
    assert "required" in capsys.readouterr().err


def test_version(capsys):
    assert cli.main(["--version"]) == 0
    assert "dais-keras" in capsys.readouterr().out


def test_module_entry_point_runs():
    done = subprocess.run(
        [sys.executable, "-m", "dais_keras.cli", "zoo", "--help"],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: dais zoo" in done.stdout


_HELP_IMPORTS = """
import sys

import dais_keras.cli as cli

cli.build_parser()
for argv in (["--help"], ["search", "--help"], ["finetune", "--help"], ["eval", "--help"],
             ["export", "--help"], ["zoo", "list", "--help"], ["bench", "--help"], ["--version"]):
    assert cli.main(argv) == 0, argv
print("HEAVY", sorted(m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules))
"""


def test_help_imports_neither_keras_nor_tensorflow():
    """`dais --help` returns at once: building the parser imports neither
    Keras nor TensorFlow (TensorFlow alone takes seconds to import).
    (`dais prune --help` lists the baselines from their registry, which
    imports Keras.)"""
    done = subprocess.run([sys.executable, "-c", _HELP_IMPORTS], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stdout, done.stdout[-500:]


def test_tensorflow_start_up_lines_are_silenced(tmp_path):
    """TensorFlow's start-up lines (printed twice, before absl logging
    starts) are not shown, without TF_CPP_MIN_LOG_LEVEL in the environment."""
    (tmp_path / "index.json").write_text('{"schema_version": 1, "entries": {}}')
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(
        [sys.executable, "-m", "dais_keras.cli", "zoo", "list", "--zoo-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "no entries" in done.stdout
    for spam in ("absl::InitializeLog", "cudart_stub", "oneDNN custom operations",
                 "cpu_feature_guard"):
        assert spam not in done.stderr, done.stderr


# ----------------------------------------------------------------- export


def test_export_keras_file_to_tflite_and_onnx(keras_file, tmp_path, capsys):
    assert cli.main(["export", str(keras_file), "--out", str(tmp_path / "m.tflite")]) == 0
    assert "passed" in capsys.readouterr().out
    assert (tmp_path / "m.tflite").stat().st_size > 0

    argv = ["export", str(keras_file), "--out", str(tmp_path / "m.onnx"), "--batch-size", "1", "--json"]
    assert cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["format"] == "onnx" and result["passed"] is True
    assert result["batch_sizes"] == [1] and result["max_rel_error"] <= 1e-4


def test_export_quantized_with_calibration_file(keras_file, tmp_path, capsys):
    x = np.random.default_rng(0).uniform(0, 255, (40, 8, 8, 3)).astype("float32")
    np.savez(tmp_path / "data.npz", images=x)
    argv = ["export", str(keras_file), "--out", str(tmp_path / "q.tflite"), "--quantize", "int8",
            "--representative-data", f"{tmp_path / 'data.npz'}:images", "--representative-count", "32",
            "--min-top1-agreement", "0", "--json"]
    assert cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["quantize"] == "int8" and result["num_samples"] == 32

    np.save(tmp_path / "sample.npy", x[:5])
    argv = ["export", str(keras_file), "--out", str(tmp_path / "d.tflite"), "--quantize", "dynamic",
            "--sample", str(tmp_path / "sample.npy"), "--json"]
    assert cli.main(argv) == 0
    assert json.loads(capsys.readouterr().out)["num_samples"] == 5


def test_export_zoo_entry(zoo_dir, tmp_path, capsys):
    argv = ["export", "tiny-cnn@1", "--format", "tflite", "--out", str(tmp_path / "z.tflite"),
            "--zoo-dir", str(zoo_dir)]
    assert cli.main(argv) == 0
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--quantize", "int8"], "representative_data"),
        (["--out", "x.pb"], "Cannot tell the format"),
        (["--format", "onnx", "--quantize", "dynamic"], "--quantize apply to TFLite only"),
        (["--opset", "13"], "--opset applies to ONNX only"),
        (["--representative-data", "missing.npz", "--quantize", "int8"], "no such file"),
    ],
)
def test_export_errors_exit_1(keras_file, tmp_path, capsys, extra, message):
    argv = ["export", str(keras_file), "--out", str(tmp_path / "m.tflite")] + extra
    assert cli.main(argv) == 1
    assert message in capsys.readouterr().err


def test_export_missing_model_file_and_unknown_zoo_entry(tmp_path, zoo_dir, capsys):
    assert cli.main(["export", str(tmp_path / "nope.keras"), "--out", str(tmp_path / "m.tflite")]) == 1
    assert "No such model file" in capsys.readouterr().err
    argv = ["export", "nope@1", "--out", str(tmp_path / "m.tflite"), "--zoo-dir", str(zoo_dir)]
    assert cli.main(argv) == 1
    assert "Available: tiny-cnn" in capsys.readouterr().err


def test_export_parity_failure_exits_1(keras_file, tmp_path, capsys, monkeypatch):
    real = export._keras_outputs
    monkeypatch.setattr(export, "_keras_outputs", lambda m, x: real(m, x) + 1.0)
    assert cli.main(["export", str(keras_file), "--out", str(tmp_path / "m.tflite")]) == 1
    assert "failed the parity check" in capsys.readouterr().err
    # The written file is kept for inspection beside the destination,
    # which a failed export never replaces.
    assert (tmp_path / "m.failed.tflite").exists()
    assert not (tmp_path / "m.tflite").exists()


# -------------------------------------------------------------------- zoo


def test_zoo_list_show_verify(zoo_dir, capsys):
    assert cli.main(["zoo", "list", "--zoo-dir", str(zoo_dir)]) == 0
    out = capsys.readouterr().out
    assert "tiny-cnn@1" in out and "cifar10-exact-subset-1017 40.00%" in out
    assert out.splitlines()[1].split()[3] == "0.5"
    zoo.publish(tiny_model(), "tiny-cnn-lat50", metrics={"cifar10-exact-subset-1017": 0.4},
                budget={"latency": 0.5}, base="tinycnn", dataset="cifar10",
                licence="Apache-2.0", command="pytest", zoo_dir=zoo_dir,
                latency={"tflite_ms": 0.2, "machine": "here"})
    assert cli.main(["zoo", "list", "--zoo-dir", str(zoo_dir)]) == 0
    out = capsys.readouterr().out
    assert "tiny-cnn-lat50@1  tinycnn  cifar10  latency 0.5" in out

    assert cli.main(["zoo", "list", "--zoo-dir", str(zoo_dir), "--json"]) == 0
    assert list(json.loads(capsys.readouterr().out)) == ["tiny-cnn@1", "tiny-cnn-lat50@1"]

    assert cli.main(["zoo", "show", "tiny-cnn", "--zoo-dir", str(zoo_dir)]) == 0
    out = capsys.readouterr().out
    assert "sha256" in out and "tiny-cnn@1" in out

    assert cli.main(["zoo", "show", "tiny-cnn@1", "--zoo-dir", str(zoo_dir), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)["tiny-cnn@1"]
    assert record["licence"] == "Apache-2.0"

    assert cli.main(["zoo", "show", "tiny-cnn@1", "--zoo-dir", str(zoo_dir), "--card"]) == 0
    assert capsys.readouterr().out.startswith("# tiny-cnn@1")

    assert cli.main(["zoo", "verify", "--zoo-dir", str(zoo_dir)]) == 0
    assert "2 entries, 0 failed" in capsys.readouterr().out


def test_zoo_verify_fails_on_tampering(zoo_dir, capsys):
    weights = zoo_dir / "weights" / "tiny-cnn@1.keras"
    data = bytearray(weights.read_bytes())
    data[100] ^= 1
    weights.write_bytes(bytes(data))
    assert cli.main(["zoo", "verify", "--zoo-dir", str(zoo_dir)]) == 1
    assert "sha256 mismatch" in capsys.readouterr().out
    assert cli.main(["zoo", "verify", "--zoo-dir", str(zoo_dir), "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_zoo_empty_and_missing(tmp_path, capsys):
    (tmp_path / "index.json").write_text('{"schema_version": 1, "entries": {}}')
    assert cli.main(["zoo", "list", "--zoo-dir", str(tmp_path)]) == 0
    assert "no entries" in capsys.readouterr().out
    assert cli.main(["zoo", "list", "--zoo-dir", str(tmp_path / "none")]) == 1
    assert "No zoo index" in capsys.readouterr().err


# --------------------------------------------------------------- registry


def test_other_modules_can_register_commands(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_COMMANDS", dict(cli._COMMANDS))

    def configure(parser):
        parser.add_argument("--times", type=int, default=1)

    @cli.register_command("hello", help="Say hello.", configure=configure)
    def _hello(args):
        print("hello " * args.times)
        return 3

    assert "hello" in cli.registered_commands()
    assert cli.main(["hello", "--times", "2"]) == 3
    assert "hello hello" in capsys.readouterr().out
    assert cli.main(["--help"]) == 0
    assert "Say hello." in capsys.readouterr().out

    with pytest.raises(ValueError, match="'hello' is already registered"):
        cli.register_command("hello", help="again", run=lambda args: 0)
