"""Model surgery: rebuild a functional model without pruned channels.

Surgery is pure: it returns a new plain Keras model and never changes its
input. Every layer that produces, carries or consumes a removed channel is
rebuilt by its handler (`dais_keras.groups.handlers`) with sliced weights, so the
result computes exactly what the indicator model computes with hard masks.
"""

import numpy as np

import keras

from dais_keras.groups.graph import channel_groups
from dais_keras.groups.handlers import CallKeep
from dais_keras.groups.handlers import handler_for
from dais_keras.indicators.layer import ChannelIndicator
from dais_keras.indicators.state import indicator_layers
from dais_keras.utils.functional import as_functional
from dais_keras.utils.functional import clone_operation
from dais_keras.utils.functional import initialized_later
from dais_keras.utils.functional import replay


def _rebuild(graph, keep_by_group, name=None):
    new_layers = {}

    def call_node(call, args_for, tensor_map):
        op = call.operation
        args, kwargs = args_for()
        if isinstance(op, ChannelIndicator):
            return args[0]
        keep = CallKeep(
            [graph.keep_of(t, keep_by_group) for t in call.inputs],
            [graph.keep_of(t, keep_by_group) for t in call.outputs],
        )
        handler = handler_for(op)
        unchanged = handler is None or (keep.unchanged() and not handler.always_rebuild)
        if not unchanged:
            args, kwargs = handler.rebuild_arguments(args, kwargs, keep)
        new = new_layers.get(id(op))
        if new is not None:
            return new(*args, **kwargs)
        has_weights = isinstance(op, keras.layers.Layer) and bool(op.weights)
        if unchanged:
            new = clone_operation(op)
            weights = op.get_weights() if has_weights else None
        else:
            new = handler.rebuild(op, keep)
            weights = handler.new_weights(op, keep) if has_weights else None
        new_layers[id(op)] = new
        if weights is None:
            return new(*args, **kwargs)
        with initialized_later(new):
            outputs = new(*args, **kwargs)
        try:
            new.set_weights(weights)
        except ValueError as e:
            raise ValueError(
                f"Surgery could not set the weights of layer '{op.name}' "
                f"({type(op).__name__}): {e}. Its handler "
                f"({type(handler).__name__}) sliced them inconsistently; "
                "fix or re-register it with dais_keras.register_handler."
            ) from e
        return outputs

    inputs, outputs = replay(graph.model, call_node)
    return keras.Model(inputs, outputs, name=name or graph.model.name)


def _normalise_keep(graph, keep):
    if not isinstance(keep, dict):
        raise ValueError(
            "`keep` must be a dict mapping group ids (or names) to the kept "
            f"channel indices; received {type(keep).__name__}."
        )
    out = {}
    for key, value in keep.items():
        group = graph.group(key)
        arr = np.asarray(value)
        if arr.dtype == bool:
            if arr.shape != (group.size,):
                raise ValueError(
                    f"Boolean keep mask for group {group.id} '{group.name}' has "
                    f"shape {arr.shape}; expected ({group.size},)."
                )
            mask = arr
        else:
            if arr.size and not np.issubdtype(arr.dtype, np.integer):
                raise ValueError(
                    f"Kept channels of group {group.id} '{group.name}' must be "
                    f"integer indices (0..{group.size - 1}) or a boolean mask "
                    f"of shape ({group.size},); received {value!r} (dtype "
                    f"{arr.dtype}). Pass e.g. [0, 2] or np.array(mask, bool)."
                )
            idx = arr.astype(np.int64).ravel()
            bad = idx[(idx < 0) | (idx >= group.size)]
            if bad.size:
                raise ValueError(
                    f"Kept channel indices {bad.tolist()} are out of range for "
                    f"group {group.id} '{group.name}', which has {group.size} "
                    f"channels (valid: 0..{group.size - 1})."
                )
            if np.unique(idx).size != idx.size:
                raise ValueError(
                    f"Kept channel indices for group {group.id} '{group.name}' "
                    "contain duplicates."
                )
            mask = np.zeros(group.size, dtype=bool)
            mask[idx] = True
        if not mask.any():
            raise ValueError(
                f"Keeping no channel of group {group.id} '{group.name}' would "
                "leave its producers "
                f"({', '.join(group.producers)}) empty; keep at least one."
            )
        if group.frozen and not mask.all():
            raise ValueError(
                f"Group {group.id} '{group.name}' is frozen ({group.reason}); "
                "it cannot lose channels."
            )
        if group.id in out:
            raise ValueError(f"Group {group.id} '{group.name}' is given twice in `keep`.")
        out[group.id] = mask
    return out


def prune(model, keep, frozen_layers=None, name=None):
    """Rebuilds `model` keeping only the given channels of each group.

    Args:
        model: A functional or built Sequential Keras model.
        keep: Dict mapping a group id (int) or name (str) of
            `dais_keras.channel_groups(model)` to the kept channel indices
            (ints) or a boolean mask. Groups not listed keep every channel.
        frozen_layers: As for `channel_groups`.
        name: Name of the new model (default: the old name).

    Returns:
        A new plain functional `keras.Model` with fewer filters; `model` is
        unchanged.

    Raises:
        ValueError: For an unknown group, indices that are not integers, out
            of range or duplicated, a group left empty, or a frozen group
            asked to lose channels.

    Example:

    >>> graph = dais_keras.channel_groups(model)
    >>> small = dais_keras.surgery.prune(model, {graph.prunable[0].id: [0, 2]})
    """
    graph = channel_groups(model, frozen_layers=frozen_layers)
    return _rebuild(graph, _normalise_keep(graph, keep), name=name)


def keep_from_indicators(graph):
    """Dict group id -> boolean keep mask, read from the indicators' `alpha`."""
    layers, (sizes, slot_of) = graph.indicator_slots()
    alpha = np.concatenate(
        [keras.ops.convert_to_numpy(l.alpha) for l in layers] + [np.zeros(0)]
    )
    keep = {}
    for gid, (offset, perm) in slot_of.items():
        mask = alpha[offset + perm] > 0
        if not mask.any():
            group = graph.groups[gid]
            raise ValueError(
                f"Every indicator of group {gid} '{group.name}' is <= 0, which "
                "would leave its producers empty. Binarise with "
                "`DAISCallback` (it keeps at least one channel per group) or "
                "set one alpha > 0."
            )
        keep[gid] = mask
    return keep


def apply(indicator_model, name=None):
    """Rebuilds an indicator model without the channels whose `alpha <= 0`.

    Args:
        indicator_model: A model from `dais_keras.attach_indicators` (after a
            search, or with hand-set `alpha`).
        name: Name of the new model (default: the original model's name).

    Returns:
        A plain functional `keras.Model` with the indicators removed and every
        producer and consumer of a removed channel rebuilt with sliced
        weights. It computes what the indicator model computes in hard mode.

    Raises:
        ValueError: If `indicator_model` is not a functional model with
            channel indicators, or a group's indicators are all `<= 0`.

    Example:

    >>> pruned = dais_keras.surgery.apply(search_model)
    """
    model = as_functional(indicator_model, argument="indicator_model")
    if not indicator_layers(model):
        raise ValueError(
            f"`indicator_model` ('{model.name}') has no `ChannelIndicator` "
            "layers, so there is nothing to read the kept channels from. "
            "`surgery.apply` rebuilds a search model: create one with "
            "`dais_keras.attach_indicators(model)` and search it with "
            "`DAISCallback` (or call `dais_keras.prune`); to remove channels "
            "you choose, call `dais_keras.surgery.prune(model, keep)`."
        )
    graph = channel_groups(model)
    keep = keep_from_indicators(graph)
    if name is None and model.name.endswith("_dais"):
        name = model.name[: -len("_dais")]
    return _rebuild(graph, keep, name=name)
