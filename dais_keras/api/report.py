"""`PruneReport`: what `dais_keras.prune` did, as text and as a dict."""

import dataclasses


@dataclasses.dataclass
class PruneReport:
    """What `dais_keras.prune` did.

    Attributes:
        budget: The budget as given: a MACs fraction, or a dict such as
            `{"latency": 0.5}`.
        macs_before / macs_after: Exact MACs of the original and pruned
            models (one example).
        params_before / params_after: Parameters of both models.
        accuracy_before / accuracy_after: Top-1 accuracy on `eval_data`
            (`None` without it; its first set when it names several): the
            original model, and the pruned model after fine-tuning.
        accuracy_after_search: The pruned model before fine-tuning (after
            the BatchNorm recalibration).
        convergence: How the search converged: `binarized` (share of
            binary masks at the end of the annealing), `search_ratio` (the
            search's own hard cost over the target, before the repair),
            `repair_changed` / `repair_share` (channels the repair changed,
            count and share of the prunable ones), `acc_soft` (the soft model
            at the end of the annealing), `acc_hard` / `acc_hard_recal` (the
            pruned model right after surgery, before / after recalibrating
            BatchNorm on `recalibration_batches` training batches), on the
            first evaluation set.
        evaluations: Every accuracy measured: stage (`"unpruned"`,
            `"pruned"`, `"finetuned"`) -> evaluation set name -> accuracy.
        groups: Per channel group: `name`, `size`, `kept`.
        budget_report: The `dais_keras.budget.BudgetReport` of the search.
        search_history / finetune_history: Per-epoch logs of both `fit`s.
        seconds: Wall time of `search`, `finetune`, `evaluate`, and `total`:
            the whole call.
        distill: Whether fine-tuning used knowledge distillation.
    """

    budget: object
    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    evaluations: dict = dataclasses.field(default_factory=dict)
    accuracy_before: float = None
    accuracy_after: float = None
    accuracy_after_search: float = None
    convergence: dict = dataclasses.field(default_factory=dict)
    groups: list = dataclasses.field(default_factory=list)
    budget_report: object = None
    search_history: dict = dataclasses.field(default_factory=dict)
    finetune_history: dict = dataclasses.field(default_factory=dict)
    seconds: dict = dataclasses.field(default_factory=dict)
    distill: bool = False

    macs_ratio = property(lambda self: self.macs_after / self.macs_before,
                          doc="`macs_after / macs_before`.")
    params_ratio = property(lambda self: self.params_after / self.params_before,
                            doc="`params_after / params_before`.")

    def as_dict(self):
        out = {
            k: v for k, v in dataclasses.asdict(self).items() if k != "budget_report"
        }
        out["budget_report"] = self.budget_report.as_dict() if self.budget_report else None
        out["macs_ratio"] = self.macs_ratio
        out["params_ratio"] = self.params_ratio
        return out

    def _accuracy_rows(self):
        if self.accuracy_before is None:
            return []
        before = self.evaluations.get("unpruned", {})
        after = self.evaluations.get("finetuned") or self.evaluations.get("pruned", {})
        if len(before) <= 1:
            return [("accuracy", percent(self.accuracy_before), percent(self.accuracy_after), "")]
        return [(f"accuracy, {name}", percent(value), percent(after.get(name)), "")
                for name, value in before.items()]

    def table(self):
        """The before/after table as text."""
        rows = [
            ("", "original", "pruned", "ratio"),
            ("MACs", f"{self.macs_before:,}", f"{self.macs_after:,}", f"{self.macs_ratio:.3f}"),
            ("params", f"{self.params_before:,}", f"{self.params_after:,}",
             f"{self.params_ratio:.3f}"),
        ] + self._accuracy_rows()
        return format_table(rows)

    def __str__(self):
        from dais_keras.cost.budget import parse_budget

        lines = [f"DAIS pruning to {parse_budget(self.budget)}"
                 + (" (fine-tuned with distillation)" if self.distill else ""), "", self.table()]
        if self.accuracy_after_search is not None:
            lines.append(f"accuracy right after the search (before fine-tuning): "
                         f"{100 * self.accuracy_after_search:.2f} %")
        if self.convergence:
            lines.append(convergence_text(self.convergence))
        if self.budget_report is not None:
            lines += ["", self.budget_report.summary()]
        if self.groups:
            width = max(len(g["name"]) for g in self.groups)
            lines += ["", f"{'group':<{width}}  {'size':>5}  {'kept':>5}"]
            lines += [f"{g['name']:<{width}}  {g['size']:>5}  {g['kept']:>5}" for g in self.groups]
        if self.seconds:
            lines += ["", "time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items())]
        return "\n".join(lines)

    __repr__ = __str__


def percent(value):
    """A fraction as `"91.23 %"`, `"-"` for `None`."""
    return "-" if value is None else f"{100 * value:.2f} %"


def convergence_text(c):
    """One line on how the search converged (see `PruneReport.convergence`)."""
    return (
        f"search: {percent(c.get('binarized'))} binary masks, hard cost "
        f"{c.get('search_ratio') or float('nan'):.3f} x target before the repair, "
        f"{c.get('repair_changed')} channels changed by the repair; accuracy soft "
        f"{percent(c.get('acc_soft'))}, pruned {percent(c.get('acc_hard'))}, after BatchNorm "
        f"recalibration {percent(c.get('acc_hard_recal'))}"
    )


def format_table(rows):
    """Rows of strings as an aligned text table: the first column left-aligned,
    the others right-aligned, a rule under the header row."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, row in enumerate(rows):
        lines.append("  ".join(
            (c.ljust(w) if i == 0 else c.rjust(w)) for i, (c, w) in enumerate(zip(row, widths))
        ))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
