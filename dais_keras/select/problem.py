"""The pruning problem: the prunable channel groups of a model and their cost.

`SearchStructure` is what the search's penalty and the binarisation repair
need to know about a model with indicators.
"""

import numpy as np

from dais_keras.groups.graph import channel_groups


class SearchStructure:
    """What the search's penalty needs to know about a `DAISModel`.

    Attributes:
        layers: The `ChannelIndicator` layers, in `indicator_layers` order.
        names: A readable name per indicator (its group's first producer).
        sizes: Channels per indicator.
        cost: `dais_keras.cost.CostModel` over the concatenated masks.
        fan_out: Number of consuming layers per indicator's group.
        producers: Number of producing layers per indicator's group.
        residual_weights: Fan-out share of each group shared by a residual
            stage (more than one producer); 0 for the others.
    """

    def __init__(self, model):
        graph = channel_groups(model)
        layers, slots = graph.indicator_slots()
        self.graph = graph
        self.layers = layers
        self.sizes = np.array([l.units for l in layers], dtype=np.int64)
        self.cost = graph.cost_model(slots)
        offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]]).astype(int)
        by_offset = {int(o): i for i, o in enumerate(offsets)}
        sizes, slot_of = slots
        self.names = [l.name for l in layers]
        self.fan_out = np.ones(len(layers))
        self.producers = np.ones(len(layers))
        for gid, (offset, _) in slot_of.items():
            i = by_offset[int(offset)]
            group = graph.groups[gid]
            self.names[i] = group.name
            self.fan_out[i] = max(len(group.consumers), 1)
            self.producers[i] = max(len(group.producers), 1)
        shared = self.producers > 1
        weights = np.where(shared, self.fan_out, 0.0)
        self.residual_weights = (
            weights / weights.sum() if weights.sum() > 0 else weights
        ).astype("float32")
        self.total_macs = int(self.cost.total)
        self.num_channels = int(self.sizes.sum())

    def min_widths(self, min_width):
        """Per-indicator minimum kept channels for `min_width` (an int number
        of channels or a float fraction of each group)."""
        if isinstance(min_width, float):
            widths = np.ceil(min_width * self.sizes)
        else:
            widths = np.full(len(self.sizes), int(min_width))
        return np.clip(widths, 1, self.sizes).astype(np.int64)
