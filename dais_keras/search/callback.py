"""`DAISCallback`: runs the DAIS search inside `DAISModel.fit`.

The callback only drives state: it configures the model's train step for the
search (`DAISModel.configure_search`), hands it a stream of search batches
(`dais_keras.search.feed`), sets the search's variables (the temperature
anneals in the step, from variables, see `dais_keras.search.objective`),
logs the search's state per epoch, stops on a non-finite step, and when
`fit` ends binarises the indicators to the budget
(`dais_keras.select.repair`), so that `dais_keras.surgery.apply` right after
`fit` gives a model within the budget.
"""

import os
import time

import keras

from dais_keras.cost import budget as budget_lib
from dais_keras.search import objective
from dais_keras.search import plot as plot_lib
from dais_keras.search import schedules as schedules_lib
from dais_keras.search import target as target_lib
from dais_keras.search.feed import SearchFeed
from dais_keras.search.record import SearchRecord
from dais_keras.search.objective import DEFAULT_BETA_1
from dais_keras.search.objective import DEFAULT_HARD_FINISH
from dais_keras.search.objective import DEFAULT_BAND_GATE
from dais_keras.search.objective import DEFAULT_BAND_HOLD
from dais_keras.search.objective import DEFAULT_POLAR_START
from dais_keras.search.objective import DEFAULT_HARD_BAND
from dais_keras.search.objective import DEFAULT_LAMBDA_POLAR
from dais_keras.search.objective import DEFAULT_T_MIN
from dais_keras.search.objective import DEFAULT_LAMBDA_BUDGET
from dais_keras.search.objective import DEFAULT_LR_POWER
from dais_keras.search.objective import auto_learning_rate
from dais_keras.select import guarantee
from dais_keras.select import repair as repair_lib
from dais_keras.utils import checks

# The arguments that `get_config` returns as they are, in signature order.
_CONFIG = (
    "budget", "batch_size", "schedule", "learning_rate", "lr_power", "beta_1",
    "beta_2", "lambda_budget", "lambda_l1", "min_width", "lambda_min_width",
    "residual_prior", "lambda_polar", "hard_band", "band_gate", "polar_start", "band_hold",
    "hard_finish", "band", "fill",
    "single_level", "train_weights", "warmup_epochs",
    "round_to", "repair", "best_effort", "seed", "shuffle", "log_widths",
    "plot_dir", "record_every", "verbose", "runtime", "latency_table",
)


@keras.saving.register_keras_serializable(package="dais_keras")
class DAISCallback(keras.callbacks.Callback):
    """Runs the DAIS search in `fit` of a `dais_keras.DAISModel`.

    Per training step, the model's train step first updates the indicators
    on a search batch (task loss + budget band + optional L1 + structural
    priors, with the search's own Adam), then the weights on the training
    batch (the compiled optimizer and loss). The temperature anneals from
    `T0` to `T_min` over the first `1 - hard_finish` of the search's steps
    (`epochs * steps_per_epoch` minus the warm-up), while a polarisation
    term (`lambda_polar`) pushes undecided masks to 0 or 1. Then the
    indicators are binarised to the budget (`repair=True`): their `alpha`
    holds the choice and they switch to hard mode. The remaining
    `hard_finish` share of the steps trains the weights (and BatchNorm
    statistics) of exactly that architecture, so the network the search
    hands over is the network it trained last. After `fit`,
    `dais_keras.surgery.apply(model)` gives a model whose exact MACs lie in
    `[(1 - band) * budget, budget]` of the original's, never above.
    `callback.search_state` holds the search's own state at the end of the
    annealing, before the repair (`binarized`, `macs_ratio`,
    `hard_macs_ratio`), and `callback.report` what the repair changed.

    **Latency budgets.** `budget={"latency": 0.5}` (half the unpruned
    model's measured latency) or `{"latency_ms": 3.0}` search and binarise
    under the latency predicted by a measured table
    (`dais_keras.latency`): the band reads the expected latency of the soft
    masks instead of the expected MACs, and the repair guarantees the
    table's latency of the binarised architecture. Pass `latency_model`
    (a `dais_keras.latency.LatencyModel` of this `DAISModel`), or let the
    callback build one when `fit` starts: it reads the cached table of
    `runtime` on this machine (measuring the missing layers) and times the
    model to calibrate it (TensorFlow backend for `runtime="tflite"`).

    Per epoch the callback adds to `logs` (so to the `History` and to a
    `keras.callbacks.TensorBoard` of the `fit`, which also gets a histogram
    `dais_alpha/<group>` per group): `dais_T` (temperature), `dais_macs`
    (expected MACs / target), `dais_hard_macs` (of the `alpha > 0`
    architecture) (latency budgets: `dais_latency`, `dais_hard_latency`),
    `dais_macs_fraction` (expected MACs / unpruned), `dais_binarized` (share
    of masks with |m - 0.5| > 0.49), with `log_widths` `dais_width/<group>`.
    `callback.history`, `.alpha_trace` and `.report` keep them too.

    Defaults: see `dais_keras.search.objective` (measured with
    `bench/search_dynamics.py`).

    Args:
        budget: Target MACs as a fraction of the unpruned model's, in (0, 1),
            or a dict `{"macs": f}`, `{"latency": f}` or `{"latency_ms": ms}`
            (see `dais_keras.budget.parse_budget`).
        search_data: The search split: a `tf.data.Dataset` of `(x, y)`
            batches or an `(x, y)` tuple of arrays, like `fit`'s
            `validation_data`. Not needed with `single_level=True`.
        batch_size: Batch size for array `search_data` (default 32).
        schedule: `"exponential"` (default), `"linear"`, `"cosine"`,
            `"step"` or a `dais_keras.schedules.TemperatureSchedule`.
        T0: First temperature (with a schedule name).
        T_min: Last temperature (with a schedule name).
        learning_rate: The indicators' Adam learning rate at `T = T0`, or
            `"auto"` (see above).
        lr_power: The step size is `learning_rate * (T / T0) ** lr_power`
            (0: constant).
        beta_1: First-moment decay of the indicators' Adam.
        beta_2: Second-moment decay of the indicators' Adam.
        lambda_budget: Weight of the budget band.
        lambda_l1: Weight of `mean(m)` (optional sparsity pressure).
        min_width: Minimum kept channels per group: an int, or a float in
            (0, 1] as a fraction of each group's channels. Enforced by the
            penalty during the search and exactly by the repair.
        lambda_min_width: Weight of the minimum-width prior.
        residual_prior: Weight of the residual prior (groups shared by a
            residual stage, weighted by fan-out).
        lambda_polar: Weight of the polarisation term
            `ramp * mean(4 m (1 - m))` (0: none), which pushes every mask
            towards the nearer of 0 and 1 late in the annealing: masks that
            the weights have co-adapted to near 0.5 would otherwise stay
            there (see `dais_keras.search.objective`).
        polar_start: The share of the annealing where the polarisation
            starts; its `ramp` grows linearly from 0 there to 1 at the end
            (from the start, it freezes the masks before the budget is met).
        hard_band: Weight, relative to `lambda_budget`, of the band on the
            hard architecture (`alpha > 0`, straight-through), which grows
            with the annealing's progress (0: soft masks only). It makes the
            architecture the search ends with meet the band by itself.
        band_gate: Whether the band (soft and hard) pushes only the channels
            whose flip fits it: one that costs more than the distance to
            the band's far edge is left to the task loss, so that it does
            not jump across the band back and forth with a mask stuck near
            0.5 (see `dais_keras.search.objective.flip_fits`). Needs a cost
            model with `marginal_tensor` (the MACs model; latency budgets
            use the plain band).
        band_hold: Whether the annealing waits for the band: while the
            hard architecture is outside it with 90 % of the masks decided
            (and a channel's flip fits), the temperature, the polarisation's
            ramp and the hard band's weight stop, so that the band can
            still flip a channel before the falling temperature freezes
            every mask (at most as long as the steps left can finish the
            annealing at twice its nominal pace); and the polarisation
            skips the channels the band is flipping (see
            `dais_keras.search.objective.band_holds`).
        hard_finish: Share of the search's steps, at its end, that train the
            repaired architecture with hard masks (0: binarise when `fit`
            ends, as a plain annealing would). Needs `repair=True`.
        band: `eps` of the budget band: the target interval is
            `[(1 - band) * budget, budget]`.
        fill: The repair regrows the highest-alpha channels while they fit
            under the budget, also when the search ended inside the band
            (`False`: an in-band architecture is kept as the search chose it).
        single_level: Update indicators and weights from one training batch
            (faster, no search data needed).
        train_weights: `False` searches the indicators only: the weights,
            their statistics and the compiled optimizer stay as they are
            (bi-level mode only).
        warmup_epochs: Epochs of plain weight training before the search.
        round_to: Align every pruned group's width to a multiple of this
            (e.g. 8) when binarising.
        repair: Binarise to the budget when `fit` ends.
        best_effort: When frozen groups, `min_width` or `round_to` make the
            budget impossible, warn and keep the smallest model instead of
            raising (checked when `fit` starts, and by the repair).
        seed: Seed of the search data's shuffle (array data).
        shuffle: Shuffle array search data.
        log_widths: Add per-group widths to the epoch logs.
        plot_dir: If set, write `widths.png` and `alphas.png` there when
            `fit` ends (needs matplotlib).
        record_every: Record all alphas every this many search steps
            (`"auto"`: about 100 records per search).
        verbose: 1 prints the repair's summary when `fit` ends.
        latency_model: For latency budgets: the `LatencyModel` of the
            `DAISModel` to search (default: built when `fit` starts).
        runtime: For latency budgets without `latency_model`: `"tflite"`
            (LiteRT, XNNPack) or `"onnxruntime"`.
        on_annealed: Optional function called with the model at the end of
            the annealing, before the repair (soft masks at `T_min`); its
            result is kept in `search_state["annealed"]` (e.g. the soft
            model's accuracy). Not part of `get_config`.
        latency_table: For latency budgets without `latency_model`: a
            `LatencyTable` or the path of one saved with `save` (default:
            this machine's cache, measured where it lacks layers).

    Raises:
        ValueError: For an argument out of range (named in the message), or
            at the start of `fit` for search data that does not fit the
            model, a model without indicators, unknown steps per epoch, or
            a budget below the smallest cost the search can reach (unless
            `best_effort`).
        FloatingPointError: During `fit`, when a step is not finite; the
            message names the quantity (task loss, training loss, budget
            penalty or the indicators' gradients), the step and what to
            change, and the model keeps its state from before that step.

    A search of fewer steps than the annealing needs (about 34 with the
    default schedule: `objective.min_search_steps`) still runs, with a warning.

    Example:

    ```python
    search = dais_keras.attach_indicators(model)
    search.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                   loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                   metrics=["accuracy"])
    cb = dais_keras.DAISCallback(budget=0.5, search_data=(x_val, y_val))
    search.fit(x_train, y_train, epochs=5, callbacks=[cb])
    print(cb.report)
    pruned = dais_keras.surgery.apply(search)
    ```
    """

    def __init__(
        self,
        budget,
        search_data=None,
        *,
        batch_size=None,
        schedule="exponential",
        T0=1.0,
        T_min=DEFAULT_T_MIN,
        learning_rate="auto",
        lr_power=DEFAULT_LR_POWER,
        beta_1=DEFAULT_BETA_1,
        beta_2=0.999,
        lambda_budget=DEFAULT_LAMBDA_BUDGET,
        lambda_l1=0.0,
        min_width=1,
        lambda_min_width=1.0,
        residual_prior=1.0,
        lambda_polar=DEFAULT_LAMBDA_POLAR,
        hard_band=DEFAULT_HARD_BAND,
        band_gate=DEFAULT_BAND_GATE,
        polar_start=DEFAULT_POLAR_START,
        band_hold=DEFAULT_BAND_HOLD,
        hard_finish=DEFAULT_HARD_FINISH,
        band=budget_lib.DEFAULT_BAND,
        fill=False,
        single_level=False,
        train_weights=True,
        warmup_epochs=0,
        round_to=None,
        repair=True,
        best_effort=False,
        seed=0,
        shuffle=True,
        log_widths=True,
        plot_dir=None,
        record_every="auto",
        verbose=1,
        latency_model=None,
        runtime="tflite",
        latency_table=None,
        on_annealed=None,
    ):
        super().__init__()
        if on_annealed is not None and not callable(on_annealed):
            raise ValueError(
                "`on_annealed` must be a function of the model (called at the end "
                f"of the annealing, before the repair); received {on_annealed!r}."
            )
        self.on_annealed = on_annealed
        self.budget_spec = budget_lib.parse_budget(budget)
        self.budget = self.budget_spec.to_config()
        self.band = budget_lib.check_band(band)
        self.fill = bool(fill)
        target_lib.check_latency_arguments(
            self.budget_spec, latency_model, runtime, latency_table
        )
        self.latency_model = latency_model
        self.runtime = runtime
        self.latency_table = latency_table
        if isinstance(schedule, schedules_lib.TemperatureSchedule):
            self.schedule = schedule
        else:
            self.schedule = schedules_lib.get(schedule, T0=T0, T_min=T_min)
        if learning_rate != "auto":
            learning_rate = checks.check_number(
                "learning_rate", learning_rate, low=0.0, low_open=True
            )
        self.learning_rate = learning_rate
        for name, value in (
            ("lr_power", lr_power),
            ("lambda_budget", lambda_budget),
            ("lambda_l1", lambda_l1),
            ("lambda_min_width", lambda_min_width),
            ("residual_prior", residual_prior),
            ("lambda_polar", lambda_polar),
            ("hard_band", hard_band),
        ):
            setattr(self, name, checks.check_number(name, value, low=0.0))
        self.band_gate = bool(band_gate)
        self.band_hold = bool(band_hold)
        self.polar_start = checks.check_number("polar_start", polar_start, 0.0, 1.0, high_open=True)
        self.hard_finish = checks.check_number("hard_finish", hard_finish, 0.0, 0.5)
        self.beta_1 = checks.check_number("beta_1", beta_1, 0.0, 1.0, high_open=True)
        self.beta_2 = checks.check_number("beta_2", beta_2, 0.0, 1.0, high_open=True)
        self.min_width = budget_lib.check_min_width(min_width)
        self.round_to = budget_lib.check_round_to(round_to)
        self.warmup_epochs = checks.check_int("warmup_epochs", warmup_epochs, low=0)
        self.single_level = bool(single_level)
        self.train_weights = bool(train_weights)
        if self.single_level and not self.train_weights:
            raise ValueError(
                "`train_weights=False` needs the bi-level search; it cannot be "
                "combined with `single_level=True`."
            )
        self.repair = bool(repair)
        self.best_effort = bool(best_effort)
        self.seed = None if seed is None else checks.check_int("seed", seed)
        self.shuffle = bool(shuffle)
        self.log_widths = bool(log_widths)
        self.plot_dir = None if plot_dir is None else os.fspath(plot_dir)
        if record_every != "auto":
            record_every = checks.check_int("record_every", record_every, low=1)
        self.record_every = record_every
        self.verbose = checks.check_verbose("verbose", verbose)
        self.batch_size = batch_size
        self.search_data = search_data
        self._feed = None
        if search_data is not None and not self.single_level:
            self._feed = SearchFeed(search_data, batch_size, shuffle=self.shuffle, seed=seed)
        self.report = None
        self.history = {}
        self.alpha_trace = []

    # ------------------------------------------------------------------
    def get_config(self):
        """The callback's arguments, except `search_data` (data, not
        configuration): `DAISCallback.from_config(config, search_data=...)`."""
        config = {name: getattr(self, name) for name in _CONFIG}
        config["schedule"] = keras.saving.serialize_keras_object(self.schedule)
        table = self.latency_table
        config["latency_table"] = (
            os.fspath(table) if isinstance(table, (str, os.PathLike)) else None
        )
        return config

    @classmethod
    def from_config(cls, config, search_data=None):
        config = dict(config)
        config["schedule"] = schedules_lib.get(config["schedule"])
        return cls(search_data=search_data, **config)

    # ------------------------------------------------------------------
    def _check_model(self):
        from dais_keras.search.model import DAISModel

        model = self.model
        if not isinstance(model, DAISModel):
            raise ValueError(
                "`DAISCallback` needs a `dais_keras.DAISModel`; received "
                f"{type(model).__name__} '{model.name}'. Create one with "
                "`dais_keras.attach_indicators(model)` and fit that."
            )
        self.structure = model.search_structure()
        if not self.single_level and self._feed is None:
            raise ValueError(
                "`DAISCallback` needs `search_data` for the bi-level search; "
                "pass search_data=(x, y) or a dataset, or single_level=True."
            )
        if self._feed is not None:
            self._feed.check(model, getattr(model, "loss", None))

    def _steps(self):
        """Reads `fit`'s steps per epoch and epochs; sets `total_steps`."""
        steps = self.params.get("steps")
        epochs = self.params.get("epochs")
        if not steps:
            raise ValueError(
                "`DAISCallback` needs to know the number of steps per epoch to "
                "anneal the temperature; pass `steps_per_epoch` to `fit` (the "
                "training data has no known length)."
            )
        if self.warmup_epochs >= epochs:
            raise ValueError(
                f"`warmup_epochs` ({self.warmup_epochs}) must be smaller than "
                f"`epochs` ({epochs}) so that some epochs search."
            )
        self.steps_per_epoch = int(steps)
        self.epochs = int(epochs)
        self.total_steps = (self.epochs - self.warmup_epochs) * self.steps_per_epoch
        # The hard finish: the last steps train the weights of the repaired
        # architecture with hard masks; the annealing ends where it starts.
        hard = int(round(self.hard_finish * self.total_steps)) if self.repair else 0
        self.hard_steps = min(hard, self.total_steps - 1)
        self.anneal_steps = self.total_steps - self.hard_steps

    def _learning_rate(self):
        """The indicators' learning rate: given, or `auto_learning_rate`."""
        if self.learning_rate != "auto":
            return float(self.learning_rate)
        # From the indicators' initial value, not their current one, so that
        # a resumed search uses the rate of the interrupted one.
        scale = max(max(abs(l.alpha_init) for l in self.structure.layers), 0.5)
        return auto_learning_rate(scale, self.schedule, self.anneal_steps, self.lr_power)

    def _search_values(self):
        """The values of the model's search variables for this search."""
        return {
            "step": 0.0,
            "total_steps": float(self.anneal_steps),
            "t0": self.schedule.T0,
            "t_min": self.schedule.T_min,
            "learning_rate": self.effective_learning_rate,
            "lr_power": self.lr_power,
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "target": self.target,
            "band_eps": self.band,
            "lambda_budget": self.lambda_budget,
            "lambda_l1": self.lambda_l1,
            "lambda_min_width": self.lambda_min_width,
            "lambda_residual": self.residual_prior,
            "lambda_polar": self.lambda_polar,
            "hard_band": self.hard_band,
            "band_gate": float(self.band_gate),
            "polar_start": self.polar_start,
            "band_hold": float(self.band_hold),
            "nonfinite": 0.0,
            "min_widths": self.min_widths.astype("float32"),
            "residual_weights": self.structure.residual_weights,
        }

    def on_train_begin(self, logs=None):
        self._check_model()
        self._steps()
        model = self.model
        structure = self.structure
        self.cost = target_lib.budget_cost(
            model, self.budget_spec, self.latency_model, self.latency_table,
            self.runtime, self.verbose,
        )
        if self.budget_spec.is_latency:
            self.latency_model = self.cost
        self.target = self.budget_spec.target(self.cost.total)
        # Before the first step: a budget that frozen groups, minimum widths or
        # `round_to` make impossible fails (or warns, with `best_effort`) now.
        guarantee.check_reachable(
            structure, self.budget_spec, self.min_width,
            self.round_to if self.repair else None, cost=self.cost,
            best_effort=self.best_effort,
        )
        self.min_widths = structure.min_widths(self.min_width)
        self.effective_learning_rate = self._learning_rate()
        objective.check_search_steps(self.anneal_steps, self.schedule, self.lr_power)
        model.configure_search(
            mode=None, schedule=self.schedule, values=self._search_values(), cost=self.cost
        )
        for layer in structure.layers:
            layer.temperature.assign(self.schedule.T0)
        if any(layer.hard for layer in structure.layers):
            # A repaired (hard) model searched again: back to soft masks, and
            # `fit` needs a train function traced for them right away.
            from dais_keras.indicators.state import binarize

            binarize(model, hard=False)
            model.make_train_function()
        self._searching = False
        self._finished = False
        self._first_step_start = None  # set when the first step starts, reported once
        if self.verbose:
            # The first step traces the search step: minutes on a large model.
            print(f"DAIS search: {self.total_steps} steps ({self.anneal_steps} annealing, "
                  f"{self.hard_steps} hard finish) to {self.budget_spec}; tracing the "
                  "first step...", flush=True)
        self.search_state = None
        self.report = None
        self._record = SearchRecord(
            model, self.cost, self.target, self.anneal_steps, self.record_every, self
        )
        self.history = self._record.history
        self.alpha_trace = self._record.alpha_trace
        self.group_names = self._record.group_names

    def on_epoch_begin(self, epoch, logs=None):
        model = self.model
        search_epoch = epoch - self.warmup_epochs
        if search_epoch < 0:
            return
        done = search_epoch * self.steps_per_epoch
        self._epoch_start = done
        if self._finished:
            return
        if done >= self.anneal_steps:
            # Resumed (BackupAndRestore) inside the hard finish: the restored
            # alphas are the repaired ones; binarise them again.
            self._searching = True
            self._finish(retrace=True)
            return
        if not self._searching:
            # First search epoch of this fit; a resumed fit starts later and
            # keeps the restored Adam state of the indicators.
            if search_epoch == 0:
                model.reset_search_optimizer()
            if self._feed is not None:
                self._feed.start(model, skip=done)
            mode = "single_level" if self.single_level else "bilevel"
            model.configure_search(
                mode=mode, feed=self._feed, train_weights=self.train_weights
            )
            self._searching = True
        model.configure_search(
            mode=model.search_mode,
            feed=self._feed,
            values={"step": float(done)},
            train_weights=self.train_weights,
        )

    def on_train_batch_begin(self, batch, logs=None):
        if self._first_step_start is None and self.verbose:
            self._first_step_start = time.perf_counter()
        if (self._searching and not self._finished
                and self._epoch_start + batch >= self.anneal_steps):
            self._finish(retrace=True)

    def on_train_batch_end(self, batch, logs=None):
        if self._first_step_start:
            print(f"DAIS search: first step done in "
                  f"{time.perf_counter() - self._first_step_start:.1f} s", flush=True)
            self._first_step_start = False
        if not self._searching or self._finished:
            return
        model = self.model
        variables = model.search_variables
        code = float(model.read_variable(variables["nonfinite"]))
        step = int(model.read_variable(variables["step"]))
        if code:
            # The counter already counts the failed step.
            T = self.schedule.value(step - 1, self.total_steps)
            raise FloatingPointError(objective.nonfinite_message(
                code, step - 1, batch, T, self.effective_learning_rate
            ))
        self._record.step(step)

    def on_epoch_end(self, epoch, logs=None):
        self._record.epoch(epoch, logs, self.log_widths)

    def on_train_end(self, logs=None):
        if self._searching and not self._finished:
            self._finish(retrace=False)
        self.model.configure_search(mode=None)
        if self.plot_dir and self._searching:
            os.makedirs(self.plot_dir, exist_ok=True)
            self.plot_widths(os.path.join(self.plot_dir, "widths.png"))
            self.plot_alphas(os.path.join(self.plot_dir, "alphas.png"))

    def _finish(self, retrace):
        """Ends the annealing: binarises the indicators to the budget (the
        repair) and, with `retrace`, switches `fit` to plain weight training
        of that hard architecture for the rest of the search (the hard
        finish)."""
        model = self.model
        model.sync_variables()
        model.configure_search(mode=None)
        for layer in self.structure.layers:
            layer.temperature.assign(self.schedule.T_min)
        self._record.finish()
        self.search_state = dict(self._record.final)
        if self.on_annealed is not None:
            self.search_state["annealed"] = self.on_annealed(model)
        self._finished = True
        if self.repair:
            self.report = repair_lib.repair(
                model,
                self.budget_spec,
                band=self.band,
                round_to=self.round_to,
                min_width=self.min_width,
                structure=self.structure,
                cost=self.cost,
                best_effort=self.best_effort,
                fill=self.fill,
            )
            if self.verbose:
                print(self.report.summary())
        if retrace:
            model.make_train_function(force=True)

    # ------------------------------------------------------------------
    def plot_widths(self, path):
        """Writes a bar chart of every group's width: original vs kept."""
        kept = [int((a > 0).sum()) for a in self.model.alpha_values()]
        ratio = self.report.macs_after / self.report.total_macs if self.report else None
        title = f"DAIS widths per group (budget {self.budget_spec}"
        title += f", MACs {ratio:.1%})" if ratio is not None else ")"
        return plot_lib.plot_widths(
            path, self.group_names, self.structure.sizes, kept, title
        )

    def plot_alphas(self, path):
        """Writes the recorded alpha trajectories (one line per channel,
        coloured by group) and the temperature."""
        return plot_lib.plot_alphas(path, self.alpha_trace, self.structure.sizes)
