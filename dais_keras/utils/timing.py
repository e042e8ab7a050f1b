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


def time_in_turns(makers, rounds, runs=100, warmup=10, warmup_s=0.0):
    """Median milliseconds per call of several functions, timed in turns.

    Every round calls each of `makers` for the function to time (a fresh
    interpreter, or the same callable) and takes its `time_ms`; each figure
    is the median of its round medians, so that a slow phase of a shared
    machine hits every function alike.

    Args:
        makers: Functions of no argument, each returning the function of no
            argument to time.
        rounds: Rounds.
        runs, warmup, warmup_s: Per round and function (see `time_ms`).

    Returns:
        A list of floats, one per maker.
    """
    medians = [[] for _ in makers]
    for _ in range(int(rounds)):
        for k, make in enumerate(makers):
            medians[k].append(time_ms(make(), runs=runs, warmup=warmup, warmup_s=warmup_s))
    return [float(np.median(m)) for m in medians]
