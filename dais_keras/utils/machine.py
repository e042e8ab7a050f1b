"""A description of this machine, for latency tables and benchmark results."""

import hashlib
import json
import os
import platform


def _cpuinfo_field(name, path="/proc/cpuinfo"):
    """The value of the first `name` line of `path` (Linux's CPU
    description), or `None` where there is none or it cannot be read."""
    try:
        with open(path) as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip().lower() == name:
                    return value.strip()
    except OSError:
        pass
    return None


def _cpu_model():
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def cpu_flags(path="/proc/cpuinfo"):
    """The CPU's instruction set flags (an empty set where they cannot be
    read, e.g. off Linux)."""
    return set((_cpuinfo_field("flags", path) or "").split())


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
