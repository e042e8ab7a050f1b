"""The backend-free objective of the DAIS search.

Everything here is written with `keras.ops` and works on any backend's
tensors inside a compiled step; the per-backend steps
(`dais_keras.search.step_<backend>`) only add gradients and assignments.

* **Temperature.** `T = schedule(step / (total_steps - 1), T0, T_min)`,
  from variables of the model (`temperature`).
* **Penalty.** `lambda_budget * B(E / F) + lambda_l1 * mean(m) + priors`
  on the soft masks `m = sigmoid(alpha / T)` (`penalty`). The budget band
  is `B = log(E / F)` above the target `F`, `log((1 - eps) F / E)` below
  `(1 - eps) F`, and zero inside. The structural priors are a minimum width
  per group, `mean_g relu(w_min - sum(m_g)) / w_min`, and a residual prior,
  `sum_g pi_g relu(mean keep - keep_g)`, where `pi_g` is the fan-out share
  of the groups shared by a residual stage (several producers).
* **Hard band.** `lambda_budget * hard_band * progress * B(E_hard / F)`,
  where `E_hard` is the cost of the hard architecture `alpha > 0`, with
  straight-through gradients (`d hard / d alpha = 1`): the soft band keeps
  the *expected* cost in the band, this term the architecture the search
  ends with, as the masks sharpen (`penalty`).
* **Band gate.** Both bands push only the channels whose flip fits the
  band: a channel whose marginal cost exceeds the distance to the band's
  far edge gets none of their gradient (`flip_fits`, `band_gate`).
* **Polarisation.** `lambda_polar * ramp * mean(4 m (1 - m))`, where `ramp`
  grows linearly from 0 at `polar_start` of the annealing to 1 at its end:
  the masks that the band and the task leave undecided near 0.5 are pushed
  to 0 or 1 once the architecture is mostly chosen, so that the search
  ends binary (`polarisation`). It skips the channels the band is
  flipping (`band_pushed`).
* **Band hold.** The temperature follows an annealing clock (`progress`,
  `advance_clock`), which advances `1 / (total_steps - 1)` a step (after a
  hold, faster, so that it still ends at 1) and stops while the hard
  architecture is outside the band with the masks mostly decided
  (`band_holds`): the band lands it before the falling temperature freezes
  it.
* **The search's Adam** on `alpha` (`adam`), with the step size
  `lr * (T / T0) ** lr_power`; `auto_learning_rate` picks `lr`, at most
  `MAX_AUTO_STEP` times the indicators' initial distance to zero per step,
  and `check_search_steps` warns when a search is too short to anneal.
  With that bound and a floor under `E / F` in the band's log
  (`RATIO_FLOOR`), a search of any step count stays finite.
* **The NaN guard.** A step whose loss or gradients are not finite changes
  nothing; `nonfinite_code` records which quantity failed first, and
  `nonfinite_message` turns that into the error `DAISCallback` raises.

**Defaults** of `DAISCallback` (measured with `bench/search_dynamics.py`,
results in `bench/results/search_dynamics_*.json`). `alpha` starts at 2
(`attach_indicators`), so `m = 0.88` at `T = 1` and a pretrained network
keeps most of its accuracy. Adam moves a logit by about its step size per
step whatever the gradient's size, and the step size follows the
temperature, `lr * (T / T0) ** lr_power` with `lr_power=1`: a step moves a
mask by a similar amount at every temperature, so the indicators decide
while `T` is high and only the marginal ones still move when it is low (a
constant rate made the late, sharp masks flip back and forth).
`learning_rate="auto"` picks the `lr` whose summed step sizes over the
search are 4 times the initial distance to zero (`4 * alpha_init`): e.g.
0.12 for 300 steps, 1.1 for 32. `beta_1=0.5` damps the overshoot of the
indicators' momentum (with 0.9 the tiny single-level searches sometimes
ended at 0.84x or 1.96x the target). With these defaults all 30 tiny
searches (budgets 0.3/0.5/0.7, bi- and single-level, 5 seeds) ended with the
`alpha > 0` architecture within 8 % of the target, and the ResNet-20 search
at 50 % within 5 %, with no channel changed by the repair. `lambda_budget=2`
kept the expected MACs of ResNet-20 inside the band from the first short
epoch on.
"""

import warnings

import numpy as np

import keras
from keras import ops

# Scalar hyper-parameters and counters of the search, with their defaults:
# each is a non-trainable variable `dais_<name>` of the `DAISModel`.
SCALARS = (
    ("step", 0.0),
    ("total_steps", 1.0),
    ("t0", 1.0),
    ("t_min", 1e-4),
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
    ("lambda_polar", 0.0),
    ("hard_band", 0.0),
    ("band_gate", 0.0),
    ("polar_start", 0.0),
    ("band_hold", 0.0),
    ("clock", 0.0),
    ("nonfinite", 0.0),
)

# Defaults of `DAISCallback`, measured with bench/search_dynamics.py (see
# its results file).
DEFAULT_LAMBDA_BUDGET = 2.0
DEFAULT_AUTO_LR_TRAVEL = 4.0
DEFAULT_LR_POWER = 1.0
DEFAULT_BETA_1 = 0.5
# The polarisation term `lambda_polar * ramp * mean(4 m (1 - m))`, whose ramp
# grows from 0 at `polar_start` (a share of the annealing) to 1 at its end,
# and the share of the search's steps that train the repaired, hard
# architecture at the end (tests/search/test_convergence.py). Why: late in
# the annealing, a channel the task wants but the budget cannot afford (a
# ResNet-20 stem-group channel costs about 5 % of a 30 % target) keeps a mask
# near 0.5; the weights co-adapt to that fractional mask and pull it back
# from both sides, and with the step size following T (`lr_power=1`) the
# falling temperature never wins. Measured, ResNet-20 at 30 %, 300 steps
# (single runs, bench/results/convergence/explore_variants/): 93-97 % binary
# without the term; a
# polarisation from the start (lambda 100) froze every mask on (2.36x the
# target); from 60 % of the annealing on, 100 % binary and in the band at
# both 30 % and 50 %, the recalibrated pruned model 3.4 points above and 1.2
# points under the soft one. The mean over channels keeps
# the per-channel push on the scale of the band's and the task's.
DEFAULT_LAMBDA_POLAR = 100.0
DEFAULT_POLAR_START = 0.6
# The weight of the band on the hard architecture (`alpha > 0`), relative to
# `lambda_budget` and growing with the annealing's progress: the soft band
# alone let the 24/48-channel toy search of tests/search/test_convergence.py
# end at 0.944x the target on torch (below the band), with masks still
# undecided near the band's edge. Its gradient goes straight through to
# `alpha` (not through the sigmoid, which vanishes for saturated masks).
DEFAULT_HARD_BAND = 1.0
# Whether the band pushes only the channels whose flip fits it
# (`flip_fits`).
DEFAULT_BAND_GATE = True
# The final temperature. The step size follows T (`lr_power=1`), so a step
# moves a logit `alpha / T` by the same amount at every temperature, and
# what makes masks binary is the growth of `|alpha| / T` as T falls. Measured
# (ResNet-20 at 50 %, 300 steps, TensorFlow; bench/results/convergence/):
# T_min = 0.01 left 94-96.5 % of the masks binary at the end of the
# annealing, 0.001 96.5 %, 0.0001 98-99 %. On the 24/48-channel toy (64
# steps, 5 seeds per backend) 0.0001 with the soft-mask straight-through
# band overshot (1.29x, 1.21x: masks saturated above the budget); with the
# band on the hard architecture straight through `alpha` (below) every seed
# ended within [0.968, 1.008] of the target.
DEFAULT_T_MIN = 1e-4
DEFAULT_HARD_FINISH = 0.1
# The band hold (`band_holds`, `advance_clock`, `band_pushed`). Why: the step
# size follows T, so a step moves a logit `alpha / T` by about `lr`, while the
# falling temperature multiplies every logit by `g = T_k / T_{k+1}` per step:
# a logit pushed towards zero crosses it only from below `lr * g / (g - 1)`
# (about 3.5, m = 0.97, for the default schedule). Once the masks are binary
# the architecture is frozen wherever it is, and searches that froze just
# outside the band stayed there (ResNet-20 at 30 % and 70 %, seed 0: 0.944x
# and 1.030x; the 32-step toy: 0.944x). And late in the annealing the
# polarisation, about ten times the band's push on a mask near 0.5, decided
# which side the last undecided channels fell on, whatever the band wanted.
# So: (1) while the hard architecture is outside the band with the masks
# mostly decided, the annealing clock (temperature, polarisation ramp, hard
# band weight) stops, and the band's push moves the fitting channels by `lr`
# a step until the least decided one flips; (2) the polarisation skips the
# channels the band is flipping (`band_pushed`). Measured (TensorFlow, 300
# steps, seed 0; bench/results/convergence/): ResNet-20 at 30 % 0.976x and
# at 70 % 0.962x, no channel repaired; the 32-step toy 0.966x. The hold alone
# with the polarisation paused for every mask ended ResNet-20 at 30 % at
# 1.048x: the masks it left undecided fell on either side when the
# annealing caught up.
DEFAULT_BAND_HOLD = True
# How much faster than its nominal pace the annealing may finish after band
# holds: the clock stops only while the steps left can still take it to 1 at
# most this many times the nominal `1 / (total_steps - 1)` a step.
MAX_CATCH_UP = 2.0
# The share of binary masks from which the band hold may stop the clock: the
# architecture is mostly chosen, and what is left is landing it in the band
# (the 32-step toy went from 89 % to 97 % binary in one step).
HOLD_BINARY = 0.9
# A mask is binary when it is within 0.01 of 0 or 1 (`|m - 0.5| > 0.49`): one
# definition, shared by the record's `binarized` and the band hold.
BINARY_MARGIN = 0.49

# The largest step `learning_rate="auto"` may take at `T0`, in units of the
# indicators' initial distance to zero: one step may bring a mask to 0.5,
# never past it. Short searches would otherwise move every alpha from +2 to
# -4 in their first step (all masks off at once).
MAX_AUTO_STEP = 1.0

# The expected cost over the target never enters the log below this: masks
# that underflow to zero (a big step at a low temperature) keep the budget
# band finite, and its gradient zero where the masks are saturated anyway.
RATIO_FLOOR = 1e-6


def auto_learning_rate(alpha_scale, schedule, total_steps, lr_power=DEFAULT_LR_POWER,
                       travel=DEFAULT_AUTO_LR_TRAVEL):
    """The indicators' base learning rate for a search of `total_steps`.

    Adam moves a logit by about its step size per step, and the step size at
    temperature `T` is `lr * (T / T0) ** lr_power`. This returns the `lr`
    whose summed step sizes over the search equal `travel * alpha_scale`:
    the distance an indicator may cover, `travel` times its initial distance
    to zero, but never more than `MAX_AUTO_STEP * alpha_scale` (one step of
    a short search may not throw every mask past 0.5).
    """
    return min(
        travel * alpha_scale / _summed_steps(schedule, total_steps, lr_power),
        MAX_AUTO_STEP * alpha_scale,
    )


def _summed_steps(schedule, total_steps, lr_power):
    """`sum_k (T_k / T0) ** lr_power` over a search of `total_steps`."""
    progress = np.arange(total_steps) / max(total_steps - 1, 1)
    temps = np.asarray(keras.ops.convert_to_numpy(schedule(progress)), np.float64)
    return max(float(np.sum((temps / schedule.T0) ** lr_power)), 1e-12)


def min_search_steps(schedule, lr_power=DEFAULT_LR_POWER, travel=DEFAULT_AUTO_LR_TRAVEL,
                     limit=100_000):
    """The fewest search steps over which the annealing can finish: the
    indicators travel `travel` times their initial distance to zero with
    steps of at most `MAX_AUTO_STEP` of it (`auto_learning_rate` is not
    capped). `limit` when even that many do not suffice."""
    needed = travel / MAX_AUTO_STEP
    if _summed_steps(schedule, 1, lr_power) >= needed:
        return 1
    low, high = 1, 2
    while _summed_steps(schedule, high, lr_power) < needed:
        if high >= limit:
            return limit
        low, high = high, min(2 * high, limit)
    while high - low > 1:
        mid = (low + high) // 2
        if _summed_steps(schedule, mid, lr_power) < needed:
            low = mid
        else:
            high = mid
    return high


def progress(hp):
    """How far the annealing is, in `[0, 1]`: the annealing clock in `hp`
    (`advance_clock`), or, in a dict without one, `step / (total_steps - 1)`."""
    if "clock" in hp:
        return ops.clip(hp["clock"], 0.0, 1.0)
    total = ops.maximum(hp["total_steps"] - 1.0, 1.0)
    return ops.clip(hp["step"] / total, 0.0, 1.0)


def _flat(alphas):
    """Every indicator's `alpha` in one float32 vector."""
    return ops.cast(ops.concatenate(alphas, axis=0) if len(alphas) > 1 else alphas[0],
                    "float32")


def hard_architecture(cost, alphas, hp):
    """`(hard, ratio)`: the masks of the architecture `alpha > 0` and its cost
    over the target."""
    hard = ops.cast(ops.greater(_flat(alphas), 0.0), "float32")
    return hard, cost.expected(hard) / hp["target"]


def band_holds(cost, masks, hard, hard_ratio, hp):
    """1.0 where the band hold stops the annealing clock, else 0.0.

    With `band_hold` set: while the hard architecture is outside the band,
    the masks are mostly decided (at least `HOLD_BINARY` of them within 0.01
    of 0 or 1) and some channel's flip fits the band (`flip_fits`); and only
    while the steps left can still finish the annealing at most
    `MAX_CATCH_UP` times faster than its nominal pace.
    """
    outside = ops.cast(ops.greater(budget_band(hard_ratio, hp["band_eps"]), 0.0), "float32")
    fitting = ops.max(flip_fits(cost, hard, hard_ratio, hp))
    binary = ops.mean(ops.cast(ops.greater(ops.abs(masks - 0.5), BINARY_MARGIN), "float32"))
    decided = ops.cast(ops.greater_equal(binary, HOLD_BINARY), "float32")
    total = ops.maximum(hp["total_steps"] - 1.0, 1.0)
    left = hp["total_steps"] - 2.0 - hp["step"]  # steps after the next one
    pace = (1.0 - progress(hp)) / ops.maximum(left, 1.0)
    can_wait = ops.cast(
        ops.logical_and(ops.greater(left, 0.0), ops.less_equal(pace, MAX_CATCH_UP / total)),
        "float32",
    )
    return hp["band_hold"] * outside * fitting * decided * can_wait


def advance_clock(cost, alphas, T, hp):
    """The annealing clock after this step: `clock + (1 - clock) / (steps
    left)`, so that it reaches 1 at the last annealing step (`step /
    (total_steps - 1)` when it never stops), or unchanged where
    `band_holds` (on the architecture of the new `alphas`)."""
    clock = progress(hp)
    left = ops.maximum(hp["total_steps"] - 1.0 - hp["step"], 1.0)
    moved = ops.minimum(clock + (1.0 - clock) / left, 1.0)
    hard, hard_ratio = hard_architecture(cost, alphas, hp)
    masks = ops.sigmoid(_flat(alphas) / T)
    hold = band_holds(cost, masks, hard, hard_ratio, hp)
    return hold * clock + (1.0 - hold) * moved


def check_search_steps(total_steps, schedule, lr_power=DEFAULT_LR_POWER):
    """Warns (`warnings.warn`) when a search of `total_steps` is too short for
    the annealing to finish (see `min_search_steps`)."""
    needed = min_search_steps(schedule, lr_power)
    if total_steps >= needed:
        return
    warnings.warn(
        f"The DAIS search has {total_steps} steps, too few for the annealing "
        f"from T0={schedule.T0:g} to T_min={schedule.T_min:g} to finish (about "
        f"{needed} steps with this schedule): the indicators cannot settle "
        "before the temperature is low, and the repair will decide more of the "
        "architecture than the search. Search more steps (more epochs, more "
        "data or a smaller batch size).",
        stacklevel=3,
    )


def temperature(schedule, hp):
    """The temperature of the current step, from the step counter in `hp`."""
    return ops.cast(schedule(progress(hp), hp["t0"], hp["t_min"]), "float32")


def polarisation(m, weights=1.0):
    """`mean(weights * 4 m (1 - m))`: 1 for masks at 0.5 (unit weights), 0
    for binary ones. Its gradient pushes every weighted mask towards the
    nearer of 0 and 1."""
    return ops.mean(weights * 4.0 * m * (1.0 - m))


def band_pushed(fits, hard, hard_ratio, hp):
    """1 for the channels the band pushes across zero, else 0: with the hard
    architecture above the band, its kept channels whose flip fits (`fits`,
    from `flip_fits`, or 1.0 when every channel counts); below it, its removed
    ones that fit; inside it, none."""
    eps = hp["band_eps"]
    above = ops.cast(ops.greater(hard_ratio, 1.0), "float32")
    below = ops.cast(ops.less(hard_ratio, 1.0 - eps), "float32")
    return ops.stop_gradient(fits * (above * hard + below * (1.0 - hard)))


def budget_band(ratio, band_eps):
    """`B(E / F)`: zero inside `[(1 - band_eps) F, F]`, the log distance to
    the band outside it (`E / F` floored at `RATIO_FLOOR`)."""
    log_ratio = ops.log(ops.maximum(ratio, RATIO_FLOOR))
    return ops.relu(log_ratio) + ops.relu(ops.log(1.0 - band_eps) - log_ratio)


def flip_fits(cost, masks, ratio, hp):
    """1 for the channels whose flip fits the band, 0 for the others.

    A channel fits when the cost it adds to `masks` (`cost.marginal_tensor`,
    over the target) is at most the distance from `ratio` to the far edge
    of the band: switching it off above the band (or on below it) does not
    jump past the band. Near the band, a channel that costs more than the
    band is wide (a channel of ResNet-20's stem group costs 5-8 % of a 50 %
    target) would otherwise be pushed off, land below the band, be pushed
    on, land above it, and so on: its mask stays near 0.5 to the end of the
    annealing (bench/results/convergence/). Without the band's push it goes
    where the task loss takes it, and cheaper channels meet the band.
    `hp["band_gate"] = 0`, or a cost model without `marginal_tensor` (a
    latency model), lets every channel through (the plain band).
    """
    if not hasattr(cost, "marginal_tensor"):
        return ops.ones_like(masks)
    marginal = ops.stop_gradient(cost.marginal_tensor(masks)) / hp["target"]
    ratio = ops.stop_gradient(ratio)
    eps = hp["band_eps"]
    reach = ops.maximum(ratio - (1.0 - eps), 1.0 - ratio)  # distance to the far edge
    fits = ops.cast(ops.less_equal(marginal, reach), "float32")
    return ops.maximum(fits, 1.0 - hp["band_gate"])


def penalty(model, alphas, T, hp):
    """Budget band, L1 and structural priors on the soft masks.

    Args:
        model: The `DAISModel` (its `search_structure()` and `search_cost`).
        alphas: One `alpha` tensor per indicator.
        T: The temperature.
        hp: Dict of the search's variable values (see `SCALARS`).

    Returns:
        `(penalty, ratio)`, where `ratio = E / F` is the expected cost of the
        soft masks over the target.
    """
    structure = model.search_structure()
    masks = [ops.sigmoid(ops.cast(a, "float32") / T) for a in alphas]
    m = ops.concatenate(masks, axis=0) if len(masks) > 1 else masks[0]
    ratio = model.search_cost.expected(m) / hp["target"]
    widths = ops.stack([ops.sum(mask) for mask in masks])
    min_widths = hp["min_widths"]
    min_penalty = ops.mean(ops.relu(min_widths - widths) / min_widths)
    keep = widths / ops.convert_to_tensor(structure.sizes.astype("float32"))
    mean_keep = ops.stop_gradient(ops.sum(widths) / float(structure.num_channels))
    residual = ops.sum(hp["residual_weights"] * ops.relu(mean_keep - keep))
    gated = "band_gate" in hp  # `flip_fits` lets everything through for latency
    if gated:  # the band's gradient reaches only the channels whose flip fits
        fits = flip_fits(model.search_cost, m, ratio, hp)
        m_band = fits * m + (1.0 - fits) * ops.stop_gradient(m)
        ratio = model.search_cost.expected(m_band) / hp["target"]
    band = budget_band(ratio, hp["band_eps"])
    polar_weights = 1.0
    if "hard_band" in hp:  # the search's variables always hold it
        a = _flat(alphas)
        hard, hard_ratio = hard_architecture(model.search_cost, alphas, hp)
        hard_fits = flip_fits(model.search_cost, hard, hard_ratio, hp) if gated else 1.0
        # Straight through on alpha itself: saturated masks (whose sigmoid has
        # no gradient left) still feel the band of the hard architecture.
        slope = hard_fits * (a - ops.stop_gradient(a))
        if "band_hold" in hp:  # the polarisation leaves the band's flips alone
            polar_weights = 1.0 - hp["band_hold"] * band_pushed(hard_fits, hard, hard_ratio, hp)
        hard_ratio = model.search_cost.expected(hard + slope) / hp["target"]
        band = band + hp["hard_band"] * progress(hp) * budget_band(hard_ratio, hp["band_eps"])
    total = (
        hp["lambda_budget"] * band
        + hp["lambda_l1"] * ops.mean(m)
        + hp["lambda_min_width"] * min_penalty
        + hp["lambda_residual"] * residual
    )
    if "lambda_polar" in hp:  # the search's variables always hold it
        start = hp["polar_start"] if "polar_start" in hp else 0.0
        ramp = ops.relu(progress(hp) - start) / (1.0 - start)
        total = total + hp["lambda_polar"] * ramp * polarisation(m, polar_weights)
    return total, ratio


def penalty_with_aux(model, T, hp):
    """`alphas -> (penalty, (penalty, ratio))`: the single-level step adds
    the penalty to the training loss and reports both."""

    def penalty_fn(alphas):
        extra, ratio = penalty(model, alphas, T, hp)
        return extra, (extra, ratio)

    return penalty_fn


def adam(alphas, grads, moments, hp, T):
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


def search_objective(model, index, alphas, T, hp, state, data):
    """Task loss on a search batch (stateless) plus the penalty.

    Args:
        model: The `DAISModel`.
        index: Positions of the search's variables in the model's
            variable lists (see `DAISModel.make_train_function`).
        alphas: The `alpha` tensors to differentiate with respect to.
        T: The temperature.
        hp: Dict of the search's variable values.
        state: `(trainable, non_trainable, metrics)` variable values.
        data: `(x, y, sample_weight)` of the search batch.

    Returns:
        `(total, (task_loss, penalty, ratio, y_pred))`.
    """
    from keras.src.losses.loss import scale_loss_for_distribution

    tv, ntv, mv = (list(values) for values in state)
    x, y, sample_weight = data
    for pos, a in zip(index["alpha"], alphas):
        tv[pos] = a
    for pos in index["temperature"]:
        ntv[pos] = T
    kwargs = {"training": True} if model._call_has_training_arg else {}
    y_pred, _, losses = model.stateless_call(tv, ntv, x, return_losses=True, **kwargs)
    if losses:
        model._losses_override.clear()
        model._losses_override = losses
    # The indicators learn from the task loss, also when the weights distil
    # (`DAISModel.distill_from`).
    model._dais.task_only = True
    try:
        task, _ = model.stateless_compute_loss(
            tv, ntv, mv, x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
            training=True,
        )
    finally:
        model._dais.task_only = False
    if losses:
        model._losses_override.clear()
    extra, ratio = penalty(model, alphas, T, hp)
    return task + scale_loss_for_distribution(extra), (task, extra, ratio, y_pred)


def step_logs(model, metrics, T, ratio, search_loss=None):
    """The logs of a search step: the metrics, `dais_T`, `dais_<cost kind>`
    (expected cost / target) and `dais_search_loss` (bi-level)."""
    logs = dict(metrics)
    logs["dais_T"] = T
    logs[f"dais_{getattr(model.search_cost, 'kind', 'macs')}"] = ratio
    if search_loss is not None:
        logs["dais_search_loss"] = search_loss
    return logs


def all_finite(tensors):
    """A boolean tensor: every element of every tensor is finite."""
    flags = [ops.all(ops.isfinite(t)) for t in tensors if t is not None]
    return ops.all(ops.stack(flags)) if flags else ops.convert_to_tensor(True)


# The `nonfinite` variable's codes: which quantity of a step was not finite
# first, and what to change.
NONFINITE = {
    1: (
        "the task loss on the search batch",
        "Check the search data (and the model's outputs on it) for NaN/Inf.",
    ),
    2: (
        "the training loss or its gradients",
        "Check the training data for NaN/Inf, lower the compiled optimizer's "
        "learning rate, or clip its gradients (e.g. `clipnorm=1.0`).",
    ),
    3: (
        "the budget penalty (the expected cost of the soft masks over the target)",
        "Check the budget's target and the cost model (a LatencyModel with "
        "NaN/Inf entries?).",
    ),
    4: (
        "the indicators' gradients",
        "Lower DAISCallback's `learning_rate` (the indicators' step size) or "
        "raise `T_min`.",
    ),
}


def nonfinite_code(checks, previous):
    """The new value of the `nonfinite` variable.

    Args:
        checks: `(code, finite)` pairs in the order the step computes them
            (codes of `NONFINITE`, `finite` a boolean tensor).
        previous: The variable's value: a code recorded earlier stays.

    Returns:
        The code of the first check that failed, 0 when all passed.
    """
    code = ops.convert_to_tensor(0.0)
    for value, finite in reversed(checks):
        code = ops.where(finite, code, float(value))
    return ops.where(previous > 0, previous, code)


def search_checks(task, extra, total, grads, finite=all_finite):
    """The NaN guard's checks of an indicator step (see `nonfinite_code`):
    the task loss, the penalty, then the total loss and the gradients.
    `finite` is `all_finite` or a backend's version agreed by replicas."""
    return [(1, finite([task])), (3, finite([extra])), (4, finite([total] + list(grads)))]


def all_passed(checks):
    """Whether every `(code, finite)` check passed, as a boolean tensor."""
    return ops.all(ops.stack([finite for _, finite in checks]))


def nonfinite_message(code, step, batch, temperature, learning_rate):
    """The error of a search stopped by a non-finite step: which quantity,
    at which step (and temperature), and what to change."""
    what, fix = NONFINITE[int(code)]
    return (
        f"DAIS search stopped: {what} became NaN/Inf at search step {step} "
        f"(batch {batch}; temperature {temperature:.3g}, indicators' learning "
        f"rate {learning_rate:.3g}). That step was not applied, so the model "
        f"keeps its last good state. {fix}"
    )
