"""`import dais_keras` and the whole prune path (search, repair, surgery,
BatchNorm recalibration, fine-tuning, accuracy) on JAX and torch in a process
where TensorFlow cannot be imported, as on a machine without it.

The process blocks TensorFlow with `dais_keras.utils.block_imports` (what
`bench/gpu_full_schedule.py --block-tensorflow` uses), then prunes a toy CNN with `dais_keras.prune` twice: from
a `keras.utils.PyDataset` (`ImagePyDataset`, augmented; the search split is
taken from it) and from arrays; the experiments pick the `pydataset` format
there. `make test` installs jax and torch: no skip.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]

_PRUNE_WITHOUT_TENSORFLOW = """
import sys

from dais_keras.utils.block_imports import block_tensorflow

block_tensorflow()
try:
    import tensorflow  # noqa: F401
except ImportError as e:
    print("blocked:", e)

import keras
import numpy as np

import dais_keras as dk
from dais_keras import data
from dais_keras.cost.macs import count_macs
from dais_keras.indicators.layer import ChannelIndicator
from dais_keras.testing import toy_data
from dais_keras.testing import toy_model

x, y = toy_data(160)
model = toy_model()
train = data.ImagePyDataset(x[:128], y[:128], 16, augment=True, shuffle=True, seed=1)
test = data.ImagePyDataset(x[128:], y[128:], 16)
pruned, report = dk.prune(model, 0.5, train, epochs=2, finetune_epochs=1, eval_data=test,
                          recalibrate_batches=2, verbose=0)
assert not any(isinstance(l, ChannelIndicator) for l in pruned.layers)
assert count_macs(pruned) <= 0.5 * count_macs(model) and report.budget_report.feasible
assert report.convergence["recalibration_batches"] == 2
assert len(report.finetune_history["loss"]) == 1
assert all(0.0 <= a <= 1.0 for a in (report.accuracy_before, report.accuracy_after))
assert np.isfinite(report.search_history["loss"]).all()
pruned_arrays, _ = dk.prune(model, 0.5, (x, y), epochs=1, finetune_epochs=0, batch_size=32,
                            recalibrate_batches=1, verbose=0)
assert count_macs(pruned_arrays) <= 0.5 * count_macs(model)
from dais_keras.experiments.builders import data_format
assert (data_format(), data_format("auto"), data_format("tf")) == ("pydataset",) * 2 + ("tf",)
print("backend:", keras.backend.backend())
print("tensorflow imported:", any(m.split(".")[0] == "tensorflow" for m in sys.modules))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_prune_runs_without_tensorflow(backend):
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(REPOSITORY))
    run = subprocess.run(
        [sys.executable, "-c", _PRUNE_WITHOUT_TENSORFLOW],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    assert "blocked: TensorFlow is blocked" in run.stdout, run.stdout
    assert f"backend: {backend}" in run.stdout, run.stdout
    assert "tensorflow imported: False" in run.stdout, run.stdout


def test_tensorflow_is_an_extra_not_a_dependency():
    """`pip install dais-keras[torch]` (or `[jax]`) must give an environment
    without TensorFlow: the core dependencies name neither it nor what
    needs it; the `tensorflow` extra (installed by `make`) does."""
    import tomllib

    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["project"]
    names = [dep.split(">")[0].split("=")[0].split("[")[0].strip().lower()
             for dep in project["dependencies"]]
    assert "keras" in names
    assert not {"tensorflow", "tensorflow-datasets", "tf2onnx"} & set(names), names
    extras = project["optional-dependencies"]
    assert any(dep.startswith("tensorflow>=") for dep in extras["tensorflow"])
    for backend in ("jax", "torch"):
        assert not any("tensorflow" in dep for dep in extras[backend]), extras[backend]
