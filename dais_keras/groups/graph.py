"""Channel groups: which channels of a functional model can be removed together.

`channel_groups(model)` walks the model's graph once. Every channel of every
tensor gets an integer identity; producers (convolutions, dense layers) create
fresh identities, pass-through layers copy them, merges (`Add`, `Multiply`, ...)
declare them equal (union-find) and `Concatenate` stacks them. A **channel** is
a class of equal identities; a **group** is the set of channels produced by the
same set of layers (e.g. every conv that writes into one residual stage), in
the order of the first producer's output. Each channel of a group can be kept
or removed on its own, and removing it removes it from every producer and
consumer of the group.

A channel is **frozen** (never pruned) when it reaches the model's inputs or
outputs, a layer without a handler (`dais_keras.register_handler`), a layer in
`frozen_layers`, or a layer that reads all channels together (LayerNorm over
channels, Softmax over channels, a Reshape across the channel axis); the group
records why.
"""

import collections

import numpy as np

import keras
from keras.src import tree

from dais_keras.cost import macs as cost_lib
from dais_keras.groups import handlers as handlers_lib
from dais_keras.utils.functional import as_functional
from dais_keras.utils.functional import flat_events


class Call:
    """One call of a layer (or keras op) in the flattened graph."""

    __slots__ = ("layer", "node", "inputs", "outputs", "index")

    def __init__(self, layer, node, inputs, outputs, index):
        self.layer = layer
        self.node = node
        self.inputs = inputs
        self.outputs = outputs
        self.index = index

    @property
    def name(self):
        return self.layer.name


class ChannelGroup:
    """A group of coupled channels.

    Attributes:
        id: Integer id, stable for a given model.
        name: The first producer's name (readable id).
        size: Number of channels (each can be kept or removed on its own).
        producers: Names of the layers that write these channels.
        carriers: Names of the layers whose outputs carry them.
        consumers: Names of the layers that mix them (conv, dense inputs).
        frozen: Whether the group must be kept whole.
        reasons: Why it is frozen (empty if not).
    """

    def __init__(self, id, name, roots, producers, carriers, consumers, reasons):
        self.id = id
        self.name = name
        self.roots = roots
        self.size = len(roots)
        self.producers = producers
        self.carriers = carriers
        self.consumers = consumers
        self.reasons = reasons

    @property
    def frozen(self):
        return bool(self.reasons)

    @property
    def reason(self):
        return "; ".join(self.reasons) if self.reasons else None

    def __str__(self):
        state = f"frozen: {self.reason}" if self.frozen else "prunable"
        lines = [f"Group {self.id} '{self.name}': {self.size} channels, {state}"]
        lines.append("  produced by: " + (", ".join(self.producers) or "-"))
        carried = [c for c in self.carriers if c not in self.producers]
        if carried:
            lines.append("  carried by:  " + " -> ".join(carried))
        lines.append("  consumed by: " + (", ".join(self.consumers) or "-"))
        return "\n".join(lines)

    def __repr__(self):
        return (
            f"<ChannelGroup id={self.id} name={self.name!r} size={self.size}"
            f"{' frozen' if self.frozen else ''}>"
        )


class _Context:
    """State of one analysis: the handlers' view of channel identities."""

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
        return self.tensor_ids[id(tensor)]

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
            if id(t) in self.tensor_ids:
                self.freeze(self.ids(t), f"{self.describe(call.layer)} {reason}")
        outs = []
        for k, t in enumerate(call.outputs):
            n = t.shape[-1] if len(t.shape) else 1
            outs.append(self.fresh(call.layer, n, key=("opaque", k), frozen=reason))
        return outs


def _analyse(model, strict=False, frozen_layers=None):
    model = as_functional(model)
    ctx = _Context(strict, frozen_layers)
    for t in model.inputs:
        ctx.tensor_ids[id(t)] = ctx._new(int(t.shape[-1]), "<input>")
        ctx.freeze(ctx.tensor_ids[id(t)], "model input")
    calls = []
    first_call = {}
    for event in flat_events(model):
        if event[0] == "alias":
            _, src, dst = event
            ctx.tensor_ids[id(dst)] = ctx.tensor_ids[id(src)]
            continue
        node = event[1]
        op = node.operation
        call = Call(op, node, list(node.input_tensors), list(node.outputs), len(calls))
        ctx.call_index = call.index
        handler = handlers_lib.handler_for(op)
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
            out_ids = handler.propagate(call, ctx)
        if op.name in ctx.frozen_layers:
            for t in call.inputs:
                ctx.freeze(ctx.ids(t), f"{ctx.describe(op)} is in frozen_layers")
            for ids in out_ids:
                ctx.freeze(ids, f"{ctx.describe(op)} is in frozen_layers")
        if id(op) in first_call:  # shared layer: every call prunes alike
            prev = first_call[id(op)]
            for a, b in zip(prev.inputs + prev.outputs, call.inputs + call.outputs):
                ia, ib = ctx.tensor_ids.get(id(a)), None
                ib = out_ids[call.outputs.index(b)] if b in call.outputs else ctx.tensor_ids.get(id(b))
                if ia is not None and ib is not None and ia.shape == ib.shape:
                    ctx.union(ia, ib)
        else:
            first_call[id(op)] = call
        for t, ids in zip(call.outputs, out_ids):
            ctx.tensor_ids[id(t)] = np.asarray(ids, dtype=np.int64)
        calls.append(call)
    for t in tree.flatten(model.outputs):
        ctx.freeze(ctx.tensor_ids[id(t)], "model output")
    return model, ctx, calls


class ChannelGraph:
    """The result of `channel_groups`: groups plus per-tensor channel maps.

    Attributes:
        model: The analysed (functional) model.
        groups: List of `ChannelGroup`, ordered by id.
        calls: The flattened calls, in execution order.
    """

    def __init__(self, model, ctx, calls):
        self.model = model
        self.calls = calls
        self._ctx = ctx
        n = len(ctx.parent)
        root = np.fromiter((ctx.find(i) for i in range(n)), dtype=np.int64, count=n)
        self._root = root
        frozen_reasons = collections.defaultdict(list)
        for ids, reason in ctx.frozen:
            for r in np.unique(root[ids]).tolist():
                if reason not in frozen_reasons[r]:
                    frozen_reasons[r].append(reason)
        # Per root: its producers and its first position.
        owners = collections.defaultdict(set)
        first = {}
        for i, (call_idx, pos, name) in enumerate(ctx.owner):
            r = int(root[i])
            owners[r].add((call_idx, name))
            key = (call_idx, pos)
            if r not in first or key < first[r]:
                first[r] = key
        by_signature = collections.defaultdict(list)
        for r in first:
            by_signature[frozenset(owners[r])].append(r)
        sig_order = sorted(by_signature, key=lambda s: min(first[r] for r in by_signature[s]))
        self.groups = []
        self._local = {}
        names = collections.Counter()
        for gid, sig in enumerate(sig_order):
            roots = sorted(by_signature[sig], key=lambda r: first[r])
            producers = [name for _, name in sorted(sig)]
            base = producers[0]
            names[base] += 1
            name = base if names[base] == 1 else f"{base}:{names[base] - 1}"
            reasons = []
            for r in roots:
                for reason in frozen_reasons.get(r, ()):
                    if reason not in reasons:
                        reasons.append(reason)
            group = ChannelGroup(gid, name, roots, producers, [], [], reasons)
            self.groups.append(group)
            for local, r in enumerate(roots):
                self._local[r] = (gid, local)
        # Lookup arrays indexed by root id: group id and index in the group.
        self._gid_of = np.full(n, -1, dtype=np.int64)
        self._local_of = np.full(n, -1, dtype=np.int64)
        for r, (gid, local) in self._local.items():
            self._gid_of[r] = gid
            self._local_of[r] = local
        self._link_layers()

    def _group_ids_of(self, tensor):
        return np.unique(self.tensor_channels(tensor)[0]).tolist()

    def _link_layers(self):
        for call in self.calls:
            handler = handlers_lib.handler_for(call.layer)
            for t in call.outputs:
                for gid in self._group_ids_of(t):
                    carriers = self.groups[gid].carriers
                    if call.name not in carriers:
                        carriers.append(call.name)
            if handler is not None and handler.mixes_channels:
                for gid in self._group_ids_of(call.inputs[0]):
                    consumers = self.groups[gid].consumers
                    if call.name not in consumers:
                        consumers.append(call.name)

    # -- queries ------------------------------------------------------------
    def tensor_channels(self, tensor):
        """`(group_ids, local_indices)` arrays for each channel of `tensor`."""
        roots = self._root[self._ctx.tensor_ids[id(tensor)]]
        return self._gid_of[roots], self._local_of[roots]

    def group(self, key):
        """The group with integer id or name `key`."""
        if isinstance(key, (int, np.integer)):
            if 0 <= key < len(self.groups):
                return self.groups[key]
        else:
            for g in self.groups:
                if g.name == key:
                    return g
        raise ValueError(
            f"No channel group {key!r} in model '{self.model.name}': valid ids "
            f"are 0..{len(self.groups) - 1}; names include "
            f"{[g.name for g in self.groups[:8]]}..."
        )

    @property
    def prunable(self):
        """The groups that can be pruned."""
        return [g for g in self.groups if not g.frozen]

    def keep_of(self, tensor, keep_by_group):
        """Boolean array over `tensor`'s channels: kept or not.

        Args:
            tensor: A tensor of the analysed model.
            keep_by_group: Dict group id -> boolean array over its channels;
                missing groups keep every channel.
        """
        gids, local = self.tensor_channels(tensor)
        keep = np.ones(gids.size, dtype=bool)
        for gid in np.unique(gids).tolist():
            if gid in keep_by_group:
                sel = gids == gid
                keep[sel] = np.asarray(keep_by_group[gid], dtype=bool)[local[sel]]
        return keep

    def mac_terms(self):
        """Yields `(call, MacTerm)` for every term of the model's MACs."""
        for call in self.calls:
            rule = cost_lib.mac_rule_for(call.layer)
            if rule is None or not call.inputs:
                continue
            in_shape = tuple(call.inputs[0].shape)
            out_shape = tuple(call.outputs[0].shape)
            for term in rule(call.layer, in_shape, out_shape):
                yield call, term

    def default_slots(self):
        """`(sizes, slot_of)`: the prunable groups in id order, channel `j`
        of a group at `offset + j` of the indicator vector."""
        sizes, slot_of, offset = [], {}, 0
        for g in self.prunable:
            slot_of[g.id] = (offset, np.arange(g.size))
            sizes.append(g.size)
            offset += g.size
        return sizes, slot_of

    def slot_index(self, slots=None):
        """Lays out the indicator vector `m` over this graph's channels.

        Args:
            slots: Optional `(sizes, slot_of)` laying out the indicator vector
                `m`: `slot_of[group_id] = (offset, perm)` puts channel `j` of
                the group at `m[offset + perm[j]]`. Default: the prunable
                groups in id order, channel `j` at `offset + j`.

        Returns:
            `(sizes, index_of)`: the channels per slot, and a function mapping
            a tensor of the model to `(fixed_count, m_indices)`, its number of
            channels outside `m` and the `m` positions of the others.
        """
        sizes, slot_of = self.default_slots() if slots is None else slots
        cache = {}

        def index_of(tensor):
            if id(tensor) not in cache:
                gids, local = self.tensor_channels(tensor)
                idx = np.full(gids.size, -1, dtype=np.int64)
                for gid in np.unique(gids).tolist():
                    if gid in slot_of:
                        start, perm = slot_of[gid]
                        sel = gids == gid
                        idx[sel] = start + np.asarray(perm)[local[sel]]
                cache[id(tensor)] = (float((idx < 0).sum()), idx[idx >= 0])
            return cache[id(tensor)]

        return sizes, index_of

    def cost_model(self, slots=None):
        """A `dais_keras.cost.CostModel` of this graph.

        Args:
            slots: As for `slot_index`.
        """
        sizes, index_of = self.slot_index(slots)
        terms, ins, outs = [], [], []
        for call, term in self.mac_terms():
            terms.append(term)
            ins.append(index_of(call.inputs[0]))
            outs.append(index_of(call.outputs[0]))
        return cost_lib.CostModel(sizes, terms, ins, outs)

    def indicator_slots(self):
        """`(layers, (sizes, slot_of))` for a model with indicators.

        Lays out `m` as the concatenation of the indicator layers' masks (in
        `indicator_layers` order) and maps each group to its indicator.
        """
        from dais_keras.indicators.layer import ChannelIndicator

        layers, seen = [], set()
        for call in self.calls:
            if isinstance(call.layer, ChannelIndicator) and id(call.layer) not in seen:
                seen.add(id(call.layer))
                layers.append(call.layer)
        layers.sort(key=lambda l: (l.group_id is None, l.group_id, l.name))
        offsets, start = {}, 0
        for layer in layers:
            offsets[id(layer)] = start
            start += layer.units
        slot_of = {}
        for call in self.calls:
            layer = call.layer
            if not isinstance(layer, ChannelIndicator):
                continue
            gids, local = self.tensor_channels(call.inputs[0])
            kwargs = call.node.arguments.kwargs
            if kwargs.get("index") is not None:
                index = np.asarray(kwargs["index"])
                positions = np.flatnonzero(index >= 0)
                own = index[positions]
            else:
                offset = kwargs.get("offset") or 0
                positions = np.arange(offset, offset + layer.units)
                own = np.arange(layer.units)
            for gid in np.unique(gids[positions]).tolist():
                sel = gids[positions] == gid
                perm = np.full(self.groups[gid].size, -1, dtype=np.int64)
                perm[local[positions][sel]] = own[sel]
                if gid in slot_of:
                    if slot_of[gid][0] != offsets[id(layer)]:
                        raise ValueError(
                            f"Channel group {gid} '{self.groups[gid].name}' "
                            "is masked by two different indicator layers; "
                            "attach indicators to a model without them."
                        )
                    continue
                if (perm < 0).any() or self.groups[gid].frozen:
                    raise ValueError(
                        f"Indicator '{layer.name}' covers part of channel group "
                        f"{gid} '{self.groups[gid].name}' only; the indicator "
                        "model does not match its graph. Re-create it with "
                        "dais_keras.attach_indicators."
                    )
                slot_of[gid] = (offsets[id(layer)], perm)
        return layers, ([l.units for l in layers], slot_of)

    def prunable_macs_share(self):
        """Share of the model's MACs in calls that read or write a prunable
        channel (so pruning can shrink them)."""
        total = 0
        prunable = 0
        frozen = {g.id for g in self.groups if g.frozen}
        for call in self.calls:
            macs = cost_lib.layer_call_macs(
                call.layer, tuple(call.inputs[0].shape), tuple(call.outputs[0].shape)
            ) if call.inputs else 0
            if not macs:
                continue
            total += macs
            touched = set(self.tensor_channels(call.inputs[0])[0].tolist())
            touched |= set(self.tensor_channels(call.outputs[0])[0].tolist())
            if touched - frozen:
                prunable += macs
        return prunable / total if total else 0.0

    def summary(self):
        """A readable table of every group."""
        lines = [
            f"Channel groups of '{self.model.name}': {len(self.groups)} groups, "
            f"{len(self.prunable)} prunable, "
            f"{sum(g.size for g in self.prunable)} prunable channels, "
            f"{100 * self.prunable_macs_share():.1f}% of MACs prunable"
        ]
        for g in self.groups:
            state = "frozen" if g.frozen else "prunable"
            lines.append(
                f"  {g.id:>4}  {g.name:<40} {g.size:>6} ch  {state}"
                + (f" ({g.reason})" if g.frozen else "")
            )
        return "\n".join(lines)

    def __str__(self):
        return self.summary()

    def __iter__(self):
        return iter(self.groups)

    def __len__(self):
        return len(self.groups)

    def __getitem__(self, key):
        return self.group(key)


def channel_groups(model, frozen_layers=None, strict=False):
    """Finds the groups of coupled channels of a functional Keras model.

    Args:
        model: A functional or built Sequential Keras model (channels last).
        frozen_layers: Names of layers whose channels must never be pruned.
        strict: If `True`, a layer without a pruning handler raises instead of
            freezing its channels.

    Returns:
        A `ChannelGraph`: iterate it for `ChannelGroup`s, `print` it for a
        summary, `print(graph[3])` for one group's chain of layers.

    Raises:
        ValueError: For a model without a functional graph, or (with
            `strict=True`) a layer without a handler.

    Example:

    >>> graph = dais_keras.channel_groups(keras.applications.ResNet50(weights=None))
    >>> print(graph[0])
    """
    model, ctx, calls = _analyse(model, strict=strict, frozen_layers=frozen_layers)
    _check_frozen_layer_names(model, frozen_layers, calls)
    return ChannelGraph(model, ctx, calls)


def _check_frozen_layer_names(model, frozen_layers, calls):
    if not frozen_layers:
        return
    names = {c.name for c in calls}
    unknown = [n for n in frozen_layers if n not in names]
    if unknown:
        raise ValueError(
            f"`frozen_layers` names layers that are not in model "
            f"'{model.name}': {unknown}. Use names from `[l.name for l in "
            "model.layers]`."
        )
