"""Fixtures of the deploy tests: a temporary zoo, a local HTTP server, and
models built once per session."""

import functools
import http.server
import threading

import pytest

import keras
from keras.src.saving import serialization_lib


@pytest.fixture
def zoo_dir(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("DAIS_CACHE_DIR", str(cache))
    monkeypatch.delenv("DAIS_KERAS_CACHE", raising=False)  # It would take precedence.
    monkeypatch.delenv("DAIS_ZOO_DIR", raising=False)
    return tmp_path / "zoo"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_root(tmp_path):
    """Serves a directory on 127.0.0.1 (free port); yields (dir, base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        assert not thread.is_alive()


@pytest.fixture
def unsafe_deserialization():
    """`keras.config.enable_unsafe_deserialization()` called by someone
    else in the process (restored afterwards)."""
    with serialization_lib.SafeModeScope(serialization_lib.in_safe_mode()):
        keras.config.enable_unsafe_deserialization()
        yield


@pytest.fixture(scope="session")
def resnet20():
    """The pretrained CIFAR-10 ResNet-20 port, built once per session."""
    from dais_keras import models

    return models.pretrained("resnet20")
