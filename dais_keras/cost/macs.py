"""Exact multiply-accumulate (MAC) and parameter counting.

MACs are counted per call of a layer (a shared layer counts at each call),
nested models are recursed, and only the kernels of convolutions (including
grouped, depthwise, separable and transposed ones) and dense layers count: no
bias, normalisation, activation or pooling. Many papers call this number FLOPs;
it is MACs.

Every rule is written as a sum of `MacTerm`s, `coef * (C_in / groups) * C_out`,
where `C_in` and `C_out` are the channel counts of the call's input and output.
The same terms, fed soft or hard channel counts, give the differentiable
expected MACs used by the search (`dais_keras.cost.model.CostModel`), so the
count the search optimises is the count this module reports.
"""

import collections
import dataclasses

import keras

from dais_keras.utils.functional import as_functional
from dais_keras.utils.registry import ClassRegistry
from dais_keras.utils.functional import nodes_in_order
from dais_keras.utils.functional import spatial_size


@dataclasses.dataclass(frozen=True)
class MacTerm:
    """One product term of a layer call's MACs.

    The term is `coef * (C_in / groups if uses_in else 1) * (C_out if uses_out
    else 1)`, with `C_in` the channel count of the call's first input and
    `C_out` that of its output.

    Attributes:
        coef: Integer factor (kernel size, spatial size, ...).
        uses_in: Whether the term scales with the input channels.
        uses_out: Whether the term scales with the output channels.
        groups: Divisor of the input channels (grouped convolutions).
    """

    coef: int
    uses_in: bool = True
    uses_out: bool = True
    groups: int = 1

    def evaluate(self, c_in, c_out):
        value = self.coef
        if self.uses_in:
            value = value * c_in / self.groups if self.groups != 1 else value * c_in
        if self.uses_out:
            value = value * c_out
        return value


_MAC_RULES = ClassRegistry("MAC rule")


def register_mac_rule(layer_class):
    """Registers a function giving the `MacTerm`s of a layer type's call.

    The function receives `(layer, input_shape, output_shape)` (shapes with the
    batch axis) and returns a list of `MacTerm`. Subclasses inherit the rule of
    their closest registered base class.

    Example:

    ```python
    @dais_keras.cost.register_mac_rule(MyConv)
    def _my_conv(layer, input_shape, output_shape):
        k = layer.kernel_size[0] * layer.kernel_size[1]
        return [MacTerm(k * spatial_size(output_shape))]
    ```
    """

    def decorator(fn):
        return _MAC_RULES.register(layer_class, fn)

    return decorator


def mac_rule_for(layer):
    """Returns the MAC rule for `layer`'s type, or `None` if it has no MACs."""
    return _MAC_RULES.lookup(layer)


def _prod(values):
    out = 1
    for v in values:
        out *= int(v)
    return out


def _spatial(layer, shape):
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        shape = (shape[0],) + tuple(shape[2:]) + (shape[1],)
    return spatial_size(shape)


@register_mac_rule(keras.layers.Conv1D)
@register_mac_rule(keras.layers.Conv2D)
@register_mac_rule(keras.layers.Conv3D)
def _conv_terms(layer, input_shape, output_shape):
    k = _prod(layer.kernel_size)
    return [MacTerm(k * _spatial(layer, output_shape), groups=layer.groups)]


@register_mac_rule(keras.layers.Conv1DTranspose)
@register_mac_rule(keras.layers.Conv2DTranspose)
@register_mac_rule(keras.layers.Conv3DTranspose)
def _conv_transpose_terms(layer, input_shape, output_shape):
    # Every input position scatters a k x k x C_out patch.
    k = _prod(layer.kernel_size)
    groups = getattr(layer, "groups", 1)
    return [MacTerm(k * _spatial(layer, input_shape), groups=groups)]


@register_mac_rule(keras.layers.DepthwiseConv1D)
@register_mac_rule(keras.layers.DepthwiseConv2D)
def _depthwise_terms(layer, input_shape, output_shape):
    # C_out = C_in * depth_multiplier: one k x k filter per output channel.
    k = _prod(layer.kernel_size)
    return [MacTerm(k * _spatial(layer, output_shape), uses_in=False)]


@register_mac_rule(keras.layers.SeparableConv1D)
@register_mac_rule(keras.layers.SeparableConv2D)
def _separable_terms(layer, input_shape, output_shape):
    k = _prod(layer.kernel_size)
    dm = layer.depth_multiplier
    hw = _spatial(layer, output_shape)
    return [
        MacTerm(k * dm * hw, uses_out=False),  # depthwise part
        MacTerm(dm * hw),  # pointwise part
    ]


@register_mac_rule(keras.layers.Dense)
def _dense_terms(layer, input_shape, output_shape):
    # Dense acts on the last axis; any inner axes multiply the work.
    inner = _prod(d for d in input_shape[1:-1] if d is not None)
    return [MacTerm(inner)]


def _channels(shape, layer=None):
    if layer is not None and getattr(layer, "data_format", None) == "channels_first":
        return int(shape[1])
    return int(shape[-1])


def layer_call_macs(layer, input_shape, output_shape):
    """Exact MACs of one call of `layer` with the given shapes.

    Args:
        layer: A Keras layer.
        input_shape: Shape of the call's first input, with batch axis.
        output_shape: Shape of the call's output, with batch axis.

    Returns:
        An integer.
    """
    rule = mac_rule_for(layer)
    if rule is None:
        return 0
    c_in = _channels(input_shape, layer)
    c_out = _channels(output_shape, layer)
    total = 0
    for term in rule(layer, input_shape, output_shape):
        total += term.evaluate(c_in, c_out)
    return int(round(total))


def _is_model(op):
    return isinstance(op, keras.Model)


def _first_shape(tensors):
    return tuple(tensors[0].shape)


def _walk_calls(model, prefix=""):
    """Yields `(qualified_name, layer, input_shape, output_shape)` per call."""
    model = as_functional(model)
    seen = collections.Counter()
    for node in nodes_in_order(model):
        op = node.operation
        seen[id(op)] += 1
        name = prefix + op.name
        if seen[id(op)] > 1:
            name += f" (call {seen[id(op)]})"
        if _is_model(op):
            yield from _walk_calls(op, prefix=name + "/")
            continue
        if not node.input_tensors:
            continue
        yield (
            name,
            op,
            _first_shape(node.input_tensors),
            _first_shape(node.outputs),
        )


def _is_indicator(layer):
    return getattr(layer, "_dais_indicator", False)


def layer_params(layer):
    """Learnable parameters owned by `layer` (not by its sub-layers).

    Counts the variables created as trainable (kernels, biases, BN gamma and
    beta, ...) whether or not the layer is currently frozen; statistics such as
    BN moving averages or `Normalization` mean/variance are not parameters.
    Indicator layers of the search count nothing.
    """
    if _is_indicator(layer):
        return 0
    # Variables created trainable stay in `_trainable_variables` even when
    # the layer is frozen (Keras then only flips their `trainable` flag).
    return int(sum(_prod(v.shape) for v in getattr(layer, "_trainable_variables", [])))


def _all_layers(model):
    seen = set()
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer


def count_macs(model):
    """Counts the exact multiply-accumulates of one forward pass of `model`.

    Counted: the kernels of convolutions (grouped, depthwise, separable,
    transposed) and dense layers, per call, for one example (batch 1). Nested
    models are recursed. Not counted: biases, normalisation, activations,
    pooling, element-wise merges.

    Args:
        model: A functional or built Sequential Keras model with fixed spatial
            input dimensions.

    Returns:
        The number of MACs, an `int`.

    Raises:
        ValueError: If the model has no functional graph or an unknown spatial
            size.

    Example:

    >>> model = keras.applications.ResNet50(weights=None)
    >>> dais_keras.count_macs(model)
    3857973248
    """
    return sum(
        layer_call_macs(layer, in_shape, out_shape)
        for _, layer, in_shape, out_shape in _walk_calls(model)
    )


def count_params(model):
    """Counts the learnable parameters of `model`.

    Kernels, biases and normalisation scales/offsets count, each shared layer
    once; running statistics (BN moving mean/variance) and the search's
    indicator layers do not. This is the "params" figure pruning papers report.

    Args:
        model: A Keras model.

    Returns:
        The number of parameters, an `int`.

    Raises:
        TypeError: If `model` is not a Keras model.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"`model` must be a Keras model; received {type(model).__name__}.")
    return sum(layer_params(layer) for layer in _all_layers(model))


class CostTable:
    """Per-call MACs and per-layer parameters of a model.

    `str(table)` is a readable table; `table.rows` a list of dicts with keys
    `layer`, `type`, `output_shape`, `macs`, `params`; `table.as_dict()` maps
    each call's name to `{"macs": ..., "params": ...}`.
    """

    def __init__(self, rows):
        self.rows = rows

    @property
    def total_macs(self):
        return sum(r["macs"] for r in self.rows)

    @property
    def total_params(self):
        return sum(r["params"] for r in self.rows)

    def as_dict(self):
        return {r["layer"]: {"macs": r["macs"], "params": r["params"]} for r in self.rows}

    def __str__(self):
        header = ("layer", "type", "output shape", "MACs", "params")
        lines = [
            (
                r["layer"],
                r["type"],
                str(r["output_shape"]),
                f"{r['macs']:,}",
                f"{r['params']:,}",
            )
            for r in self.rows
        ]
        lines.append(("total", "", "", f"{self.total_macs:,}", f"{self.total_params:,}"))
        widths = [max(len(str(x[i])) for x in [header] + lines) for i in range(5)]
        fmt = "  ".join(
            f"{{:<{w}}}" if i < 3 else f"{{:>{w}}}" for i, w in enumerate(widths)
        )
        out = [fmt.format(*header), "  ".join("-" * w for w in widths)]
        out += [fmt.format(*line) for line in lines]
        return "\n".join(out)

    __repr__ = __str__


def macs_table(model, include_zero=False):
    """Per-layer MACs and parameters of `model`.

    Args:
        model: A functional or built Sequential Keras model.
        include_zero: Also list calls with no MACs and no parameters
            (activations, pooling, ...).

    Returns:
        A `CostTable`: `print(table)` for people, `table.as_dict()` or
        `table.rows` for code.
    """
    rows = []
    params_seen = set()
    for name, layer, in_shape, out_shape in _walk_calls(model):
        macs = layer_call_macs(layer, in_shape, out_shape)
        params = 0
        if id(layer) not in params_seen:
            params_seen.add(id(layer))
            params = layer_params(layer)
        if macs == 0 and params == 0 and not include_zero:
            continue
        rows.append(
            {
                "layer": name,
                "type": type(layer).__name__,
                "output_shape": tuple(out_shape[1:]),
                "macs": macs,
                "params": params,
            }
        )
    return CostTable(rows)
