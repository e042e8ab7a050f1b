"""The DAIS search step on TensorFlow (`tf.GradientTape`, `tf.distribute`).

The step reads the search's variables, computes the temperature, updates the
indicators on the search batch and then the weights on the training batch
(see `dais_keras.search.model`). Under a `tf.distribute` strategy every
replica runs it on its shard; gradients of the indicators are summed across
replicas and an update is applied only where every replica's loss and
gradients are finite.
"""

import itertools

import keras
from keras import ops

from dais_keras.search import objective
from dais_keras.search.step import SearchStep
from dais_keras.search.step import alpha_variables
from dais_keras.search.step import ZipFeed


def _tf():
    import tensorflow as tf

    return tf


def _unscale(value):
    from keras.src.losses.loss import unscale_loss_for_distribution

    return unscale_loss_for_distribution(value)


def _read(variable):
    """The current value of a Keras variable as a `tf.Tensor`."""
    return _tf().convert_to_tensor(variable.value)


def _num_replicas():
    return _tf().distribute.get_strategy().num_replicas_in_sync


def _all_reduce_sum(values):
    tf = _tf()
    if _num_replicas() == 1 or tf.distribute.in_cross_replica_context():
        return values
    ctx = tf.distribute.get_replica_context()
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, values)


def _all_finite(tensors):
    """`objective.all_finite`, agreed by every replica."""
    finite = objective.all_finite(tensors)
    if _num_replicas() > 1:
        bad = _all_reduce_sum(ops.cast(ops.logical_not(finite), "float32"))
        finite = ops.equal(bad, 0.0)
    return finite


def _assign(pairs):
    """Assigns `(keras_variable, value)` pairs from replica context too."""
    tf = _tf()
    pairs = list(pairs)
    if _num_replicas() == 1 or tf.distribute.in_cross_replica_context():
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


def _keep_where(finite, variables, old):
    """Puts `old` back into `variables` where `finite` is false."""
    _assign(
        (var, ops.where(finite, _read(var), previous))
        for var, previous in zip(variables, old)
    )


def _apply_if(optimizer, finite, grads, variables):
    """`optimizer.apply(grads, variables)` only where `finite` (all
    replicas agree on `finite`)."""
    tf = _tf()

    def apply():
        optimizer.apply(grads, variables)

    if _num_replicas() == 1 or tf.__internal__.distribute.strategy_supports_no_merge_call():
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


def _batch_size(x):
    return _tf().shape(next(i for i in keras.tree.flatten(x) if i is not None))[0]


def _weight_step(model, data, penalty_fn=None, extra_finite=None):
    """Keras' train step over the weights only (alpha untouched).

    With `penalty_fn` (single level) the penalty joins the loss and the
    alphas' gradients are returned too. Nothing changes (weights,
    optimizer, BN statistics) unless the loss and every gradient are
    finite (and `extra_finite`).

    Returns:
        `(metrics, finite, alpha_grads, aux)`.
    """
    from keras.src.losses import loss as loss_module

    state = model._dais
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    alphas = [l.alpha for l in state.indicators]
    stats = state.stat_variables
    old_stats = [_read(v) for v in stats]
    with _tf().GradientTape() as tape:
        if model._call_has_training_arg:
            y_pred = model(x, training=True)
        else:
            y_pred = model(x)
        loss = model._compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
        )
        model._loss_tracker.update_state(
            loss_module.unscale_loss_for_distribution(loss),
            sample_weight=_batch_size(x),
        )
        total = loss
        aux = None
        if penalty_fn is not None:
            penalty, aux = penalty_fn([_read(a) for a in alphas])
            total = loss + loss_module.scale_loss_for_distribution(penalty)
        if model.optimizer is not None:
            total = model.optimizer.scale_loss(total)
    variables = list(state.weight_variables)
    if penalty_fn is not None:
        variables += alphas
    grads = tape.gradient(total, variables) if variables else []
    n_w = len(state.weight_variables)
    weight_grads, alpha_grads = grads[:n_w], grads[n_w:]
    finite = _all_finite([total] + list(grads))
    if extra_finite is not None:
        finite = ops.logical_and(finite, extra_finite)
    if state.weight_variables:
        _apply_if(model.optimizer, finite, weight_grads, state.weight_variables)
    if stats:
        _keep_where(finite, stats, old_stats)
    metrics = model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
    if penalty_fn is not None:
        alpha_grads = [
            ops.zeros_like(a) if g is None else g for g, a in zip(alpha_grads, alphas)
        ]
        scale = getattr(model.optimizer, "dynamic_scale", None)
        if scale is not None:
            alpha_grads = [g / ops.cast(scale, g.dtype) for g in alpha_grads]
    return metrics, finite, alpha_grads, aux


def _update_alphas(state, grads, hp, T, finite, old):
    """Adam step on alpha where `finite`; `old` holds the values of
    `alpha_variables(state)`."""
    n = len(state.indicators)
    alphas = old[:n]
    moments = [(old[n + 2 * i], old[n + 2 * i + 1]) for i in range(n)]
    new_alphas, new_moments, it = objective.adam(alphas, grads, moments, hp, T)
    new = list(new_alphas)
    for m, v in new_moments:
        new += [m, v]
    new.append(it)
    _assign(
        (var, ops.where(finite, value, previous))
        for var, value, previous in zip(alpha_variables(state), new, old)
    )


def _bilevel(model, data, hp, T, old):
    """Indicator step on the search batch, then the weight step.

    Returns:
        `(metrics, checks, ratio, search_loss)`, with `checks` the NaN
        guard's `(code, finite)` pairs (see `objective.nonfinite_code`).
    """
    state = model._dais
    train_data, search_data = data
    xs, ys, sws = keras.utils.unpack_x_y_sample_weight(search_data)
    alphas = list(old[:len(state.indicators)])
    variables = (
        model.trainable_variables, model.non_trainable_variables, model.metrics_variables
    )
    with _tf().GradientTape() as tape:
        tape.watch(alphas)
        total, (task, extra, ratio, y_pred_s) = objective.search_objective(
            model, state.index, alphas, T, hp, variables, (xs, ys, sws)
        )
    grads = tape.gradient(total, alphas)
    grads = [ops.zeros_like(a) if g is None else g for g, a in zip(grads, alphas)]
    grads = _all_reduce_sum(grads)
    checks = objective.search_checks(task, extra, total, grads, _all_finite)
    finite_search = objective.all_passed(checks)
    _update_alphas(state, grads, hp, T, finite_search, old)
    if state.train_weights:
        metrics, finite_weights, _, _ = _weight_step(
            model, train_data, extra_finite=finite_search
        )
        # A non-finite weight step undoes the indicator step too.
        _keep_where(finite_weights, alpha_variables(state), old)
    else:
        # No weight step: report the metrics of the search batch.
        model._loss_tracker.update_state(_unscale(task), sample_weight=_batch_size(xs))
        metrics = model.compute_metrics(xs, ys, y_pred_s, sample_weight=sws)
        finite_weights = ops.convert_to_tensor(True)
    return metrics, checks + [(2, finite_weights)], ratio, _unscale(task)


def _single_level(model, data, hp, T, old):
    """Weights and indicators from one pass over the training batch."""
    metrics, finite, grads, (extra, ratio) = _weight_step(
        model, data, penalty_fn=objective.penalty_with_aux(model, T, hp)
    )
    grads = _all_reduce_sum(grads)
    _update_alphas(model._dais, grads, hp, T, finite, old)
    return metrics, [(3, _all_finite([extra])), (2, finite)], ratio, None


def _multi_worker(model):
    """Whether `model` trains under a `MultiWorkerMirroredStrategy`."""
    return isinstance(model.distribute_strategy, _tf().distribute.MultiWorkerMirroredStrategy)


class TensorFlowStep(SearchStep):
    """The DAIS train step on TensorFlow."""

    supports_search = True

    def train_step(self, model, *args):
        logs = super().train_step(model, *args)
        if not _multi_worker(model):
            return logs
        # Keras reduces a multi-worker step's logs with
        # `strategy.reduce("MEAN", value, axis=0)`, which fails on scalars
        # (tensorflow/tensorflow#72388): each scalar goes out as a vector of
        # one, which that reduction averages back into a scalar.
        return keras.tree.map_structure(
            lambda v: ops.reshape(v, (1,)) if len(v.shape) == 0 else v, logs)

    def weight_step(self, model, data):
        return _weight_step(model, data)[0]

    def search_step(self, model, data):
        state = model._dais
        hp = {k: _read(v) for k, v in state.vars.items()}
        T = objective.temperature(state.schedule, hp)
        _assign([(l.temperature, T) for l in state.indicators])
        old = [_read(v) for v in alpha_variables(state)]
        run = _bilevel if state.mode == "bilevel" else _single_level
        metrics, checks, ratio, search_loss = run(model, data, hp, T, old)
        alphas = [_read(l.alpha) for l in state.indicators]
        _assign(
            [
                (state.vars["clock"], objective.advance_clock(model.search_cost, alphas, T, hp)),
                (state.vars["step"], hp["step"] + 1.0),
                (state.vars["nonfinite"], objective.nonfinite_code(checks, hp["nonfinite"])),
            ]
        )
        return objective.step_logs(model, metrics, T, ratio, search_loss)

    def build_optimizer(self, model):
        with model.distribute_strategy.scope():
            model.optimizer.build(model.trainable_variables)

    def search_train_function(self, function, feed):
        def train_function(iterator):
            zipped = ZipFeed(iterator, feed)
            first = next(zipped)  # StopIteration ends the epoch.
            return function(itertools.chain([first], zipped))

        return train_function

    def explain_error(self, model, error):
        """A second `MirroredStrategy` in one process: every instance
        numbers its collective operations from the same keys, and
        TensorFlow's collective runtime keeps what the first strategy's
        operations were (tensorflow/tensorflow#62790), so the second
        strategy's first all-reduce of another shape aborts."""
        tf = _tf()
        if not (isinstance(error, tf.errors.InvalidArgumentError)
                and "Shape mismatch in the collective instance" in str(error)):
            return None
        return RuntimeError(
            f"Model {model.name!r}: the replicas of "
            f"{type(model.distribute_strategy).__name__} disagree about the "
            "shape of a collective all-reduce. This happens when an earlier "
            "strategy of this process already ran collective operations (a "
            "second `tf.distribute.MirroredStrategy()`, for another model): "
            "TensorFlow numbers the collectives of every strategy from the same "
            "keys and keeps the first one's shapes (tensorflow/tensorflow#62790). "
            "Create one strategy per process and build every model in its "
            "`scope()`, or run each search in its own process."
        )

    def local_build_batch(self, model, iterator):
        """Under a `MultiWorkerMirroredStrategy`, the first local replica's
        part of the first batch. Keras builds the model's compiled state
        from a batch it reduces with `strategy.reduce("MEAN", batch)`, which
        that strategy refuses for per-replica inputs (keras-team/keras
        #20585); the build reads only the batch's shapes and dtypes, which
        every replica's part has."""
        tf = _tf()
        strategy = model.distribute_strategy
        if not _multi_worker(model):
            return None
        for _, _, batches in iterator:
            batch = next(batches)
            return keras.tree.map_structure(
                lambda v: strategy.experimental_local_results(v)[0]
                if isinstance(v, tf.distribute.DistributedValues) else v,
                batch,
            )
        return None

    def iterate(self, model, dataset):
        strategy = model.distribute_strategy
        if strategy.num_replicas_in_sync > 1:
            dataset = strategy.experimental_distribute_dataset(dataset)
        return iter(dataset)

    def iterate_batches(self, model, batches):
        """Numpy batches as they are (the compiled step converts them), or,
        under a `tf.distribute` strategy of several replicas, through a
        `tf.data.Dataset` (`from_generator`) that it shards."""
        if model.distribute_strategy.num_replicas_in_sync == 1:
            return batches
        tf = _tf()
        first = next(batches)
        signature = keras.tree.map_structure(
            lambda a: tf.TensorSpec((None,) + a.shape[1:], tf.as_dtype(a.dtype)), first
        )
        dataset = tf.data.Dataset.from_generator(
            lambda: itertools.chain([first], batches), output_signature=signature
        )
        return self.iterate(model, dataset)


STEP = TensorFlowStep()
