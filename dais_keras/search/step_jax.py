"""The DAIS search step on JAX (stateless, `jax.value_and_grad`).

Keras' JAX trainer passes the model's state (trainable, non-trainable,
optimizer and metrics variables) through a pure step function; this step
takes the search's variables from that state by their positions
(`DAISModel`'s index) and returns the new state. An update whose loss or
gradients are not finite returns the old values instead.
"""

import numpy as np

import keras
from keras import ops

from dais_keras.search import objective
from dais_keras.search.step import SearchStep
from dais_keras.search.step import ZipFeed


def _weight_step(model, state, data, T=None, hp=None, extra_finite=None):
    """Keras' JAX train step over the weights only (alpha untouched).

    With `hp` (single level) the penalty joins the loss and the alphas'
    gradients are returned. The state is returned unchanged unless the
    loss and every gradient are finite (and `extra_finite`).

    Returns:
        `(logs, state, finite, alpha_grads, (penalty, ratio))`, the last
        `None` without `hp`.
    """
    import jax

    tv, ntv, ov, mv = state
    index = model._dais.index
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
        loss, aux = model.compute_loss_and_updates(
            merged(w, a), ntv, mv, x, y, sample_weight, training=True,
            optimizer_variables=ov,
        )
        extra = None
        if hp is not None:
            extra = objective.penalty(model, a, T, hp)
            loss = loss + extra[0]
        return loss, (aux, extra)

    argnums = (0, 1) if hp is not None else 0
    (loss, (aux, extra)), grads = jax.value_and_grad(
        loss_fn, argnums=argnums, has_aux=True
    )(weights, alphas)
    if hp is not None:
        weight_grads, alpha_grads = grads
    else:
        weight_grads, alpha_grads = grads, []
    unscaled_loss, y_pred, new_ntv, new_mv = aux
    full_grads = merged(weight_grads, [jax.numpy.zeros_like(a) for a in alphas])
    new_tv, new_ov = model.optimizer.stateless_apply(ov, full_grads, tv)
    new_tv = list(new_tv)
    for i in a_pos:  # the weight step never moves alpha (weight decay...)
        new_tv[i] = tv[i]
    finite = objective.all_finite([loss] + list(weight_grads) + list(alpha_grads))
    if extra_finite is not None:
        finite = jax.numpy.logical_and(finite, extra_finite)
    keep = lambda new, old: jax.numpy.where(finite, new, old)
    new_tv = [keep(n, o) for n, o in zip(new_tv, tv)]
    new_ov = [keep(n, o) for n, o in zip(new_ov, ov)]
    new_ntv = [keep(n, o) for n, o in zip(new_ntv, ntv)]
    logs, new_mv = model._update_metrics_variables(
        new_mv, unscaled_loss, x, y, y_pred, sample_weight
    )
    return logs, (new_tv, new_ntv, new_ov, new_mv), finite, alpha_grads, extra


def _bilevel(model, state, data, hp, T, alphas, moments):
    """Indicator step on the search batch, then the weight step.

    Returns:
        `(logs, state, checks, ratio, search_loss, adam)`, with `checks` the
        NaN guard's `(code, finite)` pairs and `adam` the indicators'
        `(alphas, moments, iterations)`.
    """
    import jax

    train_data, search_data = data
    xs, ys, sws = keras.utils.unpack_x_y_sample_weight(search_data)
    tv, ntv, ov, mv = state
    index = model._dais.index

    def search_objective(a):
        return objective.search_objective(
            model, index, a, T, hp, (tv, ntv, mv), (xs, ys, sws)
        )

    (total, (task, extra, ratio, y_pred_s)), grads = jax.value_and_grad(
        search_objective, has_aux=True
    )(alphas)
    checks = objective.search_checks(task, extra, total, grads)
    finite_search = objective.all_passed(checks)
    adam = objective.adam(alphas, grads, moments, hp, T)
    for i, a in zip(index["alpha"], adam[0]):
        tv[i] = a
    if model._dais.train_weights:
        logs, state, finite_weights, _, _ = _weight_step(
            model, (tv, ntv, ov, mv), train_data, extra_finite=finite_search
        )
    else:
        # No weight step: report the metrics of the search batch.
        logs, mv = model._update_metrics_variables(mv, task, xs, ys, y_pred_s, sws)
        state = (tv, ntv, ov, mv)
        finite_weights = jax.numpy.array(True)
    return logs, state, checks + [(2, finite_weights)], ratio, task, adam


def _single_level(model, state, data, hp, T, alphas, moments):
    """Weights and indicators from one pass over the training batch."""
    logs, state, finite, grads, (extra, ratio) = _weight_step(
        model, state, data, T=T, hp=hp
    )
    adam = objective.adam(alphas, grads, moments, hp, T)
    checks = [(3, objective.all_finite([extra])), (2, finite)]
    return logs, state, checks, ratio, None, adam


class JAXStep(SearchStep):
    """The DAIS train step on JAX."""

    supports_search = True

    def weight_step(self, model, state, data):
        logs, state, _, _, _ = _weight_step(model, state, data)
        return logs, tuple(state)

    def search_step(self, model, state, data):
        import jax

        search = model._dais
        index = search.index
        tv, ntv, ov, mv = (list(s) for s in state)
        hp = {k: ntv[i] for k, i in index["vars"].items()}
        T = objective.temperature(search.schedule, hp)
        for i in index["temperature"]:
            ntv[i] = ops.cast(T, ntv[i].dtype)
        alphas = [tv[i] for i in index["alpha"]]
        moments = [(ntv[i], ntv[j]) for i, j in index["moments"]]
        run = _bilevel if search.mode == "bilevel" else _single_level
        logs, state, checks, ratio, search_loss, adam = run(
            model, (tv, ntv, ov, mv), data, hp, T, alphas, moments
        )
        new_alphas, new_moments, it = adam
        finite = objective.all_passed(checks)
        keep = lambda new, old: jax.numpy.where(finite, new, old)
        tv, ntv, ov, mv = (list(s) for s in state)
        for i, new, old in zip(index["alpha"], new_alphas, alphas):
            tv[i] = keep(new, old)
        for (i, j), (m, v), (m_old, v_old) in zip(index["moments"], new_moments, moments):
            ntv[i], ntv[j] = keep(m, m_old), keep(v, v_old)
        pos = index["vars"]
        ntv[pos["iterations"]] = keep(it, hp["iterations"])
        ntv[pos["clock"]] = objective.advance_clock(
            model.search_cost, [tv[i] for i in index["alpha"]], T, hp)
        ntv[pos["step"]] = hp["step"] + 1.0
        ntv[pos["nonfinite"]] = objective.nonfinite_code(checks, hp["nonfinite"])
        logs = objective.step_logs(model, logs, T, ratio, search_loss)
        return logs, (tv, ntv, ov, mv)

    def search_train_function(self, function, feed):
        def train_function(state, iterator):
            return function(state, ZipFeed(iterator, feed))

        return train_function

    def iterate_batches(self, model, batches):
        from keras.src.backend.jax.trainer import _distribute_data

        return map(_distribute_data, batches)

    def sync_variables(self, model):
        """Mid-epoch the values live in the trainer's state: write them back;
        the trainer reads the variables again at its next step."""
        model.jax_state_sync()

    def read_variable(self, model, variable):
        """Also in the middle of a `fit`, where the values live in the
        trainer's state until the end of the epoch."""
        state = getattr(model, "_jax_state", None)
        if state and not getattr(model, "_jax_state_synced", True):
            for key, refs in (
                ("trainable_variables", model.trainable_variables),
                ("non_trainable_variables", model.non_trainable_variables),
            ):
                for ref, value in zip(refs, state.get(key) or ()):
                    if ref is variable:
                        return np.asarray(value)
        return super().read_variable(model, variable)


STEP = JAXStep()
