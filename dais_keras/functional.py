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


def run_graph(model, inputs, call_node):
    """Re-runs `model`'s graph on new `inputs`, one node at a time.

    Args:
        model: A functional Keras model.
        inputs: New input tensors (typically `keras.Input`s), flat list
            matching `model.inputs`.
        call_node: `call_node(node, args, kwargs) -> outputs`, called for each
            node in order with its arguments already mapped to new tensors.

    Returns:
        `(outputs, tensor_map)`: the new outputs, structured like
        `model.outputs`, and a dict from `id(old_tensor)` to new tensor.
    """
    tensor_map = {}
    for old, new in zip(model.inputs, tree.flatten(inputs)):
        tensor_map[id(old)] = new
    for node in nodes_in_order(model):
        args, kwargs = node.arguments.fill_in(tensor_map)
        outputs = call_node(node, args, kwargs)
        for old, new in zip(node.outputs, tree.flatten(outputs)):
            tensor_map[id(old)] = new
    outputs = [tensor_map[id(x)] for x in model.outputs]
    return tree.pack_sequence_as(model._outputs_struct, outputs), tensor_map


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
