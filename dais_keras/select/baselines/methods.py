"""The baseline methods: what each one ranks, and the registry that names them.

A method is a function `plan(problem) -> Plan` registered under a name
(`register_method`): given the `PruningProblem` (the graph, its cost model,
the weight norms, a seeded `rng`), it scores every prunable channel and may
propose starting widths. The band search (`dais_keras.select.band`) then
meets the budget from that plan.
"""

import dataclasses
import types

import numpy as np

from dais_keras.select.group_norm import group_norms
from dais_keras.select.group_norm import normalised_group_importance
from dais_keras.select.importance import normalise_per_group


@dataclasses.dataclass
class Plan:
    """What a method decides before the budget is enforced.

    Attributes:
        scores: Flat float array over the prunable channels (the cost
            model's `m` order): higher means more worth keeping. Within a
            group, channels are kept in decreasing score order (ties: lower
            index first).
        widths: Optional int array, one width per prunable group, to start
            from (width methods); `None` starts from the full model and
            drops greedily.
        per_mac: Whether greedy steps rank candidates by mean score per MAC
            saved (`True`) or by mean score alone.
        regrow: How to pick the group to regrow when below the band:
            `"score"` (best mean score per MAC, or per channel when
            `per_mac=False`) or `"uniform"` (the smallest width fraction).
        chunk: Share of the excess cost a greedy drop removes between two
            exact re-evaluations of the cost and its marginals, in [0, 1]:
            0 drops one step at a time, each ranked on the marginals of the
            current widths.

    "Per MAC" means per unit of the budget's cost: per millisecond of
    predicted latency under a latency budget.
    """

    scores: np.ndarray
    widths: np.ndarray = None
    per_mac: bool = True
    regrow: str = "score"
    chunk: float = 0.25


@dataclasses.dataclass(frozen=True)
class Method:
    """A registered baseline.

    Attributes:
        name: Registry key, e.g. `"l1-global"`.
        description: One line for listings and `--help`.
        plan: `plan(problem) -> Plan`.
    """

    name: str
    description: str
    plan: object


_METHODS = {}

#: Read-only mapping of method names to `Method`s.
METHODS = types.MappingProxyType(_METHODS)


def register_method(name, description):
    """Registers a baseline method; use as a decorator of `plan(problem)`.

    Args:
        name: The method's name (lower case, e.g. `"taylor"`).
        description: One line saying what it ranks and how.

    Returns:
        A decorator that registers and returns the function.

    Raises:
        ValueError: If `name` is already registered.

    Example:

    ```python
    @dais_keras.baselines.register_method("l2-global", "global L2 norm per MAC")
    def _l2_global(problem):
        write, _ = problem.weight_norms(p=2)
        return dais_keras.baselines.Plan(
            scores=problem.flat(dais_keras.baselines.normalise_per_group(write)))
    ```
    """

    def decorator(fn):
        if name in _METHODS and _METHODS[name].plan is not fn:
            raise ValueError(
                f"The baseline '{name}' is already registered; choose another name "
                f"(registered: {available()})."
            )
        _METHODS[name] = Method(name, description, fn)
        return fn

    return decorator


def available():
    """Names of the registered baseline methods.

    Returns:
        A list, e.g. `["uniform", "l1-layer", "l1-global", "random", "cpmc",
        "group-norm", "group-norm-global"]`.
    """
    return list(_METHODS)


def get(name):
    """The `Method` registered under `name`.

    Raises:
        ValueError: If there is none; the message lists the valid names.
    """
    if name not in _METHODS:
        raise ValueError(f"Unknown baseline `method` {name!r}; valid methods: {available()}.")
    return _METHODS[name]


@register_method("uniform", "one width multiplier for all groups (bisection), first channels kept")
def _uniform(problem):
    return Plan(scores=problem.index_scores(), widths=problem.uniform_widths(), regrow="uniform")


@register_method("l1-layer", "uniform widths, channels with the largest L1 filter norm kept")
def _l1_layer(problem):
    write, _ = problem.weight_norms(p=1)
    return Plan(scores=problem.flat(write), widths=problem.uniform_widths(), regrow="uniform")


@register_method("l1-global", "global greedy on L1 filter norm (normalised per group) per MAC")
def _l1_global(problem):
    write, _ = problem.weight_norms(p=1)
    return Plan(scores=problem.flat(normalise_per_group(write)))


@register_method("random", "seeded random channels dropped until the budget is met")
def _random(problem):
    return Plan(scores=problem.rng.random(problem.num_channels), per_mac=False)


@register_method("cpmc", "global greedy on ||filter||_2 x ||next-layer weights||_2 per MAC")
def _cpmc(problem):
    write, read = problem.weight_norms(p=2)
    read = {gid: r if r.any() else np.ones_like(r) for gid, r in read.items()}
    return Plan(scores=problem.flat(normalise_per_group({g: write[g] * read[g] for g in write})))


@register_method("group-norm", "uniform widths, channels with the largest group L2 norm kept "
                 "(DepGraph)")
def _group_norm(problem):
    scores = problem.flat(group_norms(problem.graph))
    return Plan(scores=scores, widths=problem.uniform_widths(), regrow="uniform")


@register_method("group-norm-global", "global greedy on the group L2 norm normalised per group "
                 "(Torch-Pruning), MACs ignored")
def _group_norm_global(problem):
    return Plan(scores=problem.flat(normalised_group_importance(problem.graph)), per_mac=False)


@register_method("halp", "greedy on the group L2 norm (normalised per group) per unit of cost "
                 "saved, one step at a time (HALP)")
def _halp(problem):
    """A HALP-style latency-saliency greedy.

    HALP (Shen et al., "Structural Pruning via Latency-Saliency Knapsack",
    NeurIPS 2022) keeps the channels that give the most importance per
    millisecond of measured latency, reading each layer's latency at its
    current widths from a lookup table. Here the importance is the score of
    `"group-norm-global"` (the squared group L2 norm divided by its group's
    mean) and the latency is the budget's cost: under a latency budget, the
    `dais_keras.latency.LatencyModel` built from the measured table (under a
    MACs budget, the MACs). Starting from the full model, each step removes
    the channels with the lowest importance per millisecond saved (the
    cost's marginal at the current widths; where a runtime's channel block
    makes one channel free, the step reaches down to the next width that
    saves time), then re-evaluates every marginal, until the predicted
    latency meets the target. This is the greedy solution of HALP's
    knapsack, without HALP's interleaved training.
    """
    return Plan(scores=problem.flat(normalised_group_importance(problem.graph)), chunk=0.0)
