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
   optimizer update every trainable variable except `alpha`. After
   `distill_from(teacher)`, that loss is distilled from `teacher` (the
   indicator step keeps the task loss: the architecture is chosen for the
   task, the weights learn from the teacher as a fine-tune would).

With `single_level=True` one forward/backward pass on the training batch
gives both updates. The search batches are handed to the step by the train
function (`(train_batch, search_batch)` tuples), so they are sharded like the
training batches under `tf.distribute` strategies and JAX distributions.
Every hyper-parameter the step reads (`T0`, `T_min`, the step counter, the
learning rate, the loss weights, the target) lives in a variable, so a
compiled step is traced once and `BackupAndRestore` checkpoints restore the
search exactly. A step whose loss or gradients are not finite changes
nothing and is recorded; `DAISCallback` then stops the search with an error.

The objective (temperature, penalty, the search's Adam, the NaN guard) is
in `dais_keras.search.objective`, written once with `keras.ops`; the
backend's part of the step (gradients, assignments, distribution) is in
`dais_keras.search.step_<backend>`, chosen once when this module loads.
"""

import numpy as np

import keras

from dais_keras.indicators.state import indicator_layers
from dais_keras.search import objective
from dais_keras.search import schedules as schedules_lib
from dais_keras.search import step as step_lib
from dais_keras.select.problem import PruningProblem
from dais_keras.select.problem import SearchStructure  # noqa: F401 (`dais_keras.search.SearchStructure`)
from dais_keras.utils import data_forms
from dais_keras.utils import fit_checks
from dais_keras.utils.losses import check_distillation
from dais_keras.utils.losses import teacher_distillation_loss

MODES = (None, "bilevel", "single_level")

# The backend's step, chosen once (see `dais_keras.search.step`).
_STEP = step_lib.get()


class _SearchState:
    """Untracked holder of a `DAISModel`'s Python-side search state."""


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

    Supported backends for the search: TensorFlow, JAX and PyTorch.

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
        self._dais.distill = None
        self._dais.task_only = False
        self._dais.vars = {}
        for name, default in objective.SCALARS:
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

    @property
    def search_cost(self):
        """What the budget band measures: the cost model given to
        `configure_search`, or the exact MACs (`search_structure().cost`)."""
        if self._dais.cost is not None:
            return self._dais.cost
        return self.search_structure().cost

    def search_structure(self):
        """The `dais_keras.select.problem.PruningProblem` of this model:
        its indicators' channel groups and their cost (cached)."""
        if self._dais.structure_cache is None:
            if not self._dais.indicators:
                raise ValueError(
                    f"Model '{self.name}' has no channel indicators (every "
                    "channel group is frozen), so there is nothing to search. "
                    "Check `dais_keras.channel_groups(model)` for the reasons."
                )
            self._dais.structure_cache = PruningProblem(self)
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
        if mode is not None and not _STEP.supports_search:
            raise NotImplementedError(
                "The DAIS search runs on the TensorFlow, JAX and PyTorch "
                f"backends; this process uses '{keras.backend.backend()}'. Set "
                "KERAS_BACKEND to 'tensorflow', 'jax' or 'torch'."
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

    def distill_from(self, teacher, temperature=4.0, distill_weight=0.7, from_logits=True):
        """Distils the weight step (search and plain `fit`) from `teacher`.

        The training loss becomes `(1 - distill_weight) * compiled loss +
        distill_weight * T^2 * KL(teacher || model)` at temperature `T`
        (`dais_keras.utils.losses.distillation_loss`); the indicator
        step of a search keeps the compiled loss. The teacher is frozen (no
        gradient reaches it, its BatchNorm runs in inference mode) and is
        not part of this model (not saved, not in `get_config`).

        Args:
            teacher: A Keras model with the same inputs and outputs (e.g.
                the unpruned model), or `None` to stop distilling.
            temperature: Softening temperature (> 0).
            distill_weight: Weight of the distillation term in [0, 1].
            from_logits: Whether both models output logits.
        """
        if teacher is None:
            new = None
        else:
            if not isinstance(teacher, keras.Model):
                raise ValueError(
                    f"`teacher` must be a Keras model (or None); received {type(teacher).__name__}."
                )
            theirs = [tuple(o.shape) for o in getattr(teacher, "outputs", None) or []]
            ours = [tuple(o.shape) for o in self.outputs]
            if theirs and theirs != ours:
                raise ValueError(
                    f"The teacher '{teacher.name}' outputs shapes {theirs} but '{self.name}' "
                    f"outputs {ours}; distil from a model of the same task (e.g. the unpruned "
                    "model)."
                )
            temperature, distill_weight = check_distillation(temperature, distill_weight)
            new = (teacher, temperature, distill_weight, bool(from_logits))
        self._dais.distill = new
        # A compiled train function traced the old loss.
        self.train_function = None

    @property
    def distillation(self):
        """`None`, or `{"teacher", "temperature", "distill_weight",
        "from_logits"}` as set by `distill_from`."""
        if self._dais.distill is None:
            return None
        return dict(zip(("teacher", "temperature", "distill_weight", "from_logits"),
                        self._dais.distill))

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        task = super().compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )
        if self._dais.distill is None or not training or self._dais.task_only:
            return task
        teacher, temperature, weight, from_logits = self._dais.distill
        return teacher_distillation_loss(task, teacher, x, y_pred, temperature, weight,
                                         from_logits)

    def read_variable(self, variable):
        """Current value of one of this model's variables as numpy, also in
        the middle of a JAX `fit` (where the values live in the trainer's
        state until the end of the epoch)."""
        return _STEP.read_variable(self, variable)

    def sync_variables(self):
        """Makes the variables hold their current values, also in the middle
        of a `fit` (JAX keeps them in the trainer's state): call it before
        changing variables between two steps."""
        _STEP.sync_variables(self)

    def alpha_values(self):
        """List of numpy `alpha` vectors, one per indicator."""
        return [self.read_variable(l.alpha) for l in self._dais.indicators]

    def reset_search_optimizer(self):
        """Zeroes the indicators' Adam state (moments and iteration count)
        and the annealing clock, for a search that starts from its first
        step."""
        for m, v in self._dais.moments:
            m.assign(np.zeros(m.shape, "float32"))
            v.assign(np.zeros(v.shape, "float32"))
        self._dais.vars["iterations"].assign(0.0)
        self._dais.vars["clock"].assign(0.0)

    def fit(self, x=None, y=None, *args, **kwargs):
        """`keras.Model.fit`, after checking `x` and `y` against this model
        and its compiled loss (`dais_keras.utils.fit_checks`): inputs shaped
        like the model's, finite, and labels the loss can take. Arrays are
        checked whole, a dataset on its first batch."""
        loss = getattr(self, "loss", None)
        if data_forms.is_batched(x):
            fit_checks.check_fit_data("x", x, self, loss)
        elif (y is not None and not isinstance(y, dict) and x is not None
              and all(hasattr(a, "shape") for a in data_forms.input_arrays(x))):
            fit_checks.check_inputs("x", x, self)
            fit_checks.check_labels("y", y, self, loss)
        try:
            return super().fit(x, y, *args, **kwargs)
        except Exception as error:
            explained = _STEP.explain_error(self, error)
            if explained is None:
                raise
            raise explained from error
        finally:
            # A search is switched on by DAISCallback for one `fit`; when that
            # `fit` stops early (an error, an interrupt), the next plain `fit`
            # must not run a search step with a stale feed.
            if self._dais.mode is not None:
                self._dais.mode = None
                self._dais.feed = None
                self.train_function = None

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # TensorFlow's trainer only: see `TensorFlowStep.local_build_batch`.
        if iterator is not None:
            local = _STEP.local_build_batch(self, iterator)
            if local is not None:
                iterator, data_batch = None, local
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    # ------------------------------------------------------------------
    # Train function: pairs training and search batches.

    def make_train_function(self, force=False):
        if self.train_function is not None and not force:
            return self.train_function
        self._build_index()
        if self.optimizer is not None and not self.optimizer.built:
            # Build on every trainable variable, as `fit` would on its own:
            # the weight step applies to a subset (no alpha), and a lazily
            # built optimizer would not match checkpoints of the full model.
            _STEP.build_optimizer(self)
        super().make_train_function(force=True)
        if self._dais.feed is not None and self._dais.mode == "bilevel":
            self.train_function = _STEP.search_train_function(
                self.train_function, self._dais.feed
            )
        return self.train_function

    def _build_index(self):
        """Positions of the search's variables in the model's variable
        lists (the JAX step and the search objective read them there)."""
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

    def train_step(self, *args):
        return _STEP.train_step(self, *args)
