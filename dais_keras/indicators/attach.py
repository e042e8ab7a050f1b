"""Inserting, reading and switching the DAIS channel indicators."""

import numpy as np

import keras

from dais_keras.groups import handlers as handlers_lib
from dais_keras.utils.functional import as_functional
from dais_keras.utils.functional import clone_operation
from dais_keras.utils.functional import replay
from dais_keras.groups.graph import channel_groups
from dais_keras.indicators.layer import ChannelIndicator


def _mask_calls(graph, tensor):
    """How to mask `tensor`: a list of `(group, kwargs)` indicator calls."""
    gids, local = graph.tensor_channels(tensor)
    calls = []
    for gid in sorted(set(gids.tolist())):
        group = graph.groups[gid]
        if group.frozen:
            continue
        where = np.flatnonzero(gids == gid)
        in_order = (
            where.size == group.size
            and where[-1] - where[0] + 1 == where.size
            and np.array_equal(local[where], np.arange(group.size))
        )
        if in_order and where.size == gids.size:
            kwargs = {}
        elif in_order:
            kwargs = {"offset": int(where[0])}
        else:
            kwargs = {"index": np.where(gids == gid, local, -1).tolist()}
        calls.append((group, kwargs))
    return calls


def attach_indicators(
    model, frozen_layers=None, alpha_init=2.0, temperature=1.0, strict=False
):
    """Returns a copy of `model` with DAIS channel indicators inserted.

    One `ChannelIndicator` per prunable channel group multiplies the group's
    channels wherever they enter a layer that mixes channels (a convolution or
    dense layer), so coupled places share one `alpha` and a channel whose
    indicator is 0 contributes exactly nothing downstream. With every
    `alpha > 0` in hard mode the new model computes exactly what `model` does.

    Args:
        model: A functional or built Sequential Keras model (channels last).
        frozen_layers: Names of layers whose channels must never be pruned.
        alpha_init: Initial logit of every channel (see `ChannelIndicator`).
        temperature: Initial temperature of every indicator.
        strict: Raise on layers without a pruning handler instead of freezing
            their channels.

    Returns:
        A `dais_keras.DAISModel` with the original weights copied; `model`
        itself is left untouched.

    Example:

    >>> search = dais_keras.attach_indicators(model)
    >>> len(dais_keras.indicator_layers(search))
    """
    from dais_keras.search.model import DAISModel

    model = as_functional(model)
    if indicator_layers(model):
        raise ValueError(
            f"Model '{model.name}' already has channel indicators "
            f"({indicator_layers(model)[0].name}, ...). Use it directly, or "
            "prune it first with `dais_keras.surgery.apply(model)`."
        )
    graph = channel_groups(model, frozen_layers=frozen_layers, strict=strict)
    indicators = {
        g.id: ChannelIndicator(
            g.size,
            alpha_init=alpha_init,
            temperature=temperature,
            group_id=g.id,
            name=f"dais_indicator_{g.id}",
        )
        for g in graph.prunable
    }
    new_layers = {}
    masked = {}

    def call_node(node, args_for, tensor_map):
        op = node.operation
        handler = handlers_lib.handler_for(op)
        overrides = None
        if handler is not None and handler.mixes_channels:
            t = node.input_tensors[0]
            if id(t) not in masked:
                x = tensor_map[id(t)]
                for group, kwargs in _mask_calls(graph, t):
                    x = indicators[group.id](x, **kwargs)
                masked[id(t)] = x
            overrides = {id(t): masked[id(t)]}
        args, kwargs = args_for(overrides)
        new = new_layers.get(id(op))
        first = new is None
        if first:
            new = clone_operation(op)
            new_layers[id(op)] = new
        outputs = new(*args, **kwargs)
        if first and isinstance(op, keras.layers.Layer) and op.weights:
            new.set_weights(op.get_weights())
        return outputs

    inputs, outputs = replay(model, call_node)
    search = DAISModel(inputs=inputs, outputs=outputs, name=f"{model.name}_dais")
    return search


def indicator_layers(model):
    """The model's `ChannelIndicator` layers, ordered by group id."""
    found = [l for l in model._flatten_layers(include_self=False, recursive=True)
             if isinstance(l, ChannelIndicator)]
    return sorted(found, key=lambda l: (l.group_id is None, l.group_id, l.name))


def _require_indicators(model, fn):
    layers = indicator_layers(model)
    if not layers:
        raise ValueError(
            f"`{fn}` needs a model with channel indicators, but model "
            f"'{model.name}' has none. Create one with "
            "`dais_keras.attach_indicators(model)`."
        )
    return layers


def _reset_compiled_functions(model):
    for attr in ("train_function", "test_function", "predict_function"):
        if hasattr(model, attr):
            setattr(model, attr, None)


def set_temperature(model, temperature):
    """Sets the temperature `T` of every indicator of `model`.

    Args:
        model: A model with channel indicators.
        temperature: A float > 0.
    """
    if not temperature > 0:
        raise ValueError(f"`temperature` must be > 0; received {temperature!r}.")
    for layer in _require_indicators(model, "set_temperature"):
        layer.temperature.assign(float(temperature))


def binarize(model, hard=True):
    """Switches every indicator of `model` to hard (`alpha > 0`) or soft mode.

    Args:
        model: A model with channel indicators.
        hard: `True` for binary masks, `False` for `sigmoid(alpha / T)`.
    """
    for layer in _require_indicators(model, "binarize"):
        layer.hard = bool(hard)
    _reset_compiled_functions(model)


def masks(model, hard=None):
    """Dict group id -> numpy mask of each indicator (soft or hard)."""
    return {
        layer.group_id: keras.ops.convert_to_numpy(layer.mask(hard=hard))
        for layer in _require_indicators(model, "masks")
    }
