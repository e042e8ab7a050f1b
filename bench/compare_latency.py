"""Latency budgets of bench/compare.py: one table, one calibration, one target
for every method.

Under `budget: {latency: f}` every method prunes the pretrained model to the
same predicted latency: `f` times the unpruned model's latency predicted by
one `dais_keras.latency.LatencyModel`:

* the table: TFLite (XNNPack), batch 1, one thread, measured per layer
  configuration on this machine (`build_latency_table`, cached);
* the calibration: the unpruned model and a model with every prunable group
  at half width (multiples of 4), timed in turns in one process
  (`measure_latency`) and kept in a file beside the models, so that every
  method's run, in whichever process, reads the same two figures;
* the baselines prune with `reference`, the latency model of the plain
  model (`dais_keras.baselines.prune(..., cost=reference)`); DAIS searches
  with `search`, the latency model of its indicator model, calibrated on
  the same two measurements (the same widths in the indicator layout), so
  that both predict the same latency for the same widths.

The predicted latency of any pruned model (`predicted_ms`) is read from its
widths: each group of the pruned model, matched by name (its first
producer) to the group of the original, gives its width.
"""

import json
import pathlib

import numpy as np

import keras

from dais_keras.cost.budget import parse_budget
from dais_keras.groups.graph import channel_groups
from dais_keras.latency.measure import measure_latency
from dais_keras.latency.model import latency_model
from dais_keras.latency.table import build_latency_table
from dais_keras.search.attach import attach_indicators
from dais_keras.select.problem import PruningProblem
from dais_keras.surgery.rebuild import prune
from dais_keras.utils.io import write_json

RUNTIME = "tflite"
#: The calibration's second model: every prunable group at this share of its
#: channels, rounded to a multiple of `GRANULARITY`.
CUT_FRACTION = 0.5
GRANULARITY = 4


def group_widths(model):
    """`{group name: channels}` of every channel group of `model`."""
    return {group.name: group.size for group in channel_groups(model).groups}


def widths_mask(problem, widths):
    """The flat mask (`problem`'s layout) keeping the first `widths[name]`
    channels of each slot's group (all of a slot without a group).

    Raises:
        ValueError: If a group of `problem` has no width in `widths`.
    """
    m = np.ones(problem.num_channels)
    for g, group in enumerate(problem.groups):
        if group is None:
            continue
        if group.name not in widths:
            raise ValueError(
                f"The pruned model has no channel group named {group.name!r} (it has "
                f"{sorted(widths)}); its predicted latency cannot be read from its widths."
            )
        start, end = problem.offsets[g], problem.offsets[g + 1]
        m[start + int(widths[group.name]):end] = 0.0
    return m


def cut_widths(original):
    """The calibration's second model's width of every prunable group."""
    out = {}
    for group in channel_groups(original).prunable:
        width = int(round(CUT_FRACTION * group.size / GRANULARITY)) * GRANULARITY
        out[group.name] = int(np.clip(width or round(CUT_FRACTION * group.size), 1, group.size))
    return out


def measured_calibration(original, table, path=None, runtime=RUNTIME):
    """`[unpruned ms, cut ms]`: read from `path` when it holds a calibration
    of this table's runtime and machine and of these widths, else measured
    (in turns, one process) and written there."""
    widths = cut_widths(original)
    key = {"runtime": table.runtime, "machine_id": table.machine_id, "model": original.name,
           "cut_widths": widths}
    if path is not None and pathlib.Path(path).exists():
        saved = json.loads(pathlib.Path(path).read_text())
        if {k: saved.get(k) for k in key} == key:
            return [float(v) for v in saved["measured_ms"]]
    cut = prune(original, {name: list(range(w)) for name, w in widths.items()},
                name=original.name + "_cut")
    measured = [float(v) for v in measure_latency([original, cut], runtime)]
    if path is not None:
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_json(path, dict(key, measured_ms=measured), indent=1)
    return measured


class LatencyBudget:
    """The latency target and cost models every method of a run shares.

    Args:
        original: The pretrained (unpruned) model.
        budget: The latency budget (`{"latency": f}` or `{"latency_ms": ms}`).
        table: The `LatencyTable` (default: `build_latency_table(original,
            "tflite")`, measured or read from this machine's cache).
        measured: `[unpruned ms, cut ms]` of the calibration (default:
            `measured_calibration(original, table, calibration_file)`).
        calibration_file: Where the calibration is kept between runs.
        straight_through: `LatencyModel.straight_through` of `search`:
            DAIS's band reads the table's latency with the surrogate's
            gradient (`False`, the default: the surrogate's latency).

    Attributes:
        reference: `LatencyModel` of the plain `original` (the baselines'
            `cost`, and `predicted_ms`).
        search: `LatencyModel` of `original` with indicators (DAIS's).
        total_ms: The unpruned model's predicted latency.
        target_ms: The budget in ms.
    """

    def __init__(self, original, budget, table=None, measured=None, calibration_file=None,
                 straight_through=False):
        self.spec = parse_budget(budget)
        if not self.spec.is_latency:
            raise ValueError(f"`budget` must be a latency budget; received {budget!r}.")
        self.table = build_latency_table(original, RUNTIME) if table is None else table
        if measured is None:
            measured = measured_calibration(original, self.table, calibration_file)
        self.measured = [float(v) for v in measured]
        self.cut_widths = cut_widths(original)
        self.problem = PruningProblem(original)
        self.reference = latency_model(original, table=self.table,
                                       calibrate=self._points(self.problem))
        copy = keras.models.clone_model(original)
        copy.set_weights(original.get_weights())
        searched = attach_indicators(copy)
        self.search = latency_model(searched, table=self.table,
                                    calibrate=self._points(PruningProblem(searched)),
                                    straight_through=straight_through)
        self.total_ms = float(self.reference.total)
        self.target_ms = float(self.spec.target(self.total_ms))

    def _points(self, problem):
        """The calibration points in `problem`'s layout."""
        return [(np.ones(problem.num_channels), self.measured[0]),
                (widths_mask(problem, self.cut_widths), self.measured[1])]

    def predicted_ms(self, model):
        """The latency `reference` predicts for the widths of `model` (a
        pruned copy of the original)."""
        return float(self.reference.exact(widths_mask(self.problem, group_widths(model))))

    def record(self):
        """What the run JSON records: the table's runtime and machine, the
        calibration and the target."""
        return {
            "budget": self.spec.to_config(),
            "runtime": self.table.runtime,
            "table_machine": self.table.machine,
            "table_machine_id": self.table.machine_id,
            "calibration_measured_ms": self.measured,
            "calibration_cut_widths": self.cut_widths,
            "overhead_ms": list(self.reference.overhead),
            "unpruned_predicted_ms": self.total_ms,
            "target_ms": self.target_ms,
        }

