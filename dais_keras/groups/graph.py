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

from dais_keras.cost.macs import layer_call_macs
from dais_keras.cost.macs import mac_rule_for
from dais_keras.cost.model import CostModel
from dais_keras.groups.analysis import analyse
from dais_keras.groups.handlers import MaskHandler
from dais_keras.groups.handlers import handler_for
from dais_keras.utils.functional import flat_key


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
            handler = handler_for(call.layer)
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
        """`(group_ids, local_indices)` arrays for each channel of `tensor`.

        Args:
            tensor: An input or output of a call in `calls` (a `FlatTensor`:
                inside a nested model called twice, each call has its own),
                or a tensor of the model's top level.
        """
        roots = self._root[self._ctx.tensor_ids[flat_key(tensor)]]
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
            rule = mac_rule_for(call.layer)
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
            key = flat_key(tensor)
            if key not in cache:
                gids, local = self.tensor_channels(tensor)
                idx = np.full(gids.size, -1, dtype=np.int64)
                for gid in np.unique(gids).tolist():
                    if gid in slot_of:
                        start, perm = slot_of[gid]
                        sel = gids == gid
                        idx[sel] = start + np.asarray(perm)[local[sel]]
                cache[key] = (float((idx < 0).sum()), idx[idx >= 0])
            return cache[key]

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
        return CostModel(sizes, terms, ins, outs)

    def indicator_slots(self):
        """`(layers, (sizes, slot_of))` for a model with indicators.

        Lays out `m` as the concatenation of the masks of the indicator
        layers (the layers with a `MaskHandler`, in the handlers' order) and
        maps each group to its indicator.

        Raises:
            ValueError: If a group is masked by two indicators, or only part
                of it by one.
        """
        masks = []
        for call in self.calls:
            handler = handler_for(call.layer)
            if isinstance(handler, MaskHandler):
                masks.append((call, handler))
        layers = list({id(call.layer): call.layer for call, _ in masks}.values())
        layers.sort(key=lambda l: handler_for(l).order(l))
        offsets, sizes = {}, []
        for layer in layers:
            offsets[id(layer)] = sum(sizes)
            sizes.append(handler_for(layer).units(layer))
        slot_of = {}
        for call, handler in masks:
            layer = call.layer
            gids, local = self.tensor_channels(call.inputs[0])
            positions, own = handler.positions(call)
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
        return layers, (sizes, slot_of)

    def prunable_macs_share(self):
        """Share of the model's MACs in calls that read or write a prunable
        channel (so pruning can shrink them)."""
        total = 0
        prunable = 0
        frozen = {g.id for g in self.groups if g.frozen}
        for call in self.calls:
            macs = layer_call_macs(
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
    model, ctx, calls = analyse(model, strict=strict, frozen_layers=frozen_layers)
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
