"""Temperature schedules for the DAIS annealing.

A schedule maps the search's progress `p` (0 at the first search step, 1 at
the last) to the temperature `T` of every indicator, from `T0` down to
`T_min`. It is evaluated inside the compiled train step with
`keras.ops`, from the step counter and `T0`/`T_min` held in variables of the
`DAISModel`, so changing them never retraces the step. Schedules are plain
serialisable objects: `get_config()` / `from_config()` round-trip, and
`dais_keras.schedules.get("cosine")` builds one from a name or a config.

Example:

>>> from dais_keras import schedules
>>> s = schedules.ExponentialSchedule(T0=1.0, T_min=0.01)
>>> [round(s.value(k, 5), 4) for k in range(5)]
[1.0, 0.3162, 0.1, 0.0316, 0.01]
"""

import math

import keras
from keras import ops


def _check_temperatures(T0, T_min):
    for name, value in (("T0", T0), ("T_min", T_min)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
            raise ValueError(
                f"`{name}` must be a finite number > 0; received {value!r}. "
                "Typical values: T0=1.0, T_min=0.01."
            )
    if T_min > T0:
        raise ValueError(
            f"`T_min` ({T_min}) must not exceed `T0` ({T0}): the temperature "
            "anneals downwards. Swap them or lower `T_min`."
        )


@keras.saving.register_keras_serializable(package="dais_keras")
class TemperatureSchedule:
    """Base class of the temperature schedules.

    Subclasses implement `compute(progress, T0, T_min)` with `keras.ops` so
    that it works on backend tensors inside a compiled step as well as on
    Python floats.

    Args:
        T0: Temperature at the first search step (> 0).
        T_min: Temperature at the last search step (> 0, <= `T0`).
    """

    name = None

    def __init__(self, T0=1.0, T_min=0.01):
        _check_temperatures(T0, T_min)
        self.T0 = float(T0)
        self.T_min = float(T_min)

    def compute(self, progress, T0, T_min):
        """The temperature at `progress` in [0, 1] (tensors or floats)."""
        raise NotImplementedError

    def __call__(self, progress, T0=None, T_min=None):
        """`T` at `progress` in [0, 1]; `T0`/`T_min` default to the
        schedule's own (pass variables to keep them out of a trace)."""
        T0 = self.T0 if T0 is None else T0
        T_min = self.T_min if T_min is None else T_min
        progress = ops.clip(ops.cast(progress, "float32"), 0.0, 1.0)
        return self.compute(progress, T0, T_min)

    def value(self, step, total_steps):
        """`T` as a Python float after `step` of `total_steps` search steps.

        Step 0 gives `T0` and step `total_steps - 1` gives `T_min`.
        """
        progress = progress_of(step, total_steps)
        return float(ops.convert_to_numpy(self(progress)))

    def get_config(self):
        return {"T0": self.T0, "T_min": self.T_min}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()


def progress_of(step, total_steps):
    """Search progress of `step` (0-based) out of `total_steps`, in [0, 1]."""
    if total_steps <= 1:
        return 1.0
    return min(max(float(step) / float(total_steps - 1), 0.0), 1.0)


@keras.saving.register_keras_serializable(package="dais_keras")
class ExponentialSchedule(TemperatureSchedule):
    """`T = T0 * (T_min / T0) ** p`: a constant factor per step (the default).

    Each step multiplies `T` by `(T_min / T0) ** (1 / (steps - 1))`, so the
    sharpness of the sigmoid grows geometrically: half of the search is spent
    above `sqrt(T0 * T_min)` (0.1 for the defaults).
    """

    name = "exponential"

    def compute(self, progress, T0, T_min):
        log_t0 = ops.log(ops.cast(T0, "float32"))
        log_tmin = ops.log(ops.cast(T_min, "float32"))
        return ops.exp(log_t0 + progress * (log_tmin - log_t0))


@keras.saving.register_keras_serializable(package="dais_keras")
class LinearSchedule(TemperatureSchedule):
    """`T = T0 + (T_min - T0) * p`: stays warm (soft) for most of the search."""

    name = "linear"

    def compute(self, progress, T0, T_min):
        T0 = ops.cast(T0, "float32")
        return T0 + (ops.cast(T_min, "float32") - T0) * progress


@keras.saving.register_keras_serializable(package="dais_keras")
class CosineSchedule(TemperatureSchedule):
    """`T = T_min + (T0 - T_min) * (1 + cos(pi p)) / 2`."""

    name = "cosine"

    def compute(self, progress, T0, T_min):
        T0 = ops.cast(T0, "float32")
        T_min = ops.cast(T_min, "float32")
        return T_min + 0.5 * (T0 - T_min) * (1.0 + ops.cos(math.pi * progress))


@keras.saving.register_keras_serializable(package="dais_keras")
class StepSchedule(TemperatureSchedule):
    """Piecewise constant: `num_stages` geometric levels from `T0` to `T_min`.

    Stage `k` (of `num_stages`, by progress) uses
    `T0 * (T_min / T0) ** (k / (num_stages - 1))`.

    Args:
        T0: First level.
        T_min: Last level.
        num_stages: Number of levels (>= 2).
    """

    name = "step"

    def __init__(self, T0=1.0, T_min=0.01, num_stages=5):
        super().__init__(T0=T0, T_min=T_min)
        if not isinstance(num_stages, int) or num_stages < 2:
            raise ValueError(
                f"`num_stages` must be an integer >= 2; received {num_stages!r}."
            )
        self.num_stages = num_stages

    def compute(self, progress, T0, T_min):
        n = float(self.num_stages)
        stage = ops.minimum(ops.floor(progress * n), n - 1.0)
        log_t0 = ops.log(ops.cast(T0, "float32"))
        log_tmin = ops.log(ops.cast(T_min, "float32"))
        return ops.exp(log_t0 + stage / (n - 1.0) * (log_tmin - log_t0))

    def get_config(self):
        config = super().get_config()
        config["num_stages"] = self.num_stages
        return config


_BY_NAME = {
    cls.name: cls
    for cls in (ExponentialSchedule, LinearSchedule, CosineSchedule, StepSchedule)
}


def get(identifier, T0=None, T_min=None):
    """Returns a schedule from a name, a config dict or a schedule.

    Args:
        identifier: `"exponential"`, `"linear"`, `"cosine"`, `"step"`, a dict
            from `keras.saving.serialize_keras_object(schedule)`, or a
            `TemperatureSchedule` (returned as is).
        T0: For a name: the schedule's `T0` (default 1.0).
        T_min: For a name: the schedule's `T_min` (default 0.01).

    Raises:
        ValueError: For an unknown name or object.
    """
    if isinstance(identifier, TemperatureSchedule):
        return identifier
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        kwargs = {}
        if T0 is not None:
            kwargs["T0"] = T0
        if T_min is not None:
            kwargs["T_min"] = T_min
        return _BY_NAME[identifier.lower()](**kwargs)
    raise ValueError(
        f"Unknown temperature schedule {identifier!r}. Use one of "
        f"{sorted(_BY_NAME)}, a `dais_keras.schedules.TemperatureSchedule`, or "
        "its serialised config."
    )
