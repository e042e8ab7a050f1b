"""Group-norm importance: the L2 norm of every parameter a channel owns.

The criterion of DepGraph (Fang et al., "DepGraph: Towards Any Structural
Pruning", CVPR 2023) and of Torch-Pruning's `GroupNormImportance`. Removing
channel `c` of a coupled group (`dais_keras.channel_groups`) removes every
parameter that writes, carries or reads it, so its importance is the L2 norm
over all of them:

* every producer's output slice: the kernel `[..., c]` and the bias `[c]`
  (Conv*, Dense, ConvTranspose, the pointwise kernel of a SeparableConv);
* every per-channel layer that carries it: BatchNormalization's `gamma` and
  `beta` (its moving statistics are not trained parameters and do not
  count), PReLU's `alpha`, LayerScale's `gamma`; a depthwise convolution's
  filter and bias of `c`;
* every consumer's input slice: `kernel[..., c, :]` of a convolution,
  `kernel[c, :]` of a Dense layer (every position of `c` after a
  `Flatten`), the depthwise and pointwise weights of a SeparableConv that
  read `c`.

A layer that acts per channel (a depthwise convolution, a grouped
convolution with one input channel per group) holds one parameter set per
channel; it counts once, on its output. A layer shared by several calls
counts once.

`group_norms` returns these norms. The global ranking normalises them the
way Torch-Pruning does (`GroupNormImportance(p=2, group_reduction="mean",
normalizer="mean")` with `bias=True`): its importance of `c` is the mean over
the group's layers of the **squared** norms, divided by its mean over the
group's channels, i.e. `||theta_c||^2 / mean_c' ||theta_c'||^2` (the number of
layers cancels): `normalised_group_importance`.

Rules per layer type live in a registry (`register_parameter_norms`); a
layer type with a kernel rule of `dais_keras.select.importance` but no rule
here counts its kernel (both sides) and its bias.
"""

import numpy as np

import keras
from keras.src.applications import convnext

from dais_keras.select.importance import WEIGHT_NORMS
from dais_keras.select.importance import normalise_per_group
from dais_keras.utils.registry import ClassRegistry

#: Layer class -> `rule(layer) -> (out_squares, in_squares)`.
PARAMETER_NORMS = ClassRegistry("parameter-norm rule")


def register_parameter_norms(layer_class):
    """Registers which parameters of a layer type each channel owns.

    The decorated function receives the layer and returns
    `(out_squares, in_squares)`: numpy arrays of the sum of squares of the
    parameters owned by each output channel (length `C_out`) and by each
    input channel (length `C_in`), or `None` for either. Count a parameter
    on one side only. Subclasses inherit the rule of their closest
    registered base class.

    Args:
        layer_class: The `keras.layers.Layer` subclass the rule is for.

    Returns:
        A decorator that registers the rule and returns it.

    Example (a layer with one scale per channel):

    ```python
    @dais_keras.baselines.register_parameter_norms(MyScale)
    def _my_scale(layer):
        return keras.ops.convert_to_numpy(layer.scale) ** 2, None
    ```
    """
    return lambda fn: PARAMETER_NORMS.register(layer_class, fn)


def _squares(variable):
    """Sum of squares of `variable` per entry of its last axis."""
    w = keras.ops.convert_to_numpy(variable).astype(np.float64) ** 2
    return w.reshape(-1, w.shape[-1]).sum(axis=0) if w.ndim else w.reshape(1)


def kernel_and_bias(layer):
    """Kernel squares of the layer's weight-norm rule (`p=2`), plus its bias
    on the output side. The rule of layers without their own."""
    rule = WEIGHT_NORMS.lookup(layer)
    if rule is None:
        return None, None
    out, inp = rule(layer, 2)
    bias = getattr(layer, "bias", None)
    if bias is not None and out is not None:
        out = out + _squares(bias)
    return out, inp


@register_parameter_norms(keras.layers.Conv1D)
@register_parameter_norms(keras.layers.Conv2D)
@register_parameter_norms(keras.layers.Conv3D)
def _conv(layer):
    out, inp = kernel_and_bias(layer)
    if layer.groups > 1 and layer.kernel.shape[-2] == 1:
        return out, None  # one input channel per group: per-channel filters
    return out, inp


@register_parameter_norms(keras.layers.DepthwiseConv1D)
@register_parameter_norms(keras.layers.DepthwiseConv2D)
def _depthwise(layer):
    return kernel_and_bias(layer)[0], None


def channel_parameters(*names):
    """A rule for a per-channel layer: the squares of its parameters `names`
    (attributes; `None` ones are skipped), all owned by its output channels.

    Args:
        *names: Attribute names of the layer's per-channel variables.

    Returns:
        A rule for `register_parameter_norms`.
    """

    def rule(layer):
        squares = [_squares(v) for v in (getattr(layer, n, None) for n in names) if v is not None]
        return (sum(squares) if squares else None), None

    return rule


# BatchNorm's moving statistics are not trained parameters; a PReLU alpha
# shared over the channels has one entry and is skipped.
for _cls, _names in (
    (keras.layers.BatchNormalization, ("gamma", "beta")),
    (keras.layers.PReLU, ("alpha",)),
    (convnext.LayerScale, ("gamma",)),
):
    register_parameter_norms(_cls)(channel_parameters(*_names))


def _accumulate(graph, tensor, squares, totals):
    """Adds per-channel `squares` of `tensor`'s channels into `totals`."""
    gids, local = graph.tensor_channels(tensor)
    if squares is None or gids.size != squares.size:  # channels_first, shared: frozen
        return
    for gid in set(gids.tolist()) & totals.keys():
        at = gids == gid
        np.add.at(totals[gid], local[at], squares[at])


def group_squares(graph):
    """Per prunable group, the sum of squares of every parameter of each
    channel (see the module docstring).

    Args:
        graph: A `ChannelGraph` (`dais_keras.channel_groups(model)`).

    Returns:
        Dict group id -> float64 array over the group's channels.
    """
    totals = {g.id: np.zeros(g.size) for g in graph.prunable}
    seen = set()
    for call in graph.calls:
        if id(call.layer) in seen or not call.inputs:
            continue
        seen.add(id(call.layer))
        rule = PARAMETER_NORMS.lookup(call.layer) or kernel_and_bias
        out, inp = rule(call.layer)
        _accumulate(graph, call.outputs[0], out, totals)
        _accumulate(graph, call.inputs[0], inp, totals)
    return totals


def group_norms(graph):
    """The group L2 norm of every prunable channel.

    Args:
        graph: A `ChannelGraph` (`dais_keras.channel_groups(model)`).

    Returns:
        Dict group id -> array: per channel, the L2 norm of every parameter
        that writes, carries or reads it.

    Example:

    >>> norms = group_norms(dais_keras.channel_groups(model))
    """
    return {gid: np.sqrt(s) for gid, s in group_squares(graph).items()}


def normalised_group_importance(graph):
    """Torch-Pruning's global group importance: the squared group norm of
    every channel divided by its group's mean (all ones where the group's
    parameters are all zero).

    Args:
        graph: A `ChannelGraph`.

    Returns:
        Dict group id -> array with mean 1.
    """
    return normalise_per_group(group_squares(graph))
