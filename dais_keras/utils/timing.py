"""The one timing loop: median milliseconds per call of a function.

Used by the latency tables, `measure_latency` and the export and comparison
benchmarks, which time the models of one comparison in turns (round-robin),
so that a busy machine slows them all alike.
"""

import time

import numpy as np


def time_samples_ms(run, runs=100, warmup=10, warmup_s=0.0):
    """Wall times of `runs` calls of `run()` in milliseconds, after `warmup`
    calls and at least `warmup_s` seconds of calls.

    Args:
        run: A function of no argument.
        runs: Timed calls.
        warmup: Untimed calls first.
        warmup_s: Keep warming up for at least this many seconds.

    Returns:
        A numpy array of `runs` times, in call order.
    """
    start = time.perf_counter()
    done = 0
    while done < warmup or time.perf_counter() - start < warmup_s:
        run()
        done += 1
    times = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter()
        run()
        times[i] = time.perf_counter() - t0
    return 1000.0 * times


def time_ms(run, runs=100, warmup=10, warmup_s=0.0):
    """Median wall time of `run()` in milliseconds, after `warmup` calls
    and at least `warmup_s` seconds of calls (see `time_samples_ms`)."""
    return float(np.median(time_samples_ms(run, runs, warmup, warmup_s)))
