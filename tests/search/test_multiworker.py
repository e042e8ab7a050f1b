"""The DAIS search across worker processes stays one search.

Two worker processes on localhost ports search the toy model together
(`multiworker_worker.py`): TensorFlow with `MultiWorkerMirroredStrategy`
(`TF_CONFIG`), JAX with `keras.distribution.initialize` and `DataParallel`.
Each worker reads its own half of every global batch. Their indicators,
temperature and step counter must be identical after the search, and the
search must match the same search in one process on the whole batches (the
same gradients, summed in another order): alphas within 1e-5, the same
kept widths. The workers run with a time limit and are killed with their
process group on any failure.
"""

import os
import pathlib
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

WORKER = pathlib.Path(__file__).with_name("multiworker_worker.py")
TIMEOUT_S = 240


def _free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _start(backend, rank, world, ports, out):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
           "CUDA_VISIBLE_DEVICES": ""}
    env.pop("TF_CONFIG", None)
    env.pop("XLA_FLAGS", None)  # one CPU device per worker
    return subprocess.Popen(
        [sys.executable, str(WORKER), "--rank", str(rank), "--world", str(world),
         "--ports", ",".join(map(str, ports)), "--out", str(out)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )


def _run(backend, world, tmp_path):
    ports = _free_ports(world)
    outs = [tmp_path / f"{backend}_{world}_{rank}.npz" for rank in range(world)]
    workers = [_start(backend, rank, world, ports, out) for rank, out in enumerate(outs)]
    try:
        logs = [w.communicate(timeout=TIMEOUT_S)[0] for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                os.killpg(w.pid, signal.SIGKILL)
                w.wait()
    for w, log in zip(workers, logs):
        assert w.returncode == 0, log[-3000:]
    return [dict(np.load(out)) for out in outs]


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_two_workers_search_as_one(backend, tmp_path):
    first, second = _run(backend, 2, tmp_path)
    for key in ("alphas", "widths", "temperature", "step"):
        np.testing.assert_array_equal(first[key], second[key], err_msg=key)
    assert first["step"] > 10 and first["temperature"] < 1e-3  # the search ran and annealed
    (single,) = _run(backend, 1, tmp_path)
    np.testing.assert_allclose(first["alphas"], single["alphas"], atol=1e-5)
    np.testing.assert_array_equal(first["widths"], single["widths"])
    assert first["step"] == single["step"]
