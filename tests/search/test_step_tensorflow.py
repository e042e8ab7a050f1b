"""TensorFlow's search step (`dais_keras.search.step_tensorflow`) under
`tf.distribute.MirroredStrategy`, in a fresh process: a failed collective
operation leaves TensorFlow's collective runtime aborted for the rest of the
process, so it must not share one with other tests."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent('''
    import sys
    import numpy as np
    import tensorflow as tf

    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import dais_keras as dk
    from dais_keras.testing import toy_data, toy_model

    def search(scope, **kwargs):
        with scope:
            model = dk.attach_indicators(toy_model(seed=6, batch_norm=False, **kwargs))
            model.compile(optimizer=keras.optimizers.SGD(0.05),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        x, y = toy_data(64, seed=1)
        xs, ys = toy_data(32, seed=2)
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[
            dk.DAISCallback(budget=0.5, search_data=(xs, ys), batch_size=16, verbose=0)])
        return [a.shape for a in model.alpha_values()]

    devices = ["/cpu:0", "/cpu:1"]
    case = sys.argv[1]
    if case == "one":  # the fix the error names: one strategy, every model in its scope
        strategy = tf.distribute.MirroredStrategy(devices)
        print("first", search(strategy.scope(), widths=(4, 8)))
        print("second", search(strategy.scope()))
    else:
        print("first", search(tf.distribute.MirroredStrategy(devices).scope(), widths=(4, 8)))
        try:
            search(tf.distribute.MirroredStrategy(devices).scope())
        except RuntimeError as error:
            print("RuntimeError:", error)
''')


def _run(case):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, case], env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout


def test_second_mirrored_strategy_gets_a_clear_error():
    out = _run("two")
    assert "first" in out
    assert "RuntimeError:" in out, out
    message = out.split("RuntimeError:", 1)[1]
    assert "MirroredStrategy" in message
    assert "one strategy per process" in message
    assert "tensorflow/tensorflow#62790" in message


def test_one_mirrored_strategy_searches_models_of_two_shapes():
    out = _run("one")
    assert "first" in out and "second" in out, out
