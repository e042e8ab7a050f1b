"""The demo's search writes its TensorBoard logs under its output folder
(runs/demo/tensorboard by default); the demo itself takes minutes, so this
runs its callbacks in a toy `prune`."""

import os

import pytest

import keras

import dais_keras as dk
from dais_keras.experiments import demo

pytestmark = pytest.mark.filterwarnings("ignore:The DAIS search has")


def test_default_output_folder_holds_the_tensorboard_logs():
    assert demo._parse([]).out == os.path.join("runs", "demo")
    (board,) = demo.search_callbacks(os.path.join("runs", "demo"))
    assert isinstance(board, keras.callbacks.TensorBoard)
    assert board.log_dir == os.path.join("runs", "demo", "tensorboard")


def test_demo_callbacks_log_the_search_of_prune(toy, tmp_path):
    x, y = toy.data(64, seed=1)
    callbacks = demo.search_callbacks(str(tmp_path))
    dk.prune(toy.model(), 0.5, (x, y), search_data=toy.data(32, seed=2), epochs=2,
             finetune_epochs=0, batch_size=16, callbacks=callbacks, recalibrate_batches=0,
             verbose=0)
    train = tmp_path / "tensorboard" / "train"
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(train))
    from tensorboard.backend.event_processing import event_accumulator

    acc = event_accumulator.EventAccumulator(str(train))
    acc.Reload()
    tags = set(acc.Tags()["tensors"])
    assert {"epoch_loss", "epoch_dais_T", "epoch_dais_macs", "epoch_dais_binarized"} <= tags
    assert {"dais_alpha/conv1", "dais_alpha/conv2", "dais_alpha/block_conv1"} <= tags
