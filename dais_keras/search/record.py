"""What a DAIS search went through: its state per epoch and the alpha
trajectories, as `DAISCallback.history` and `DAISCallback.alpha_trace`, and
in the `keras.callbacks.TensorBoard` of its `fit` (`summaries`).
"""

import math

import numpy as np

from dais_keras.search.objective import BINARY_MARGIN
from dais_keras.search.summaries import TensorBoardSummaries
from dais_keras.search.summaries import find_tensorboards


class SearchRecord:
    """Records one search of a `DAISModel`.

    Args:
        model: The `DAISModel` being searched.
        cost: The cost the budget is in (`cost.exact(mask)`, `cost.kind`).
        target: The budget's target in that cost.
        total_steps: Search steps of the whole search.
        record_every: Record every alpha every this many steps (`"auto"`:
            about 100 records per search).
        callback: The `DAISCallback` whose `on_train_begin` creates the
            record: the `keras.callbacks.TensorBoard` callbacks of its `fit`
            get the figures of every epoch (see `summaries`).

    Attributes:
        history: Per epoch: `epoch`, `T`, `<kind>_ratio` (expected cost of
            the soft masks / target), `hard_<kind>_ratio` (cost of the
            `alpha > 0` architecture / target), `macs_fraction` (expected
            MACs of the soft masks / the unpruned model's, for every
            budget), `binarized` (share of masks with |m - 0.5| > 0.49) and
            `widths` (channels with `alpha > 0`).
        alpha_trace: `(step, alphas)` pairs, the alphas concatenated.
        final: The state at the end of the annealing, before the repair
            (`finish`): the search's own binarised share and cost ratios.
        group_names: A name per indicator's group.
    """

    def __init__(self, model, cost, target, total_steps, record_every="auto", callback=None):
        self.model = model
        self.cost = cost
        self.target = target
        self.total_steps = total_steps
        if record_every == "auto":
            record_every = max(1, int(math.ceil(total_steps / 100)))
        self.record_every = record_every
        kind = cost.kind
        self.history = {
            "epoch": [], "T": [], f"{kind}_ratio": [], f"hard_{kind}_ratio": [],
            "macs_fraction": [], "binarized": [], "widths": [],
        }
        self.alpha_trace = [(0, self._alphas())]
        self.group_names = list(model.search_structure().names)
        self.final = None
        boards = find_tensorboards(callback) if callback is not None else []
        self.summaries = TensorBoardSummaries(boards, self.group_names) if boards else None

    def _alphas(self):
        return np.concatenate(self.model.alpha_values())

    def state(self):
        """The search's state now (see `history`)."""
        model = self.model
        alphas = model.alpha_values()
        layer = model.search_structure().layers[0]
        T = float(model.read_variable(layer.temperature))
        flat = np.concatenate(alphas).astype(np.float64)
        m = 1.0 / (1.0 + np.exp(-np.clip(flat / T, -80, 80)))
        # The masks the network applies: hard ones once the search is over.
        hard = np.concatenate([
            np.full(a.shape, l.hard) for a, l in zip(alphas, model.search_structure().layers)
        ])
        m = np.where(hard, (flat > 0).astype(np.float64), m)
        kind = self.cost.kind
        macs = model.search_structure().cost
        return {
            "T": T,
            f"{kind}_ratio": self.cost.exact(m) / self.target,
            f"hard_{kind}_ratio": self.cost.exact(flat > 0) / self.target,
            "macs_fraction": macs.exact(m) / macs.total,
            "binarized": float(np.mean(np.abs(m - 0.5) > BINARY_MARGIN)),
            "widths": [int((a > 0).sum()) for a in alphas],
        }

    def step(self, step):
        """After search step `step` (counted from 1): records the alphas
        when due."""
        if step % self.record_every == 0 or step == self.total_steps:
            self.alpha_trace.append((step, self._alphas()))

    def epoch(self, epoch, logs=None, log_widths=True):
        """Appends the state to `history`, adds it to `fit`'s `logs` and
        writes it to the `TensorBoard` callbacks of the `fit`: `dais_T`,
        `dais_<kind>`, `dais_hard_<kind>`, `dais_macs_fraction`,
        `dais_binarized` and, with `log_widths`, `dais_width/<group>`.

        Returns:
            The `{name: value}` added to `logs`.
        """
        state = self.state()
        self.history["epoch"].append(epoch)
        for key, value in state.items():
            self.history[key].append(value)
        kind = self.cost.kind
        scalars = {
            "dais_T": state["T"],
            f"dais_{kind}": state[f"{kind}_ratio"],
            f"dais_hard_{kind}": state[f"hard_{kind}_ratio"],
            "dais_macs_fraction": state["macs_fraction"],
            "dais_binarized": state["binarized"],
        }
        if log_widths:
            for name, width in zip(self.group_names, state["widths"]):
                scalars[f"dais_width/{name}"] = float(width)
        logged = set(logs or ())
        if logs is not None:
            logs.update(scalars)
        if self.summaries is not None:
            self.summaries.epoch(epoch, scalars, self.model.alpha_values(), logged)
        return scalars

    def finish(self):
        """At the end of the annealing, before the repair: keeps the state in
        `final` and records the final alphas (unless the last record holds
        them)."""
        self.final = self.state()
        last = self._alphas()
        if not np.array_equal(self.alpha_trace[-1][1], last):
            self.alpha_trace.append((self.total_steps, last))
