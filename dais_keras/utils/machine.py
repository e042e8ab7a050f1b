"""A description of this machine, for latency tables and benchmark results."""

import hashlib
import json
import os
import platform


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(runtime=False):
    """CPU model, cores and platform; with `runtime=True` also Python, Keras,
    the backend and the load average (for benchmark results)."""
    info = {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "system": platform.system(),
    }
    if runtime:
        import keras

        info.update(
            platform=platform.platform(),
            python=platform.python_version(),
            keras=keras.__version__,
            backend=keras.backend.backend(),
            load_average=list(os.getloadavg()),
        )
    return info


def machine_id(info=None):
    """A short stable hash of `machine_info()` (the hardware part only)."""
    info = info or machine_info()
    text = json.dumps(info, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:10]
