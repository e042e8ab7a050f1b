"""Shared helpers of the benchmark scripts (run as `python bench/NAME.py`)."""

import os
import platform


def machine():
    """A description of this machine for a benchmark's JSON result."""
    import keras

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "load_average": os.getloadavg(),
    }
