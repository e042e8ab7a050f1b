"""Temperature schedules: endpoints, monotonicity, tensors, serialisation."""

import numpy as np
import pytest

import keras

from dais_keras.search import schedules
ALL = [
    schedules.ExponentialSchedule(1.0, 0.01),
    schedules.LinearSchedule(2.0, 0.05),
    schedules.CosineSchedule(1.0, 0.01),
    schedules.StepSchedule(1.0, 0.01, num_stages=4),
]


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: s.name)
def test_starts_at_T0_ends_at_T_min_and_decreases(schedule):
    total = 50
    values = np.array([schedule.value(k, total) for k in range(total)])
    assert values[0] == pytest.approx(schedule.T0, rel=1e-6)
    assert values[-1] == pytest.approx(schedule.T_min, rel=1e-5)
    assert np.all(np.diff(values) <= 1e-7)
    assert schedule.value(total + 10, total) == pytest.approx(schedule.T_min, rel=1e-5)


def test_exponential_is_geometric_and_step_has_levels():
    exp = schedules.ExponentialSchedule(1.0, 0.01)
    assert [round(exp.value(k, 5), 4) for k in range(5)] == [1.0, 0.3162, 0.1, 0.0316, 0.01]
    step = schedules.StepSchedule(1.0, 0.001, num_stages=4)
    levels = sorted({round(step.value(k, 40), 6) for k in range(40)}, reverse=True)
    assert levels == pytest.approx([1.0, 0.1, 0.01, 0.001])


def test_evaluates_on_backend_tensors_and_variables():
    schedule = schedules.CosineSchedule(1.0, 0.01)
    t0 = keras.Variable(2.0)
    out = schedule(keras.ops.convert_to_tensor(0.0), T0=t0, T_min=0.5)
    assert float(keras.ops.convert_to_numpy(out)) == pytest.approx(2.0)
    out = schedule(keras.ops.convert_to_tensor(1.0), T0=t0, T_min=0.5)
    assert float(keras.ops.convert_to_numpy(out)) == pytest.approx(0.5)


@pytest.mark.parametrize("schedule", ALL, ids=lambda s: s.name)
def test_config_round_trip(schedule):
    config = keras.saving.serialize_keras_object(schedule)
    again = schedules.get(config)
    assert again == schedule
    assert type(schedule).from_config(schedule.get_config()) == schedule


def test_get_by_name_and_errors():
    s = schedules.get("linear", T0=3.0, T_min=0.1)
    assert isinstance(s, schedules.LinearSchedule) and s.T0 == 3.0 and s.T_min == 0.1
    assert schedules.get(ALL[0]) is ALL[0]
    with pytest.raises(ValueError, match="Unknown temperature schedule 'quadratic'"):
        schedules.get("quadratic")
    with pytest.raises(ValueError, match="`T0`"):
        schedules.ExponentialSchedule(T0=0.0)
    with pytest.raises(ValueError, match="`T_min`.*must not exceed `T0`"):
        schedules.LinearSchedule(T0=0.1, T_min=1.0)
    with pytest.raises(ValueError, match="`num_stages`"):
        schedules.StepSchedule(num_stages=1)
