"""The GPU run's scripts: `bench/gpu_full_schedule.py` (its sizing, its time
guard, its TensorFlow blocker) and `scripts/gpu_bundle.py` (the command it
prints). Their end-to-end path runs in `tests/test_tensorflow_free.py` and
in the committed dry runs
(`bench/results/gpu_full_schedule_dry_run_{jax,torch}.json`)."""

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import keras

REPOSITORY = Path(__file__).resolve().parents[1]


def _load(relative):
    path = REPOSITORY / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


schedule = _load("bench/gpu_full_schedule.py")
bundle = _load("scripts/gpu_bundle.py")


def test_default_schedule_fits_ten_minutes_on_the_assumed_gpu():
    args = schedule._parse([])
    estimate = schedule.estimate_seconds(args.search_epochs, args.finetune_epochs,
                                         40_000, 50_000)
    assert estimate["total_s"] <= args.time_budget <= 600
    assert args.search_epochs >= 10 and args.finetune_epochs >= 20  # many epochs
    # Twice the epochs would not fit: the sizing is not slack.
    assert schedule.estimate_seconds(2 * args.search_epochs, 2 * args.finetune_epochs,
                                     40_000, 50_000)["total_s"] > 600


def test_epoch_clock_stops_fit_before_the_deadline():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.zeros((8, 2), "float32"), np.zeros((8, 1), "float32")
    late = schedule._epoch_clock(time.perf_counter() + 3600)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[late])
    assert len(late.seconds) == 3 and not late.stopped
    assert late.images_per_second(8) > 0
    soon = schedule._epoch_clock(time.perf_counter())
    model.fit(x, y, epochs=3, verbose=0, callbacks=[soon])
    assert len(soon.seconds) == 1 and soon.stopped


def test_block_tensorflow_in_a_fresh_process():
    code = (
        "import importlib.util, sys; sys.path.insert(0, sys.argv[1]);"
        "import gpu_full_schedule as g; g.block_tensorflow()\n"
        "assert importlib.util.find_spec('tensorflow').origin is None\n"
        "try:\n import tensorflow.keras\nexcept ImportError as e:\n print(e)"
    )
    run = subprocess.run([sys.executable, "-c", code, str(REPOSITORY / "bench")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "TensorFlow is blocked ('tensorflow')" in run.stdout


def test_bundle_command_fits_the_run_tool():
    call = bundle.command()
    assert call["carry"] == [".cache/gpu_bundle"] and call["timeout_s"] <= 600
    assert len(call["command"]) <= 2000
    shell = call["command"]
    for part in ("--target /tmp/site .cache/gpu_bundle/wheels/*.whl",
                 "KERAS_BACKEND=jax", "DAIS_DATA_DIR=$PWD/.cache/gpu_bundle/data",
                 "DAIS_WEIGHTS_DIR=$PWD/.cache/gpu_bundle/weights",
                 "python3 bench/gpu_full_schedule.py --out $OUT"):
        assert part in shell, part
    assert json.loads(json.dumps(call)) == call
    assert "KERAS_BACKEND=torch" in bundle.command(".b", "torch")["command"]
