"""A functional view of a Keras model: its nodes in execution order.

Every structural tool of dais-keras (cost counting, channel groups, indicator
insertion, surgery) walks the same graph of `Node`s that Keras' own `Functional`
runs. This module is the one place that knows how to get that graph out of a
model and how to re-run it with replaced operations.
"""

import keras
from keras.src import tree
from keras.src.models.functional import Functional


def as_functional(model, argument="model"):
    """Returns the functional graph behind `model`.

    Functional models are returned as they are; a built `Sequential` model is
    returned as its internal functional model.

    Args:
        model: A Keras model.
        argument: The argument name used in error messages.

    Returns:
        A `keras.Model` with a functional graph (`Functional`).

    Raises:
        ValueError: If the model has no functional graph (a subclassed model,
            or a `Sequential` model that was never built with an input shape).
    """
    if isinstance(model, keras.Sequential):
        functional = getattr(model, "_functional", None)
        if functional is None:
            raise ValueError(
                f"`{argument}` is a Sequential model ('{model.name}') that has "
                "not been built with a known input shape, so it has no graph "
                "to analyse. Start it with `keras.Input(shape=...)` or call "
                "`model.build(input_shape)` first."
            )
        return functional
    if isinstance(model, Functional):
        return model
    if isinstance(model, keras.Model):
        raise ValueError(
            f"`{argument}` ('{model.name}', {type(model).__name__}) is a "
            "subclassed model without a functional graph: dais-keras needs the "
            "graph of layer calls to find coupled channels. Rebuild it with "
            "the functional API (`inputs = keras.Input(shape)`, layer calls, "
            "`keras.Model(inputs, outputs)`); wrapping the subclassed model "
            "inside a functional one does not help, its inside stays opaque."
        )
    raise ValueError(
        f"`{argument}` must be a Keras functional or Sequential model; "
        f"received {type(model).__name__}."
    )


def nodes_in_order(model):
    """Returns the model's call nodes in an order in which they can run.

    Input nodes are left out. A layer that is called several times appears
    once per call.

    Args:
        model: A functional Keras model (see `as_functional`).

    Returns:
        A list of `keras.src.ops.node.Node`.
    """
    nodes_by_depth = model._nodes_by_depth
    ordered = []
    for depth in sorted(nodes_by_depth.keys(), reverse=True):
        for node in nodes_by_depth[depth]:
            if node.operation is None or node.is_input:
                continue
            ordered.append(node)
    return ordered


def flat_events(model):
    """Yields the model's calls with nested models inlined.

    Yields `("call", node)` for each call of a non-model operation and
    `("alias", src, dst)` when tensor `dst` is the same value as `src`
    (entering or leaving a nested model).
    """
    model = as_functional(model)
    for node in nodes_in_order(model):
        op = node.operation
        if isinstance(op, keras.Model):
            inner = as_functional(op, argument=f"nested model '{op.name}'")
            for inner_in, outer_in in zip(inner.inputs, node.input_tensors):
                yield ("alias", outer_in, inner_in)
            yield from flat_events(inner)
            for inner_out, outer_out in zip(tree.flatten(inner.outputs), node.outputs):
                yield ("alias", inner_out, outer_out)
        else:
            yield ("call", node)


class _Overlay(dict):
    """A tensor map with a few per-call overrides (for `fill_in`)."""

    def __init__(self, base, overrides):
        super().__init__()
        self.base = base
        self.overrides = overrides

    def __getitem__(self, key):
        if key in self.overrides:
            return self.overrides[key]
        return self.base[key]

    def get(self, key, default=None):
        if key in self.overrides:
            return self.overrides[key]
        return self.base.get(key, default)


def replay(model, call_node, input_names=True):
    """Rebuilds `model`'s graph (nested models inlined) on fresh inputs.

    Args:
        model: A functional Keras model.
        call_node: `call_node(node, args_for(overrides), tensor_map) ->
            outputs`: called for each call node in order. `args_for(overrides)`
            returns `(args, kwargs)` of the node mapped to new tensors, where
            `overrides` maps `id(old_tensor)` to a replacement new tensor.
        input_names: Keep the original input layer names.

    Returns:
        `(inputs, outputs)`: new `keras.Input`s and outputs, ready for
        `keras.Model(inputs, outputs)`.
    """
    model = as_functional(model)
    tensor_map = {}
    new_inputs = []
    for t in model.inputs:
        name = t._keras_history.operation.name if input_names else None
        x = keras.Input(batch_shape=t.shape, dtype=t.dtype, name=name)
        tensor_map[id(t)] = x
        new_inputs.append(x)
    for event in flat_events(model):
        if event[0] == "alias":
            _, src, dst = event
            tensor_map[id(dst)] = tensor_map[id(src)]
            continue
        node = event[1]

        def args_for(overrides=None, node=node):
            table = _Overlay(tensor_map, overrides) if overrides else tensor_map
            if overrides and node.arguments._single_positional_tensor is not None:
                return (table[id(node.arguments._single_positional_tensor)],), {}
            return node.arguments.fill_in(table)

        outputs = call_node(node, args_for, tensor_map)
        for old, new in zip(node.outputs, tree.flatten(outputs)):
            tensor_map[id(old)] = new
    outputs = [tensor_map[id(x)] for x in tree.flatten(model.outputs)]
    return (
        tree.pack_sequence_as(model._inputs_struct, new_inputs),
        tree.pack_sequence_as(model._outputs_struct, outputs),
    )


def clone_operation(op):
    """A fresh copy of a layer or operation (same config, unbuilt)."""
    try:
        return type(op).from_config(op.get_config())
    except Exception:  # weightless ops that do not round-trip: reuse them
        if isinstance(op, keras.layers.Layer) and op.weights:
            raise
        return op


def spatial_size(shape):
    """Product of the dimensions of `shape` between batch and channels.

    Args:
        shape: A tensor shape including the batch axis, channels last.

    Returns:
        The product of the known inner dimensions.

    Raises:
        ValueError: If an inner dimension is unknown.
    """
    size = 1
    for dim in shape[1:-1]:
        if dim is None:
            raise ValueError(
                f"Shape {tuple(shape)} has an unknown spatial dimension, so "
                "MACs cannot be counted. Build the model with a fixed input "
                "shape, e.g. `keras.Input(shape=(224, 224, 3))`."
            )
        size *= int(dim)
    return size
