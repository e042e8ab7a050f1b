"""The DAIS search step on PyTorch (eager autograd, `torch.autograd.grad`).

Like Keras' torch trainer, the step runs eagerly and updates the variables
in place. The indicator step differentiates the stateless search objective
with respect to fresh copies of the alphas only (the weights enter it
detached: no gradient is computed for them, and their `.grad` is never
touched); the weight step differentiates the training loss with respect to
the weights only (and the alphas too in the single-level mode). An update
whose loss or gradients are not finite is not applied: the weights, the
optimizer, the BatchNorm statistics and the indicators keep their values.
"""

import keras
from keras import ops

from dais_keras.search import objective
from dais_keras.search.step import SearchStep
from dais_keras.search.step import alpha_variables


def _torch():
    import torch

    return torch


def _snapshot(variables):
    """Copies of the variables' current values (assignments are in place)."""
    return [v.value.detach().clone() for v in variables]


def _restore(variables, values):
    with _torch().no_grad():
        for variable, value in zip(variables, values):
            variable.assign(value)


def _grads(total, tensors):
    """`d total / d tensors`, zeros for those `total` does not depend on."""
    if not tensors:
        return []
    torch = _torch()
    grads = torch.autograd.grad(total, tensors, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(grads, tensors)]


def _batch_size(x):
    return next(i for i in keras.tree.flatten(x) if i is not None).shape[0]


def _weight_step(model, data, penalty_fn=None, extra_finite=True):
    """Keras' torch train step over the weights only (alpha untouched).

    With `penalty_fn` (single level) the penalty joins the loss and the
    alphas' gradients are returned too. Nothing changes (weights, optimizer,
    BN statistics) unless the loss and every gradient are finite (and
    `extra_finite`).

    Returns:
        `(metrics, finite, alpha_grads, aux)`, `finite` a Python bool.
    """
    state = model._dais
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    alphas = [l.alpha for l in state.indicators]
    stats = state.stat_variables
    old_stats = _snapshot(stats)
    y_pred = model(x, training=True) if model._call_has_training_arg else model(x)
    loss = model._compute_loss(
        x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True
    )
    model._loss_tracker.update_state(loss, sample_weight=_batch_size(x))
    total, aux = loss, None
    if penalty_fn is not None:
        penalty, aux = penalty_fn([a.value for a in alphas])
        total = total + penalty
    if model.optimizer is not None:
        total = model.optimizer.scale_loss(total)
    variables = list(state.weight_variables)
    if penalty_fn is not None:
        variables += alphas
    grads = _grads(total, [v.value for v in variables])
    n_w = len(state.weight_variables)
    weight_grads, alpha_grads = grads[:n_w], grads[n_w:]
    finite = bool(extra_finite) and bool(objective.all_finite([total] + grads))
    if finite:
        if weight_grads:
            with _torch().no_grad():
                model.optimizer.apply(weight_grads, state.weight_variables)
    else:
        _restore(stats, old_stats)
    metrics = model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
    scale = getattr(model.optimizer, "dynamic_scale", None)
    if alpha_grads and scale is not None:
        alpha_grads = [g / ops.cast(scale, g.dtype) for g in alpha_grads]
    return metrics, finite, [g.detach() for g in alpha_grads], aux


def _update_alphas(state, grads, hp, T, finite, old):
    """Adam step on alpha if `finite`; `old` holds the values of
    `alpha_variables(state)`."""
    if not finite:
        return
    n = len(state.indicators)
    moments = [(old[n + 2 * i], old[n + 2 * i + 1]) for i in range(n)]
    with _torch().no_grad():
        new_alphas, new_moments, it = objective.adam(old[:n], grads, moments, hp, T)
        new = list(new_alphas)
        for m, v in new_moments:
            new += [m, v]
        new.append(it)
        for variable, value in zip(alpha_variables(state), new):
            variable.assign(value)


def _bilevel(model, data, hp, T, old):
    """Indicator step on the search batch, then the weight step.

    Returns:
        `(metrics, checks, ratio, search_loss)`, with `checks` the NaN
        guard's `(code, finite)` pairs (see `objective.nonfinite_code`).
    """
    torch = _torch()
    state = model._dais
    train_data, search_data = data
    xs, ys, sws = keras.utils.unpack_x_y_sample_weight(search_data)
    alphas = [a.clone().requires_grad_(True) for a in old[:len(state.indicators)]]
    detached = lambda variables: [v.value.detach() for v in variables]
    variables = (
        detached(model.trainable_variables),
        detached(model.non_trainable_variables),
        detached(model.metrics_variables),
    )
    total, (task, extra, ratio, y_pred_s) = objective.search_objective(
        model, state.index, alphas, T, hp, variables, (xs, ys, sws)
    )
    grads = [g.detach() for g in _grads(total, alphas)]
    checks = objective.search_checks(task, extra, total, grads)
    finite_search = bool(objective.all_passed(checks))
    _update_alphas(state, grads, hp, T, finite_search, old)
    if state.train_weights:
        metrics, finite_weights, _, _ = _weight_step(
            model, train_data, extra_finite=finite_search
        )
        if not finite_weights:  # undoes the indicator step too
            _restore(alpha_variables(state), old)
    else:
        # No weight step: report the metrics of the search batch.
        with torch.no_grad():
            model._loss_tracker.update_state(task, sample_weight=_batch_size(xs))
            metrics = model.compute_metrics(xs, ys, y_pred_s.detach(), sample_weight=sws)
        finite_weights = True
    checks = checks + [(2, torch.tensor(finite_weights))]
    return metrics, checks, ratio.detach(), task.detach()


def _single_level(model, data, hp, T, old):
    """Weights and indicators from one pass over the training batch."""
    metrics, finite, grads, (extra, ratio) = _weight_step(
        model, data, penalty_fn=objective.penalty_with_aux(model, T, hp)
    )
    _update_alphas(model._dais, grads, hp, T, finite, old)
    checks = [(3, objective.all_finite([extra])), (2, _torch().tensor(finite))]
    return metrics, checks, ratio.detach(), None


class TorchStep(SearchStep):
    """The DAIS train step on PyTorch."""

    supports_search = True

    def weight_step(self, model, data):
        return _weight_step(model, data)[0]

    def search_step(self, model, data):
        state = model._dais
        torch = _torch()
        with torch.no_grad():
            hp = {k: v.value.detach().clone() for k, v in state.vars.items()}
            T = objective.temperature(state.schedule, hp)
            for layer in state.indicators:
                layer.temperature.assign(T)
        old = _snapshot(alpha_variables(state))
        run = _bilevel if state.mode == "bilevel" else _single_level
        metrics, checks, ratio, search_loss = run(model, data, hp, T, old)
        with torch.no_grad():
            alphas = [l.alpha.value for l in state.indicators]
            state.vars["clock"].assign(
                objective.advance_clock(model.search_cost, alphas, T, hp))
            state.vars["step"].assign(hp["step"] + 1.0)
            state.vars["nonfinite"].assign(
                objective.nonfinite_code(checks, hp["nonfinite"])
            )
        return objective.step_logs(model, metrics, T, ratio, search_loss)

    def search_train_function(self, function, feed):
        def train_function(data):
            # Keras' torch trainer hands `[batch]` (steps_per_execution=1).
            return function([(batch, feed.next()) for batch in data])

        return train_function

    def iterate_batches(self, model, batches):
        convert = lambda batch: keras.tree.map_structure(
            lambda a: None if a is None else ops.convert_to_tensor(a), batch
        )
        return map(convert, batches)


STEP = TorchStep()
