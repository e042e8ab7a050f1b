"""Inserting the DAIS channel indicators into a functional model."""

import numpy as np

import keras

from dais_keras.groups.graph import channel_groups
from dais_keras.groups.handlers import handler_for
from dais_keras.indicators.layer import ChannelIndicator
from dais_keras.indicators.state import indicator_layers
from dais_keras.utils.functional import as_functional
from dais_keras.utils.functional import clone_operation
from dais_keras.utils.functional import initialized_later
from dais_keras.utils.functional import replay


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


def insert_indicators(
    model, frozen_layers=None, alpha_init=2.0, temperature=1.0, strict=False
):
    """Returns a functional copy of `model` with channel indicators inserted.

    The graph rewrite behind `dais_keras.attach_indicators` (which wraps the
    result in a `DAISModel`): one `ChannelIndicator` per prunable group,
    called wherever the group's channels enter a layer that mixes channels.

    Args:
        model, frozen_layers, alpha_init, temperature, strict: As for
            `dais_keras.attach_indicators`.

    Returns:
        A functional `keras.Model` named `<name>_dais` with the original
        weights copied; `model` itself is left untouched.

    Raises:
        ValueError: If `model` already has indicators or no functional graph,
            or (with `strict=True`) a layer has no handler.
    """
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

    def call_node(call, args_for, tensor_map):
        op = call.operation
        handler = handler_for(op)
        overrides = None
        if handler is not None and handler.mixes_channels:
            t = call.inputs[0]
            if t.key not in masked:
                x = tensor_map[t.key]
                for group, kwargs in _mask_calls(graph, t):
                    x = indicators[group.id](x, **kwargs)
                masked[t.key] = x
            overrides = {t.key: masked[t.key]}
        args, kwargs = args_for(overrides)
        new = new_layers.get(id(op))
        first = new is None
        if first:
            new = clone_operation(op)
            new_layers[id(op)] = new
        if not (first and isinstance(op, keras.layers.Layer) and op.weights):
            return new(*args, **kwargs)
        with initialized_later(new):
            outputs = new(*args, **kwargs)
        new.set_weights(op.get_weights())
        return outputs

    inputs, outputs = replay(model, call_node)
    return keras.Model(inputs=inputs, outputs=outputs, name=f"{model.name}_dais")
