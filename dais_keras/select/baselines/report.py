"""What a baseline chose, and whether it met the budget."""

import dataclasses

from dais_keras.cost.budget import BandVerdict
from dais_keras.cost.budget import group_table


@dataclasses.dataclass
class BaselineReport(BandVerdict):
    """What a baseline chose and whether it met the budget.

    Attributes:
        method: The method's name.
        budget: Target as a fraction of the unpruned MACs.
        band: The accepted interval is `[(1 - band) F, F]`.
        round_to: Width alignment (or `None`).
        min_width: Minimum kept channels per group (int or fraction).
        seed: The seed (used by `"random"`).
        total_macs: MACs of the unpruned model.
        target_macs: `F = budget * total_macs`.
        lower_macs: `(1 - band) F`.
        macs: Exact MACs of the pruned model (`count_macs`).
        params_before: Parameters of the unpruned model.
        params_after: Parameters of the pruned model (`None` before surgery).
        groups: Per prunable group: `id`, `name`, `size`, `kept` (width).
        keep: Group id -> sorted kept channel indices (the surgery input).
        feasible, message, met, best_effort: See
            `dais_keras.cost.budget.BandVerdict`.
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
        lines = [
            f"{self.method}: budget {self.budget:.1%} of {self.total_macs:,} MACs "
            f"(band [{self.lower_macs / self.total_macs:.1%}, {self.budget:.1%}]"
            + (f", round_to={self.round_to}" if self.round_to else "")
            + ")",
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
