"""A functional view of a Keras model: its nodes in execution order.

Every structural tool of dais-keras (cost counting, channel groups, indicator
insertion, surgery) walks the same graph of `Node`s that Keras' own `Functional`
runs. This module is the one place that knows how to get that graph out of a
model and how to re-run it with replaced operations.
"""

import contextlib

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


class FlatTensor:
    """A tensor of a model's flattened graph.

    A nested model called twice runs its inner layers twice on the same
    inner `KerasTensor`s; in the flattened graph each call is its own node,
    so an inner tensor is told apart by the nested calls around it (its
    `scope`).

    Attributes:
        tensor: The `KerasTensor`.
        scope: A tuple of the ids of the nested-model call nodes around it
            (`()` at the top level).
        key: `(scope, id(tensor))`, unique in the flattened graph.
    """

    __slots__ = ("tensor", "scope", "key")

    def __init__(self, tensor, scope=()):
        self.tensor = tensor
        self.scope = scope
        self.key = (scope, id(tensor))

    @property
    def shape(self):
        return self.tensor.shape

    @property
    def dtype(self):
        return self.tensor.dtype

    def __repr__(self):
        return f"<FlatTensor {self.tensor.name} shape={self.shape} scope={len(self.scope)}>"


def flat_key(tensor):
    """The key of `tensor` (a `FlatTensor`, or a top-level `KerasTensor`)."""
    return tensor.key if isinstance(tensor, FlatTensor) else ((), id(tensor))


class FlatCall:
    """One call of a non-model operation in the flattened graph.

    Attributes:
        node: The Keras `Node` of the call.
        scope: As for `FlatTensor`.
        inputs: The call's input tensors, as `FlatTensor`s.
        outputs: The call's output tensors, as `FlatTensor`s.
    """

    __slots__ = ("node", "scope", "inputs", "outputs")

    def __init__(self, node, scope):
        self.node = node
        self.scope = scope
        self.inputs = [FlatTensor(t, scope) for t in node.input_tensors]
        self.outputs = [FlatTensor(t, scope) for t in node.outputs]

    @property
    def operation(self):
        return self.node.operation


def flat_events(model, scope=()):
    """Yields the model's calls with nested models inlined.

    Yields `("call", FlatCall)` for each call of a non-model operation and
    `("alias", src, dst)` when `FlatTensor` `dst` is the same value as `src`
    (entering or leaving a nested model). Every call of a nested model is
    inlined on its own, in its own scope.

    Args:
        model: A functional Keras model.
        scope: The scope of `model`'s own tensors (for the recursion).
    """
    model = as_functional(model)
    for node in nodes_in_order(model):
        op = node.operation
        if isinstance(op, keras.Model):
            inner = as_functional(op, argument=f"nested model '{op.name}'")
            inner_scope = scope + (id(node),)
            for inner_in, outer_in in zip(inner.inputs, node.input_tensors):
                yield ("alias", FlatTensor(outer_in, scope), FlatTensor(inner_in, inner_scope))
            yield from flat_events(inner, inner_scope)
            for inner_out, outer_out in zip(tree.flatten(inner.outputs), node.outputs):
                yield ("alias", FlatTensor(inner_out, inner_scope), FlatTensor(outer_out, scope))
        else:
            yield ("call", FlatCall(node, scope))


class _ScopedTable:
    """The tensor map as `fill_in` reads it (`table[id(tensor)]`) for one
    call: keys in the call's scope, with a few overrides."""

    def __init__(self, tensor_map, scope, overrides):
        self.tensor_map = tensor_map
        self.scope = scope
        self.overrides = overrides or {}

    def __getitem__(self, tensor_id):
        key = (self.scope, tensor_id)
        if key in self.overrides:
            return self.overrides[key]
        return self.tensor_map[key]

    def get(self, tensor_id, default=None):
        try:
            return self[tensor_id]
        except KeyError:
            return default


def replay(model, call_node, input_names=True):
    """Rebuilds `model`'s graph (nested models inlined) on fresh inputs.

    Args:
        model: A functional Keras model.
        call_node: `call_node(call, args_for, tensor_map) -> outputs`: called
            for each `FlatCall` in order. `args_for(overrides)` returns
            `(args, kwargs)` of the call mapped to new tensors, where
            `overrides` maps the `key` of an input `FlatTensor` to a
            replacement new tensor; `tensor_map` maps keys to new tensors.
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
        tensor_map[flat_key(t)] = x
        new_inputs.append(x)
    for event in flat_events(model):
        if event[0] == "alias":
            _, src, dst = event
            tensor_map[dst.key] = tensor_map[src.key]
            continue
        call = event[1]

        def args_for(overrides=None, call=call):
            table = _ScopedTable(tensor_map, call.scope, overrides)
            return call.node.arguments.fill_in(table)

        outputs = call_node(call, args_for, tensor_map)
        for old, new in zip(call.outputs, tree.flatten(outputs)):
            tensor_map[old.key] = new
    outputs = [tensor_map[flat_key(x)] for x in tree.flatten(model.outputs)]
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


@contextlib.contextmanager
def initialized_later(layer):
    """Builds `layer` within the block without drawing its initial values.

    For a copy whose weights are set right after its first call: the layer's
    `*_initializer` attributes are zeros within the block (no random draws)
    and its own again after it, so its config is unchanged.

    Args:
        layer: A new layer (or operation), not built yet.
    """
    saved = {
        key: value
        for key, value in vars(layer).items()
        if key.endswith("_initializer") and isinstance(value, keras.initializers.Initializer)
    }
    zeros = keras.initializers.Zeros()
    for key in saved:
        setattr(layer, key, zeros)
    try:
        yield layer
    finally:
        for key, value in saved.items():
            setattr(layer, key, value)


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
