"""Baseline channel pruning under the same budget and surgery as DAIS.

Every baseline answers the same question as the DAIS search: which channels
of each prunable group (`dais_keras.channel_groups`) to keep so that the
pruned model's exact MACs lie in the band `[(1 - band) F, F]`, with
`F = budget * MACs(unpruned)` and `band = 0.05` by default. Each returns the
plain Keras model that `dais_keras.surgery.prune` builds from its choice, so
accuracy differences between methods come from the choice alone.

Methods (`available()`; add your own with `register_method`):

* `"uniform"`: one width multiplier `r` for every prunable group, found by
  bisection on the exact MACs (the largest `r` whose widths fit under `F`;
  each group keeps `round(r * size)` channels, snapped to `round_to`). A
  group keeps its **first** channels (index order): this baseline measures
  the architecture alone, not a channel criterion.
* `"l1-layer"`: the widths of `"uniform"`; within each group the channels
  with the largest L1 norm of the weights that write them (Li et al., 2017,
  "Pruning Filters for Efficient ConvNets").
* `"l1-global"`: all channels ranked together by their L1 norm divided by
  the mean L1 norm of their group (so layers of different fan-in and groups
  written by several layers compare fairly), per MAC saved; the lowest are
  dropped greedily.
* `"random"`: seeded uniform random scores, dropped greedily in random
  order without regard to MACs (per-group widths then shrink at random,
  around the uniform width). Same seed, same model: same channels.
* `"cpmc"`: a CPMC-style criterion (Yan et al., "Channel Pruning via
  Multi-Criteria based on Weight Dependency"): the weights that write a
  channel and the weights of the next layers that read it both matter, and
  so does its cost. Score of channel `c`:
  `||W_write(c)||_2 * ||W_read(c)||_2`, normalised by its group's mean,
  ranked per MAC saved and dropped greedily like `"l1-global"`.
* `"group-norm"`: the widths of `"uniform"`; within each group the channels
  with the largest group L2 norm, the norm over *every* parameter the
  channel owns: each producer's kernel slice and bias, the BatchNorm gamma
  and beta that carry it, each consumer's input slice (DepGraph, Fang et
  al., CVPR 2023; Torch-Pruning's `GroupNormImportance` pruned per group).
* `"group-norm-global"`: all channels ranked together by their squared
  group norm divided by its group's mean (Torch-Pruning's `"mean"`
  normaliser), dropped greedily lowest first, without regard to MACs (as
  Torch-Pruning's `global_pruning=True`), until the budget is met.
* `"halp"`: the importance of `"group-norm-global"` per unit of cost saved
  (per millisecond under a latency budget), dropped greedily one step at a
  time with the cost's marginals re-evaluated after each step (the greedy
  of HALP's latency-saliency knapsack, Shen et al., NeurIPS 2022).

Budgets: a MACs fraction (`0.5`), or a latency budget (`{"latency": 0.5}`,
`{"latency_ms": 3.0}`) with `cost=`, the model's
`dais_keras.latency.LatencyModel` (`dais_keras.latency.latency_model(model)`,
the cost the DAIS repair takes): every method then meets the latency that
the measured table predicts for the kept widths (the band below is in ms,
the per-MAC criteria rank per millisecond saved, and `"uniform"` bisects its
multiplier on the predicted latency), and the report adds `latency`.

The weight norms are `dais_keras.select.importance` (a registry per layer
type, `register_weight_norms`); the group norms
`dais_keras.select.group_norm` (`register_parameter_norms`). The budget is met by the band search shared
with the DAIS repair (`dais_keras.select.band`): greedy methods start from
the full model, width-based methods from their widths; groups never go
below `min_width` (default one channel), frozen groups are never touched,
and with `round_to` every pruned group's width is a multiple of it (or its
full width). When that makes the band unreachable, the report says so and
by how much.

A property of the per-MAC criteria worth knowing: normalised scores have a
mean of 1 in every group, while a channel's MACs differ by 10-30x between
groups (a residual stream read by many convolutions at full resolution is
the most expensive), so `"l1-global"` and `"cpmc"` empty the expensive
groups first: on the pretrained CIFAR ResNet-20 at 30 % they keep 1 of the
16 channels of the stage-1 residual stream (3 at 50 %), and on an untrained
CIFAR VGG-16 1 channel of the second conv of the first three blocks. Pass
`min_width` (e.g. 0.25) or `round_to` to bound that.
"""

from dais_keras.cost.budget import DEFAULT_BAND
from dais_keras.select.band import EXHAUSTIVE_LIMIT
from dais_keras.select.band import SWAP_GROUPS
from dais_keras.select.band import SWAP_STEPS
from dais_keras.select.band import Selection
from dais_keras.select.band import select_widths
from dais_keras.select.baselines.methods import METHODS
from dais_keras.select.baselines.methods import Method
from dais_keras.select.baselines.methods import Plan
from dais_keras.select.baselines.methods import available
from dais_keras.select.baselines.methods import get
from dais_keras.select.baselines.methods import register_method
from dais_keras.select.baselines.report import BaselineReport
from dais_keras.select.baselines.run import prune
from dais_keras.select.baselines.run import select
from dais_keras.select.group_norm import group_norms
from dais_keras.select.group_norm import normalised_group_importance
from dais_keras.select.group_norm import register_parameter_norms
from dais_keras.select.importance import channel_weight_norms
from dais_keras.select.importance import normalise_per_group
from dais_keras.select.importance import register_weight_norms
from dais_keras.select.problem import Problem
from dais_keras.select.problem import allowed_widths

__all__ = [
    "BaselineReport",
    "DEFAULT_BAND",
    "EXHAUSTIVE_LIMIT",
    "METHODS",
    "Method",
    "Plan",
    "Problem",
    "SWAP_GROUPS",
    "SWAP_STEPS",
    "Selection",
    "allowed_widths",
    "available",
    "channel_weight_norms",
    "get",
    "group_norms",
    "normalise_per_group",
    "normalised_group_importance",
    "prune",
    "register_method",
    "register_parameter_norms",
    "register_weight_norms",
    "select",
    "select_widths",
]
