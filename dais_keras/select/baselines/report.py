"""What a baseline chose, and whether it met the budget."""

import dataclasses

from dais_keras.cost.budget import BandVerdict
from dais_keras.cost.budget import group_table


@dataclasses.dataclass
class BaselineReport(BandVerdict):
    """What a baseline chose and whether it met the budget.

    The MACs figures are always given; a latency budget adds the predicted
    latencies (`latency`), and then the band and `feasible` refer to them.

    Attributes:
        method: The method's name.
        budget: The budget as given: a fraction of the unpruned MACs, or a
            dict such as `{"latency": 0.5}`.
        band: The accepted interval is `[(1 - band) F, F]`.
        round_to: Width alignment (or `None`).
        min_width: Minimum kept channels per group (int or fraction).
        seed: The seed (used by `"random"`).
        total_macs: MACs of the unpruned model.
        target_macs: `F = budget * total_macs` (`None` for latency budgets).
        lower_macs: `(1 - band) F` (`None` for latency budgets).
        macs: Exact MACs of the pruned model (`count_macs`).
        params_before: Parameters of the unpruned model.
        params_after: Parameters of the pruned model (`None` before surgery).
        groups: Per prunable group: `id`, `name`, `size`, `kept` (width).
        keep: Group id -> sorted kept channel indices (the surgery input).
        latency: For latency budgets, the latencies the table predicts, in
            ms: `total_ms` (unpruned), `target_ms`, `lower_ms`, `after_ms`
            (the kept widths), and the table's `runtime`; else `None`.
        feasible, message, met, best_effort: See
            `dais_keras.cost.budget.BandVerdict` (for a latency budget they
            refer to the latencies).
    """

    method: str
    budget: float
    band: float
    round_to: int
    min_width: object
    seed: int
    total_macs: int
    target_macs: float
    lower_macs: float
    macs: int
    params_before: int
    params_after: int
    groups: list
    keep: dict
    latency: dict = None

    @property
    def ratio(self):
        """`macs / total_macs`."""
        return self.macs / self.total_macs if self.total_macs else 1.0

    def as_dict(self):
        """A JSON-serialisable dict (keys of `keep` become strings)."""
        out = dataclasses.asdict(self)
        out["keep"] = {str(k): v for k, v in self.keep.items()}
        out["ratio"] = self.ratio
        return out

    def summary(self):
        """A few lines for people."""
        rounded = f", round_to={self.round_to}" if self.round_to else ""
        if self.latency is None:
            lines = [
                f"{self.method}: budget {self.budget:.1%} of {self.total_macs:,} MACs "
                f"(band [{self.lower_macs / self.total_macs:.1%}, {self.budget:.1%}]"
                f"{rounded})",
            ]
        else:
            lat = self.latency
            lines = [
                f"{self.method}: budget {lat['target_ms']:.3f} ms of the unpruned "
                f"{lat['total_ms']:.3f} ms predicted by the {lat['runtime']} table (band "
                f"[{lat['lower_ms']:.3f}, {lat['target_ms']:.3f}] ms{rounded})",
                f"  predicted latency: {lat['after_ms']:.3f} ms "
                f"({lat['after_ms'] / lat['total_ms']:.2%})",
            ]
        lines += [
            f"  pruned: {self.macs:,} MACs ({self.ratio:.2%})"
            + (
                f", {self.params_after:,} / {self.params_before:,} params"
                if self.params_after is not None
                else ""
            ),
        ]
        return "\n".join(lines + self.warning_lines())

    def __str__(self):
        columns = (("size", "size"), ("kept", "kept"))
        return f"{self.summary()}\n\n{group_table(self.groups, columns)}"
