"""TensorFlow's start-up log lines, silenced in one place.

TensorFlow prints its start-up lines (oneDNN, CUDA drivers, "All log messages
before absl::InitializeLog() ...") from C++ before its logging is set up, so
`TF_CPP_MIN_LOG_LEVEL` cannot hide them, and each of its two native libraries
prints them, so they appear twice. `silence_tensorflow` sets the variable,
imports TensorFlow with the process' stderr sent to a temporary file (shown
again if the import fails) and turns TensorFlow's Python loggers down to
errors. The `dais` command and the scripts call it once, before anything
imports TensorFlow.
"""

import contextlib
import importlib.util
import logging
import os
import sys
import tempfile

LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"


@contextlib.contextmanager
def _stderr_into(file):
    """Sends file descriptor 2 (C++ and Python stderr) into `file`."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(file.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def silence_tensorflow():
    """Imports TensorFlow (when installed) without its start-up log lines.

    Sets `TF_CPP_MIN_LOG_LEVEL=3` unless the environment sets it. With a
    level of 0 (show everything) the start-up lines are left alone. Does
    nothing more once TensorFlow is imported, or where it is not installed
    (e.g. Keras on JAX or torch only).
    """
    level = os.environ.setdefault(LOG_LEVEL_ENV, "3")
    if "tensorflow" not in sys.modules and importlib.util.find_spec("tensorflow") is not None:
        if level.strip() in ("", "0"):
            import tensorflow  # noqa: F401
        else:
            with tempfile.TemporaryFile(mode="w+") as captured:
                try:
                    with _stderr_into(captured):
                        import tensorflow  # noqa: F401
                except BaseException:
                    captured.seek(0)
                    sys.stderr.write(captured.read())
                    raise
    if "tensorflow" in sys.modules:
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        with contextlib.suppress(ImportError):
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
