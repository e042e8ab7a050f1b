"""The backend-free objective: budget band, priors, the search's learning
rate, the NaN guard's codes and messages."""

import numpy as np
import pytest

import keras

import dais_keras as dk
from dais_keras.search import objective
from dais_keras.search import schedules


def test_budget_band_and_structural_priors(toy):
    model = dk.attach_indicators(toy.model())
    structure = model.search_structure()
    # The residual stage (conv2 + block_conv2 write it) is the one shared group.
    assert list(structure.producers) == [1, 2, 1]
    np.testing.assert_allclose(structure.residual_weights, [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(structure.min_widths(0.25), [2, 4, 4])
    np.testing.assert_array_equal(structure.min_widths(1), [1, 1, 1])
    total = structure.total_macs

    def penalty(alphas, target_ratio, T=0.01, **hp):
        values = {
            "target": target_ratio * total, "band_eps": 0.05, "lambda_budget": 1.0,
            "lambda_l1": 0.0, "lambda_min_width": 0.0, "lambda_residual": 0.0,
            "min_widths": np.ones(3, "float32"), "residual_weights": structure.residual_weights,
        }
        values.update(hp)
        values = {k: keras.ops.convert_to_tensor(np.asarray(v, "float32")) for k, v in values.items()}
        alphas = [keras.ops.convert_to_tensor(np.asarray(a, "float32")) for a in alphas]
        p, ratio = objective.penalty(model, alphas, keras.ops.convert_to_tensor(T), values)
        return float(keras.ops.convert_to_numpy(p)), float(keras.ops.convert_to_numpy(ratio))

    ones = [np.ones(n) for n in (8, 16, 16)]
    p, ratio = penalty(ones, 0.5)  # E = total, F = total / 2
    assert ratio == pytest.approx(2.0, rel=1e-4) and p == pytest.approx(np.log(2.0), rel=1e-4)
    assert penalty(ones, 1.02)[0] == pytest.approx(0.0, abs=1e-6)  # inside the band
    p, ratio = penalty(ones, 1.25)  # below: log(0.95 F / E)
    assert p == pytest.approx(np.log(0.95 * 1.25), rel=1e-4)
    # Min width: a group with every channel off is penalised.
    off = [np.ones(8), -np.ones(16), np.ones(16)]
    p_off = penalty(off, 1.0, lambda_budget=0.0, lambda_min_width=1.0,
                    min_widths=[1.0, 4.0, 1.0])[0]
    assert p_off == pytest.approx(1.0 / 3.0, rel=1e-3)
    # Residual prior: the shared group pruned harder than the average.
    p_res = penalty(off, 1.0, lambda_budget=0.0, lambda_residual=1.0)[0]
    assert p_res == pytest.approx(24.0 / 40.0, rel=1e-3)
    # Masks that underflow to zero (alpha far below 0 at a low temperature):
    # E / F is floored, so the band stays finite.
    p, ratio = penalty([-1e3 * np.ones(n) for n in (8, 16, 16)], 0.5, T=1e-3)
    assert ratio == 0.0
    assert p == pytest.approx(np.log(0.95) - np.log(objective.RATIO_FLOOR), rel=1e-4)


def test_auto_learning_rate_is_capped_for_short_searches():
    exponential = schedules.ExponentialSchedule(1.0, 0.01)
    # Without the cap, 4 steps gave 6.29: every alpha from +2 to -4.3 at once.
    for steps in (1, 2, 4, 16):
        assert objective.auto_learning_rate(2.0, exponential, steps) == 2.0
    assert objective.auto_learning_rate(2.0, exponential, 32) == pytest.approx(1.114, rel=1e-3)
    assert objective.auto_learning_rate(2.0, exponential, 300) == pytest.approx(0.123, rel=1e-2)
    needed = objective.min_search_steps(exponential)
    assert needed == 18
    assert objective.auto_learning_rate(2.0, exponential, needed) < 2.0
    assert objective.auto_learning_rate(2.0, exponential, needed - 1) == 2.0
    assert objective.min_search_steps(schedules.LinearSchedule(1.0, 0.01), lr_power=0.0) == 4


def test_nonfinite_code_names_the_first_failed_quantity():
    def code(checks, previous=0.0):
        checks = [(c, keras.ops.convert_to_tensor(ok)) for c, ok in checks]
        previous = keras.ops.convert_to_tensor(previous)
        return float(keras.ops.convert_to_numpy(objective.nonfinite_code(checks, previous)))

    assert code([(1, True), (3, True), (4, True), (2, True)]) == 0.0
    assert code([(1, True), (3, False), (4, False), (2, False)]) == 3.0
    assert code([(1, True), (3, True), (4, False), (2, False)]) == 4.0
    assert code([(1, True), (3, True), (4, True), (2, False)]) == 2.0
    assert code([(1, False), (3, True), (4, True), (2, True)], previous=4.0) == 4.0
    message = objective.nonfinite_message(3, 5, 1, 0.0316, 2.0)
    assert "the budget penalty" in message and "NaN/Inf at search step 5" in message
    assert "temperature 0.0316" in message and "learning rate 2" in message
    assert "`learning_rate`" in objective.nonfinite_message(4, 5, 1, 0.1, 2.0)


def test_polarisation_is_one_at_one_half_and_zero_at_binary_masks():
    m = keras.ops.convert_to_tensor(np.array([0.5, 0.5], "float32"))
    assert float(keras.ops.convert_to_numpy(objective.polarisation(m))) == pytest.approx(1.0)
    m = keras.ops.convert_to_tensor(np.array([0.0, 1.0], "float32"))
    assert float(keras.ops.convert_to_numpy(objective.polarisation(m))) == pytest.approx(0.0)
    hp = {"step": np.float32(5.0), "total_steps": np.float32(11.0)}
    assert float(keras.ops.convert_to_numpy(objective.progress(hp))) == pytest.approx(0.5)


def test_the_band_pushes_only_the_channels_whose_flip_fits(toy):
    """`flip_fits`: a channel whose cost exceeds the distance to the band's
    far edge gets no push from the band (it would jump across it)."""
    model = dk.attach_indicators(toy.model())
    cost = model.search_cost
    full = np.ones(cost.num_channels, "float32")
    share = cost.channel_macs(full) / cost.total  # 3.8 %, 4.35 %, 5.43 %
    t = keras.ops.convert_to_tensor

    def fits(ratio, gate=1.0, eps=0.05):
        hp = {"target": t(np.float32(cost.total / ratio)), "band_eps": t(np.float32(eps)),
              "band_gate": t(np.float32(gate))}
        out = objective.flip_fits(cost, t(full), t(np.float32(ratio)), hp)
        return keras.ops.convert_to_numpy(out)

    # At the band's top edge the far edge is 5 % away: the 5.43 % channels
    # (16 of 40) would land below the band.
    np.testing.assert_array_equal(fits(1.0), (share <= 0.05).astype("float32"))
    assert fits(1.0).sum() == 24
    assert fits(1.2).sum() == 40  # far above the band: every channel fits
    assert fits(0.8).sum() == 40  # far below it too
    assert fits(1.0, eps=0.02).sum() == 0  # a band narrower than any channel
    np.testing.assert_array_equal(fits(1.0, gate=0.0), np.ones(40))  # plain band

    # The gate changes the band's gradient, not its value.
    structure = model.search_structure()
    values = {
        "target": 0.5 * cost.total, "band_eps": 0.05, "lambda_budget": 1.0, "lambda_l1": 0.0,
        "lambda_min_width": 0.0, "lambda_residual": 0.0, "hard_band": 1.0, "step": 5.0,
        "total_steps": 10.0, "min_widths": np.ones(3), "residual_weights": structure.residual_weights,
    }
    alphas = [t(np.linspace(-1, 1, n).astype("float32")) for n in (8, 16, 16)]
    out = []
    for gate in (0.0, 1.0):
        hp = {k: t(np.asarray(v, "float32")) for k, v in dict(values, band_gate=gate).items()}
        p, _ = objective.penalty(model, alphas, t(np.float32(0.1)), hp)
        out.append(float(keras.ops.convert_to_numpy(p)))
    assert out[0] == pytest.approx(out[1], rel=1e-6) and out[0] > 0


def test_the_band_hold_stops_the_clock_only_for_a_decided_architecture_off_the_band(toy):
    """`advance_clock`: the nominal pace `step / (total_steps - 1)` unless
    the hard architecture is outside the band with the masks decided, and
    never so long that the annealing could not finish at twice its pace."""
    model = dk.attach_indicators(toy.model())
    cost = model.search_cost
    t = lambda v: keras.ops.convert_to_tensor(np.float32(v))
    n = cost.num_channels

    def clock(ratio, alpha=5.0, hold=1.0, step=40.0, now=0.4, total=101.0):
        hp = {"target": t(cost.total / ratio), "band_eps": t(0.05), "band_gate": t(1.0),
              "band_hold": t(hold), "step": t(step), "clock": t(now),
              "total_steps": t(total)}
        alphas = [keras.ops.convert_to_tensor(np.full((n,), alpha, "float32"))]
        out = objective.advance_clock(cost, alphas, t(0.01), hp)
        return float(keras.ops.convert_to_numpy(out))

    nominal = 0.4 + 0.6 / 60  # (1 - clock) / the steps left
    assert clock(1.0) == pytest.approx(nominal)  # inside the band
    assert clock(1.1) == pytest.approx(0.4)  # above it, decided: the clock waits
    assert clock(1.1, hold=0.0) == pytest.approx(nominal)
    assert clock(1.1, alpha=0.001) == pytest.approx(nominal)  # masks near 0.5: undecided
    # 30 steps left cannot take the clock from 0.4 to 1 at twice the pace.
    assert clock(1.1, step=70.0) == pytest.approx(0.4 + 0.6 / 30)
    # Never stopped, the clock is the step counter's progress.
    hp_clock = 0.0
    for step in range(10):
        hp = {"target": t(cost.total), "band_eps": t(0.05), "band_gate": t(1.0),
              "band_hold": t(1.0), "step": t(step), "clock": t(hp_clock),
              "total_steps": t(10.0)}
        alphas = [keras.ops.convert_to_tensor(np.full((n,), 5.0, "float32"))]
        hp_clock = float(keras.ops.convert_to_numpy(
            objective.advance_clock(cost, alphas, t(0.01), hp)))
        assert hp_clock == pytest.approx(min((step + 1) / 9, 1.0), abs=1e-6)


def test_the_polarisation_leaves_alone_the_channels_the_band_flips(toy):
    """`band_pushed`: above the band the kept channels that fit, below it the
    removed ones, inside it none; the polarisation skips them."""
    model = dk.attach_indicators(toy.model())
    cost = model.search_cost
    n = cost.num_channels
    t = keras.ops.convert_to_tensor
    hard = np.zeros(n, "float32")
    hard[: n // 2] = 1.0
    kept = cost.expected(t(hard))

    def pushed(ratio):
        hp = {"target": t(np.float32(float(keras.ops.convert_to_numpy(kept)) / ratio)),
              "band_eps": t(np.float32(0.05)), "band_gate": t(np.float32(0.0))}
        ratio = t(np.float32(ratio))
        fits = objective.flip_fits(cost, t(hard), ratio, hp)
        return keras.ops.convert_to_numpy(objective.band_pushed(fits, t(hard), ratio, hp))

    np.testing.assert_array_equal(pushed(1.1), hard)
    np.testing.assert_array_equal(pushed(0.8), 1.0 - hard)
    np.testing.assert_array_equal(pushed(0.97), np.zeros(n))
    m = t(np.full(n, 0.5, "float32"))
    half = float(keras.ops.convert_to_numpy(objective.polarisation(m, t(1.0 - hard))))
    assert half == pytest.approx(0.5)
