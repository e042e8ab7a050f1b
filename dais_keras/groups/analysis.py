"""The one walk over a model's graph that gives every channel an identity.

Every channel of every tensor gets an integer identity: producers create fresh
identities, pass-through layers copy them, merges declare them equal
(union-find) and `Concatenate` stacks them, each as its handler says
(`dais_keras.groups.handlers`). `dais_keras.groups.graph` turns the result into
channel groups.
"""

import dataclasses

import numpy as np

from keras.src import tree

from dais_keras.groups.handlers import freeze_activation
from dais_keras.groups.handlers import handler_for
from dais_keras.utils.checks import check_names
from dais_keras.utils.functional import as_functional
from dais_keras.utils.functional import flat_events
from dais_keras.utils.functional import flat_key


@dataclasses.dataclass(eq=False)
class Call:
    """One call of a layer (or keras op) in the flattened graph.

    Attributes:
        layer: The layer or operation called.
        node: Its Keras `Node`.
        inputs: The call's input tensors.
        outputs: The call's output tensors.
        index: Its position in execution order.
    """

    layer: object
    node: object
    inputs: list
    outputs: list
    index: int

    @property
    def name(self):
        return self.layer.name


class ChannelContext:
    """State of one analysis: the handlers' view of channel identities.

    Handlers read the ids of a call's inputs with `ids`, create ids with
    `fresh`, couple them with `union` and freeze them with `freeze` (or
    `opaque` for a call that reads every channel of its inputs).
    """

    def __init__(self, strict, frozen_layers):
        self.strict = strict
        self.frozen_layers = set(frozen_layers or ())
        self.parent = []
        self.owner = []  # per raw id: (call index, position, layer name)
        self.tensor_ids = {}
        self.fresh_cache = {}
        self.frozen = []
        self.call_index = 0

    # -- identities ---------------------------------------------------------
    def _new(self, n, owner_name):
        start = len(self.parent)
        ids = np.arange(start, start + n, dtype=np.int64)
        self.parent.extend(ids.tolist())
        self.owner.extend((self.call_index, p, owner_name) for p in range(n))
        return ids

    def fresh(self, layer, n, key=0, frozen=None):
        """Fresh channel ids produced by `layer` (the same ids at every call)."""
        cache_key = (id(layer), key)
        if cache_key not in self.fresh_cache:
            ids = self._new(int(n), layer.name)
            self.fresh_cache[cache_key] = ids
            if frozen:
                self.freeze(ids, f"{self.describe(layer)}: {frozen}")
        return self.fresh_cache[cache_key]

    def ids(self, tensor):
        """The channel ids of `tensor` (an input or output of a call)."""
        return self.tensor_ids[flat_key(tensor)]

    def find(self, i):
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, a, b):
        a = np.asarray(a)
        b = np.asarray(b)
        if a.shape != b.shape:
            raise ValueError(f"Cannot couple {a.size} channels with {b.size}.")
        for x, y in zip(a.tolist(), b.tolist()):
            rx, ry = self.find(x), self.find(y)
            if rx != ry:
                if rx < ry:
                    self.parent[ry] = rx
                else:
                    self.parent[rx] = ry

    def freeze(self, ids, reason):
        if ids is not None and len(ids):
            self.frozen.append((np.asarray(ids), reason))

    @staticmethod
    def describe(layer):
        return f"'{layer.name}' ({type(layer).__name__})"

    def opaque(self, call, reason):
        """Freezes everything a call reads and returns frozen output ids."""
        for t in call.inputs:
            if flat_key(t) in self.tensor_ids:
                self.freeze(self.ids(t), f"{self.describe(call.layer)} {reason}")
        outs = []
        for k, t in enumerate(call.outputs):
            n = t.shape[-1] if len(t.shape) else 1
            outs.append(self.fresh(call.layer, n, key=("opaque", k), frozen=reason))
        return outs


def analyse(model, strict=False, frozen_layers=None):
    """Walks `model`'s flattened graph once, calling every handler.

    Args:
        model: A functional or built Sequential Keras model.
        strict: Raise on a layer without a handler instead of freezing.
        frozen_layers: Names of layers whose channels must never be pruned.

    Returns:
        `(model, ctx, calls)`: the functional model, the `ChannelContext`
        after the walk, and the list of `Call`s in execution order.

    Raises:
        ValueError: With `strict=True`, for a layer without a handler.
    """
    model = as_functional(model)
    ctx = ChannelContext(strict, check_names("frozen_layers", frozen_layers))
    for t in model.inputs:
        ids = ctx.tensor_ids[flat_key(t)] = ctx._new(int(t.shape[-1]), "<input>")
        ctx.freeze(ids, "model input")
    calls = []
    first_call = {}
    for event in flat_events(model):
        if event[0] == "alias":
            _, src, dst = event
            ctx.tensor_ids[dst.key] = ctx.tensor_ids[src.key]
            continue
        flat = event[1]
        op = flat.operation
        call = Call(op, flat.node, flat.inputs, flat.outputs, len(calls))
        ctx.call_index = call.index
        handler = handler_for(op)
        if handler is None:
            if strict:
                raise ValueError(
                    f"Layer '{op.name}' ({type(op).__name__}) has no pruning "
                    f"rule; pass frozen_layers=['{op.name}'] or register a "
                    "handler with dais_keras.register_handler."
                )
            out_ids = ctx.opaque(
                call,
                "has no pruning rule (register one with dais_keras.register_handler)",
            )
        else:
            out_ids = freeze_activation(call, handler.propagate(call, ctx), ctx)
        if op.name in ctx.frozen_layers:
            for t in call.inputs:
                ctx.freeze(ctx.ids(t), f"{ctx.describe(op)} is in frozen_layers")
            for ids in out_ids:
                ctx.freeze(ids, f"{ctx.describe(op)} is in frozen_layers")
        for t, ids in zip(call.outputs, out_ids):
            ctx.tensor_ids[t.key] = np.asarray(ids, dtype=np.int64)
        if id(op) in first_call:  # shared layer: every call prunes alike
            _couple_calls(ctx, first_call[id(op)], call)
        else:
            first_call[id(op)] = call
        calls.append(call)
    for t in tree.flatten(model.outputs):
        ctx.freeze(ctx.tensor_ids[flat_key(t)], "model output")
    return model, ctx, calls


def _couple_calls(ctx, first, call):
    """Couples the channels of two calls of one layer, tensor by tensor."""
    for a, b in zip(first.inputs + first.outputs, call.inputs + call.outputs):
        ia, ib = ctx.tensor_ids.get(a.key), ctx.tensor_ids.get(b.key)
        if ia is not None and ib is not None and ia.shape == ib.shape:
            ctx.union(ia, ib)
