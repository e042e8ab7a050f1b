"""Shared helpers of the benchmark scripts (run as `python bench/NAME.py`)."""

from dais_keras.utils.machine import machine_info


def machine():
    """A description of this machine for a benchmark's JSON result: CPU,
    cores, platform, Python, Keras, the backend and the load average."""
    return machine_info(runtime=True)
