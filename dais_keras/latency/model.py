"""Measured latency of a model as a function of its channel indicators.

Fewer MACs do not always mean a faster model: at batch 1 a runtime's
kernels pad channels to their vector width, and small layers are dominated
by fixed costs. This module measures what a layer really costs on this
machine and makes it a differentiable function of the indicators, so that
DAIS can search under a latency budget (`budget={"latency": 0.5}`).

1. **Table.** For every layer call that mixes channels (the calls with MAC
   terms: convolutions, dense, depthwise, separable), a one-layer model is
   built with the same configuration and input spatial size, for a grid of
   input/output channel counts, and timed in the target runtime (batch 1,
   one thread, median of `runs` invocations, minus the invocation overhead
   of an empty model). `LatencyTable` holds the grids, keyed by the layer's
   configuration, and is cached on disk per runtime and machine
   (`build_latency_table`), so a model re-uses what an earlier one measured.
2. **Interpolation.** A layer's latency at any channel counts is the
   bilinear interpolation of its grid, written with hat functions so that
   it is a differentiable function of the soft channel counts
   `C = fixed + sum(m)` (`LatencyModel.expected`), exactly like the expected
   MACs of `dais_keras.cost.CostModel`.
3. **Calibration.** What the layers do not explain (element-wise ops,
   pooling, the interpreter) is a constant: the unpruned model's measured
   latency minus the sum of its layers' table values (`LatencyModel.total`
   is the measured latency of the unpruned model).

`LatencyModel` has `CostModel`'s interface (`total`, `exact`, `expected`,
`marginal`), so the search's budget band and the binarisation repair
(`dais_keras.budget.repair`) use it unchanged.

Layers without a probe (see `register_latency_probe`), grouped
convolutions and `channels_first` layers are charged in proportion to their
MACs, at the median time per MAC of the measured layers.

Example:

```python
table = dais_keras.latency.build_latency_table(model)        # TFLite, cached
cb = dais_keras.DAISCallback(budget={"latency": 0.5}, latency_table=table,
                             search_data=search)
```
"""

import dataclasses
import hashlib
import json
import os
import platform
import tempfile
import time

import numpy as np

import keras

from dais_keras.cost.model import ChannelCounts

FORMAT = "dais_keras.latency/1"
RUNTIMES = ("tflite", "onnxruntime")
DEFAULT_RUNTIME = "tflite"

# ---------------------------------------------------------------- probes

_PROBES = {}


def register_latency_probe(layer_class, channels_key):
    """Lets `build_latency_table` measure a layer type.

    Args:
        layer_class: A Keras layer class (subclasses match too).
        channels_key: The `get_config()` key of the number of output
            channels (`"filters"`, `"units"`), or `None` when the output
            channels follow the input's (depthwise layers).

    Example:

    >>> dais_keras.latency.register_latency_probe(MyConv, "filters")
    """
    if not (isinstance(layer_class, type) and issubclass(layer_class, keras.layers.Layer)):
        raise ValueError(
            f"`layer_class` must be a keras.layers.Layer subclass; received {layer_class!r}."
        )
    _PROBES[layer_class] = channels_key
    return layer_class


for _cls in (
    keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D,
    keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose,
    keras.layers.SeparableConv1D, keras.layers.SeparableConv2D,
):
    register_latency_probe(_cls, "filters")
register_latency_probe(keras.layers.Dense, "units")
register_latency_probe(keras.layers.DepthwiseConv1D, None)
register_latency_probe(keras.layers.DepthwiseConv2D, None)


def _probe_key(layer):
    for cls in type(layer).__mro__:
        if cls in _PROBES:
            return True, _PROBES[cls]
    return False, None


_DROP = ("name", "trainable", "dtype", "filters", "units")


def _clean_config(layer):
    config = layer.get_config()
    out = {}
    for key, value in sorted(config.items()):
        if key in _DROP or key.endswith(("_initializer", "_regularizer", "_constraint")):
            continue
        out[key] = value
    return out


@dataclasses.dataclass
class _Probe:
    """One layer call to measure: its table key and grid."""

    key: str
    layer: object
    input_shape: tuple
    c_in: int
    c_out: int
    grid_in: list
    grid_out: list
    measurable: bool
    depthwise: bool
    macs_per_unit: float  # MACs = macs_per_unit * c_in * c_out (bilinear)
    description: str


def axis_grid(size, fixed=0, granularity=4, max_points=9, edges=False):
    """The channel counts at which a layer axis of `size` channels is timed.

    Multiples of `granularity` (doubled until at most `max_points - 1` of
    them remain) plus the smallest reachable count and `size` itself; with
    `edges`, also every multiple plus one, so that a runtime's steps (a
    cost that jumps after a block of channels) are measured on both sides.

    Args:
        size: Channels of the axis in the unpruned model.
        fixed: Channels that cannot be pruned (the axis never goes below).
        granularity: Step between grid points (a runtime's vector width).
        max_points: Most multiples (plus one) per axis.
        edges: Add `multiple + 1` after every multiple below `size`.

    Returns:
        A sorted list of ints.
    """
    size = int(size)
    low = int(max(1, fixed))
    if low >= size:
        return [size]
    step = max(1, int(granularity))
    while len(range(step, size + 1, step)) > max(1, max_points - 1):
        step *= 2
    multiples = [p for p in range(step, size + 1, step) if p >= low]
    points = {low, size, *multiples}
    if edges:
        points.update(p + 1 for p in multiples if p + 1 < size)
    return sorted(points)


# ---------------------------------------------------------------- runtimes


def machine_info():
    """A description of this machine (CPU model, cores, platform)."""
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "system": platform.system(),
    }


def machine_id(info=None):
    """A short stable hash of `machine_info()`."""
    info = info or machine_info()
    text = json.dumps(info, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def _check_runtime(runtime):
    if runtime not in RUNTIMES:
        raise ValueError(
            f"`runtime` must be one of {RUNTIMES}; received {runtime!r}."
        )
    return runtime


def runtime_id(runtime):
    """Name and version of a runtime, e.g. `'tflite-xnnpack/ai_edge_litert 2.3.0'`."""
    _check_runtime(runtime)
    if runtime == "tflite":
        try:
            from importlib import metadata

            return "tflite-xnnpack/ai_edge_litert " + metadata.version("ai-edge-litert")
        except Exception:
            import tensorflow as tf

            return "tflite-xnnpack/tf.lite " + tf.__version__
    import onnxruntime

    return "onnxruntime-cpu/" + onnxruntime.__version__


def _tflite_factory(model, num_threads):
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(
            "Timing in TFLite converts the model with TensorFlow; this process "
            f"uses the '{keras.backend.backend()}' backend. Build the latency "
            "table with KERAS_BACKEND=tensorflow (it is cached), then load it."
        )
    import tensorflow as tf

    from dais_keras.deploy import export
    content = tf.lite.TFLiteConverter.from_concrete_functions(
        [export.frozen_function(model)]
    ).convert()
    Interpreter, _ = export.interpreter_class()

    def make():
        interpreter = Interpreter(model_content=content, num_threads=num_threads)
        interpreter.allocate_tensors()
        rng = np.random.default_rng(0)
        for d in interpreter.get_input_details():
            interpreter.set_tensor(d["index"], rng.random(d["shape"]).astype(d["dtype"]))
        return interpreter.invoke

    return make


def _onnx_factory(model, num_threads):
    from dais_keras.deploy import export
    tmp = tempfile.mkdtemp(prefix="dais_latency_")
    path = os.path.join(tmp, "probe.onnx")
    if keras.backend.backend() == "tensorflow":
        export._onnx_from_frozen_graph(model, path, None, 1)
    else:
        model.export(path, format="onnx", verbose=False)
    with open(path, "rb") as f:
        content = f.read()
    os.remove(path)
    os.rmdir(tmp)

    def make():
        session, _ = export.onnx_session(content, num_threads=num_threads)
        rng = np.random.default_rng(0)
        feeds = {
            i.name: rng.random([d if isinstance(d, int) else 1 for d in i.shape]).astype("float32")
            for i in session.get_inputs()
        }
        return lambda: session.run(None, feeds)

    return make


def compile_runner(model, runtime=DEFAULT_RUNTIME, num_threads=1):
    """Converts `model` for `runtime`; returns a factory of runners.

    Args:
        model: A Keras model (its batch dimension is fixed to 1).
        runtime: `"tflite"` (LiteRT with XNNPack, its default CPU path) or
            `"onnxruntime"` (CPU execution provider).
        num_threads: CPU threads of the runtime.

    Returns:
        A function that creates a fresh interpreter (session) and returns a
        callable running it once on a fixed batch-1 input.
    """
    _check_runtime(runtime)
    model = _batch_one(model)
    if runtime == "tflite":
        return _tflite_factory(model, num_threads)
    return _onnx_factory(model, num_threads)


def runner(model, runtime=DEFAULT_RUNTIME, num_threads=1):
    """A callable that runs `model` once at batch 1 in `runtime`
    (see `compile_runner`)."""
    return compile_runner(model, runtime, num_threads)()


def _batch_one(model):
    if all(t.shape[0] == 1 for t in model.inputs):
        return model
    inputs = [keras.Input(batch_shape=(1,) + tuple(t.shape[1:]), dtype=t.dtype) for t in model.inputs]
    outputs = model(inputs if len(inputs) > 1 else inputs[0])
    return keras.Model(inputs, outputs, name=model.name)


def time_ms(run, runs=100, warmup=10, warmup_s=0.0):
    """Median wall time of `run()` in milliseconds, after `warmup` calls
    and at least `warmup_s` seconds of calls."""
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
    return 1000.0 * float(np.median(times))


def measure_latency(models, runtime=DEFAULT_RUNTIME, runs=200, rounds=7, warmup_s=0.3,
                    num_threads=1):
    """Measured batch-1 latency of one or several models, in milliseconds.

    The models are timed in turns: every round creates a fresh interpreter
    (session) per model, warms it up for `warmup_s` seconds and takes the
    median of `runs` invocations, so that a slow phase of a shared machine,
    or an unlucky memory layout, hits all of them alike. Each model's figure
    is the median of its round medians.

    Args:
        models: A Keras model or a list of them.
        runtime: `"tflite"` or `"onnxruntime"`.
        runs: Invocations per round.
        rounds: Rounds.
        warmup_s: Warm-up seconds per round and model.
        num_threads: CPU threads of the runtime.

    Returns:
        A float, or a list of floats for a list of models.
    """
    single = isinstance(models, keras.Model)
    models = [models] if single else list(models)
    factories = [compile_runner(m, runtime, num_threads) for m in models]
    medians = [[] for _ in models]
    for _ in range(int(rounds)):
        for k, make in enumerate(factories):
            medians[k].append(time_ms(make(), runs=runs, warmup=5, warmup_s=warmup_s))
    result = [float(np.median(m)) for m in medians]
    return result[0] if single else result


# ---------------------------------------------------------------- the table


def _hat(x, grid, xp):
    """Hat-function weights `(n, P)` of points `x` (n,) on a sorted grid:
    `weights @ values` interpolates `values` linearly between grid points."""
    grid = np.asarray(grid, dtype=np.float64)
    if grid.size == 1:
        return xp.ones_like(x[:, None] * np.ones((1, 1), "float32"))
    padded = np.concatenate([[grid[0] - 1.0], grid, [grid[-1] + 1.0]])
    lo, mid, hi = padded[:-2], padded[1:-1], padded[2:]
    dtype = "float32" if xp is not np else "float64"
    lo, mid, hi = (v.astype(dtype) for v in (lo, mid, hi))
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
        value = np.sum((_hat(c_in, e["c_in"], np) @ F) * _hat(c_out, e["c_out"], np), axis=1)
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
        """Writes the table as JSON (atomically)."""
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(self.get_config(), f, indent=1, sort_keys=True)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path):
        """Reads a table written by `save`."""
        with open(path) as f:
            return cls.from_config(json.load(f))


def default_cache_dir():
    """`$DAIS_KERAS_CACHE/latency`, default `~/.cache/dais_keras/latency`."""
    root = os.environ.get("DAIS_KERAS_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "dais_keras"
    )
    return os.path.join(root, "latency")


def cache_path(runtime=DEFAULT_RUNTIME, cache_dir=None):
    """The cache file of `runtime` on this machine."""
    rid = runtime_id(runtime)
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in rid)
    return os.path.join(cache_dir or default_cache_dir(), f"{safe}-{machine_id()}.json")


def _call_probe(call, index_of, granularity, max_points):
    max_in, max_out = _max_points(max_points)
    """The `_Probe` of one layer call."""
    from dais_keras.cost import macs as cost_lib
    layer = call.layer
    in_shape = tuple(call.inputs[0].shape)
    out_shape = tuple(call.outputs[0].shape)
    c_in, c_out = int(in_shape[-1]), int(out_shape[-1])
    has_probe, channels_key = _probe_key(layer)
    depthwise = has_probe and channels_key is None
    channels_last = getattr(layer, "data_format", "channels_last") != "channels_first"
    measurable = has_probe and channels_last and getattr(layer, "groups", 1) == 1
    if depthwise and getattr(layer, "depth_multiplier", 1) != 1:
        measurable = False
    spatial = list(in_shape[1:-1])
    desc = {
        "class": type(layer).__name__,
        "config": _clean_config(layer),
        "input": spatial,
        "c_in": c_in,
        "c_out": c_out,
    }
    text = json.dumps(desc, sort_keys=True, default=str)
    key = f"{type(layer).__name__}-" + hashlib.sha1(text.encode()).hexdigest()[:12]
    macs = cost_lib.layer_call_macs(layer, in_shape, out_shape)
    grid_in = axis_grid(c_in, index_of(call.inputs[0])[0], granularity, max_in,
                        edges=depthwise)
    if depthwise:
        grid_out = [1]
        per_unit = macs / max(c_in, 1)
    else:
        grid_out = axis_grid(c_out, index_of(call.outputs[0])[0], granularity, max_out,
                             edges=True)
        per_unit = macs / max(c_in * c_out, 1)
    return _Probe(
        key, layer, in_shape, c_in, c_out, grid_in, grid_out, measurable, depthwise,
        per_unit,
        f"{type(layer).__name__} '{layer.name}' {c_in}->{c_out} at "
        f"{'x'.join(map(str, spatial)) or '-'}",
    )


def _max_points(max_points):
    if isinstance(max_points, int):
        return max_points, max_points
    if (
        isinstance(max_points, (tuple, list))
        and len(max_points) == 2
        and all(isinstance(v, int) and v >= 1 for v in max_points)
    ):
        return tuple(max_points)
    raise ValueError(
        "`max_points` must be an int >= 1 or a pair (input, output) of them; "
        f"received {max_points!r}."
    )


def _call_probes(graph, granularity=4, max_points=(9, 17), slots=None):
    """`(call, probe)` for every layer call with MACs of `graph`."""
    _, index_of = graph.slot_index(slots)
    out, seen = [], set()
    for call, _ in graph.mac_terms():
        if id(call) not in seen:
            seen.add(id(call))
            out.append((call, _call_probe(call, index_of, granularity, max_points)))
    return out


def _distinct(call_probes):
    probes = {}
    for _, probe in call_probes:
        probes.setdefault(probe.key, probe)
    return list(probes.values())


def _probe_model(probe, c_in, c_out):
    layer = probe.layer
    config = layer.get_config()
    config["name"] = f"probe_{layer.name}"
    _, channels_key = _probe_key(layer)
    if channels_key is not None:
        config[channels_key] = int(c_out)
    new = type(layer).from_config(config)
    x = keras.Input(batch_shape=(1,) + tuple(probe.input_shape[1:-1]) + (int(c_in),))
    return keras.Model(x, new(x))


def _invoke_ms(runtime, runs):
    x = keras.Input(batch_shape=(1, 1))
    model = keras.Model(x, keras.layers.ReLU()(x))
    return time_ms(runner(model, runtime), runs=max(runs, 50))


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
    verbose=0,
):
    """Measures (or reads from the cache) the latency table of `model`.

    Every layer call with MACs (see the module docstring) is timed as a
    one-layer model over a grid of input and output channel counts
    (`axis_grid`). Entries already in the cache file of this runtime and
    machine are re-used; new ones are added to it.

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
        verbose: 1 prints one line per measured layer configuration.

    Returns:
        A `LatencyTable` holding (at least) the model's entries.

    Example:

    >>> table = dais_keras.latency.build_latency_table(model, runtime="tflite")
    """
    from dais_keras.groups.graph import channel_groups

    _check_runtime(runtime)
    path = cache_path(runtime, cache_dir)
    table = None
    if use_cache and os.path.exists(path):
        try:
            table = LatencyTable.load(path)
        except (ValueError, KeyError, json.JSONDecodeError) as e:
            raise ValueError(
                f"The latency cache {path} is unreadable ({e}); delete it to "
                "measure again."
            ) from e
    if table is None:
        invoke = 0.0 if timer is not None else _invoke_ms(runtime, runs)
        table = LatencyTable(runtime_id(runtime), machine_info(), invoke_ms=invoke)
    graph = channel_groups(model)
    probes = _distinct(_call_probes(graph, granularity, max_points))
    missing = [p for p in probes if p.measurable and p.key not in table]
    for i, probe in enumerate(missing):
        t0 = time.perf_counter()
        ms = np.zeros((len(probe.grid_in), len(probe.grid_out)))
        for a, ci in enumerate(probe.grid_in):
            for b, co in enumerate(probe.grid_out):
                co = ci if probe.depthwise else co
                one = _probe_model(probe, ci, co)
                if timer is not None:
                    best = float(timer(one))
                else:
                    make = compile_runner(one, runtime)
                    best = min(
                        time_ms(make(), runs=runs, warmup=5, warmup_s=0.03)
                        for _ in range(max(1, int(rounds)))
                    )
                ms[a, b] = max(best - table.invoke_ms, 0.0)
        table.entries[probe.key] = {
            "description": probe.description,
            "c_in": [int(v) for v in probe.grid_in],
            "c_out": [int(v) for v in probe.grid_out],
            "depthwise": bool(probe.depthwise),
            "ms": ms.round(6).tolist(),
        }
        if verbose:
            print(
                f"[latency {i + 1}/{len(missing)}] {probe.description}: "
                f"{ms.size} points, {ms.min():.4f}-{ms.max():.4f} ms "
                f"({time.perf_counter() - t0:.1f} s)",
                flush=True,
            )
        if use_cache:
            table.save(path)
    return table


# ---------------------------------------------------------------- the model


class LatencyModel:
    """Latency (ms) of a model as a function of its channel indicators.

    The latency-budget counterpart of `dais_keras.cost.CostModel`, with the
    same interface: `total` (the unpruned model's latency), `exact(m)` for a
    numpy mask vector, `expected(m)` for a backend tensor (differentiable)
    and `marginal(m)` (latency saved by removing each channel alone).

    The prediction is the sum of the table's interpolated layer latencies
    plus an overhead `a + b * V(m)`, where `V(m)` is the activation volume
    (the sum over every layer output of its channels times its spatial
    size, linear in `m`): element-wise ops, padding, pooling and memory
    traffic scale with it. `a` and `b` are fitted by `calibrate` to measured
    whole-model latencies.

    Built by `latency_model`; not constructed directly.
    """

    kind = "latency"
    unit = "ms"

    def __init__(self, sizes, calls, table, volume):
        # calls: list of (probe, (fixed_in, idx_in), (fixed_out, idx_out)).
        # volume: (constant, per-channel weights) of V(m).
        self.sizes = [int(s) for s in sizes]
        self.num_channels = int(sum(self.sizes))
        self.table = table
        self.num_calls = len(calls)
        self.descriptions = [c[0].description for c in calls]
        self.c_in = ChannelCounts([c[1] for c in calls], self.num_channels)
        self.c_out = ChannelCounts([c[2] for c in calls], self.num_channels)
        self.depthwise = np.array([c[0].depthwise for c in calls], dtype=bool)
        self.volume_const = float(volume[0])
        self.volume_w = np.asarray(volume[1], dtype=np.float64)
        # Group calls by table entry; unmeasurable calls get a synthetic,
        # exactly bilinear entry charged per MAC.
        per_mac = self._ms_per_mac(calls, table)
        self._entries = {}
        for k, (probe, _, _) in enumerate(calls):
            if probe.key in table:
                e = table.entries[probe.key]
                grid_in, grid_out, F = e["c_in"], e["c_out"], np.asarray(e["ms"], np.float64)
            else:
                grid_in = sorted({1, probe.c_in})
                grid_out = [1] if probe.depthwise else sorted({1, probe.c_out})
                F = per_mac * probe.macs_per_unit * np.outer(grid_in, grid_out)
            if probe.key not in self._entries:
                keep_in = efficient_points(F[:, -1])
                keep_out = efficient_points(F[-1, :])
                self._entries[probe.key] = {
                    "grid_in": grid_in, "grid_out": grid_out, "F": F, "calls": [],
                    "soft_in": [grid_in[i] for i in keep_in],
                    "soft_out": [grid_out[j] for j in keep_out],
                    "soft_F": F[np.ix_(keep_in, keep_out)],
                }
            self._entries[probe.key]["calls"].append(k)
        for entry in self._entries.values():
            entry["calls"] = np.array(entry["calls"], dtype=np.int64)
        ones = np.ones(self.num_channels)
        self.layers_ms = self.layers(ones)
        self.overhead = (0.0, 0.0)
        self.calibration = []
        self.total = self.exact(ones)

    @staticmethod
    def _ms_per_mac(calls, table):
        rates = []
        for probe, _, _ in calls:
            if probe.key in table:
                e = table.entries[probe.key]
                units = e["c_in"][-1] * (1 if probe.depthwise else e["c_out"][-1])
                macs = probe.macs_per_unit * units
                if macs > 0:
                    rates.append(e["ms"][-1][-1] / macs)
        return float(np.median(rates)) if rates else 0.0

    # -- pieces -------------------------------------------------------------
    def _counts(self, m, xp):
        if xp is np:
            return self.c_in.numpy(m), self.c_out.numpy(m)
        return self.c_in.tensor(m), self.c_out.tensor(m)

    def _per_entry(self, c_in, c_out, xp, shift_in=0.0, shift_out=0.0, soft=False):
        """Yields `(call indices, latencies)` per table entry."""
        prefix = "soft_" if soft else ""
        for entry in self._entries.values():
            idx = entry["calls"]
            grid_in = entry["soft_in" if soft else "grid_in"]
            grid_out = entry["soft_out" if soft else "grid_out"]
            F = entry[prefix + "F"]
            if xp is np:
                x, y = c_in[idx] - shift_in, c_out[idx] - shift_out
            else:
                x, y = xp.take(c_in, idx), xp.take(c_out, idx)
                F = F.astype("float32")
            value = xp.sum(xp.matmul(_hat(x, grid_in, xp), F) * _hat(y, grid_out, xp), axis=1)
            yield idx, value

    def per_call(self, m, shift_in=0.0, shift_out=0.0, soft=False):
        """Table latency (ms) of every layer call for masks `m` (numpy);
        `soft=True` reads the search's surrogate (see `expected`)."""
        c_in, c_out = self._counts(m, np)
        out = np.zeros(self.num_calls)
        for idx, value in self._per_entry(c_in, c_out, np, shift_in, shift_out, soft):
            out[idx] = value
        return out

    def layers(self, m):
        """Sum of the table latencies of the layer calls (ms), numpy `m`."""
        return float(self.per_call(m).sum())

    def volume(self, m):
        """Activation volume `V(m)` (numpy `m`)."""
        return self.volume_const + float(np.dot(self.volume_w, np.asarray(m, np.float64)))

    # -- the CostModel interface ------------------------------------------
    def exact(self, m):
        """Predicted latency (ms) for a numpy mask vector `m`."""
        a, b = self.overhead
        return self.layers(m) + a + b * self.volume(m)

    def expected(self, m):
        """Differentiable predicted latency (ms) for a backend tensor `m`.

        Runtimes compute channels in blocks: a measured latency is a step
        function of the width (flat inside a block, a jump after it), whose
        gradient is zero almost everywhere. The search therefore reads a
        surrogate: the interpolation through the table's *efficient* points
        only (`efficient_points`: the widths that every wider one costs
        clearly more than), equal to the table there and below it in
        between, with a useful slope everywhere. `exact` (and so the
        binarisation repair) reads the full table."""
        from keras import ops

        c_in, c_out = self._counts(m, ops)
        total = 0.0
        for _, value in self._per_entry(c_in, c_out, ops, soft=True):
            total = total + ops.sum(value)
        a, b = self.overhead
        volume = self.volume_const + ops.sum(self.volume_w.astype("float32") * m)
        return total + float(a) + float(b) * volume

    def marginal(self, m):
        """Latency (ms) saved by removing each channel alone, given `m`:
        the table's finite differences of every call it enters, plus its
        share of the overhead."""
        m = np.asarray(m, dtype=np.float64)
        base = self.per_call(m)
        d_in = base - self.per_call(m, shift_in=1.0)
        d_out = base - self.per_call(m, shift_out=1.0)
        # A depthwise call's output channels are its input channels.
        d_out[self.depthwise] = 0.0
        grad = self.c_in.scatter(d_in) + self.c_out.scatter(d_out)
        grad += self.overhead[1] * self.volume_w
        return np.maximum(grad, 0.0)

    def calibrate(self, points):
        """Fits the overhead `a + b * V(m)` to measured latencies.

        Args:
            points: List of `(m, measured_ms)`: numpy masks (0/1) and the
                measured latency of the model they describe. One point fits
                a constant; two or more fit `a` and `b >= 0` (least squares).

        Returns:
            `self`.
        """
        if not points:
            raise ValueError("`calibrate` needs at least one (mask, measured_ms) point.")
        v = np.array([self.volume(m) for m, _ in points])
        r = np.array([ms - self.layers(m) for m, ms in points])
        if len(points) == 1 or np.ptp(v) == 0:
            a, b = float(r.mean()), 0.0
        else:
            b, a = np.polyfit(v, r, 1)
            if b < 0:
                a, b = float(r.mean()), 0.0
        self.overhead = (float(a), float(b))
        self.calibration = [
            {"volume": float(vi), "measured_ms": float(ms), "predicted_ms": float(self.exact(m))}
            for (m, ms), vi in zip(points, v)
        ]
        self.total = self.exact(np.ones(self.num_channels))
        return self

    def summary(self):
        """A text table: every layer call's latency at full width."""
        full = self.per_call(np.ones(self.num_channels))
        width = max([len(d) for d in self.descriptions] + [10])
        lines = [f"{'layer call':<{width}}  {'ms':>8}", "-" * (width + 10)]
        for d, v in zip(self.descriptions, full):
            lines.append(f"{d:<{width}}  {v:8.4f}")
        a, b = self.overhead
        ones = np.ones(self.num_channels)
        lines.append(f"{'overhead a + b * V':<{width}}  {a + b * self.volume(ones):8.4f}")
        lines.append(f"{'total (predicted)':<{width}}  {self.total:8.4f}")
        return "\n".join(lines)


def efficient_points(values, tol=0.03):
    """Indices of the grid points worth stopping at along one axis.

    A point is efficient when every wider point costs more than
    `1 + tol` times as much (the last point always is): the right end of
    each of a runtime's blocks. Interpolating through them gives a
    monotone surrogate with a slope everywhere.

    Args:
        values: Latencies along the axis, in grid order.
        tol: Relative difference below which two latencies count as equal
            (measurement noise).

    Returns:
        A sorted list of indices.
    """
    values = np.asarray(values, dtype=np.float64)
    keep = [len(values) - 1]
    floor = values[-1]
    for i in range(len(values) - 2, -1, -1):
        if values[i] * (1.0 + tol) < floor:
            keep.append(i)
            floor = values[i]
    return sorted(keep)


def _volume(graph, index_of, num_channels):
    """`(constant, weights)` of the activation volume over the layer calls'
    outputs (channels times spatial size), as a linear function of `m`."""
    from dais_keras.indicators.layer import ChannelIndicator

    const, w = 0.0, np.zeros(num_channels)
    for call in graph.calls:
        if isinstance(call.layer, ChannelIndicator) or not call.outputs:
            continue
        shape = tuple(call.outputs[0].shape)
        if len(shape) < 2 or any(d is None for d in shape[1:]):
            continue
        spatial = float(np.prod(shape[1:-1])) if len(shape) > 2 else 1.0
        fixed, idx = index_of(call.outputs[0])
        const += spatial * fixed
        np.add.at(w, idx, spatial)
    return const, w


def _layout(graph, slots):
    if slots is None:
        layers, indicator = graph.indicator_slots()
        slots = indicator if layers else graph.default_slots()
    return slots


def _calibration_models(model, graph, slots, fraction=0.5, granularity=4):
    """The unpruned plain model and one with every prunable group cut to
    `fraction`, with their masks in the `slots` layout."""
    from dais_keras import surgery

    sizes, slot_of = slots
    m_full = np.ones(int(sum(sizes)))
    m_cut = np.zeros(int(sum(sizes)))
    keep = {}
    for gid, (offset, perm) in slot_of.items():
        size = graph.groups[gid].size
        width = int(round(fraction * size / granularity)) * granularity
        width = int(np.clip(width if width > 0 else round(fraction * size), 1, size))
        mask = np.zeros(size, dtype=bool)
        mask[:width] = True
        keep[gid] = mask
        m_cut[offset + np.asarray(perm)] = mask
    plain = surgery.prune(model, {}, name=model.name)
    cut = surgery.prune(model, keep, name=model.name + "_cut")
    return [(plain, m_full), (cut, m_cut)]


def latency_model(model, table=None, runtime=DEFAULT_RUNTIME, slots=None, calibrate=True,
                  cache_dir=None, verbose=0):
    """The calibrated `LatencyModel` of `model` (plain or `DAISModel`).

    Args:
        model: A functional Keras model, with or without indicators.
        table: A `LatencyTable` (default: `build_latency_table(model,
            runtime)`, measured or read from the cache).
        runtime: The runtime, for the table and the calibration.
        slots: Layout of the mask vector (default: the model's indicators if
            it has any, else the prunable groups in id order).
        calibrate: Measure the unpruned model and a model with every group
            at half width, and fit the overhead to them; or a list of
            `(mask, measured_ms)` to fit it to; `False` leaves it at zero.
        cache_dir: As for `build_latency_table`.
        verbose: As for `build_latency_table`.

    Returns:
        A `LatencyModel`.

    Raises:
        ValueError: If `table` lacks some of the model's layer configurations.
    """
    from dais_keras.groups.graph import channel_groups

    graph = channel_groups(model)
    slots = _layout(graph, slots)
    if table is None:
        table = build_latency_table(model, runtime, cache_dir=cache_dir, verbose=verbose)
    sizes, index_of = graph.slot_index(slots)
    call_probes = _call_probes(graph, slots=slots)
    missing = [p.description for p in _distinct(call_probes) if p.measurable and p.key not in table]
    if missing:
        raise ValueError(
            f"The latency table {table!r} lacks {len(missing)} layer "
            f"configuration(s) of model '{model.name}' (e.g. {missing[0]}); "
            "build it for this model with "
            "dais_keras.latency.build_latency_table(model, runtime=...)."
        )
    calls = [
        (probe, index_of(call.inputs[0]), index_of(call.outputs[0]))
        for call, probe in call_probes
    ]
    num_channels = int(sum(sizes))
    result = LatencyModel(sizes, calls, table, _volume(graph, index_of, num_channels))
    if calibrate is True:
        pairs = _calibration_models(model, graph, slots)
        measured = measure_latency([p for p, _ in pairs], runtime)
        points = [(m, ms) for (_, m), ms in zip(pairs, measured)]
        result.calibrate(points)
        if verbose:
            print(
                "[latency] calibration: "
                + ", ".join(f"{c['measured_ms']:.3f} ms measured / {c['predicted_ms']:.3f} predicted"
                            for c in result.calibration),
                flush=True,
            )
    elif calibrate:
        result.calibrate(list(calibrate))
    return result
