"""The DAIS search model: a functional model with channel indicators and a
bi-level train step.

`DAISModel` is what `dais_keras.attach_indicators` returns. Without a
`dais_keras.DAISCallback` it trains like any Keras model, with its indicators
held fixed (only the weights learn). During a search, the callback switches
the model's train step to DAIS:

1. **Temperature.** `T = schedule(step / (total_steps - 1), T0, T_min)` is
   computed in the step from variables and written into every indicator.
2. **Indicator step** (bi-level mode): on a *search* batch, the gradient of
   `task loss + lambda_budget * B(E[MACs]) + lambda_l1 * mean(m) + priors`
   with respect to the indicators' `alpha` only, applied by the search's own
   Adam (its moments are non-trainable variables of the model). The forward
   pass is stateless: weights, BN statistics and metrics are left untouched.
3. **Weight step**: on a *training* batch, the user's compiled loss and
   optimizer update every trainable variable except `alpha`.

With `single_level=True` one forward/backward pass on the training batch
gives both updates. The search batches are handed to the step by the train
function (`(train_batch, search_batch)` tuples), so they are sharded like the
training batches under `tf.distribute` strategies and JAX distributions.
Every hyper-parameter the step reads (`T0`, `T_min`, the step counter, the
learning rate, the loss weights, the target) lives in a variable, so a
compiled step is traced once and `BackupAndRestore` checkpoints restore the
search exactly. A step whose loss or gradients are not finite changes
nothing and is recorded; `DAISCallback` then stops the search with an error.

The budget band is `B = log(E / F)` above the target `F`,
`log((1 - eps) F / E)` below `(1 - eps) F`, and zero inside. The structural
priors are a minimum width per group, `mean_g relu(w_min - sum(m_g)) / w_min`,
and a residual prior, `sum_g pi_g relu(mean keep - keep_g)`, where `pi_g` is
the fan-out share of the groups shared by a residual stage (several
producers): a stage may not be pruned harder than the network on average
unless the task loss wants it.
"""

import itertools

import numpy as np

import keras
from keras import ops

from dais_keras.search import schedules as schedules_lib
from dais_keras.indicators.state import indicator_layers
from dais_keras.select.problem import SearchStructure

# Scalar hyper-parameters and counters of the search, with their defaults.
_SCALARS = (
    ("step", 0.0),
    ("total_steps", 1.0),
    ("t0", 1.0),
    ("t_min", 0.01),
    ("learning_rate", 0.01),
    ("lr_power", 1.0),
    ("beta_1", 0.5),
    ("beta_2", 0.999),
    ("epsilon", 1e-7),
    ("iterations", 0.0),
    ("target", 1.0),
    ("band_eps", 0.05),
    ("lambda_budget", 1.0),
    ("lambda_l1", 0.0),
    ("lambda_min_width", 1.0),
    ("lambda_residual", 1.0),
    ("nonfinite", 0.0),
)
MODES = (None, "bilevel", "single_level")


def _backend():
    return keras.backend.backend()


class _SearchState:
    """Untracked holder of a `DAISModel`'s Python-side search state."""


class _ZipFeed:
    """Pairs each training batch with the next search batch."""

    def __init__(self, iterator, feed):
        self._iterator = iterator
        self._feed = feed

    def __iter__(self):
        return self

    def __next__(self):
        batch = next(self._iterator)
        return (batch, self._feed.next())


# --------------------------------------------------------------------------
# TensorFlow distribution helpers (no-ops without a strategy).


def _tf():
    import tensorflow as tf

    return tf


def loss_module_unscale(value):
    from keras.src.losses.loss import unscale_loss_for_distribution

    return unscale_loss_for_distribution(value)


def _tf_read(variable):
    """The current value of a Keras variable as a `tf.Tensor`."""
    return _tf().convert_to_tensor(variable.value)


def _tf_num_replicas():
    return _tf().distribute.get_strategy().num_replicas_in_sync


def _tf_all_reduce_sum(values):
    tf = _tf()
    if _tf_num_replicas() == 1 or tf.distribute.in_cross_replica_context():
        return values
    ctx = tf.distribute.get_replica_context()
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, values)


def _all_finite(tensors):
    flags = [ops.all(ops.isfinite(t)) for t in tensors if t is not None]
    return ops.all(ops.stack(flags)) if flags else ops.convert_to_tensor(True)


def _tf_all_finite(tensors):
    finite = _all_finite(tensors)
    if _tf_num_replicas() > 1:
        bad = _tf_all_reduce_sum(ops.cast(ops.logical_not(finite), "float32"))
        finite = ops.equal(bad, 0.0)
    return finite


def _tf_assign(pairs):
    """Assigns `(keras_variable, value)` pairs from replica context too."""
    tf = _tf()
    pairs = list(pairs)
    if _tf_num_replicas() == 1 or tf.distribute.in_cross_replica_context():
        for variable, value in pairs:
            variable.assign(value)
        return

    def merge_fn(distribution, *values):
        for (variable, _), value in zip(pairs, values):
            distribution.extended.update(
                variable.value,
                lambda var, val: var.assign(tf.cast(val, var.dtype)),
                args=(value,),
                group=False,
            )

    tf.__internal__.distribute.interim.maybe_merge_call(
        merge_fn, tf.distribute.get_strategy(), *[v for _, v in pairs]
    )


def _tf_apply_if(optimizer, finite, grads, variables):
    """`optimizer.apply(grads, variables)` only where `finite` (all
    replicas agree on `finite`)."""
    tf = _tf()

    def apply():
        optimizer.apply(grads, variables)

    if _tf_num_replicas() == 1 or tf.__internal__.distribute.strategy_supports_no_merge_call():
        ops.cond(finite, apply, lambda: None)
        return

    def cross_replica(distribution, finite, grads):
        first = distribution.experimental_local_results(finite)[0]

        def apply_fn():
            distribution.extended.call_for_each_replica(
                lambda g: optimizer.apply(g, variables), args=(grads,)
            )

        ops.cond(first, apply_fn, lambda: None)

    tf.distribute.get_replica_context().merge_call(
        cross_replica, args=(finite, grads)
    )


@keras.saving.register_keras_serializable(package="dais_keras")
class DAISModel(keras.Model):
    """A functional Keras model whose channel groups carry `ChannelIndicator`s.

    Build it with `dais_keras.attach_indicators(model)`. It behaves like any
    functional model (`compile`, `fit`, `evaluate`, `predict`, `save`); in a
    plain `fit` only the weights learn and the indicators stay fixed. A `fit`
    with a `dais_keras.DAISCallback` runs the DAIS search (see the module
    docstring): the callback anneals the temperature, feeds search batches
    and binarises the indicators to the budget when the search ends.

    The search state (step counter, `T0`/`T_min`, the indicators' Adam
    moments, the loss weights, the MAC target) is held in non-trainable
    variables of the model, so it is saved with the weights and restored by
    `keras.callbacks.BackupAndRestore`.

    Supported backends for the search: TensorFlow and JAX.

    Example:

    ```python
    search = dais_keras.attach_indicators(model)
    search.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    search.fit(train, epochs=3,
               callbacks=[dais_keras.DAISCallback(budget=0.5, search_data=val)])
    pruned = dais_keras.surgery.apply(search)
    ```
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Python-side search state, in a plain object so that Keras' attribute
        # tracking does not adopt the lists of variables and layers below.
        self._dais = _SearchState()
        self._dais.mode = None
        self._dais.train_weights = True
        self._dais.feed = None
        self._dais.schedule = schedules_lib.ExponentialSchedule()
        self._dais.structure_cache = None
        self._dais.cost = None
        self._dais.index = None
        self._dais.vars = {}
        for name, default in _SCALARS:
            self._dais.vars[name] = self.add_weight(
                shape=(),
                initializer=keras.initializers.Constant(default),
                trainable=False,
                name=f"dais_{name}",
            )
        self._dais.indicators = indicator_layers(self)
        n = max(len(self._dais.indicators), 1)
        self._dais.vars["min_widths"] = self.add_weight(
            shape=(n,), initializer="ones", trainable=False, name="dais_min_widths"
        )
        self._dais.vars["residual_weights"] = self.add_weight(
            shape=(n,), initializer="zeros", trainable=False,
            name="dais_residual_weights",
        )
        self._dais.moments = []
        for layer in self._dais.indicators:
            m = self.add_weight(
                shape=(layer.units,), initializer="zeros", trainable=False,
                name=f"dais_m_{layer.group_id}",
            )
            v = self.add_weight(
                shape=(layer.units,), initializer="zeros", trainable=False,
                name=f"dais_v_{layer.group_id}",
            )
            self._dais.moments.append((m, v))

    # ------------------------------------------------------------------
    # Public helpers.

    @property
    def search_variables(self):
        """Dict name -> the search's hyper-parameter and counter variables."""
        return dict(self._dais.vars)

    @property
    def search_mode(self):
        """`None` (plain training), `"bilevel"` or `"single_level"`."""
        return self._dais.mode

    def search_structure(self):
        """The `SearchStructure` of this model (cached)."""
        if self._dais.structure_cache is None:
            if not self._dais.indicators:
                raise ValueError(
                    f"Model '{self.name}' has no channel indicators (every "
                    "channel group is frozen), so there is nothing to search. "
                    "Check `dais_keras.channel_groups(model)` for the reasons."
                )
            self._dais.structure_cache = SearchStructure(self)
        return self._dais.structure_cache

    def configure_search(
        self, mode=None, feed=None, schedule=None, values=None, train_weights=True,
        cost=None,
    ):
        """Switches the train step between plain training and the search.

        Called by `DAISCallback`; rarely needed directly.

        Args:
            mode: `None` (plain weight training, indicators fixed),
                `"bilevel"` (needs `feed`) or `"single_level"`.
            feed: An object whose `next()` returns the next search batch,
                ready for the backend (see `DAISCallback`).
            schedule: A `dais_keras.schedules.TemperatureSchedule`.
            values: Dict of search variable values to assign (names from
                `search_variables`).
            train_weights: In the bi-level mode, also run the weight step
                (`False`: only the indicators learn; weights, statistics and
                the compiled optimizer are left untouched).
            cost: What the budget band measures: `None` keeps the current
                one (initially the exact MACs), or a cost model with an
                `expected(m)` method such as a
                `dais_keras.latency.LatencyModel`.
        """
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}; received {mode!r}.")
        if mode is not None and _backend() not in ("tensorflow", "jax"):
            raise NotImplementedError(
                "The DAIS search runs on the TensorFlow and JAX backends; "
                f"this process uses '{_backend()}'. Set KERAS_BACKEND to "
                "'tensorflow' or 'jax'."
            )
        if mode == "bilevel" and feed is None:
            raise ValueError("The bi-level search needs a search `feed`.")
        if schedule is not None:
            self._dais.schedule = schedules_lib.get(schedule)
        for name, value in (values or {}).items():
            if name not in self._dais.vars:
                raise ValueError(
                    f"Unknown search variable {name!r}; expected one of "
                    f"{sorted(self._dais.vars)}."
                )
            variable = self._dais.vars[name]
            variable.assign(np.asarray(value, dtype="float32").reshape(variable.shape))
        train_weights = bool(train_weights)
        if mode == "single_level" and not train_weights:
            raise ValueError(
                "`train_weights=False` needs the bi-level search (the single-"
                "level step updates weights and indicators from one pass)."
            )
        changed = (mode, feed, train_weights) != (
            self._dais.mode, self._dais.feed, self._dais.train_weights
        )
        if cost is not None:
            if not hasattr(cost, "expected"):
                raise ValueError(
                    "`cost` must have an `expected(m)` method (a CostModel or "
                    f"LatencyModel); received {type(cost).__name__}."
                )
            changed = changed or cost is not self._dais.cost
            self._dais.cost = cost
        self._dais.train_weights = train_weights
        self._dais.mode = mode
        self._dais.feed = feed if mode == "bilevel" else None
        if changed:
            # `fit` reads `self.train_function` at every step: rebuild it now.
            self.train_function = None
            if getattr(self, "compiled", False):
                self.make_train_function()

    def read_variable(self, variable):
        """Current value of one of this model's variables as numpy, also in
        the middle of a JAX `fit` (where the values live in the trainer's
        state until the end of the epoch)."""
        state = getattr(self, "_jax_state", None)
        if _backend() == "jax" and state and not getattr(self, "_jax_state_synced", True):
            for key, refs in (
                ("trainable_variables", self.trainable_variables),
                ("non_trainable_variables", self.non_trainable_variables),
            ):
                values = state.get(key)
                if values is None:
                    continue
                for ref, value in zip(refs, values):
                    if ref is variable:
                        return np.asarray(value)
        return keras.ops.convert_to_numpy(variable.value)

    def alpha_values(self):
        """List of numpy `alpha` vectors, one per indicator."""
        return [self.read_variable(l.alpha) for l in self._dais.indicators]

    def fit(self, *args, **kwargs):
        try:
            return super().fit(*args, **kwargs)
        finally:
            # A search is switched on by DAISCallback for one `fit`; when that
            # `fit` stops early (an error, an interrupt), the next plain `fit`
            # must not run a search step with a stale feed.
            if self._dais.mode is not None:
                self._dais.mode = None
                self._dais.feed = None
                self.train_function = None

    # ------------------------------------------------------------------
    # Train function: pairs training and search batches.

    def make_train_function(self, force=False):
        if self.train_function is not None and not force:
            return self.train_function
        self._dais_build_index()
        if self.optimizer is not None and not self.optimizer.built:
            # Build on every trainable variable, as `fit` would on its own:
            # the weight step applies to a subset (no alpha), and a lazily
            # built optimizer would not match checkpoints of the full model.
            if _backend() == "tensorflow":
                with self.distribute_strategy.scope():
                    self.optimizer.build(self.trainable_variables)
            else:
                self.optimizer.build(self.trainable_variables)
        super().make_train_function(force=True)
        feed = self._dais.feed
        if feed is not None and self._dais.mode == "bilevel":
            inner = self.train_function
            if _backend() == "jax":

                def function(state, iterator):
                    return inner(state, _ZipFeed(iterator, feed))

            else:

                def function(iterator):
                    zipped = _ZipFeed(iterator, feed)
                    first = next(zipped)  # StopIteration ends the epoch.
                    return inner(itertools.chain([first], zipped))

            self.train_function = function
        return self.train_function

    def _dais_build_index(self):
        ids_t = {id(v): i for i, v in enumerate(self.trainable_variables)}
        ids_n = {id(v): i for i, v in enumerate(self.non_trainable_variables)}
        alpha = [ids_t[id(l.alpha)] for l in self._dais.indicators]
        alpha_set = set(alpha)
        self._dais.index = {
            "alpha": alpha,
            "weights": [i for i in range(len(ids_t)) if i not in alpha_set],
            "temperature": [ids_n[id(l.temperature)] for l in self._dais.indicators],
            "vars": {k: ids_n[id(v)] for k, v in self._dais.vars.items()},
            "moments": [(ids_n[id(m)], ids_n[id(v)]) for m, v in self._dais.moments],
        }
        self._dais.weight_variables = [
            self.trainable_variables[i] for i in self._dais.index["weights"]
        ]
        own = {id(v) for v in self._dais.vars.values()}
        own |= {id(v) for pair in self._dais.moments for v in pair}
        own |= {id(l.temperature) for l in self._dais.indicators}
        self._dais.stat_variables = [
            v for v in self.non_trainable_variables if id(v) not in own
        ]

    # ------------------------------------------------------------------
    # Backend-independent pieces of the step.

    def _dais_cost_kind(self):
        return getattr(self._dais.cost, "kind", "macs")

    def _dais_temperature(self, hp):
        total = ops.maximum(hp["total_steps"] - 1.0, 1.0)
        progress = ops.clip(hp["step"] / total, 0.0, 1.0)
        return ops.cast(
            self._dais.schedule(progress, hp["t0"], hp["t_min"]), "float32"
        )

    def _dais_penalty(self, alphas, T, hp):
        """Budget band, L1 and structural priors on the soft masks."""
        structure = self.search_structure()
        masks = [ops.sigmoid(ops.cast(a, "float32") / T) for a in alphas]
        m = ops.concatenate(masks, axis=0) if len(masks) > 1 else masks[0]
        cost = self._dais.cost if self._dais.cost is not None else structure.cost
        expected = cost.expected(m)
        ratio = expected / hp["target"]
        band = ops.relu(ops.log(ratio)) + ops.relu(
            ops.log((1.0 - hp["band_eps"]) / ratio)
        )
        widths = ops.stack([ops.sum(mask) for mask in masks])
        min_widths = hp["min_widths"]
        min_penalty = ops.mean(ops.relu(min_widths - widths) / min_widths)
        keep = widths / structure.sizes.astype("float32")
        mean_keep = ops.stop_gradient(ops.sum(widths) / float(structure.num_channels))
        residual = ops.sum(hp["residual_weights"] * ops.relu(mean_keep - keep))
        penalty = (
            hp["lambda_budget"] * band
            + hp["lambda_l1"] * ops.mean(m)
            + hp["lambda_min_width"] * min_penalty
            + hp["lambda_residual"] * residual
        )
        return penalty, ratio

    def _dais_adam(self, alphas, grads, moments, hp, T):
        """One Adam step on `alpha`; returns new alphas, moments, iterations.

        The step size follows the temperature, `lr * (T / T0) ** lr_power`,
        so that a step moves a mask by a similar amount at every temperature
        (alpha / T is what the sigmoid sees)."""
        it = hp["iterations"] + 1.0
        b1, b2 = hp["beta_1"], hp["beta_2"]
        lr = hp["learning_rate"] * ops.power(T / hp["t0"], hp["lr_power"])
        lr = lr * ops.sqrt(1.0 - ops.power(b2, it)) / (1.0 - ops.power(b1, it))
        new_alphas, new_moments = [], []
        for a, g, (m, v) in zip(alphas, grads, moments):
            g = ops.cast(g, "float32")
            m = b1 * m + (1.0 - b1) * g
            v = b2 * v + (1.0 - b2) * ops.square(g)
            new_alphas.append(a - lr * m / (ops.sqrt(v) + hp["epsilon"]))
            new_moments.append((m, v))
        return new_alphas, new_moments, it

    def _dais_search_objective(self, alphas, T, hp, tv, ntv, mv, x, y, sample_weight):
        """Task loss on a search batch (stateless) + penalty, for grads wrt
        `alphas`; returns `(total, (task_loss, macs_ratio))`."""
        from keras.src.losses.loss import scale_loss_for_distribution

        index = self._dais.index
        tv = list(tv)
        for pos, a in zip(index["alpha"], alphas):
            tv[pos] = a
        ntv = list(ntv)
        for pos in index["temperature"]:
            ntv[pos] = T
        kwargs = {"training": True} if self._call_has_training_arg else {}
        y_pred, _, losses = self.stateless_call(
            tv, ntv, x, return_losses=True, **kwargs
        )
        if losses:
            self._losses_override.clear()
            self._losses_override = losses
        task, _ = self.stateless_compute_loss(
            tv, ntv, mv, x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
            training=True,
        )
        if losses:
            self._losses_override.clear()
        penalty, ratio = self._dais_penalty(alphas, T, hp)
        return task + scale_loss_for_distribution(penalty), (task, ratio, y_pred)

    @staticmethod
    def _dais_flag(finite_search, finite_weights, previous):
        """1: the indicator step was not finite; 2: the weight step was not."""
        flag = ops.where(finite_search, ops.where(finite_weights, 0.0, 2.0), 1.0)
        return ops.where(previous > 0, previous, flag)

    def train_step(self, *args):
        backend = _backend()
        if backend == "tensorflow":
            return self._tf_train_step(*args)
        if backend == "jax":
            return self._jax_train_step(*args)
        if backend == "torch":
            return self._torch_weight_step(*args)
        return super().train_step(*args)

    # ------------------------------------------------------------------
    # TensorFlow.

    def _tf_hp(self):
        return {k: _tf_read(v) for k, v in self._dais.vars.items()}

    def _tf_alpha_state(self):
        """Alphas, Adam moments and iteration count as tensors."""
        state = [_tf_read(l.alpha) for l in self._dais.indicators]
        for m, v in self._dais.moments:
            state += [_tf_read(m), _tf_read(v)]
        state.append(_tf_read(self._dais.vars["iterations"]))
        return state

    def _tf_alpha_variables(self):
        variables = [l.alpha for l in self._dais.indicators]
        for m, v in self._dais.moments:
            variables += [m, v]
        variables.append(self._dais.vars["iterations"])
        return variables

    def _tf_weight_step(self, data, penalty_fn=None, extra_finite=None):
        """Keras' train step over the weights only (alpha untouched).

        With `penalty_fn` (single level) the penalty joins the loss and the
        alphas' gradients are returned too. Nothing changes (weights,
        optimizer, BN statistics) unless the loss and every gradient are
        finite (and `extra_finite`).

        Returns:
            `(metrics, finite, alpha_grads, aux)`.
        """
        tf = _tf()
        from keras.src.losses import loss as loss_module

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        alphas = [l.alpha for l in self._dais.indicators]
        stats = self._dais.stat_variables
        old_stats = [_tf_read(v) for v in stats]
        with tf.GradientTape() as tape:
            if self._call_has_training_arg:
                y_pred = self(x, training=True)
            else:
                y_pred = self(x)
            loss = self._compute_loss(
                x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
            )
            self._loss_tracker.update_state(
                loss_module.unscale_loss_for_distribution(loss),
                sample_weight=tf.shape(
                    next(i for i in keras.tree.flatten(x) if i is not None)
                )[0],
            )
            total = loss
            aux = None
            if penalty_fn is not None:
                penalty, aux = penalty_fn([_tf_read(a) for a in alphas])
                total = loss + loss_module.scale_loss_for_distribution(penalty)
            if self.optimizer is not None:
                total = self.optimizer.scale_loss(total)
        variables = list(self._dais.weight_variables)
        if penalty_fn is not None:
            variables += alphas
        grads = tape.gradient(total, variables) if variables else []
        n_w = len(self._dais.weight_variables)
        weight_grads, alpha_grads = grads[:n_w], grads[n_w:]
        finite = _tf_all_finite([total] + list(grads))
        if extra_finite is not None:
            finite = ops.logical_and(finite, extra_finite)
        if self._dais.weight_variables:
            _tf_apply_if(self.optimizer, finite, weight_grads, self._dais.weight_variables)
        if stats:
            _tf_assign(
                (v, ops.where(finite, _tf_read(v), old)) for v, old in zip(stats, old_stats)
            )
        metrics = self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        if penalty_fn is not None:
            alpha_grads = [
                ops.zeros_like(a) if g is None else g for g, a in zip(alpha_grads, alphas)
            ]
            scale = getattr(self.optimizer, "dynamic_scale", None)
            if scale is not None:
                alpha_grads = [g / ops.cast(scale, g.dtype) for g in alpha_grads]
        return metrics, finite, alpha_grads, aux

    def _tf_update_alphas(self, grads, hp, T, finite, old):
        """Adam step on alpha where `finite`; `old` from `_tf_alpha_state`."""
        n = len(self._dais.indicators)
        alphas = old[:n]
        moments = [(old[n + 2 * i], old[n + 2 * i + 1]) for i in range(n)]
        new_alphas, new_moments, it = self._dais_adam(alphas, grads, moments, hp, T)
        new = list(new_alphas)
        for m, v in new_moments:
            new += [m, v]
        new.append(it)
        _tf_assign(
            (var, ops.where(finite, value, previous))
            for var, value, previous in zip(self._tf_alpha_variables(), new, old)
        )

    def _tf_train_step(self, data):
        mode = self._dais.mode
        if mode is None:
            return self._tf_weight_step(data)[0]
        tf = _tf()
        hp = self._tf_hp()
        T = self._dais_temperature(hp)
        _tf_assign([(l.temperature, T) for l in self._dais.indicators])
        old = self._tf_alpha_state()
        search_loss = None
        if mode == "bilevel":
            train_data, search_data = data
            xs, ys, sws = keras.utils.unpack_x_y_sample_weight(search_data)
            n = len(self._dais.indicators)
            alphas = list(old[:n])
            tv = list(self.trainable_variables)
            ntv = list(self.non_trainable_variables)
            mv = list(self.metrics_variables)
            with tf.GradientTape() as tape:
                tape.watch(alphas)
                total, (task, ratio, y_pred_s) = self._dais_search_objective(
                    alphas, T, hp, tv, ntv, mv, xs, ys, sws
                )
            grads = tape.gradient(total, alphas)
            grads = [ops.zeros_like(a) if g is None else g for g, a in zip(grads, alphas)]
            grads = _tf_all_reduce_sum(grads)
            finite_search = _tf_all_finite([total] + list(grads))
            self._tf_update_alphas(grads, hp, T, finite_search, old)
            search_loss = loss_module_unscale(task)
            if self._dais.train_weights:
                metrics, finite_weights, _, _ = self._tf_weight_step(
                    train_data, extra_finite=finite_search
                )
                # A non-finite weight step undoes the indicator step too.
                _tf_assign(
                    (var, ops.where(finite_weights, _tf_read(var), previous))
                    for var, previous in zip(self._tf_alpha_variables(), old)
                )
            else:
                # No weight step: report the metrics of the search batch.
                self._loss_tracker.update_state(
                    loss_module_unscale(task),
                    sample_weight=tf.shape(keras.tree.flatten(xs)[0])[0],
                )
                metrics = self.compute_metrics(xs, ys, y_pred_s, sample_weight=sws)
                finite_weights = ops.convert_to_tensor(True)
        else:

            def penalty_fn(alphas):
                return self._dais_penalty(alphas, T, hp)

            metrics, finite_weights, grads, ratio = self._tf_weight_step(
                data, penalty_fn=penalty_fn
            )
            grads = _tf_all_reduce_sum(grads)
            finite_search = finite_weights
            self._tf_update_alphas(grads, hp, T, finite_search, old)
        _tf_assign(
            [
                (self._dais.vars["step"], hp["step"] + 1.0),
                (
                    self._dais.vars["nonfinite"],
                    self._dais_flag(finite_search, finite_weights, hp["nonfinite"]),
                ),
            ]
        )
        logs = dict(metrics)
        logs["dais_T"] = T
        logs[f"dais_{self._dais_cost_kind()}"] = ratio
        if search_loss is not None:
            logs["dais_search_loss"] = search_loss
        return logs

    # ------------------------------------------------------------------
    # JAX.

    def _jax_weight_step(self, state, data, T=None, hp=None, extra_finite=None):
        """Keras' JAX train step over the weights only (alpha untouched).

        With `hp` (single level) the penalty joins the loss and the alphas'
        gradients are returned. The state is returned unchanged unless the
        loss and every gradient are finite (and `extra_finite`).

        Returns:
            `(logs, state, finite, alpha_grads, macs_ratio)`.
        """
        import jax

        tv, ntv, ov, mv = state
        index = self._dais.index
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        w_pos, a_pos = index["weights"], index["alpha"]
        weights = [tv[i] for i in w_pos]
        alphas = [tv[i] for i in a_pos]

        def merged(w, a):
            out = list(tv)
            for i, value in zip(w_pos, w):
                out[i] = value
            for i, value in zip(a_pos, a):
                out[i] = value
            return out

        def loss_fn(w, a):
            loss, aux = self.compute_loss_and_updates(
                merged(w, a), ntv, mv, x, y, sample_weight, training=True,
                optimizer_variables=ov,
            )
            ratio = None
            if hp is not None:
                penalty, ratio = self._dais_penalty(a, T, hp)
                loss = loss + penalty
            return loss, (aux, ratio)

        argnums = (0, 1) if hp is not None else 0
        (loss, (aux, ratio)), grads = jax.value_and_grad(
            loss_fn, argnums=argnums, has_aux=True
        )(weights, alphas)
        if hp is not None:
            weight_grads, alpha_grads = grads
        else:
            weight_grads, alpha_grads = grads, []
        unscaled_loss, y_pred, new_ntv, new_mv = aux
        full_grads = merged(weight_grads, [jax.numpy.zeros_like(a) for a in alphas])
        new_tv, new_ov = self.optimizer.stateless_apply(ov, full_grads, tv)
        new_tv = list(new_tv)
        for i in a_pos:  # the weight step never moves alpha (weight decay...)
            new_tv[i] = tv[i]
        finite = _all_finite([loss] + list(weight_grads) + list(alpha_grads))
        if extra_finite is not None:
            finite = jax.numpy.logical_and(finite, extra_finite)
        keep = lambda new, old: jax.numpy.where(finite, new, old)
        new_tv = [keep(n, o) for n, o in zip(new_tv, tv)]
        new_ov = [keep(n, o) for n, o in zip(new_ov, ov)]
        new_ntv = [keep(n, o) for n, o in zip(new_ntv, ntv)]
        logs, new_mv = self._update_metrics_variables(
            new_mv, unscaled_loss, x, y, y_pred, sample_weight
        )
        return logs, (new_tv, new_ntv, new_ov, new_mv), finite, alpha_grads, ratio

    def _jax_train_step(self, state, data):
        import jax

        mode = self._dais.mode
        if mode is None:
            logs, state, _, _, _ = self._jax_weight_step(state, data)
            return logs, tuple(state)
        index = self._dais.index
        tv, ntv, ov, mv = (list(s) for s in state)
        hp = {k: ntv[i] for k, i in index["vars"].items()}
        T = self._dais_temperature(hp)
        for i in index["temperature"]:
            ntv[i] = ops.cast(T, ntv[i].dtype)
        alphas = [tv[i] for i in index["alpha"]]
        moments = [(ntv[i], ntv[j]) for i, j in index["moments"]]
        search_loss = None
        if mode == "bilevel":
            train_data, search_data = data
            xs, ys, sws = keras.utils.unpack_x_y_sample_weight(search_data)

            def objective(a):
                return self._dais_search_objective(a, T, hp, tv, ntv, mv, xs, ys, sws)

            (total, (task, ratio, y_pred_s)), grads = jax.value_and_grad(
                objective, has_aux=True
            )(alphas)
            finite_search = _all_finite([total] + list(grads))
            search_loss = task
            new_alphas, new_moments, it = self._dais_adam(alphas, grads, moments, hp, T)
            for i, a in zip(index["alpha"], new_alphas):
                tv[i] = a
            if self._dais.train_weights:
                logs, (tv, ntv, ov, mv), finite_weights, _, _ = self._jax_weight_step(
                    (tv, ntv, ov, mv), train_data, extra_finite=finite_search
                )
            else:
                # No weight step: report the metrics of the search batch.
                logs, mv = self._update_metrics_variables(
                    mv, task, xs, ys, y_pred_s, sws
                )
                finite_weights = jax.numpy.array(True)
            finite = jax.numpy.logical_and(finite_search, finite_weights)
        else:
            logs, (tv, ntv, ov, mv), finite_weights, grads, ratio = (
                self._jax_weight_step((tv, ntv, ov, mv), data, T=T, hp=hp)
            )
            finite_search = finite = finite_weights
            new_alphas, new_moments, it = self._dais_adam(alphas, grads, moments, hp, T)
        keep = lambda new, old: jax.numpy.where(finite, new, old)
        tv, ntv = list(tv), list(ntv)
        for i, new, old in zip(index["alpha"], new_alphas, alphas):
            tv[i] = keep(new, old)
        for (i, j), (m, v), (m_old, v_old) in zip(index["moments"], new_moments, moments):
            ntv[i], ntv[j] = keep(m, m_old), keep(v, v_old)
        pos = index["vars"]
        ntv[pos["iterations"]] = keep(it, hp["iterations"])
        ntv[pos["step"]] = hp["step"] + 1.0
        ntv[pos["nonfinite"]] = self._dais_flag(
            finite_search, finite_weights, hp["nonfinite"]
        )
        logs = dict(logs)
        logs["dais_T"] = T
        logs[f"dais_{self._dais_cost_kind()}"] = ratio
        if search_loss is not None:
            logs["dais_search_loss"] = search_loss
        return logs, (tv, ntv, ov, mv)

    # ------------------------------------------------------------------
    # Torch: plain weight training only (indicators fixed).

    def _torch_weight_step(self, data):
        import torch

        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        self.zero_grad()
        y_pred = self(x, training=True) if self._call_has_training_arg else self(x)
        loss = self._compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
        )
        self._loss_tracker.update_state(
            loss, sample_weight=next(i for i in keras.tree.flatten(x) if i is not None).shape[0]
        )
        if self.optimizer is not None:
            loss = self.optimizer.scale_loss(loss)
        variables = self._dais.weight_variables
        if variables:
            loss.backward()
            grads = [v.value.grad for v in variables]
            with torch.no_grad():
                self.optimizer.apply(grads, variables)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
