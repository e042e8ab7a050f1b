"""Importance scores of channels: norms of the weights that write and read them.

`W_write(c)` are all kernel weights that compute channel `c` of a group: the
output slices `[..., c]` of every producer (Conv*, Dense, SeparableConv
pointwise kernels, ConvTranspose) plus the per-channel filters of depthwise
convolutions that carry the group. A group written by several layers (a
residual stage) concatenates them: the norm is over all of them (`sum |w|`
for L1). `W_read(c)` are the input slices of every layer that reads the
channel (`kernel[..., c, :]` of a conv, `kernel[c, :]` of a dense layer, all
positions of a Dense after Flatten, a depthwise filter). Norms per layer
type live in a registry (`register_weight_norms`).
"""

import numpy as np

import keras

from dais_keras.utils.registry import ClassRegistry

#: Layer class -> `rule(layer, p) -> (out_power, in_power)`.
WEIGHT_NORMS = ClassRegistry("weight-norm rule")


def register_weight_norms(layer_class):
    """Registers how to read per-channel weight norms of a layer type.

    The decorated function receives `(layer, p)` and returns
    `(out_power, in_power)`: numpy arrays of `sum |w|**p` over the weights
    that write each output channel (length `C_out`) and over the weights
    that read each input channel (length `C_in`), or `None` for either.
    Subclasses inherit the rule of their closest registered base class.

    Args:
        layer_class: A `keras.layers.Layer` subclass.

    Returns:
        A decorator.

    Example:

    ```python
    @dais_keras.baselines.register_weight_norms(MyConv)
    def _my_conv(layer, p):
        k = np.abs(keras.ops.convert_to_numpy(layer.kernel)) ** p
        return k.sum(axis=(0, 1, 2)), k.sum(axis=(0, 1, 3))
    ```
    """
    return lambda fn: WEIGHT_NORMS.register(layer_class, fn)


def _abs_power(variable, p):
    return np.abs(keras.ops.convert_to_numpy(variable).astype(np.float64)) ** p


@register_weight_norms(keras.layers.Conv1D)
@register_weight_norms(keras.layers.Conv2D)
@register_weight_norms(keras.layers.Conv3D)
def _conv_norms(layer, p):
    k = _abs_power(layer.kernel, p)  # (*spatial, C_in / groups, C_out)
    k = k.reshape(-1, k.shape[-2], k.shape[-1]).sum(axis=0)  # (per_in, C_out)
    out_power = k.sum(axis=0)
    groups = layer.groups
    per_in, c_out = k.shape
    per_out = c_out // groups
    # Input channel g * per_in + j reads k[j, outputs of group g].
    in_power = k.reshape(per_in, groups, per_out).sum(axis=2).T.reshape(-1)
    return out_power, in_power


@register_weight_norms(keras.layers.Conv1DTranspose)
@register_weight_norms(keras.layers.Conv2DTranspose)
@register_weight_norms(keras.layers.Conv3DTranspose)
def _conv_transpose_norms(layer, p):
    k = _abs_power(layer.kernel, p)  # (*spatial, C_out, C_in)
    k = k.reshape(-1, k.shape[-2], k.shape[-1]).sum(axis=0)
    return k.sum(axis=1), k.sum(axis=0)


@register_weight_norms(keras.layers.DepthwiseConv1D)
@register_weight_norms(keras.layers.DepthwiseConv2D)
def _depthwise_norms(layer, p):
    k = _abs_power(layer.kernel, p)  # (*spatial, C, depth_multiplier)
    k = k.reshape(-1, k.shape[-2], k.shape[-1]).sum(axis=0)  # (C, dm)
    # Output channel c * dm + j is written by k[c, j] and reads channel c.
    return k.reshape(-1), k.sum(axis=1)


@register_weight_norms(keras.layers.SeparableConv1D)
@register_weight_norms(keras.layers.SeparableConv2D)
def _separable_norms(layer, p):
    dw = _abs_power(layer.depthwise_kernel, p)  # (*spatial, C_in, dm)
    pw = _abs_power(layer.pointwise_kernel, p)  # (*1, C_in * dm, C_out)
    dw = dw.reshape(-1, dw.shape[-2], dw.shape[-1]).sum(axis=0)
    pw = pw.reshape(-1, pw.shape[-2], pw.shape[-1]).sum(axis=0)
    c_in, dm = dw.shape
    in_power = dw.sum(axis=1) + pw.sum(axis=1).reshape(c_in, dm).sum(axis=1)
    return pw.sum(axis=0), in_power


@register_weight_norms(keras.layers.Dense)
def _dense_norms(layer, p):
    k = _abs_power(layer.kernel, p)  # (C_in, C_out)
    return k.sum(axis=0), k.sum(axis=1)


def channel_weight_norms(graph, p=1):
    """Per-channel norms of the weights that write and read each channel.

    Args:
        graph: A `ChannelGraph` (`dais_keras.channel_groups(model)`).
        p: The norm: 1 (sum of absolute values) or 2 (Euclidean).

    Returns:
        `(write, read)`: dicts mapping each prunable group id to a float
        array over its channels: the p-norm of all kernel weights that
        compute the channel, and of all kernel weights that read it (see
        the module docstring). Each shared layer counts once.

    Raises:
        ValueError: If `p` is not 1 or 2.

    Example:

    >>> write, read = channel_weight_norms(dais_keras.channel_groups(model))
    """
    if p not in (1, 2):
        raise ValueError(f"`p` must be 1 or 2; received {p!r}.")
    prunable = {g.id: g for g in graph.prunable}
    write = {gid: np.zeros(g.size) for gid, g in prunable.items()}
    read = {gid: np.zeros(g.size) for gid, g in prunable.items()}
    seen = set()
    for call in graph.calls:
        layer = call.layer
        rule = WEIGHT_NORMS.lookup(layer)
        if rule is None or id(layer) in seen or not call.inputs:
            continue
        seen.add(id(layer))
        out_power, in_power = rule(layer, p)
        for tensor, power, target in (
            (call.outputs[0], out_power, write),
            (call.inputs[0], in_power, read),
        ):
            if power is None:
                continue
            gids, local = graph.tensor_channels(tensor)
            if gids.size != power.size:  # e.g. channels_first: frozen anyway
                continue
            for gid in np.unique(gids).tolist():
                if gid in target:
                    sel = gids == gid
                    np.add.at(target[gid], local[sel], power[sel])
    root = (lambda a: a) if p == 1 else np.sqrt
    return (
        {gid: root(a) for gid, a in write.items()},
        {gid: root(a) for gid, a in read.items()},
    )


def normalise_per_group(scores):
    """Divides each group's scores by their mean (all ones if the mean is 0).

    Args:
        scores: Dict group id -> non-negative float array.

    Returns:
        A new dict of the same arrays, each with mean 1.
    """
    out = {}
    for gid, s in scores.items():
        mean = float(np.mean(s)) if s.size else 0.0
        out[gid] = s / mean if mean > 0 else np.ones_like(s)
    return out
