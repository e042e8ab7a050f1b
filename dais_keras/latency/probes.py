"""Latency probes: which layer calls a latency table measures, and how.

For every layer call that mixes channels (the calls with MAC terms:
convolutions, dense, depthwise, separable), a one-layer model is built with
the same configuration and input spatial size, for a grid of input/output
channel counts (`axis_grid`). Layer types are registered with
`register_latency_probe`; a subclass of a registered type uses its parent's
probe. Calls without a probe, grouped convolutions and `channels_first`
layers are not measured: the latency model charges them per MAC.
"""

import dataclasses
import hashlib
import json

import numpy as np

import keras

from dais_keras.cost import macs as cost_lib
from dais_keras.utils.registry import ClassRegistry

PROBES = ClassRegistry("latency probe")


def register_latency_probe(layer_class, channels_key):
    """Lets `build_latency_table` measure a layer type.

    Args:
        layer_class: A Keras layer class (subclasses match too).
        channels_key: The `get_config()` key of the number of output
            channels (`"filters"`, `"units"`), or `None` when the output
            channels follow the input's (depthwise layers).

    Returns:
        `layer_class`.

    Raises:
        ValueError: If `layer_class` is not a Keras layer class.

    Example:

    >>> dais_keras.latency.register_latency_probe(MyConv, "filters")
    """
    if not (isinstance(layer_class, type) and issubclass(layer_class, keras.layers.Layer)):
        raise ValueError(
            f"`layer_class` must be a keras.layers.Layer subclass; received {layer_class!r}."
        )
    PROBES.register(layer_class, channels_key)
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


def probe_key(layer):
    """`(has a probe, channels key)` of a layer."""
    if PROBES.key_of(layer) is None:
        return False, None
    return True, PROBES.lookup(layer)


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
class Probe:
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


def call_probe(call, index_of, granularity, max_points):
    """The `Probe` of one layer call."""
    max_in, max_out = _max_points(max_points)
    layer = call.layer
    in_shape = tuple(call.inputs[0].shape)
    out_shape = tuple(call.outputs[0].shape)
    c_in, c_out = int(in_shape[-1]), int(out_shape[-1])
    has_probe, channels_key = probe_key(layer)
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
    return Probe(
        key, layer, in_shape, c_in, c_out, grid_in, grid_out, measurable, depthwise,
        per_unit,
        f"{type(layer).__name__} '{layer.name}' {c_in}->{c_out} at "
        f"{'x'.join(map(str, spatial)) or '-'}",
    )


def call_probes(graph, granularity=4, max_points=(9, 17), slots=None):
    """`(call, probe)` for every layer call with MACs of `graph`."""
    _, index_of = graph.slot_index(slots)
    out, seen = [], set()
    for call, _ in graph.mac_terms():
        if id(call) not in seen:
            seen.add(id(call))
            out.append((call, call_probe(call, index_of, granularity, max_points)))
    return out


def distinct(call_probes):
    """The probes of `call_probes`, one per table key."""
    probes = {}
    for _, probe in call_probes:
        probes.setdefault(probe.key, probe)
    return list(probes.values())


def probe_model(probe, c_in, c_out):
    """The one-layer model of `probe` at `c_in` input, `c_out` output channels."""
    layer = probe.layer
    config = layer.get_config()
    config["name"] = f"probe_{layer.name}"
    _, channels_key = probe_key(layer)
    if channels_key is not None:
        config[channels_key] = int(c_out)
    for key in config:
        if key.endswith("_initializer") and config[key] is not None:
            config[key] = _NumpyInitializer(config[key])
    new = type(layer).from_config(config)
    x = keras.Input(batch_shape=(1,) + tuple(probe.input_shape[1:-1]) + (int(c_in),))
    return keras.Model(x, new(x))


class _NumpyInitializer(keras.initializers.Initializer):
    """A probe's weights, drawn with numpy: constants stay the layer's own
    constants (a BatchNormalization variance of ones), everything else is
    uniform in [-0.1, 0.1]. The values do not change a float layer's
    latency, and numpy draws them at once: JAX compiles its random
    initializers once per shape, 138 compilations (38 s) for a small
    table."""

    _CONSTANTS = {"Zeros": 0.0, "zeros": 0.0, "Ones": 1.0, "ones": 1.0}

    def __init__(self, original):
        self.value = None
        name = original.get("class_name") if isinstance(original, dict) else original
        if name in self._CONSTANTS:
            self.value = self._CONSTANTS[name]
        elif name == "Constant" and isinstance(original, dict):
            self.value = float(original.get("config", {}).get("value", 0.0))

    def __call__(self, shape, dtype=None):
        dtype = keras.backend.standardize_dtype(dtype or "float32")
        if self.value is not None:
            return np.full(shape, self.value, dtype=dtype)
        rng = np.random.default_rng(0)
        return rng.uniform(-0.1, 0.1, size=shape).astype(dtype)
