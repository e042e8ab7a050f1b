"""The latency table: what each layer configuration costs on this machine.

`build_latency_table` times every probe (`dais_keras.latency.probes`) of a
model over its channel grid in the target runtime (batch 1, one thread,
the smallest of `rounds` medians of `runs` invocations, minus the
invocation overhead of an empty model). `LatencyTable` holds the grids,
keyed by the layer's configuration, and is cached on disk per runtime and
machine (under `dais_keras.utils.paths.cache_dir("latency")`), so a model
re-uses what an earlier one measured. A layer's latency at any channel
counts is the bilinear interpolation of its grid (`hat`).
"""

import json
import os

import numpy as np

import keras

from dais_keras.groups.graph import channel_groups
from dais_keras.latency import probes as probes_lib
from dais_keras.runtime.runner import DEFAULT_RUNTIME
from dais_keras.runtime.runner import check_runtime
from dais_keras.runtime.runner import compile_runner
from dais_keras.runtime.runner import runner
from dais_keras.runtime.runner import runtime_id
from dais_keras.utils import io
from dais_keras.utils import paths
from dais_keras.utils.checks import check_int
from dais_keras.utils.checks import check_verbose
from dais_keras.utils.functional import as_functional
from dais_keras.utils.machine import machine_id
from dais_keras.utils.machine import machine_info
from dais_keras.utils.progress import Progress
from dais_keras.utils.timing import time_ms

FORMAT = "dais_keras.latency/1"


def hat(x, grid, xp):
    """Hat-function weights `(n, P)` of points `x` (n,) on a sorted grid:
    `weights @ values` interpolates `values` linearly between grid points."""
    grid = np.asarray(grid, dtype=np.float64)
    if grid.size == 1:
        return xp.ones_like(x[:, None])
    padded = np.concatenate([[grid[0] - 1.0], grid, [grid[-1] + 1.0]])
    lo, mid, hi = padded[:-2], padded[1:-1], padded[2:]
    dtype = "float32" if xp is not np else "float64"
    lo, mid, hi = (v.astype(dtype) for v in (lo, mid, hi))
    if xp is not np:  # numpy arrays do not mix with torch tensors
        lo, mid, hi = (xp.convert_to_tensor(v) for v in (lo, mid, hi))
    # Constant outside the grid (fewer channels than measured, or more).
    x = xp.clip(x, float(grid[0]), float(grid[-1]))[:, None]
    left = (x - lo) / (mid - lo)
    right = (hi - x) / (hi - mid)
    return xp.clip(xp.minimum(left, right), 0.0, 1.0)


class LatencyTable:
    """Measured latencies of layer configurations over channel-count grids.

    Each entry (keyed by `key`, see `build_latency_table`) holds the grids
    `c_in`, `c_out` and the matrix `ms[i][j]`, the latency in milliseconds at
    `c_in[i]` input and `c_out[j]` output channels, minus the runtime's
    invocation overhead (`invoke_ms`).

    Args:
        runtime: The runtime's id (`runtime_id`).
        machine: `machine_info()` of the machine that measured it.
        entries: Dict key -> entry dict.
        invoke_ms: Latency of an empty model (subtracted from the entries).
    """

    def __init__(self, runtime, machine, entries=None, invoke_ms=0.0):
        self.runtime = str(runtime)
        self.machine = dict(machine)
        self.entries = dict(entries or {})
        self.invoke_ms = float(invoke_ms)

    @property
    def machine_id(self):
        return machine_id(self.machine)

    def __contains__(self, key):
        return key in self.entries

    def __len__(self):
        return len(self.entries)

    def __repr__(self):
        return (
            f"<LatencyTable {self.runtime} on {self.machine.get('cpu', '?')}: "
            f"{len(self)} layer configurations>"
        )

    def lookup(self, key, c_in, c_out):
        """Interpolated latency (ms) of entry `key` at the given counts
        (scalars or arrays)."""
        if key not in self.entries:
            raise KeyError(
                f"No latency entry {key!r} in {self!r}; build it with "
                "dais_keras.latency.build_latency_table(model)."
            )
        e = self.entries[key]
        c_in = np.atleast_1d(np.asarray(c_in, dtype=np.float64))
        c_out = np.atleast_1d(np.asarray(c_out, dtype=np.float64))
        F = np.asarray(e["ms"], dtype=np.float64)
        value = np.sum((hat(c_in, e["c_in"], np) @ F) * hat(c_out, e["c_out"], np), axis=1)
        return value if value.size > 1 else float(value[0])

    def get_config(self):
        return {
            "format": FORMAT,
            "runtime": self.runtime,
            "machine": self.machine,
            "invoke_ms": self.invoke_ms,
            "entries": self.entries,
        }

    @classmethod
    def from_config(cls, config):
        if config.get("format") != FORMAT:
            raise ValueError(
                f"Not a latency table of format {FORMAT!r}: format={config.get('format')!r}."
            )
        return cls(config["runtime"], config["machine"], config["entries"], config["invoke_ms"])

    def save(self, path):
        """Writes the table as JSON (atomically); returns `path`."""
        io.write_json(path, self.get_config(), indent=1, sort_keys=True)
        return path

    @classmethod
    def load(cls, path):
        """Reads a table written by `save`."""
        with open(path) as f:
            return cls.from_config(json.load(f))


def default_cache_dir():
    """The latency cache: `cache_dir("latency")` of `dais_keras.utils.paths`
    (`$DAIS_KERAS_CACHE/latency`, default `~/.cache/dais_keras/latency`)."""
    return str(paths.cache_dir("latency"))


def cache_path(runtime=DEFAULT_RUNTIME, cache_dir=None):
    """The cache file of `runtime` on this machine."""
    rid = runtime_id(runtime)
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in rid)
    return os.path.join(cache_dir or default_cache_dir(), f"{safe}-{machine_id()}.json")


def _invoke_ms(runtime, runs):
    x = keras.Input(batch_shape=(1, 1))
    model = keras.Model(x, keras.layers.ReLU()(x))
    return time_ms(runner(model, runtime), runs=max(runs, 50))


def _cached_table(path):
    try:
        return LatencyTable.load(path)
    except (ValueError, KeyError, json.JSONDecodeError) as e:
        raise ValueError(
            f"The latency cache {path} is unreadable ({e}); delete it to "
            "measure again."
        ) from e


def _measure(probe, runtime, runs, rounds, timer, invoke_ms):
    """The latency grid (ms, minus `invoke_ms`) of one probe."""
    ms = np.zeros((len(probe.grid_in), len(probe.grid_out)))
    for a, ci in enumerate(probe.grid_in):
        for b, co in enumerate(probe.grid_out):
            co = ci if probe.depthwise else co
            one = probes_lib.probe_model(probe, ci, co)
            if timer is not None:
                best = float(timer(one))
            else:
                make = compile_runner(one, runtime)
                best = min(
                    time_ms(make(), runs=runs, warmup=5, warmup_s=0.03)
                    for _ in range(max(1, int(rounds)))
                )
            ms[a, b] = max(best - invoke_ms, 0.0)
    return {
        "description": probe.description,
        "c_in": [int(v) for v in probe.grid_in],
        "c_out": [int(v) for v in probe.grid_out],
        "depthwise": bool(probe.depthwise),
        "ms": ms.round(6).tolist(),
    }


def build_latency_table(
    model,
    runtime=DEFAULT_RUNTIME,
    cache_dir=None,
    granularity=4,
    max_points=(9, 17),
    runs=40,
    rounds=2,
    use_cache=True,
    timer=None,
    verbose="auto",
):
    """Measures (or reads from the cache) the latency table of `model`.

    Every layer call with MACs (see `dais_keras.latency.probes`) is timed
    as a one-layer model over a grid of input and output channel counts
    (`axis_grid`). Entries already in the cache file of this runtime and
    machine are re-used; new ones are added to it (after each one, so an
    interrupted build keeps what it measured).

    Args:
        model: A functional Keras model, with or without channel indicators.
        runtime: `"tflite"` (LiteRT, XNNPack) or `"onnxruntime"`.
        cache_dir: Directory of the cache files (default
            `default_cache_dir()`).
        granularity: Grid step in channels (doubled for wide layers).
            XNNPack computes output channels in blocks of 8 on x86: widths
            between two multiples of 8 can be slower than the next
            multiple, which a grid step of 4 shows to the search.
        max_points: Most grid points per axis, an int or a pair
            `(input, output)`. Latency grows smoothly with the input
            channels and in steps with the output channels, hence more
            output points by default.
        runs: Timed invocations per grid point and round.
        rounds: Rounds per grid point (fresh interpreter each); the
            smallest round median is kept (noise only adds time).
        use_cache: Read and update the cache file.
        timer: Optional function `timer(one_layer_model) -> ms` replacing
            the runtime measurement (e.g. timing on a device); its figures
            are stored under `runtime`'s cache file, so give it its own
            `cache_dir`.
        verbose: `"auto"` (default) prints a progress line at most every
            10 seconds and the build's time when it took longer; 1 prints
            one line per measured layer configuration; 0 nothing.

    Returns:
        A `LatencyTable` holding (at least) the model's entries.

    Raises:
        ValueError: For an unknown runtime or an unreadable cache file.

    Example:

    >>> table = dais_keras.latency.build_latency_table(model, runtime="tflite")
    """
    check_runtime(runtime)
    runs = check_int("runs", runs, low=1)
    rounds = check_int("rounds", rounds, low=1)
    granularity = check_int("granularity", granularity, low=1)
    check_verbose("verbose", verbose)
    as_functional(model, argument="model")
    path = cache_path(runtime, cache_dir)
    table = _cached_table(path) if use_cache and os.path.exists(path) else None
    if table is None:
        invoke = 0.0 if timer is not None else _invoke_ms(runtime, runs)
        table = LatencyTable(runtime_id(runtime), machine_info(), invoke_ms=invoke)
    graph = channel_groups(model)
    probes = probes_lib.distinct(probes_lib.call_probes(graph, granularity, max_points))
    missing = [p for p in probes if p.measurable and p.key not in table]
    progress = Progress(f"latency table {table.runtime}", len(missing), verbose)
    for i, probe in enumerate(missing):
        entry = _measure(probe, runtime, runs, rounds, timer, table.invoke_ms)
        table.entries[probe.key] = entry
        if use_cache:
            table.save(path)
        low, high = np.min(entry["ms"]), np.max(entry["ms"])
        progress.step(i + 1, f"{probe.description}: {np.size(entry['ms'])} points, "
                      f"{low:.4f}-{high:.4f} ms")
    progress.done(f"measured {len(missing)} layer configurations of '{model.name}'")
    return table
