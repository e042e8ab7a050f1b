"""The search's figures in a `keras.callbacks.TensorBoard` of the same `fit`:
the event files hold the scalars `DAISCallback` logs and a histogram of
every group's alphas."""

import numpy as np
import pytest

import keras

import dais_keras as dk
from dais_keras.search.callback import DAISCallback

# The `tensorboard` extra (part of `dev`).
from tensorboard.backend.event_processing import event_accumulator  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

# Searches of a few steps, shorter than the annealing needs: warned about.
pytestmark = pytest.mark.filterwarnings("ignore:The DAIS search has")

EPOCHS = 3
SCALARS = ("dais_T", "dais_macs", "dais_hard_macs", "dais_macs_fraction", "dais_binarized")


def _events(run_dir):
    """`{tag: [(step, value array)]}` of every tensor summary under `run_dir`."""
    acc = event_accumulator.EventAccumulator(str(run_dir), size_guidance={"tensors": 0})
    acc.Reload()
    return {
        tag: [(e.step, tensor_util.make_ndarray(e.tensor_proto)) for e in acc.Tensors(tag)]
        for tag in acc.Tags()["tensors"]
    }


def _search(toy, tmp_path, tensorboard_first=False):
    keras.utils.set_random_seed(0)
    model = toy.compile(dk.attach_indicators(toy.model()))
    x, y = toy.data(64, seed=1)
    cb = DAISCallback(budget=0.5, search_data=toy.data(32, seed=2), verbose=0)
    board = keras.callbacks.TensorBoard(str(tmp_path), write_graph=False)
    callbacks = [board, cb] if tensorboard_first else [cb, board]
    history = model.fit(x, y, epochs=EPOCHS, batch_size=16, callbacks=callbacks, verbose=0)
    return model, cb, history, _events(tmp_path / "train")


def test_scalars_and_alpha_histograms_reach_the_event_files(toy, tmp_path):
    model, cb, history, events = _search(toy, tmp_path)
    for name in SCALARS:
        tag = f"epoch_{name}"
        assert tag in events, sorted(events)
        assert [step for step, _ in events[tag]] == list(range(EPOCHS)), tag
        written = [float(value) for _, value in events[tag]]
        np.testing.assert_allclose(written, history.history[name], rtol=1e-6)
    # The last temperature written is the model's temperature variable.
    layer = model.search_structure().layers[0]
    last_T = float(events["epoch_dais_T"][-1][1])
    assert last_T == pytest.approx(float(model.read_variable(layer.temperature)), rel=1e-6)
    assert float(events["epoch_dais_T"][0][1]) > last_T
    assert all(0.0 <= float(v) <= 1.0 for _, v in events["epoch_dais_binarized"])
    assert all(0.0 < float(v) <= 1.0 for _, v in events["epoch_dais_macs_fraction"])
    # The figures share the run of the loss.
    assert [s for s, _ in events["epoch_loss"]] == list(range(EPOCHS))
    # One histogram per indicator group and epoch, over that group's alphas.
    names = model.search_structure().names
    histograms = sorted(t for t in events if t.startswith("dais_alpha/"))
    assert histograms == sorted(f"dais_alpha/{n}" for n in names)
    for name, alpha in zip(names, model.alpha_values()):
        series = events[f"dais_alpha/{name}"]
        assert [s for s, _ in series] == list(range(EPOCHS))
        buckets = series[-1][1]  # rows of (left edge, right edge, count)
        assert buckets.shape[1] == 3
        assert buckets[:, 2].sum() == pytest.approx(alpha.size)
        assert buckets[0, 0] == pytest.approx(float(alpha.min()), abs=1e-5)
        assert buckets[-1, 1] == pytest.approx(float(alpha.max()), abs=1e-5)


def test_tensorboard_listed_first_gets_every_figure_once(toy, tmp_path):
    model, cb, history, events = _search(toy, tmp_path, tensorboard_first=True)
    for name in SCALARS + ("dais_search_loss",):
        steps = [step for step, _ in events[f"epoch_{name}"]]
        # The search step's own logs stop with the hard finish (last epoch).
        expected = list(range(EPOCHS - 1)) if name == "dais_search_loss" else list(range(EPOCHS))
        assert steps == expected, (name, steps)
    for name in ("dais_hard_macs", "dais_macs_fraction", "dais_binarized"):
        written = [float(value) for _, value in events[f"epoch_{name}"]]
        np.testing.assert_allclose(written, history.history[name], rtol=1e-6)
    names = model.search_structure().names
    assert sorted(t for t in events if t.startswith("dais_alpha/")) == sorted(
        f"dais_alpha/{n}" for n in names)


def test_a_fit_without_tensorboard_writes_nothing(toy, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = toy.compile(dk.attach_indicators(toy.model()))
    x, y = toy.data(32, seed=1)
    cb = DAISCallback(budget=0.5, search_data=toy.data(16, seed=2), verbose=0)
    model.fit(x, y, epochs=2, batch_size=16, callbacks=[cb], verbose=0)
    assert cb._record.summaries is None
    assert list(tmp_path.iterdir()) == []
