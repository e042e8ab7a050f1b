"""Budgets: what the search and the repair must fit into.

A budget is a fraction of the unpruned MACs (`0.5`), `{"macs": f}`,
`{"latency": f}` (a fraction of the unpruned model's measured latency) or
`{"latency_ms": ms}`. `parse_budget` turns any of these into a `Budget`; the
binarisation repair (`dais_keras.select.repair`) reports what it did in a
`BudgetReport`.
"""


import dataclasses
import math

import numpy as np

from dais_keras.utils.checks import as_scalar
from dais_keras.utils.checks import check_number

DEFAULT_BAND = 0.05
BUDGET_KINDS = ("macs", "latency", "latency_ms")


@dataclasses.dataclass(frozen=True)
class Budget:
    """A parsed budget (see `parse_budget`).

    Attributes:
        kind: `"macs"` or `"latency"` (fractions of the unpruned model's
            MACs or measured latency), or `"latency_ms"` (milliseconds).
        value: The fraction, or the milliseconds.
    """

    kind: str
    value: float

    @property
    def is_latency(self):
        return self.kind != "macs"

    def target(self, total):
        """The target in the cost's unit, given the unpruned model's cost."""
        if self.kind == "latency_ms":
            if self.value >= total:
                raise ValueError(
                    f"`budget={{'latency_ms': {self.value:g}}}` is not below the "
                    f"unpruned model's predicted latency ({total:.3f} ms): there "
                    "is nothing to prune. Lower it, or use {'latency': fraction}."
                )
            return float(self.value)
        return float(self.value) * float(total)

    def label(self):
        """Short text for model and run names: `50`, `lat50`, `lat3ms`."""
        if self.kind == "latency_ms":
            return f"lat{self.value:g}ms"
        return ("lat" if self.kind == "latency" else "") + f"{round(self.value * 100):g}"

    def to_config(self):
        """`budget` as the user wrote it: a float for MACs, else a dict."""
        return self.value if self.kind == "macs" else {self.kind: self.value}

    def __str__(self):
        if self.kind == "macs":
            return f"{self.value:.1%} of the MACs"
        if self.kind == "latency":
            return f"{self.value:.1%} of the latency"
        return f"{self.value:g} ms latency"


def parse_budget(budget, argument="budget", kinds=BUDGET_KINDS):
    """Parses a budget: `0.5` (MACs fraction), `{"macs": 0.5}`,
    `{"latency": 0.5}` (fraction of the unpruned latency) or
    `{"latency_ms": 3.0}`.

    Args:
        budget: The budget.
        argument: The argument's name, for messages.
        kinds: The kinds accepted (e.g. `("macs",)` where only a MACs
            fraction makes sense).

    Returns:
        A `Budget`.

    Raises:
        ValueError: For anything else, saying what was expected.
    """
    if isinstance(budget, Budget) and budget.kind in kinds:
        return budget
    if tuple(kinds) == ("macs",):  # a plain fraction is the only form
        hint = (
            f"`{argument}` must be a number in (0, 1): the pruned model's MACs as a "
            "fraction of the unpruned model's (e.g. 0.5)"
        )
    else:
        hint = (
            f"`{argument}` must be a MACs fraction in (0, 1) such as 0.5, or a dict "
            "with one key: {'macs': fraction}, {'latency': fraction} or "
            "{'latency_ms': milliseconds}"
        )
    if isinstance(budget, dict):
        if len(budget) != 1 or next(iter(budget)) not in kinds:
            raise ValueError(f"{hint}; received {budget!r}.")
        kind, value = next(iter(budget.items()))
    else:
        kind, value = "macs", budget
    value = as_scalar(value)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{hint}; received {budget!r}.")
    value = float(value)
    if kind == "latency_ms":
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{hint}; received {budget!r} (milliseconds must be > 0).")
    elif not (math.isfinite(value) and 0.0 < value < 1.0):
        raise ValueError(
            f"{hint}; received {budget!r} (a fraction must lie strictly between 0 "
            "and 1, e.g. 0.5 keeps half)."
        )
    return Budget(kind, value)


def check_min_width(min_width):
    """Validates `min_width`: an int >= 1 or a float fraction in (0, 1]."""
    if isinstance(min_width, bool):
        pass
    elif isinstance(min_width, (int, np.integer)) and min_width >= 1:
        return int(min_width)
    elif isinstance(min_width, float) and 0.0 < min_width <= 1.0:
        return float(min_width)
    raise ValueError(
        "`min_width` must be an int >= 1 (channels per group) or a float in "
        f"(0, 1] (fraction of each group); received {min_width!r}."
    )


def check_band(band):
    """Validates `band`, the accepted shortfall below a budget: a number in
    (0, 1)."""
    return check_number("band", band, low=0, high=1, low_open=True, high_open=True)


def check_round_to(round_to):
    """Validates `round_to`: `None` or an int >= 1."""
    if round_to is None:
        return None
    if isinstance(round_to, (int, np.integer)) and not isinstance(round_to, bool) and round_to >= 1:
        return int(round_to)
    raise ValueError(
        f"`round_to` must be None or an integer >= 1 (e.g. 8); received {round_to!r}."
    )


@dataclasses.dataclass(kw_only=True)
class BandVerdict:
    """Whether a choice of channels met its budget band (the base of
    `BudgetReport` and the baselines' report).

    Attributes:
        feasible: Whether the cost lies in the band `[(1 - band) F, F]`.
        message: Why not, and by how much (empty when feasible).
        met: Whether the cost is at most the target `F` (never `False`
            unless `best_effort` allowed it).
        best_effort: Whether the caller accepted a model above the budget
            when none meets it.
    """

    feasible: bool
    message: str = ""
    met: bool = True
    best_effort: bool = False

    def warning_lines(self):
        """The warning when the band was missed, saying so when
        `best_effort` kept the model above the budget."""
        if self.feasible:
            return []
        over = "" if self.met else " (best effort, above the budget)"
        return [f"  WARNING{over}: {self.message}"]


@dataclasses.dataclass
class BudgetReport(BandVerdict):
    """What `repair` did.

    The MACs figures are always given; a latency budget adds the predicted
    latencies (`latency`), and then the band and `feasible` refer to them.

    Attributes:
        budget: The budget as given (a MACs fraction, or a dict such as
            `{"latency": 0.5}`).
        band: The accepted interval is `[(1 - band) F, F]`.
        total_macs: MACs of the unpruned model.
        target_macs: `F = budget * total_macs` (`None` for latency budgets).
        lower_macs: `(1 - band) * F` (`None` for latency budgets).
        macs_before: Exact MACs of the `alpha > 0` architecture.
        macs_after: Exact MACs after the repair.
        channels_dropped: Channels with `alpha > 0` that the repair removed.
        channels_regrown: Channels with `alpha <= 0` that the repair kept.
        groups: Per group: `name`, `size`, `before`, `after` widths.
        round_to: The width alignment used (or `None`).
        latency: For latency budgets, the predicted latencies in ms:
            `total_ms`, `target_ms`, `lower_ms`, `before_ms`, `after_ms`,
            and the table's `runtime`.
        feasible, message, met, best_effort: See `BandVerdict` (for a
            latency budget they refer to the latencies).
    """

    budget: object
    band: float
    total_macs: int
    target_macs: object
    lower_macs: object
    macs_before: int
    macs_after: int
    channels_dropped: int
    channels_regrown: int
    groups: list
    round_to: int = None
    latency: dict = None

    @property
    def channels_changed(self):
        """Channels whose keep/remove decision the repair changed."""
        return self.channels_dropped + self.channels_regrown

    @property
    def ratio_before(self):
        return self.macs_before / self.total_macs

    @property
    def ratio_after(self):
        return self.macs_after / self.total_macs

    def as_dict(self):
        out = dataclasses.asdict(self)
        out["channels_changed"] = self.channels_changed
        return out

    def summary(self):
        """A few lines for people."""
        changed = (
            f"{self.channels_changed} channels changed "
            f"({self.channels_dropped} dropped, {self.channels_regrown} regrown)"
        )
        if self.latency:
            lat = self.latency
            total = lat["total_ms"]
            lines = [
                f"DAIS binarisation: budget {parse_budget(self.budget)} "
                f"({lat['target_ms']:.3f} of {total:.3f} ms predicted, {lat['runtime']}; "
                f"band [{lat['lower_ms']:.3f}, {lat['target_ms']:.3f}] ms)",
                f"  alpha > 0 architecture: {lat['before_ms']:.3f} ms "
                f"({lat['before_ms'] / total:.1%}), {self.macs_before:,} MACs "
                f"({self.ratio_before:.1%})",
                f"  after repair:           {lat['after_ms']:.3f} ms "
                f"({lat['after_ms'] / total:.1%}), {self.macs_after:,} MACs "
                f"({self.ratio_after:.1%}); {changed}",
            ]
        else:
            lines = [
                f"DAIS binarisation: budget {self.budget:.1%} of {self.total_macs:,} MACs "
                f"(band [{self.lower_macs / self.total_macs:.1%}, {self.budget:.1%}])",
                f"  alpha > 0 architecture: {self.macs_before:,} MACs "
                f"({self.ratio_before:.1%}, {self.macs_before / self.target_macs:.3f} x target)",
                f"  after repair:           {self.macs_after:,} MACs "
                f"({self.ratio_after:.1%}); {changed}",
            ]
        return "\n".join(lines + self.warning_lines())

    def __str__(self):
        columns = (("size", "size"), ("alpha>0", "before"), ("kept", "after"))
        return f"{self.summary()}\n\n{group_table(self.groups, columns)}"


def group_table(groups, columns):
    """A text table of per-group widths, one line per group.

    Args:
        groups: Dicts with a `"name"` and the keys of `columns`.
        columns: `(title, key)` pairs, shown after the group's name.

    Returns:
        The table's lines, joined.
    """
    width = max([len(g["name"]) for g in groups] + [5])
    sizes = [max(len(title), 6) for title, _ in columns]
    lines = ["  " + f"{'group':<{width}}" + "".join(
        f"  {title:>{size}}" for (title, _), size in zip(columns, sizes))]
    for g in groups:
        lines.append("  " + f"{g['name']:<{width}}" + "".join(
            f"  {g[key]:>{size}}" for (_, key), size in zip(columns, sizes)))
    return "\n".join(lines)


