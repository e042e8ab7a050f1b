"""`DAISCallback`: runs the DAIS search inside `DAISModel.fit`.

The callback configures the model's train step for the search, hands it a
search batch per training step, anneals the temperature (in the step, from
variables, see `dais_keras.search`), logs the search's state per epoch,
stops on a non-finite loss, and when `fit` ends binarises the indicators to
the budget (`dais_keras.budget.repair`), so that `dais_keras.surgery.apply`
right after `fit` gives a model within the budget.
"""

import math
import os

import numpy as np

import keras

from dais_keras.cost import budget as budget_lib
from dais_keras.select import repair as repair_lib
from dais_keras.search import schedules as schedules_lib
# Defaults, measured with bench/search_dynamics.py (see its results file).
DEFAULT_LAMBDA_BUDGET = 2.0
DEFAULT_AUTO_LR_TRAVEL = 4.0
DEFAULT_LR_POWER = 1.0
DEFAULT_BETA_1 = 0.5


def auto_learning_rate(alpha_scale, schedule, total_steps, lr_power=DEFAULT_LR_POWER,
                       travel=DEFAULT_AUTO_LR_TRAVEL):
    """The indicators' base learning rate for a search of `total_steps`.

    Adam moves a logit by about its step size per step, and the step size at
    temperature `T` is `lr * (T / T0) ** lr_power`. This returns the `lr`
    whose summed step sizes over the search equal `travel * alpha_scale`:
    the distance an indicator may cover, `travel` times its initial distance
    to zero.
    """
    progress = np.arange(total_steps) / max(total_steps - 1, 1)
    temps = np.asarray(keras.ops.convert_to_numpy(schedule(progress)), np.float64)
    budget = float(np.sum((temps / schedule.T0) ** lr_power))
    return travel * alpha_scale / max(budget, 1e-12)


class SearchFeed:
    """Endless, deterministic stream of search batches for the train step.

    Args:
        data: A `tf.data.Dataset` of `(x, y)` or `(x, y, sample_weight)`
            batches, or a tuple `(x, y)` / `(x, y, sample_weight)` of arrays.
        batch_size: Batch size for array data (default 32, like `fit`).
        shuffle: Shuffle array data each pass (a seeded permutation per pass,
            independent of the global random seed).
        seed: Seed of that shuffle.
    """

    def __init__(self, data, batch_size=None, shuffle=True, seed=0):
        import tensorflow as tf

        self.seed = seed
        if isinstance(data, tf.data.Dataset):
            if batch_size is not None:
                raise ValueError(
                    "`batch_size` applies to array `search_data` only; a "
                    "`tf.data.Dataset` is used with its own batches. Batch "
                    "the dataset instead."
                )
            if data.cardinality() == 0:
                raise ValueError("`search_data` is an empty dataset.")
            self.dataset = data.repeat()
            self.x_shape = _x_shape(data.element_spec)
        elif isinstance(data, (tuple, list)) and len(data) in (2, 3):
            arrays = [None if a is None else np.asarray(a) for a in data]
            n = len(arrays[0])
            for name, a in zip(("y", "sample_weight"), arrays[1:]):
                if a is not None and len(a) != n:
                    raise ValueError(
                        f"`search_data` has {n} inputs but {len(a)} values "
                        f"of {name}; they must have the same length."
                    )
            if n == 0:
                raise ValueError("`search_data` holds no examples.")
            batch_size = 32 if batch_size is None else int(batch_size)
            if batch_size < 1:
                raise ValueError(f"`batch_size` must be >= 1; received {batch_size}.")
            tensors = tuple(tf.constant(a) for a in arrays if a is not None)
            size = min(batch_size, n)
            self._gather = lambda idx: tuple(tf.gather(t, idx) for t in tensors)
            self._indices = _index_stream(n, size, seed if shuffle else None)
            self.dataset = None
            self.x_shape = tuple(arrays[0].shape)
        else:
            raise ValueError(
                "`search_data` must be a `tf.data.Dataset` of (x, y) batches "
                "or an (x, y) tuple of arrays, like `fit`'s `validation_data`; "
                f"received {type(data).__name__}."
            )
        self._iterator = None

    def check(self, model):
        """Raises `ValueError` when the inputs do not fit `model`."""
        if self.x_shape is None or len(model.inputs) != 1:
            return
        expected = tuple(model.inputs[0].shape[1:])
        got = tuple(self.x_shape[1:])
        ok = len(expected) == len(got) and all(
            e is None or g is None or e == g for e, g in zip(expected, got)
        )
        if not ok:
            raise ValueError(
                f"`search_data` has inputs of shape {got} per example, but "
                f"model '{model.name}' expects {expected}. Pass search data "
                "shaped like the training data."
            )

    def start(self, model, skip=0):
        """(Re)starts the stream for `model`, skipping `skip` batches."""
        if self.dataset is None:  # arrays: skip indices, then gather
            indices = self._indices.skip(skip) if skip else self._indices
            dataset = indices.map(self._gather).prefetch(2)
        else:
            dataset = self.dataset.skip(skip) if skip else self.dataset
        backend = keras.backend.backend()
        if backend == "tensorflow":
            strategy = model.distribute_strategy
            if strategy.num_replicas_in_sync > 1:
                dataset = strategy.experimental_distribute_dataset(dataset)
            self._iterator = iter(dataset)
        elif backend == "jax":
            from keras.src.backend.jax.trainer import _distribute_data

            self._iterator = map(_distribute_data, dataset.as_numpy_iterator())
        else:
            self._iterator = iter(dataset.as_numpy_iterator())

    def next(self):
        return next(self._iterator)


def _index_stream(n, batch_size, seed):
    """Endless batches of example indices: pass `k` over the data is the
    permutation `index_shuffle(seed, k)` (or the identity without a seed).
    A pure function of `(n, batch_size, seed)`, so that skipping `k` batches
    resumes the stream exactly, whatever the global random seed."""
    import tensorflow as tf

    n64 = tf.constant(n, tf.int64)
    if seed is None:
        fn = lambda i: i % n64
    else:
        seed64 = tf.constant(int(seed), tf.int64)
        fn = lambda i: tf.random.experimental.index_shuffle(
            i % n64, seed=tf.stack([seed64, i // n64]), max_index=n64 - 1
        )
    return tf.data.Dataset.range(2**62).map(fn).batch(batch_size, drop_remainder=True)


def _x_shape(spec):
    spec = spec[0] if isinstance(spec, (tuple, list)) else spec
    shape = getattr(spec, "shape", None)
    return None if shape is None else tuple(shape)


def _check_fraction(name, value, low_open=True, high=1.0):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not (0.0 < value < high if low_open else 0.0 <= value < high)
    ):
        raise ValueError(
            f"`{name}` must be a number in {'(0' if low_open else '[0'}, {high:g}); "
            f"received {value!r}."
        )


def _check_nonneg(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"`{name}` must be a number >= 0; received {value!r}.")


@keras.saving.register_keras_serializable(package="dais_keras")
class DAISCallback(keras.callbacks.Callback):
    """Runs the DAIS search in `fit` of a `dais_keras.DAISModel`.

    Per training step, the model's train step first updates the indicators
    on a search batch (task loss + budget band + optional L1 + structural
    priors, with the search's own Adam), then the weights on the training
    batch (the compiled optimizer and loss). The temperature anneals from
    `T0` to `T_min` over the search's steps (`epochs * steps_per_epoch`
    minus the warm-up). When `fit` ends the indicators are binarised to the
    budget (`repair=True`): their `alpha` holds the choice, they are in hard
    mode, and `dais_keras.surgery.apply(model)` gives a model whose exact
    MACs lie in `[(1 - band) * budget, budget]` of the original's.

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

    Per epoch the callback adds to `logs` (and so to the `History`):
    `dais_T` (temperature), `dais_macs` (expected MACs / target),
    `dais_hard_macs` (MACs of the `alpha > 0` architecture / target) (with
    a latency budget: `dais_latency` and `dais_hard_latency`, in latency),
    `dais_binarized` (share of indicators with |m - 0.5| > 0.49) and, with
    `log_widths`, `dais_width/<group>` (channels with `alpha > 0`).
    The same figures, alpha trajectories and the repair report are kept in
    `callback.history`, `callback.alpha_trace` and `callback.report`.

    Defaults (measured with `bench/search_dynamics.py`, results in
    `bench/results/search_dynamics_*.json`). `alpha` starts at 2
    (`attach_indicators`), so `m = 0.88` at `T = 1` and a pretrained network
    keeps most of its accuracy. Adam moves a logit by about its step size per
    step whatever the gradient's size, and the step size follows the
    temperature, `lr * (T / T0) ** lr_power` with `lr_power=1`: a step moves
    a mask by a similar amount at every temperature, so the indicators
    decide while `T` is high and only the marginal ones still move when it
    is low (a constant rate made the late, sharp masks flip back and forth).
    `learning_rate="auto"` picks the `lr` whose summed step sizes over the
    search are 4 times the initial distance to zero (`4 * alpha_init`):
    e.g. 0.12 for 300 steps, 1.1 for 32. `beta_1=0.5` damps the overshoot
    of the indicators' momentum (with 0.9 the tiny single-level searches
    sometimes ended at 0.84x or 1.96x the target). With these defaults all
    30 tiny searches (budgets 0.3/0.5/0.7, bi- and single-level, 5 seeds)
    ended with the `alpha > 0` architecture within 8 % of the target, and
    the ResNet-20 search at 50 % within 5 %, with no channel changed by the
    repair. `lambda_budget=2` kept the expected MACs of ResNet-20 inside the
    band from the first short epoch on.

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
        band: `eps` of the budget band: the target interval is
            `[(1 - band) * budget, budget]`.
        single_level: Update indicators and weights from one training batch
            (faster, no search data needed).
        train_weights: `False` searches the indicators only: the weights,
            their statistics and the compiled optimizer stay as they are
            (bi-level mode only).
        warmup_epochs: Epochs of plain weight training before the search.
        round_to: Align every pruned group's width to a multiple of this
            (e.g. 8) when binarising.
        repair: Binarise to the budget when `fit` ends.
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
        latency_table: For latency budgets without `latency_model`: a
            `LatencyTable` or the path of one saved with `save` (default:
            this machine's cache, measured where it lacks layers).

    Raises:
        ValueError: For an argument out of range (named in the message), or
            at the start of `fit` for search data that does not fit the
            model, a model without indicators, or unknown steps per epoch.
        FloatingPointError: During `fit`, when a loss or gradient is not
            finite; the model keeps its state from before that step.

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
        T_min=0.01,
        learning_rate="auto",
        lr_power=DEFAULT_LR_POWER,
        beta_1=DEFAULT_BETA_1,
        beta_2=0.999,
        lambda_budget=DEFAULT_LAMBDA_BUDGET,
        lambda_l1=0.0,
        min_width=1,
        lambda_min_width=1.0,
        residual_prior=1.0,
        band=budget_lib.DEFAULT_BAND,
        single_level=False,
        train_weights=True,
        warmup_epochs=0,
        round_to=None,
        repair=True,
        seed=0,
        shuffle=True,
        log_widths=True,
        plot_dir=None,
        record_every="auto",
        verbose=1,
        latency_model=None,
        runtime="tflite",
        latency_table=None,
    ):
        super().__init__()
        from dais_keras.latency import model as latency_lib
        self.budget_spec = budget_lib.parse_budget(budget)
        _check_fraction("band", band)
        self.budget = self.budget_spec.to_config()
        if latency_model is not None and getattr(latency_model, "kind", None) != "latency":
            raise ValueError(
                "`latency_model` must be a dais_keras.latency.LatencyModel; "
                f"received {type(latency_model).__name__}."
            )
        if latency_model is not None and not self.budget_spec.is_latency:
            raise ValueError(
                "`latency_model` is given but the budget "
                f"({self.budget!r}) is a MACs budget; use budget={{'latency': "
                f"{self.budget!r}}} to search under latency."
            )
        latency_lib._check_runtime(runtime)
        if latency_table is not None and not isinstance(
            latency_table, (str, os.PathLike, latency_lib.LatencyTable)
        ):
            raise ValueError(
                "`latency_table` must be a dais_keras.latency.LatencyTable or "
                f"the path of a saved one; received {type(latency_table).__name__}."
            )
        self.latency_model = latency_model
        self.runtime = runtime
        self.latency_table = latency_table
        self.band = float(band)
        if isinstance(schedule, schedules_lib.TemperatureSchedule):
            self.schedule = schedule
        else:
            self.schedule = schedules_lib.get(schedule, T0=T0, T_min=T_min)
        if not (
            learning_rate == "auto"
            or (
                isinstance(learning_rate, (int, float))
                and not isinstance(learning_rate, bool)
                and math.isfinite(learning_rate)
                and learning_rate > 0
            )
        ):
            raise ValueError(
                "`learning_rate` must be 'auto' or a number > 0 (the "
                f"indicators' Adam learning rate); received {learning_rate!r}."
            )
        self.learning_rate = learning_rate
        _check_nonneg("lr_power", lr_power)
        self.lr_power = float(lr_power)
        _check_fraction("beta_1", beta_1, low_open=False)
        _check_fraction("beta_2", beta_2, low_open=False)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        for name, value in (
            ("lambda_budget", lambda_budget),
            ("lambda_l1", lambda_l1),
            ("lambda_min_width", lambda_min_width),
            ("residual_prior", residual_prior),
        ):
            _check_nonneg(name, value)
        self.lambda_budget = float(lambda_budget)
        self.lambda_l1 = float(lambda_l1)
        self.lambda_min_width = float(lambda_min_width)
        self.residual_prior = float(residual_prior)
        self.min_width = budget_lib.check_min_width(min_width)
        self.round_to = budget_lib.check_round_to(round_to)
        if not isinstance(warmup_epochs, int) or isinstance(warmup_epochs, bool) or warmup_epochs < 0:
            raise ValueError(
                f"`warmup_epochs` must be an integer >= 0; received {warmup_epochs!r}."
            )
        self.warmup_epochs = warmup_epochs
        self.single_level = bool(single_level)
        self.train_weights = bool(train_weights)
        if self.single_level and not self.train_weights:
            raise ValueError(
                "`train_weights=False` needs the bi-level search; it cannot be "
                "combined with `single_level=True`."
            )
        self.repair = bool(repair)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(f"`seed` must be an integer or None; received {seed!r}.")
        self.seed = seed
        self.shuffle = bool(shuffle)
        self.log_widths = bool(log_widths)
        self.plot_dir = None if plot_dir is None else os.fspath(plot_dir)
        if not (
            record_every == "auto"
            or (isinstance(record_every, int) and not isinstance(record_every, bool) and record_every >= 1)
        ):
            raise ValueError(
                f"`record_every` must be 'auto' or an integer >= 1; received {record_every!r}."
            )
        self.record_every = record_every
        self.verbose = verbose
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
        return {
            "budget": self.budget,
            "batch_size": self.batch_size,
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "learning_rate": self.learning_rate,
            "lr_power": self.lr_power,
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "lambda_budget": self.lambda_budget,
            "lambda_l1": self.lambda_l1,
            "min_width": self.min_width,
            "lambda_min_width": self.lambda_min_width,
            "residual_prior": self.residual_prior,
            "band": self.band,
            "single_level": self.single_level,
            "train_weights": self.train_weights,
            "warmup_epochs": self.warmup_epochs,
            "round_to": self.round_to,
            "repair": self.repair,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "log_widths": self.log_widths,
            "plot_dir": self.plot_dir,
            "record_every": self.record_every,
            "verbose": self.verbose,
            "runtime": self.runtime,
            "latency_table": (
                os.fspath(self.latency_table)
                if isinstance(self.latency_table, (str, os.PathLike))
                else None
            ),
        }

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
            self._feed.check(model)

    def _budget_cost(self):
        """The cost the budget is in: the exact MACs, or the latency model
        (given, or built now from the table and a calibration)."""
        structure = self.structure
        if not self.budget_spec.is_latency:
            return structure.cost
        from dais_keras.latency import model as latency_lib
        if self.latency_model is None:
            table = self.latency_table
            if isinstance(table, (str, os.PathLike)):
                table = latency_lib.LatencyTable.load(table)
            self.latency_model = latency_lib.latency_model(
                self.model, table=table, runtime=self.runtime,
                verbose=self.verbose,
            )
        if self.latency_model.num_channels != structure.num_channels:
            raise ValueError(
                f"`latency_model` covers {self.latency_model.num_channels} channels "
                f"but model '{self.model.name}' has {structure.num_channels} "
                "indicator channels; build it with "
                "dais_keras.latency.latency_model(search_model)."
            )
        return self.latency_model

    def on_train_begin(self, logs=None):
        self._check_model()
        model = self.model
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
        structure = self.structure
        self.cost = self._budget_cost()
        self.target = self.budget_spec.target(self.cost.total)
        alphas = np.concatenate(model.alpha_values())
        if self.learning_rate == "auto":
            # From the indicators' initial value, not their current one, so
            # that a resumed search uses the rate of the interrupted one.
            scale = max(max(abs(l.alpha_init) for l in structure.layers), 0.5)
            self.effective_learning_rate = auto_learning_rate(
                scale, self.schedule, self.total_steps, self.lr_power
            )
        else:
            self.effective_learning_rate = float(self.learning_rate)
        self.min_widths = structure.min_widths(self.min_width)
        if self.record_every == "auto":
            self._record_every = max(1, int(math.ceil(self.total_steps / 100)))
        else:
            self._record_every = self.record_every
        values = {
            "step": 0.0,
            "total_steps": float(self.total_steps),
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
            "nonfinite": 0.0,
            "min_widths": self.min_widths.astype("float32"),
            "residual_weights": structure.residual_weights,
        }
        model.configure_search(
            mode=None, schedule=self.schedule, values=values, cost=self.cost
        )
        for layer in structure.layers:
            layer.temperature.assign(self.schedule.T0)
        if any(layer.hard for layer in structure.layers):
            # A repaired (hard) model searched again: back to soft masks, and
            # `fit` needs a train function traced for them right away.
            from dais_keras.indicators.state import binarize

            binarize(model, hard=False)
            model.make_train_function()
        self._started = False
        self._searching = False
        self._nan_checked_at = None
        self.report = None
        kind = self.cost.kind
        self.history = {
            "epoch": [], "T": [], f"{kind}_ratio": [], f"hard_{kind}_ratio": [],
            "binarized": [], "widths": [],
        }
        self.alpha_trace = [(0, alphas.copy())]
        self.group_names = list(structure.names)

    def on_epoch_begin(self, epoch, logs=None):
        model = self.model
        search_epoch = epoch - self.warmup_epochs
        if search_epoch < 0:
            return
        done = search_epoch * self.steps_per_epoch
        if not self._searching:
            # First search epoch of this fit; a resumed fit starts later and
            # keeps the restored Adam state of the indicators.
            if search_epoch == 0:
                for m, v in model._dais.moments:
                    m.assign(np.zeros(m.shape, "float32"))
                    v.assign(np.zeros(v.shape, "float32"))
                model._dais.vars["iterations"].assign(0.0)
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

    def on_train_batch_end(self, batch, logs=None):
        if not self._searching:
            return
        model = self.model
        flag = float(model.read_variable(model._dais.vars["nonfinite"]))
        if flag:
            # The counter already counts the failed step.
            step = int(model.read_variable(model._dais.vars["step"])) - 1
            which = {1: "the search (indicator) loss", 2: "the training loss"}[int(flag)]
            raise FloatingPointError(
                f"DAIS search stopped: {which} or its gradients became NaN/Inf "
                f"at search step {step} (batch {batch}). That step was not "
                "applied, so the model keeps its last good state. Lower the "
                "learning rates, check the data for NaN/Inf, or clip gradients."
            )
        step = int(model.read_variable(model._dais.vars["step"]))
        if step % self._record_every == 0 or step == self.total_steps:
            self.alpha_trace.append((step, np.concatenate(model.alpha_values())))

    def _state(self):
        model = self.model
        structure = self.structure
        alphas = model.alpha_values()
        T = float(model.read_variable(structure.layers[0].temperature))
        flat = np.concatenate(alphas).astype(np.float64)
        m = 1.0 / (1.0 + np.exp(-np.clip(flat / T, -80, 80)))
        kind = self.cost.kind
        return {
            "T": T,
            f"{kind}_ratio": self.cost.exact(m) / self.target,
            f"hard_{kind}_ratio": self.cost.exact(flat > 0) / self.target,
            "binarized": float(np.mean(np.abs(m - 0.5) > 0.49)),
            "widths": [int((a > 0).sum()) for a in alphas],
        }

    def on_epoch_end(self, epoch, logs=None):
        state = self._state()
        self.history["epoch"].append(epoch)
        for key, value in state.items():
            self.history[key].append(value)
        if logs is not None:
            logs["dais_T"] = state["T"]
            kind = self.cost.kind
            logs[f"dais_{kind}"] = state[f"{kind}_ratio"]
            logs[f"dais_hard_{kind}"] = state[f"hard_{kind}_ratio"]
            logs["dais_binarized"] = state["binarized"]
            if self.log_widths:
                for name, width in zip(self.group_names, state["widths"]):
                    logs[f"dais_width/{name}"] = float(width)

    def on_train_end(self, logs=None):
        model = self.model
        model.configure_search(mode=None)
        if not self._searching:
            return
        for layer in self.structure.layers:
            layer.temperature.assign(self.schedule.T_min)
        last = np.concatenate(model.alpha_values())
        if not self.alpha_trace or not np.array_equal(self.alpha_trace[-1][1], last):
            self.alpha_trace.append((self.total_steps, last))
        if self.repair:
            self.report = repair_lib.repair(
                model,
                self.budget,
                band=self.band,
                round_to=self.round_to,
                min_width=self.min_width,
                structure=self.structure,
                cost=self.cost,
            )
            if self.verbose:
                print(self.report.summary())
        if self.plot_dir:
            os.makedirs(self.plot_dir, exist_ok=True)
            self.plot_widths(os.path.join(self.plot_dir, "widths.png"))
            self.plot_alphas(os.path.join(self.plot_dir, "alphas.png"))

    # ------------------------------------------------------------------
    def plot_widths(self, path):
        """Writes a bar chart of every group's width: original vs kept."""
        plt = _pyplot()
        sizes = self.structure.sizes
        kept = [int((a > 0).sum()) for a in self.model.alpha_values()]
        fig, ax = plt.subplots(figsize=(max(6, 0.35 * len(sizes) + 2), 4))
        pos = np.arange(len(sizes))
        ax.bar(pos, sizes, color="#cccccc", label="original")
        ax.bar(pos, kept, color="#1f77b4", label="kept")
        ax.set_xticks(pos)
        ax.set_xticklabels(self.group_names, rotation=90, fontsize=7)
        ax.set_ylabel("channels")
        ratio = self.report.macs_after / self.report.total_macs if self.report else None
        title = f"DAIS widths per group (budget {self.budget_spec}"
        title += f", MACs {ratio:.1%})" if ratio is not None else ")"
        ax.set_title(title)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path

    def plot_alphas(self, path):
        """Writes the recorded alpha trajectories (one line per channel,
        coloured by group) and the temperature."""
        plt = _pyplot()
        steps = np.array([s for s, _ in self.alpha_trace])
        values = np.stack([a for _, a in self.alpha_trace])
        fig, ax = plt.subplots(figsize=(8, 4.5))
        cmap = plt.get_cmap("tab10")
        start = 0
        for i, size in enumerate(self.structure.sizes):
            ax.plot(steps, values[:, start:start + size], color=cmap(i % 10),
                    linewidth=0.5, alpha=0.6)
            start += size
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_xlabel("search step")
        ax.set_ylabel("alpha")
        ax.set_title("DAIS indicator logits (one line per channel, colour = group)")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return path


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError(
            "Plotting needs matplotlib: pip install 'dais-keras[plot]'."
        ) from e
    return plt
